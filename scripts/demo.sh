#!/usr/bin/env bash
# The quick start: install PerfRL (light) and optimize a function of the bundled example
# project with the shipped model and the rule source. Extra arguments go to `perfrl optimize`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh light
target="${PERFRL_DEMO_TARGET:-examples/inventory/inventory/catalog.py::missing_skus}"
# The example project's tests run with the same interpreter (it has pytest).
exec .venv/bin/perfrl optimize "$target" --python "$PWD/.venv/bin/python" "$@"
