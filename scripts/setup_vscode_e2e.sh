#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (tests/editors/test_vscode.py) needs, offline-friendly
# (npm and Debian registries only), with pinned versions:
#   - code-server 4.100.3 (VS Code 1.100.3, runs on Node 20) from npm
#   - Chromium from Debian (apt-get; needs root) and playwright-core 1.65.1 to drive it
#   - the extension's npm dependencies (npm ci) and the .vsix (npm run package)
#
# Usage:
#   scripts/setup_vscode_e2e.sh [TOOLS_DIR]
# TOOLS_DIR: where code-server and playwright-core go (reused between runs, cache it in CI).
#   Default: $PERFRL_VSCODE_TOOLS, else $PERFRL_TOOLS/vscode, else <repo>/.tools/vscode.
# The test finds the tools in the same place (TOOLS_DIR/code-server, TOOLS_DIR/playwright-core):
# export PERFRL_VSCODE_TOOLS=TOOLS_DIR (or PERFRL_TOOLS) for pytest when it is not the default.
#
# Idempotent: each piece is skipped when its stamp file says the pinned version is there.
# Everything (npm cache, temp files) stays inside TOOLS_DIR; nothing lands in the home dir.
# Exit status: 0 when every piece is installed, 1 otherwise (with the reason on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_CORE_VERSION=1.65.1
# @vscode/ripgrep inside code-server 4.100.3 downloads this asset from GitHub in its postinstall;
# we hand it Debian's rg in its download cache instead (no internet here).
RIPGREP_PKG_VERSION=1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

tools="${1:-${PERFRL_VSCODE_TOOLS:-${PERFRL_TOOLS:-$root/.tools}/vscode}}"
mkdir -p "$tools"
tools="$(cd "$tools" && pwd)"
export npm_config_cache="$tools/npm-cache"
export TMPDIR="$tools/tmp"
export XDG_CACHE_HOME="$tools/xdg/cache" XDG_CONFIG_HOME="$tools/xdg/config"
export XDG_DATA_HOME="$tools/xdg/data" XDG_STATE_HOME="$tools/xdg/state"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# code-server's postinstall runs `npx node-gyp`, which would otherwise wait for a "yes".
export npm_config_yes=true
mkdir -p "$TMPDIR" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME"

log() { echo "[setup_vscode_e2e] $*" >&2; }
fail=0

command -v node >/dev/null && command -v npm >/dev/null || {
    log "node and npm are required (Node >= 20); install them first"
    exit 1
}
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != 20 ]; then
    # code-server 4.100.x declares engines.node = 20 and ships native modules built for it.
    log "warning: code-server $CODE_SERVER_VERSION is built for Node 20; found $(node --version)"
fi

# --- Debian packages: chromium (the browser), ripgrep (code-server's search), the headers and
# compiler for code-server's native modules (kerberos needs gssapi.h) ---
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v rg >/dev/null || need_apt+=(ripgrep)
[ -f /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt-get install ${need_apt[*]}"
        (timeout 600 apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 ||
            (timeout 300 apt-get update -q >/dev/null 2>&1 &&
                timeout 600 apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null)) ||
            { log "could not install ${need_apt[*]}"; fail=1; }
    else
        log "not root: install ${need_apt[*]} with apt-get"
        fail=1
    fi
fi

# --- code-server ---
cs_dir="$tools/code-server-$CODE_SERVER_VERSION"
if [ ! -f "$cs_dir/.installed" ]; then
    if command -v rg >/dev/null; then
        cache="$TMPDIR/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
        mkdir -p "$cache"
        if [ ! -s "$cache/$RIPGREP_ASSET" ]; then
            tar czf "$cache/$RIPGREP_ASSET" -C "$(dirname "$(readlink -f "$(command -v rg)")")" rg
        fi
        log "npm install code-server@$CODE_SERVER_VERSION (a few minutes)"
        rm -rf "$cs_dir"
        mkdir -p "$cs_dir"
        # A package.json makes npm install here, not into the nearest parent with node_modules.
        echo '{"private": true}' >"$cs_dir/package.json"
        # unsafe_perm: code-server's postinstall refuses to run as root otherwise.
        if (cd "$cs_dir" && npm_config_unsafe_perm=true timeout 900 npm install --no-save \
            --loglevel=error "code-server@$CODE_SERVER_VERSION" >"$tools/code-server-install.log" 2>&1) &&
            "$cs_dir/node_modules/.bin/code-server" --version >/dev/null 2>&1; then
            touch "$cs_dir/.installed"
        else
            log "code-server install failed; see $tools/code-server-install.log"
            fail=1
        fi
    else
        log "ripgrep missing: cannot install code-server offline"
        fail=1
    fi
fi
[ -f "$cs_dir/.installed" ] && ln -sfn "$cs_dir/node_modules/.bin/code-server" "$tools/code-server"

# --- playwright-core (drives the system Chromium; downloads no browser) ---
pw_dir="$tools/playwright-core-$PLAYWRIGHT_CORE_VERSION"
if [ ! -f "$pw_dir/.installed" ]; then
    log "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION"
    rm -rf "$pw_dir"
    mkdir -p "$pw_dir"
    echo '{"private": true}' >"$pw_dir/package.json"
    if (cd "$pw_dir" && timeout 300 npm install --no-save --loglevel=error \
        "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null); then
        touch "$pw_dir/.installed"
    else
        log "playwright-core install failed"
        fail=1
    fi
fi
[ -f "$pw_dir/.installed" ] && ln -sfn "$pw_dir/node_modules/playwright-core" "$tools/playwright-core"

# --- the extension: dependencies from package-lock.json, then the .vsix ---
# (explicit checks: `set -e` does not apply inside a subshell whose status is tested)
build_extension() {
    cd "$root/vscode-client" || return 1
    local lock_hash
    lock_hash="$(sha256sum package-lock.json | cut -c1-16)" || return 1
    if [ ! -f "node_modules/.perfrl-$lock_hash" ]; then
        log "npm ci in vscode-client"
        timeout 600 npm ci --loglevel=error >"$tools/npm-ci.log" 2>&1 ||
            { log "npm ci failed; see $tools/npm-ci.log"; return 1; }
        touch "node_modules/.perfrl-$lock_hash"
    fi
    log "npm run package"
    timeout 300 npm run --silent package >"$tools/package.log" 2>&1 ||
        { log "npm run package failed; see $tools/package.log"; return 1; }
}
(build_extension) || fail=1

if [ "$fail" = 0 ]; then
    log "ready in $tools (vsix: $root/vscode-client/dist/perfrl.vsix)"
fi
exit "$fail"
