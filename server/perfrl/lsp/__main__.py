"""``python -P -m perfrl.lsp``: the PerfRL language server (same options as ``perfrl-lsp``).

``-P`` keeps the working folder off ``sys.path``: editors start the server in the user's
workspace, whose own packages must never shadow PerfRL's.
"""

import sys

from perfrl.lsp.main import main

sys.exit(main())
