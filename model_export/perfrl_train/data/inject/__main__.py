"""``python -m perfrl_train.data.inject``: :func:`perfrl_train.data.inject.main`."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
