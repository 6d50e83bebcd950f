"""The VS Code extension end to end, in real VS Code: code-server in headless Chromium.

The scenario (vscode-client/e2e/scenario.mjs, driven with playwright-core): install the built
.vsix into code-server, open a copy of examples/inventory, open ``catalog.py``, run "Optimize
`index_by_sku` with PerfRL" from the light-bulb menu (Ctrl+. then Enter), wait for the code lens
with the measured speedup, apply the rewrite through the lens and save. This test then checks
the file on disk: only ``index_by_sku`` changed, it no longer builds a list for ``dict()``, and
the project's tests still pass.

The candidate source is ``rules`` (ruff's C404 fix, a dict comprehension: about 1.5x faster
here), so the scenario does not depend on the model; the threshold is lowered to 0.5 so that
benchmark noise on a loaded machine cannot decide the outcome of an editor test.

Tools come from scripts/setup_vscode_e2e.sh (code-server, playwright-core, the .vsix) and the
system (node, /usr/bin/chromium). Without them the test is skipped, and fails under CI=true.
Screenshots of every step, result.json and the code-server/extension logs are written to
``$PERFRL_ARTIFACTS/vscode`` (default ``<repo>/artifacts/vscode``); the path is printed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.process_tree import alive, descendants

pytestmark = [pytest.mark.editor, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = REPO_ROOT / "vscode-client"
SCENARIO = CLIENT_DIR / "e2e" / "scenario.mjs"
VSIX = CLIENT_DIR / "dist" / "perfrl.vsix"
EXTENSION_ID = "perfrl.perfrl"

TARGET_FILE = "inventory/catalog.py"
TARGET_FUNCTION = "index_by_sku"

# Hard limits (seconds) for every process this test starts.
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 120
STARTUP_TIMEOUT = 60
SCENARIO_TIMEOUT = 480
PROJECT_TESTS_TIMEOUT = 120


def _missing(reason: str) -> None:
    """A component is missing: fail under CI (it must be installed there), else skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the VS Code end-to-end test must run)")
    pytest.skip(reason)


def _tools_dir() -> Path:
    """Same default as scripts/setup_vscode_e2e.sh."""
    explicit = os.environ.get("PERFRL_VSCODE_TOOLS")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("PERFRL_TOOLS", REPO_ROOT / ".tools")) / "vscode"


def _artifacts_dir(scenario: str) -> Path:
    base = Path(os.environ.get("PERFRL_ARTIFACTS", REPO_ROOT / "artifacts"))
    path = base / "vscode" / scenario
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed")
    tools_dir = _tools_dir()
    code_server = tools_dir / "code-server"
    playwright_core = tools_dir / "playwright-core"
    chromium = Path(os.environ.get("PERFRL_CHROMIUM", "/usr/bin/chromium"))
    for path, what in [(code_server, "code-server"), (playwright_core, "playwright-core")]:
        if not path.exists():
            _missing(f"{what} not found at {path}: run scripts/setup_vscode_e2e.sh {tools_dir}")
    if not chromium.exists():
        _missing(f"Chromium not found at {chromium}: apt-get install chromium "
                 "(or set PERFRL_CHROMIUM)")
    return {
        "node": Path(node),
        "code_server": code_server,
        "playwright_core": playwright_core,
        "chromium": chromium,
    }


def _npm(script: str) -> subprocess.CompletedProcess:
    """``npm run <script>`` in vscode-client (skips, or fails under CI, without npm or deps)."""
    npm = shutil.which("npm")
    if npm is None:
        _missing("npm is not installed")
    if not (CLIENT_DIR / "node_modules").is_dir():
        _missing("vscode-client/node_modules missing: run scripts/setup_vscode_e2e.sh (npm ci)")
    # npm's cache and logs go to the tools dir, not the home dir; the unit tests' interpreter
    # probe runs against this test's Python (3.11+).
    env = {
        **os.environ,
        "npm_config_cache": str(_tools_dir() / "npm-cache"),
        "PERFRL_TEST_PYTHON": sys.executable,
    }
    return subprocess.run(
        [npm, "run", "--silent", script],
        cwd=CLIENT_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


@pytest.fixture(scope="module")
def vsix(tools: dict[str, Path]) -> Path:
    """The .vsix built from the current sources (a build failure fails the test)."""
    build = _npm("package")
    assert build.returncode == 0, f"npm run package failed:\n{build.stdout}\n{build.stderr}"
    assert VSIX.is_file(), f"npm run package did not produce {VSIX}"
    return VSIX


def test_extension_unit_tests() -> None:
    """The extension's Node unit tests of its pure modules (including the interpreter probe
    against real processes), so that the project's single pytest command covers them. Its tsc +
    eslint run first and fast in scripts/lint.sh, outside the slow editor tests."""
    unit = _npm("test")
    assert unit.returncode == 0, f"npm test failed:\n{unit.stdout[-6000:]}{unit.stderr[-2000:]}"
    assert "# fail 0" in unit.stdout, unit.stdout[-2000:]


def test_package_json_settings_match_the_server() -> None:
    """The contract between the extension's settings UI and the server's validation: the same
    keys, the same defaults (empty path strings go out as null), and every bound or enum value
    the Settings editor allows is accepted by the server, while values just outside are not."""
    from perfrl.lsp.config import DEFAULTS, WIRE_NAMES, parse_settings, to_wire

    manifest = json.loads((CLIENT_DIR / "package.json").read_text())
    properties = manifest["contributes"]["configuration"]["properties"]
    client_only = {"server.interpreter", "trace.server"}
    # extraCandidateDirs and seed are testing/power-user settings the server keeps out of
    # editor UIs.
    server_keys = set(WIRE_NAMES) - {"extraCandidateDirs", "seed"}
    assert {k.removeprefix("perfrl.") for k in properties} - client_only == server_keys

    def accepted(key: str, value: object) -> bool:
        return not parse_settings({key: value})[1]

    wire_defaults = to_wire(DEFAULTS)
    for key in sorted(server_keys):
        spec = properties[f"perfrl.{key}"]
        default = None if spec["default"] == "" else spec["default"]
        # The same default: equal on the wire, or one the server reads as its own
        # (temperature: 0, because the Settings editor has no field for number-or-null).
        assert (default == wire_defaults[key]
                or parse_settings({key: default})[0] == DEFAULTS), key
        assert accepted(key, default), key
        if "minimum" in spec:
            assert accepted(key, spec["minimum"]) and not accepted(key, spec["minimum"] - 1), key
        if "maximum" in spec:
            assert accepted(key, spec["maximum"]) and not accepted(key, spec["maximum"] + 1), key
        if "exclusiveMinimum" in spec:
            bound = spec["exclusiveMinimum"]
            assert accepted(key, bound + 0.01) and not accepted(key, bound), key
        for value in spec.get("enum", []):
            assert accepted(key, value), (key, value)
        if "enum" in spec:
            assert not accepted(key, "no-such-value"), key
        for value in spec.get("items", {}).get("enum", []):
            assert accepted(key, [value]), (key, value)


def _isolated_env(home: Path) -> dict[str, str]:
    """Environment for code-server and everything it starts: nothing lands in the real home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSCODE_", "ELECTRON_"))}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "TMPDIR"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["HOME"] = str(home)
    env["PERFRL_CACHE_DIR"] = str(home / "perfrl-cache")
    return env


def _kill_group(process: subprocess.Popen) -> None:
    """Ends the process group ``process`` leads (it was started with start_new_session=True, so
    the group id is its pid): code-server's file watchers and extension host, the language
    server, Chromium. SIGTERM first, SIGKILL after 5 s, then SIGKILL for any member left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@contextmanager
def code_server(
    tools: dict[str, Path],
    vsix_path: Path,
    workspace: Path,
    home: Path,
    log_path: Path,
    settings: dict[str, object],
    started: list[subprocess.Popen] | None = None,
) -> Iterator[str]:
    """code-server with the extension installed and ``settings`` on top of the test defaults,
    serving ``workspace``; yields its URL (and appends its process to ``started``)."""
    env = _isolated_env(home)
    user_data, extensions = home / "user-data", home / "extensions"
    settings_dir = user_data / "User"
    settings_dir.mkdir(parents=True)
    (settings_dir / "settings.json").write_text(
        json.dumps(
            {
                # The server and the project's tests both run with this test's interpreter
                # (it has PerfRL and pytest).
                "perfrl.server.interpreter": sys.executable,
                "perfrl.interpreter": sys.executable,
                "perfrl.sources": ["rules"],
                # The protocol trace lands in the PerfRL log copied to the artifacts.
                "perfrl.trace.server": "messages",
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.enableExperiments": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                "extensions.autoUpdate": False,
                "extensions.autoCheckUpdates": False,
                "extensions.ignoreRecommendations": True,
                "security.workspace.trust.enabled": False,
                "git.enabled": False,
                "files.autoSave": "off",
                "editor.codeLens": True,
                "editor.inlayHints.enabled": "on",
                "chat.commandCenter.enabled": False,
                **settings,
            },
            indent=2,
        )
    )
    common = [
        "--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
        "--disable-telemetry", "--disable-update-check",
    ]
    install = subprocess.run(
        [str(tools["code_server"]), *common, "--install-extension", str(vsix_path)],
        env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
    )
    assert install.returncode == 0, f"--install-extension failed:\n{install.stdout}{install.stderr}"
    assert EXTENSION_ID in install.stdout + install.stderr or any(
        p.name.startswith(EXTENSION_ID) for p in extensions.iterdir()
    ), f"the extension was not installed:\n{install.stdout}{install.stderr}"

    port = _free_port()
    config = home / "code-server.yaml"
    config.write_text("auth: none\ncert: false\n")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(tools["code_server"]), "--config", str(config),
                "--bind-addr", f"127.0.0.1:{port}", *common,
                "--disable-workspace-trust", "--disable-getting-started-override", "--log", "trace",
                str(workspace),
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if started is not None:
        started.append(process)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"code-server exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                # url is http://127.0.0.1:<port>/ built above, never a file: URL.
                with urllib.request.urlopen(url + "healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"code-server did not answer within {STARTUP_TIMEOUT} s:\n"
                            f"{_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        _kill_group(process)


def _run_in_group(cmd: list[str], env: dict[str, str], timeout: float,
                  meanwhile=None) -> subprocess.CompletedProcess:
    """Runs ``cmd`` in its own process group; past ``timeout`` the whole group (the driver and
    the Chromium it started) is killed and the test fails with what it printed.
    ``meanwhile(process)``, when given, runs while the driver still runs (it may wait for it)."""
    process = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        if meanwhile is not None:
            meanwhile(process)
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate()
        pytest.fail(f"{cmd[1]} ran over {timeout} s:\n{stderr[-4000:]}")
    finally:
        # The group id is the leader's pid: this also ends members that outlived the leader.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)


def _function_line(path: Path, name: str) -> int:
    """1-based line of the first statement of ``name``'s body (inside the function)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node.body[-1].lineno
    raise AssertionError(f"{name} not found in {path}")


def _other_functions(source: str, name: str) -> dict[str, str]:
    tree = ast.parse(source)
    return {
        node.name: ast.get_source_segment(source, node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name != name
    }


def _copy_logs(home: Path, artifacts: Path) -> None:
    """The extension host and output-channel logs, for whoever reads a failure."""
    logs = home / "user-data" / "logs"
    if logs.is_dir():
        shutil.copytree(logs, artifacts / "vscode-logs", dirs_exist_ok=True)


def _server_verdicts(artifacts: Path) -> str:
    """The server's per-candidate verdict lines from the copied PerfRL output channel: why a
    job offered no rewrite, in the failure message itself (CI keeps no artifacts)."""
    lines = [line for log in sorted((artifacts / "vscode-logs").rglob("PerfRL.log"))
             for line in log.read_text(errors="replace").splitlines()
             if "] PerfRL (" in line and "): #" in line]
    return "\n".join(lines[-20:])


def _run_scenario(
    tools: dict[str, Path],
    vsix_path: Path,
    project: Path,
    artifacts: Path,
    mode: str,
    settings: dict[str, object],
    fix_interpreter: str | None = None,
    after_scenario=None,
    target_file: str = TARGET_FILE,
    target_function: str = TARGET_FUNCTION,
) -> dict:
    """Runs e2e/scenario.mjs in ``mode`` against code-server on ``project``, on
    ``target_function`` of ``target_file``; returns result.json (fails the test with the
    driver's log when the scenario fails)."""
    print(f"\nVS Code e2e artifacts (screenshots, logs): {artifacts}")
    target = project / target_file
    # Chromium's singleton socket path must stay under ~100 characters: a short home in /tmp.
    home = Path(tempfile.mkdtemp(prefix="perfrl-vsc-"))
    scenario_config = home / "scenario.json"
    config = {
        "mode": mode,
        "chromium": str(tools["chromium"]),
        "playwrightCore": str(tools["playwright_core"]),
        "profileDir": str(home / "chromium-profile"),
        "artifactsDir": str(artifacts),
        "fileName": Path(target_file).name,
        "line": _function_line(target, target_function),
        "functionName": target_function,
    }
    if fix_interpreter is not None:
        config["fixInterpreter"] = fix_interpreter
    ready, release = home / "ready", home / "quit"
    if after_scenario is not None:
        config["readyFile"], config["quitFile"] = str(ready), str(release)
    if mode == "broken-server":
        config["brokenInterpreter"] = str(settings["perfrl.server.interpreter"])
    run = None
    started: list[subprocess.Popen] = []
    try:
        with code_server(
            tools, vsix_path, project, home, artifacts / "code-server.log", settings, started
        ) as url:
            scenario_config.write_text(json.dumps({**config, "url": url}))

            def quit_while_open(driver: subprocess.Popen) -> None:
                # The driver holds the window open once it has seen what it should: the
                # editor is quit then, not after the window closed (which stops the server).
                deadline = time.monotonic() + SCENARIO_TIMEOUT
                while not ready.exists() and driver.poll() is None:
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.2)
                if ready.exists():
                    try:
                        after_scenario(started[0])
                    finally:
                        release.write_text("")

            run = _run_in_group(
                [str(tools["node"]), str(SCENARIO), str(scenario_config)],
                env=_isolated_env(home), timeout=SCENARIO_TIMEOUT,
                meanwhile=quit_while_open if after_scenario is not None else None,
            )
    finally:
        _copy_logs(home, artifacts)
        shutil.rmtree(home, ignore_errors=True)
    (artifacts / "scenario.log").write_text(run.stdout + run.stderr)
    result_file = artifacts / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    assert run.returncode == 0, (
        f"scenario failed ({result.get('error')}); see {artifacts}:\n{run.stderr[-4000:]}"
        f"\nthe server's verdicts:\n{_server_verdicts(artifacts)}"
    )
    return result


def _screenshot(result: dict, step: str) -> Path:
    shots = [Path(s["screenshot"]) for s in result["steps"] if s["name"] == step]
    assert shots, f"missing step {step} in {[s['name'] for s in result['steps']]}"
    assert shots[0].stat().st_size > 0
    return shots[0]


def test_optimize_and_apply_from_the_light_bulb(
    tools: dict[str, Path], vsix: Path, example_project: Path
) -> None:
    target = example_project / TARGET_FILE
    original = target.read_text()
    result = _run_scenario(
        tools, vsix, example_project, _artifacts_dir("optimize"), "optimize",
        {
            # The server and the project's tests both run with this test's interpreter
            # (it has PerfRL and pytest).
            "perfrl.server.interpreter": sys.executable,
            "perfrl.interpreter": sys.executable,
            "perfrl.sources": ["rules"],
            # This test is about the editor flow. Whether ~1.5x clears the default 1.10 lower
            # bound depends on the load of the machine (it did not once, next to an npm install
            # on 2 busy cores); the engine's own tests cover the measurement. 0.5 still needs a
            # passing, equivalent, measured candidate.
            "perfrl.threshold": 0.5,
            # The protocol trace lands in the PerfRL log copied to the artifacts.
            "perfrl.trace.server": "messages",
        },
    )

    for step in ("extension-active", "lightbulb-optimize", "lens-speedup", "rewrite-applied",
                 "report"):
        _screenshot(result, step)
    assert any("Optimize" in t and TARGET_FUNCTION in t for t in result["actionTitles"][0])
    assert "× faster" in result["lensTexts"][0], result["lensTexts"]
    assert result["statusTexts"][0].startswith("PerfRL: "), result["statusTexts"]
    assert "Preview" in result["reportTab"], result["reportTab"]
    # The restart went through "stopped"/"starting" and back to a model state.
    assert any(s.startswith("PerfRL: st") for s in result["statusTexts"]), result["statusTexts"]
    assert result["statusTexts"][-1].startswith("PerfRL: "), result["statusTexts"]

    # The file on disk: index_by_sku rewritten, every other function byte for byte the same.
    new_function = _saved_rewrite(target, original, TARGET_FUNCTION)
    assert "dict([" not in new_function, new_function
    assert "for product in products" in new_function, new_function
    _assert_project_tests_pass(example_project)


def _saved_rewrite(target: Path, original: str, name: str) -> str:
    """The rewritten function ``name`` as saved in ``target``, after checking that the file
    changed and that every other function is byte for byte what ``original`` had."""
    rewritten = target.read_text()
    assert rewritten != original, "the rewrite was not saved to disk"
    assert _other_functions(rewritten, name) == _other_functions(original, name)
    node = next(n for n in ast.parse(rewritten).body if getattr(n, "name", None) == name)
    return ast.get_source_segment(rewritten, node) or ""


def _assert_project_tests_pass(project: Path) -> None:
    """The project's own tests pass on the rewritten file."""
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=PROJECT_TESTS_TIMEOUT,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]


#: The model scenario: a function of the example project that no training input matches
#: (tests/model_export/test_heldout_leakage.py checks it), rewritten by the shipped model: its
#: last loop as a region, measured 12x faster here (tests/editors/test_neovim.py says why this
#: function).
MODEL_FILE = "inventory/catalog.py"
MODEL_FUNCTION = "unknown_skus"


@pytest.mark.timing
def test_the_models_verified_rewrite_from_the_light_bulb(
    tools: dict[str, Path], vsix: Path, example_project: Path
) -> None:
    """The headline flow with the model: only the model source, at the default threshold, on
    a function it was not trained on. The lens shows the measured speedup of the model's
    rewrite, applying it makes the scan test membership in a set made once from the list (the
    docstring kept, every other function byte for byte) and the project's tests pass."""
    target = example_project / MODEL_FILE
    original = target.read_text()
    settings = {
        "perfrl.server.interpreter": sys.executable,
        "perfrl.interpreter": sys.executable,
        "perfrl.sources": ["model"],
        # A fixed seed keeps the job the same from run to run.
        "perfrl.numCandidates": 16,
        "perfrl.seed": 1,
        "perfrl.trace.server": "messages",
    }
    result = _run_scenario(
        tools, vsix, example_project, _artifacts_dir("optimize-model"), "optimize",
        settings, target_file=MODEL_FILE, target_function=MODEL_FUNCTION)
    for step in ("lightbulb-optimize", "lens-speedup", "rewrite-applied"):
        _screenshot(result, step)
    assert "× faster" in result["lensTexts"][0], result["lensTexts"]
    new_function = _saved_rewrite(target, original, MODEL_FUNCTION)
    assert "set(carried)" in new_function and "not in carried:" not in new_function, new_function
    assert "new_0" not in new_function, new_function  # the variable the model made is named
    assert '"""SKUs on the order lines that the catalog does not carry' in new_function
    _assert_project_tests_pass(example_project)


def test_profile_from_the_palette_shows_hot_spot_lenses(
    tools: dict[str, Path], vsix: Path, example_project: Path
) -> None:
    """"PerfRL: Profile" from the command palette: the workspace's tests are profiled and the
    open file's hot functions get the "hot: N% of test time · Optimize" lens."""
    result = _run_scenario(
        tools, vsix, example_project, _artifacts_dir("profile"), "profile",
        {"perfrl.server.interpreter": sys.executable, "perfrl.interpreter": sys.executable,
         "perfrl.sources": ["rules"]},
    )
    _screenshot(result, "hot-spot-lens")
    assert re.search(r"hot: \d+% of test time · Optimize", result["lensTexts"][0]), result


def test_a_python_without_the_server_gets_an_actionable_error(
    tools: dict[str, Path], vsix: Path, example_project: Path, tmp_path: Path
) -> None:
    """A real interpreter without PerfRL: red status item, an error naming the problem with
    "Copy Install Command" / "Open Settings" buttons, "Open Settings" opens the setting,
    fixing the setting starts the server without reloading the window, and then the palette's
    "PerfRL: Optimize Function at Cursor" starts a job."""
    venv = tmp_path / "venv-without-perfrl"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True, timeout=60, capture_output=True,
    )
    python = venv / "bin" / "python"
    result = _run_scenario(
        tools, vsix, example_project, _artifacts_dir("server-error"), "broken-server",
        {"perfrl.server.interpreter": str(python)},
        # Then the user types a Python with the server into the setting: it starts, no reload.
        fix_interpreter=sys.executable,
    )
    _screenshot(result, "server-error")
    _screenshot(result, "open-settings")
    _screenshot(result, "fixed")
    _screenshot(result, "palette-optimize")
    assert result["paletteJob"], result
    assert result["statusTexts"][0] == "PerfRL: server not running", result["statusTexts"]
    assert result["statusTexts"][1].startswith("PerfRL: "), result["statusTexts"]
    assert "not running" not in result["statusTexts"][1], result["statusTexts"]
    assert "not installed" in result["notification"], result["notification"]
    assert str(python) in result["notification"], result["notification"]
    assert {"Copy Install Command", "Open Settings", "Show Log"} <= set(result["buttons"])
    assert "Interpreter" in result["settingShown"], result["settingShown"]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def test_quitting_vs_code_while_a_job_runs(
    tools: dict[str, Path], vsix: Path, example_project: Path
) -> None:
    """Issue 17: the editor quits while a job runs. code-server is stopped as when the user
    quits (SIGTERM to code-server alone: it shuts its extension host down, the extension stops
    its client); the language server and every process it started must end, and no sandbox
    folder of it may stay behind."""
    seen: dict[str, object] = {}

    def quit_editor(code_server_process: subprocess.Popen) -> None:
        below = descendants(code_server_process.pid)
        servers = {pid for pid in below if "perfrl.lsp" in _cmdline(pid)}
        assert servers, "no PerfRL server runs under code-server"
        tree = set().union(*(descendants(pid) | {pid} for pid in servers))
        seen["servers"], seen["tree"] = servers, tree
        os.kill(code_server_process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        seen["left"] = alive(tree)

    _run_scenario(
        tools, vsix, example_project, _artifacts_dir("quit"), "quit-during-job",
        {"perfrl.sources": ["rules"], "perfrl.threshold": 0.5}, after_scenario=quit_editor,
    )
    assert seen.get("servers"), "the scenario did not get to quit the editor"
    assert seen["left"] == set(), {pid: _cmdline(pid) for pid in seen["left"]}
    temp = Path(tempfile.gettempdir())
    for pid in seen["servers"]:
        assert not list(temp.glob(f"perfrl-*-{pid}-ws-*")), "a sandbox workspace stayed behind"
