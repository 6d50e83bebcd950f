"""``python -m perfrl_train.data.inject``: :func:`perfrl_train.data.inject.main`."""

from . import main

raise SystemExit(main())
