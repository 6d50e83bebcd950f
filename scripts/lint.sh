#!/usr/bin/env bash
# Lint and type checks, run first by scripts/test.sh (and so by CI) before any slow test:
#   ruff (rule sets in pyproject.toml), mypy over perfrl and perfrl_train (untyped bodies
#   checked), and the VS Code client's tsc + eslint. Every finding names its file and line.
# Needs the venv of scripts/setup_env.sh; the client check needs vscode-client/node_modules
# (installed here with `npm ci` when missing). Exit status: 0 only when every check is clean.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
status=0
stage() { echo "[lint] $1" >&2; }

stage "ruff check"
$py -m ruff check --output-format concise . || status=1
stage "mypy (perfrl, perfrl_train)"
$py -m mypy || status=1

stage "vscode-client: tsc + eslint"
if ! command -v npm >/dev/null; then
    echo "npm is not installed: the client's lint cannot run" >&2
    [ "${CI:-}" = true ] && status=1
else
    if [ ! -d vscode-client/node_modules ]; then
        (cd vscode-client && timeout 600 npm ci --loglevel=error >/dev/null) || status=1
    fi
    (cd vscode-client && npm run --silent lint) || status=1
fi
[ "$status" = 0 ] && stage "clean" || stage "FAILED"
exit "$status"
