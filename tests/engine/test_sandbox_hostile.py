"""Hostile code against the sandbox itself: real bubblewrap, real processes, real sockets.

Issue 12, Found 10: a candidate swapped the workspace's placeholder file for a symlink and
bubblewrap mounted ``~/.ssh/id_rsa`` over every hidden credential file; files in ``~`` not on
the hidden list, other projects' cache entries and a host Unix socket were reachable. The
rest are attempts against the new design (allow-list mounts, runtime outside the writable
part, workspace checks between runs, reading reports without trusting them).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from perfrl.engine.sandbox import (
    MAX_REPORT_BYTES,
    Sandbox,
    UnsafeWorkspaceFile,
    WorkspaceSurprise,
    WorkspaceTampered,
    read_workspace_file,
    write_workspace_file,
)
from perfrl.engine.sandbox.bwrap import bwrap_status
from perfrl.engine.sandbox.limits import cgroup_support
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import PerfRLError

HAVE_BWRAP = bwrap_status().usable
needs_bwrap = pytest.mark.skipif(
    not HAVE_BWRAP and os.environ.get("CI") != "true", reason="bubblewrap not usable here"
)
PYTHON = sys.executable
SECRET = f"SECRET-KEY-{uuid.uuid4().hex}"


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    return root


def py(ws, code: str, *args: str, timeout_s: float = 60):
    return ws.run_python(["-c", textwrap.dedent(code), *args], timeout_s=timeout_s)


def _host_dir(prefix: str) -> Path:
    """A host folder outside /tmp (which the old sandbox hid already), removed by the caller."""
    for parent in ("/var/tmp", str(Path(__file__).parent)):
        if os.access(parent, os.W_OK):
            return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    raise RuntimeError("no writable folder outside /tmp")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


@pytest.fixture
def fake_home(monkeypatch: pytest.MonkeyPatch):
    """A HOME with an SSH key, credential files, an ordinary file and a PerfRL cache."""
    home = _host_dir("perfrl-test-home-")
    try:
        (home / ".ssh").mkdir()
        (home / ".ssh" / "id_rsa").write_text(SECRET)
        for name in (".netrc", ".pypirc", ".git-credentials", ".npmrc"):
            (home / name).write_text(f"credential {name}")
        (home / "notes.txt").write_text(f"notes {SECRET}")
        (home / ".config" / "sometool").mkdir(parents=True)
        (home / ".config" / "sometool" / "token").write_text(f"token {SECRET}")
        other = home / ".cache" / "perfrl" / "baselines"
        other.mkdir(parents=True)
        (other / "0123abcd.json").write_text(f'{{"other project": "{SECRET}"}}')
        monkeypatch.setenv("HOME", str(home))
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- Found 10 ---------------------------------------------------------------------------------


@needs_bwrap
def test_found10_swapped_placeholder_cannot_mount_a_secret(project: Path, fake_home: Path) -> None:
    # Run 1 replaces every file the engine keeps beside the copy (a placeholder it mounts
    # over credential files, under the old design) with a symlink to the user's key.
    swap = """
        import os, sys
        key, copy = sys.argv[1], os.getcwd()
        top = os.path.dirname(os.path.dirname(os.environ["HOME"]))
        for dirpath, dirnames, filenames in os.walk(top):
            if dirpath.startswith(copy):
                continue
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    os.chmod(dirpath, 0o755)
                    os.unlink(path)
                    os.symlink(key, path)
                    print("swapped", path)
                except OSError:
                    pass
    """
    # Run 2 reads every credential file of the real HOME it can see.
    read = """
        import os, sys
        home = sys.argv[1]
        for dirpath, _, filenames in os.walk(home):
            for name in filenames:
                try:
                    print(name, open(os.path.join(dirpath, name)).read())
                except OSError as exc:
                    print(name, "unreadable", exc.errno)
        for name in (".netrc", ".pypirc", ".git-credentials", ".npmrc", ".ssh/id_rsa"):
            try:
                print(name, open(os.path.join(home, name)).read())
            except OSError as exc:
                print(name, "unreadable", exc.errno)
    """
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=True)).workspace() as ws:
        first = py(ws, swap, str(fake_home / ".ssh" / "id_rsa"))
        assert first.returncode == 0, first.stderr
        second = py(ws, read, str(fake_home))
    assert SECRET not in second.stdout + second.stderr


@needs_bwrap
def test_found10_home_files_and_other_projects_cache_are_not_readable(
    project: Path, fake_home: Path
) -> None:
    # Not only the known credential files: nothing of the real HOME, including PerfRL's cache
    # of other projects' baselines, and no cache configured outside HOME either.
    cache = _host_dir("perfrl-test-cache-")
    try:
        (cache / "feedbeef.json").write_text(f'{{"elsewhere": "{SECRET}"}}')
        code = """
            import os, sys
            for place in sys.argv[1:]:
                for dirpath, _, filenames in os.walk(place):
                    for name in filenames:
                        try:
                            print(name, open(os.path.join(dirpath, name)).read())
                        except OSError:
                            pass
        """
        settings = EngineSettings(use_bwrap=True, cache_dir=cache)
        with Sandbox(project, PYTHON, settings).workspace() as ws:
            result = py(ws, code, str(fake_home), str(cache))
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _listen_unix(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(5)
    return listener


@needs_bwrap
def test_found10_host_unix_sockets_are_unreachable(project: Path, fake_home: Path) -> None:
    # Sockets where host services and users keep them: /run (docker, dbus, ...), the home
    # folder (gpg-agent, ssh-agent), /var/tmp; and an abstract one (no path at all).
    places = [str(fake_home / "agent.sock")]
    var_tmp = _host_dir("perfrl-sock-")
    places.append(str(var_tmp / "service.sock"))
    for run_dir in ("/run", f"/run/user/{os.getuid()}"):
        if os.access(run_dir, os.W_OK):
            places.append(f"{run_dir}/perfrl-test-{uuid.uuid4().hex[:12]}.sock")
            break
    abstract = f"\0perfrl-test-{uuid.uuid4().hex}"
    listeners = [_listen_unix(path) for path in places]
    abstract_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_listener.bind(abstract)
    abstract_listener.listen(5)
    code = """
        import socket, sys
        for address in sys.argv[1:]:
            name = address.replace("@", "\\0", 1) if address.startswith("@") else address
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(3)
            try:
                client.connect(name)
                print("connected", address)
            except OSError as exc:
                print("blocked", address, exc.errno)
            finally:
                client.close()
    """
    try:
        with Sandbox(project, PYTHON, EngineSettings(use_bwrap=True)).workspace() as ws:
            result = py(ws, code, *places, "@" + abstract[1:])
    finally:
        for listener in [*listeners, abstract_listener]:
            listener.close()
        for path in places:
            if os.path.lexists(path):
                os.unlink(path)
        shutil.rmtree(var_tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(places) + 1
    assert all(line.startswith("blocked") for line in lines), result.stdout


# -- more attempts against the new design ------------------------------------------------------


@needs_bwrap
def test_runtime_scripts_cannot_be_replaced_between_runs(project: Path) -> None:
    # The runtime scripts judge the candidate in later runs: rename, chmod or overwrite them.
    attack = """
        import os, perfrl_capture
        runtime = os.path.dirname(perfrl_capture.__file__)
        for action in (
            lambda: os.chmod(runtime, 0o755),
            lambda: os.rename(runtime, runtime + "-old"),
            lambda: os.unlink(perfrl_capture.__file__),
            lambda: open(perfrl_capture.__file__, "w").write("EVIL = 1\\n"),
            lambda: os.symlink("/etc", os.path.join(runtime, "evil")),
        ):
            try:
                action()
                print("changed")
            except OSError as exc:
                print("refused", exc.errno)
    """
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=True)).workspace() as ws:
        result = py(ws, attack)
        assert result.returncode == 0, result.stderr
        assert "changed" not in result.stdout, result.stdout
        check = py(ws, "import perfrl_capture; print(hasattr(perfrl_capture, 'EVIL'))")
        assert check.stdout.strip() == "False", check.stderr
        engine_copy = Path(__file__).resolve().parents[2] / "server/perfrl/engine/runtime"
        for script in engine_copy.glob("*.py"):
            assert (ws.runtime_dir / script.name).read_bytes() == script.read_bytes()


@needs_bwrap
def test_nothing_outside_the_workspace_is_writable(project: Path) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    # The sandbox's own root too: writable, it would be a store in memory without a bound.
    targets = [str(project / "pkg" / "mod.py"), "/etc/perfrl-test", "/usr/perfrl-test",
               "/perfrl-test"]
    code = """
        import os, sys
        # The workspace's base folder (where the runtime lives) is the sandbox's own there.
        base = os.path.dirname(os.path.dirname(os.environ["HOME"]))
        for path in [*sys.argv[1:], os.path.join(base, "planted")]:
            try:
                with open(path, "w") as handle:
                    handle.write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, exc.errno)
    """
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=True)).workspace() as ws:
        result = py(ws, code, *targets)
        assert not (ws.base / "planted").exists()
    assert result.returncode == 0, result.stderr
    assert not any(f"wrote {t}" in result.stdout for t in targets), result.stdout
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert not os.path.exists("/etc/perfrl-test") and not os.path.exists("/usr/perfrl-test")


@needs_bwrap
@pytest.mark.parametrize(
    "swap",
    [
        "os.rename(copy, copy + '-gone')",
        "shutil.rmtree(data); os.symlink('/etc', data)",
        "shutil.rmtree(home); open(home, 'w').write('not a folder')",
        "shutil.rmtree(tmp); os.mkfifo(tmp)",
        "os.rename(os.path.dirname(copy), os.path.dirname(copy) + '-x')",
    ],
    ids=["rename-copy", "data-to-symlink", "home-to-file", "tmp-to-fifo", "rename-root"],
)
def test_swapped_workspace_folders_end_that_run_not_the_job(project: Path, swap: str) -> None:
    code = f"""
        import os, shutil
        copy = os.getcwd()
        home = os.environ["HOME"]
        tmp = os.environ["TMPDIR"]
        data = os.path.join(os.path.dirname(home), "data")
        {swap}
        print("swapped")
    """
    sandbox = Sandbox(project, PYTHON, EngineSettings(use_bwrap=True))
    with sandbox.workspace() as ws:
        first = py(ws, code)
        assert first.stdout.strip() == "swapped", first.stderr
        with pytest.raises(WorkspaceTampered) as raised:
            py(ws, "print('second run')")
        base = ws.base
    assert isinstance(raised.value, WorkspaceSurprise)
    assert not isinstance(raised.value, PerfRLError)  # never "bad input, exit 2"
    assert not base.exists()
    # The same sandbox still serves the next candidate.
    with sandbox.workspace() as ws:
        assert py(ws, "print('next candidate')").stdout.strip() == "next candidate"


@pytest.mark.parametrize("use_bwrap", [pytest.param(True, marks=needs_bwrap), False])
def test_reports_are_read_only_as_small_regular_files(project: Path, use_bwrap: bool) -> None:
    # Everything the engine might read as a report, made by code inside the sandbox.
    code = """
        import os, socket, sys
        data = sys.argv[1]
        os.mkfifo(os.path.join(data, "fifo.json"))
        os.symlink("/dev/zero", os.path.join(data, "zero.json"))
        os.symlink("/etc/hostname", os.path.join(data, "link.json"))
        os.mkdir(os.path.join(data, "dir.json"))
        with open(os.path.join(data, "huge.json"), "wb") as handle:
            handle.truncate(int(sys.argv[2]) + 1)
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(data, "sock.json"))
        os.mkdir(os.path.join(data, "sub-real"))
        open(os.path.join(data, "sub-real", "ok.json"), "w").write("{}")
        os.symlink(os.path.join(data, "sub-real"), os.path.join(data, "sub"))
        open(os.path.join(data, "fine.json"), "w").write('{"status": "ok"}')
    """
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=use_bwrap)).workspace() as ws:
        made = py(ws, code, str(ws.data_dir), str(MAX_REPORT_BYTES))
        assert made.returncode == 0, made.stderr
        outcomes: dict[str, str] = {}

        def read_all() -> None:
            for name in ["fifo.json", "zero.json", "link.json", "dir.json", "huge.json",
                         "sock.json", "sub/ok.json"]:
                try:
                    read_workspace_file(ws.data_dir / name)
                    outcomes[name] = "read"
                except UnsafeWorkspaceFile as exc:
                    outcomes[name] = f"refused: {exc}"

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        reader.join(timeout=60)
        assert not reader.is_alive(), f"reading blocked after {outcomes}"
        assert read_workspace_file(ws.data_dir / "fine.json") == b'{"status": "ok"}'
        with pytest.raises(FileNotFoundError):
            read_workspace_file(ws.data_dir / "never-written.json")
    assert all(value.startswith("refused") for value in outcomes.values()), outcomes
    assert "FIFO" in outcomes["fifo.json"] and "symlink" in outcomes["zero.json"]
    assert "more than" in outcomes["huge.json"]


@pytest.mark.parametrize("use_bwrap", [pytest.param(True, marks=needs_bwrap), False])
def test_engine_writes_never_go_through_a_planted_symlink(project: Path, use_bwrap: bool) -> None:
    # The candidate plants a link where the engine writes its next input; writing through it
    # would overwrite a file of the user's (here a stand-in in a host folder).
    victim_dir = _host_dir("perfrl-victim-")
    victim = victim_dir / "bashrc"
    victim.write_text("the user's own\n")
    code = """
        import os, sys
        os.symlink(sys.argv[2], os.path.join(sys.argv[1], "tests-selected.txt"))
        os.mkfifo(os.path.join(sys.argv[1], "other-input.txt"))
    """
    try:
        with Sandbox(project, PYTHON, EngineSettings(use_bwrap=use_bwrap)).workspace() as ws:
            assert py(ws, code, str(ws.data_dir), str(victim)).returncode == 0
            write_workspace_file(ws.data_dir / "tests-selected.txt", b"tests/test_x.py::t\n")
            write_workspace_file(ws.data_dir / "other-input.txt", b"x")
            written = ws.data_dir / "tests-selected.txt"
            assert not written.is_symlink()
            assert written.read_bytes() == b"tests/test_x.py::t\n"
            assert (ws.data_dir / "other-input.txt").read_bytes() == b"x"
        assert victim.read_text() == "the user's own\n"
    finally:
        shutil.rmtree(victim_dir, ignore_errors=True)


DAEMON = """
    import os, sys, time
    marker, late = sys.argv[1], sys.argv[2]
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            # Leave the process group and, where it can, the run's cgroups; then wait and
            # write after the run is over.
            for procs in ("/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/cgroup.procs"):
                try:
                    with open(procs, "w") as handle:
                        handle.write(str(os.getpid()))
                except OSError:
                    pass
            os.execv(sys.executable, [sys.executable, "-c",
                     "import sys, time; time.sleep(3); open(sys.argv[1], 'w').write('late')",
                     late, marker])
        os._exit(0)
    print("parent done")
"""


@needs_bwrap
def test_a_daemon_does_not_outlive_its_run(project: Path) -> None:
    from tests.engine.test_sandbox import processes_with

    marker = f"perfrl-daemon-{uuid.uuid4().hex}"
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=True)).workspace() as ws:
        late = ws.data_dir / "late.txt"
        result = py(ws, DAEMON, marker, str(late))
        assert result.stdout.strip() == "parent done", result.stderr
        # Checked the moment the run returns, no waiting: the process is already gone.
        assert processes_with(marker) == []
    assert not late.exists()


def test_without_bwrap_the_report_says_what_a_daemon_can_do(project: Path) -> None:
    sandbox = Sandbox(project, PYTHON, EngineSettings(use_bwrap=False))
    missing = " | ".join(sandbox.missing_protections)
    assert "outlive the run" in missing
    assert "read and write" in missing
    assert not any("never written" in line or "read-only" in line for line in sandbox.protections)
    assert sandbox.protections_summary.startswith("NO ISOLATION")
    support = cgroup_support()
    if support.pids_dir or support.memory_dir:
        assert "moves itself out of the run's cgroup" in missing


@pytest.mark.parametrize("use_bwrap", [pytest.param(True, marks=needs_bwrap), False])
def test_cleanup_survives_what_the_candidate_leaves(project: Path, use_bwrap: bool) -> None:
    code = """
        import os, socket
        # Deeper than Python's recursion limit, a FIFO, a socket, locked folders, odd names.
        os.makedirs("deep", exist_ok=True)
        os.chdir("deep")
        for _ in range(1500):
            os.mkdir("d")
            os.chdir("d")
        os.chdir(os.environ["HOME"])
        os.mkfifo("fifo")
        socket.socket(socket.AF_UNIX).bind("sock")
        os.makedirs("locked/inner")
        open("locked/inner/f", "w").write("x")
        os.chmod("locked/inner", 0)
        os.chmod("locked", 0o100)
        open("name\\nwith newline", "w").write("x")
        os.symlink("/", "to-root")
        print("left")
    """
    with Sandbox(project, PYTHON, EngineSettings(use_bwrap=use_bwrap)).workspace() as ws:
        result = py(ws, code)
        assert result.stdout.strip() == "left", result.stderr
        base = ws.base
    assert not base.exists()


@needs_bwrap
def test_protections_summary_is_one_short_line(project: Path) -> None:
    sandbox = Sandbox(project, PYTHON, EngineSettings(use_bwrap=True))
    summary = sandbox.protections_summary
    assert "\n" not in summary and len(summary) < 100, summary
    assert summary.startswith("bubblewrap")
    assert len("; ".join(sandbox.protections)) > 3 * len(summary)  # the full list stays
