"""``python -m perfrl``: the ``perfrl`` command line (``python -P -m perfrl.lsp`` is the server)."""

import sys

from perfrl.cli.main import main

sys.exit(main())
