#!/usr/bin/env bash
# Creates .venv at the repository root and installs PerfRL into it.
#   scripts/setup_env.sh            the server and CLI only (light: no torch)
#   scripts/setup_env.sh full       plus the training and distributed extras and the test tools
# Idempotent: a second run only installs what is missing. Pinned torch (CPU build).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-light}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
py=.venv/bin/python
stamp=".venv/.perfrl-$mode-$(sha256sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    $py -m pip install -q --upgrade pip >/dev/null
    if [ "$mode" = full ]; then
        # torch first and pinned: an unpinned resolve pulls a CUDA build of several GB.
        $py -m pip install -q "torch==2.13.0"
        $py -m pip install -q -e ".[train,distributed,test]"
    else
        $py -m pip install -q -e ".[test]"
    fi
    touch "$stamp"
fi
