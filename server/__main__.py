"""``python -m server``: the PerfRL language server (same options as ``perfrl-lsp``)."""

import sys

from server.lsp.main import main

sys.exit(main())
