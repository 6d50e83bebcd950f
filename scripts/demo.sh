#!/usr/bin/env bash
# The quick start: install PerfRL (light) and optimize a function of the bundled example
# project with the shipped model and the rule source. Extra arguments go to `perfrl optimize`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh light
# The example project gets its own virtual environment with only pytest, as a user's project
# would have; PerfRL finds <project>/.venv by itself and runs the project's tests with it.
example=examples/inventory
if [ ! -x "$example/.venv/bin/python" ] || ! "$example/.venv/bin/python" -c "import pytest" 2>/dev/null; then
    python3 -m venv "$example/.venv"
    "$example/.venv/bin/python" -m pip install -q "pytest==9.0.3"
fi
if [ -n "${PERFRL_DEMO_TARGET:-}" ]; then
    exec .venv/bin/perfrl optimize "$PERFRL_DEMO_TARGET" --sources rules,model "$@"
fi
# The shipped model and ruff's rules propose rewrites; every one goes through the tests, the
# equivalence check and the benchmark. (A hand-written rewrite goes the same way: add
# --candidate examples/inventory/candidates/missing_skus.py.)
exec .venv/bin/perfrl optimize "$example/inventory/catalog.py::missing_skus" \
    --sources rules,model "$@"
