import sys

from perfrl.cli.main import main

sys.exit(main())
