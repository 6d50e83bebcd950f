#!/usr/bin/env bash
# The quick start: install PerfRL (light) and optimize a function of the bundled example
# project with the shipped model and the rule source. Extra arguments go to `perfrl optimize`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh light
# Candidates run in a bubblewrap sandbox; without it PerfRL refuses model and rule candidates
# (unless --sandbox none is passed on purpose). Install it where we can, else say how.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "demo: installing bubblewrap, the sandbox candidates run in" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q bubblewrap >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; } \
            || echo "demo: apt-get could not install bubblewrap" >&2
    fi
fi
if ! command -v bwrap >/dev/null 2>&1 && [[ " $* " != *" --sandbox "* ]]; then
    cat >&2 <<'MSG'
demo: bubblewrap (bwrap) is not installed, and PerfRL runs generated candidates only inside it.
  Install it, then run this script again:
    Debian/Ubuntu: sudo apt-get install bubblewrap
    Fedora:        sudo dnf install bubblewrap
    Arch:          sudo pacman -S bubblewrap
  Or run the candidates without any isolation, on purpose: scripts/demo.sh --sandbox none
MSG
    exit 1
fi
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
