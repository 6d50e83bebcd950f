"""The sandbox with real subprocesses, real bubblewrap and real cgroups (no mocks).

Hostile candidates here are bounded by the test code itself (a fork bomb that can make at most
~120 processes, memory hogs of a few hundred MB), so a broken sandbox fails the test without
taking the machine down.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from perfrl.engine.sandbox import MAX_OUTPUT_BYTES, Sandbox
from perfrl.engine.sandbox import bwrap as sandbox_bwrap
from perfrl.engine.sandbox.bwrap import bwrap_status
from perfrl.engine.sandbox.limits import cgroup_support, count_user_tasks, rlimits_for
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import CancelToken, PerfRLError
from tests.process_tree import command_line, describe, processes_with

HAVE_BWRAP = bwrap_status().usable
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not usable here")
BWRAP_MODES = [
    pytest.param(True, marks=needs_bwrap, id="bwrap"),
    pytest.param(False, id="no-bwrap"),
]
PYTHON = sys.executable


def tree_hash(root: Path) -> dict[str, str]:
    """Every entry under root (files by content, links by target, dirs by name)."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                result[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                result[rel] = "dir"
    return result


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def f(x):\n    return x + 1\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_mod.py").write_text(
        "from pkg.mod import f\n\ndef test_f():\n    assert f(1) == 2\n"
    )
    for skipped in [".git", ".venv", "venv", "node_modules", "__pycache__", "build", "x.egg-info"]:
        (root / skipped).mkdir()
        (root / skipped / "junk.txt").write_text("junk")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "data.txt").write_text("data\n")
    os.symlink("data.txt", root / "inside_link")
    os.symlink(str(root / "pkg"), root / "abs_inside_dir_link")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def settings(use_bwrap: bool | None, **kw) -> EngineSettings:
    return EngineSettings(use_bwrap=use_bwrap, **kw)


def py(ws, code: str, timeout_s: float = 30, **kw):
    return ws.run_python(["-c", textwrap.dedent(code)], timeout_s=timeout_s, **kw)


# -- the project copy -----------------------------------------------------------------------


def test_copy_skips_tool_dirs_and_keeps_inside_links(project: Path) -> None:
    sandbox = Sandbox(project, PYTHON, settings(False))
    with sandbox.workspace() as ws:
        copied = tree_hash(ws.root)
        assert ws.root.name == "proj"
        assert "pkg/mod.py" in copied and "data.txt" in copied
        for skipped in [".git", ".venv", "venv", "node_modules", "__pycache__", "build"]:
            assert skipped not in copied
        assert "x.egg-info" not in copied
        assert not any("__pycache__" in key for key in copied)
        # Links into the project stay links and point into the copy, never at the original.
        assert os.readlink(ws.root / "inside_link") == "data.txt"
        abs_link = ws.root / "abs_inside_dir_link"
        assert abs_link.is_symlink() and not os.path.isabs(os.readlink(abs_link))
        assert abs_link.resolve() == (ws.root / "pkg").resolve()
        base = ws.base
    assert not base.exists()


def test_link_to_outside_file_is_copied_and_outside_dir_left_out(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside content")
    os.symlink(outside / "secret.txt", project / "file_link")
    os.symlink(outside, project / "dir_link")
    with Sandbox(project, PYTHON, settings(False)).workspace() as ws:
        copied = ws.root / "file_link"
        assert not copied.is_symlink() and copied.read_text() == "outside content"
        assert not os.path.lexists(ws.root / "dir_link")
        assert ws.copy_stats.skipped_links == ["dir_link"]


def test_replacements_applied_and_user_tree_untouched(project: Path) -> None:
    before = tree_hash(project)
    new_text = "def f(x):\n    return x + 2  # é\r\n"
    sandbox = Sandbox(project, PYTHON, settings(None))
    with sandbox.workspace({"pkg/mod.py": new_text, "pkg/new.py": "X = 1\n"}) as ws:
        assert (ws.root / "pkg" / "mod.py").read_bytes() == new_text.encode()
        result = py(ws, "import pkg.mod, pkg.new; print(pkg.mod.f(1), pkg.new.X)")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["3", "1"]
    assert tree_hash(project) == before


@pytest.mark.parametrize("bad", ["../evil.py", "/etc/passwd", "pkg/../../evil.py", ""])
def test_replacement_outside_copy_refused(project: Path, bad: str) -> None:
    sandbox = Sandbox(project, PYTHON, settings(False))
    with pytest.raises(PerfRLError, match="Replacement path"), sandbox.workspace({bad: "x"}):
        pass


def test_project_over_caps_refused(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    sandbox = Sandbox(project, PYTHON, settings(False), max_project_files=3)
    with pytest.raises(PerfRLError, match="more than 3 files"), sandbox.workspace():
        pass
    sandbox = Sandbox(project, PYTHON, settings(False), max_project_bytes=10)
    with pytest.raises(PerfRLError, match="larger than"), sandbox.workspace():
        pass
    assert list(scratch.iterdir()) == []  # the partial copies were removed


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_destructive_candidate_leaves_user_tree_and_home_untouched(
    project: Path, use_bwrap: bool
) -> None:
    before = tree_hash(project)
    real_home = Path(os.path.expanduser("~"))
    marker = f"perfrl-test-{uuid.uuid4().hex}"
    code = f"""
        import os, shutil, stat
        for name in os.listdir("."):
            p = os.path.join(".", name)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        home = os.path.expanduser("~")
        with open(os.path.join(home, "{marker}"), "w") as fh:
            fh.write("x")
        # Leave something hard to remove: a read-only dir holding a file, a mode-000 dir.
        os.makedirs("ro/inner")
        open("ro/inner/f", "w").write("x")
        os.chmod("ro/inner", 0o500)
        os.chmod("ro", 0o500)
        os.mkdir("locked")
        open("locked/g", "w").write("x")
        os.chmod("locked", 0)
        print("HOME=" + home)
    """
    with Sandbox(project, PYTHON, settings(use_bwrap)).workspace() as ws:
        result = py(ws, code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"HOME={ws.home}"
        assert (ws.home / marker).exists()
        base = ws.base
    assert not base.exists()
    assert not (real_home / marker).exists()
    assert tree_hash(project) == before


@needs_bwrap
def test_user_project_is_read_only_inside_bwrap() -> None:
    # Outside /tmp: the real tree is absent inside (only system folders are shown), or, where
    # it is visible (a project inside a system folder), read-only.
    outer = Path(tempfile.mkdtemp(prefix=".perfrl-test-", dir=Path(__file__).parent))
    try:
        project = make_project(outer / "proj")
        before = tree_hash(project)
        code = f"""
            import errno
            try:
                open({str(project / "pkg" / "mod.py")!r}, "w").write("broken")
            except OSError as exc:
                print(errno.errorcode[exc.errno])
        """
        with Sandbox(project, PYTHON, settings(True)).workspace() as ws:
            result = py(ws, code)
        assert result.stdout.strip() in ("EROFS", "ENOENT"), result
        assert tree_hash(project) == before
    finally:
        import shutil

        shutil.rmtree(outer)


@needs_bwrap
def test_same_paths_inside_and_private_tmp(project: Path) -> None:
    host_marker = Path(tempfile.gettempdir()) / f"perfrl-host-{uuid.uuid4().hex}"
    host_marker.write_text("host")
    try:
        code = f"""
            import os, sys
            print(os.getcwd())
            open(os.path.join(sys.argv[1], "out.txt"), "w").write("from inside")
            open("made_inside.txt", "w").write("y")
            print(os.path.exists({str(host_marker)!r}))
            import perfrl_capture
            try:
                open(os.path.join(os.path.dirname(perfrl_capture.__file__), "x"), "w")
                print("runtime writable")
            except OSError:
                print("runtime read-only")
        """
        with Sandbox(project, PYTHON, settings(True)).workspace() as ws:
            result = ws.run_python(["-c", textwrap.dedent(code), str(ws.data_dir)], timeout_s=30)
            assert result.returncode == 0, result.stderr
            lines = result.stdout.split("\n")
            assert lines[0] == str(ws.root)
            assert (ws.data_dir / "out.txt").read_text() == "from inside"
            assert (ws.root / "made_inside.txt").exists()
            assert lines[1] == "False"  # the host's /tmp is not visible
            assert lines[2] == "runtime read-only"
    finally:
        host_marker.unlink()


# -- network ---------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_network_blocked_only_under_bwrap(project: Path, use_bwrap: bool) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    code = f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
            print("connected")
        except OSError as exc:
            print("blocked", exc)
    """
    try:
        with Sandbox(project, PYTHON, settings(use_bwrap)).workspace() as ws:
            result = py(ws, code)
    finally:
        listener.close()
    # Without bubblewrap the same code reaches the listener: proof the check can fail.
    expected = "blocked" if use_bwrap else "connected"
    assert result.stdout.split()[0] == expected, result


# -- time, processes, memory, cpu ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_timeout_kills_grandchildren_even_in_their_own_session(
    project: Path, use_bwrap: bool
) -> None:
    support = cgroup_support()
    if not use_bwrap and not (support.pids_dir or support.memory_dir or support.cpuacct_dir):
        pytest.skip("without bubblewrap or cgroups a process leaving the group can survive")
    marker = f"perfrl-grandchild-{uuid.uuid4().hex}"
    code = f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"],
                         start_new_session=True)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
        print("spawned", flush=True)  # Popen returned: both grandchildren exist
        time.sleep(120)
    """
    with Sandbox(project, PYTHON, settings(use_bwrap)).workspace() as ws:
        result = py(ws, code, timeout_s=5)
    assert result.timed_out and not result.cancelled
    assert "spawned" in result.stdout
    assert result.wall_s < 5 + 3
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []


def test_cancel_kills_quickly(project: Path) -> None:
    token = CancelToken()
    with Sandbox(project, PYTHON, settings(None)).workspace() as ws:
        timer = threading.Timer(0.5, token.cancel)
        timer.start()
        result = py(ws, "import time; time.sleep(60)", timeout_s=60, cancel=token)
        timer.join()
    assert result.cancelled and not result.timed_out
    assert result.wall_s < 0.5 + 1.5
    assert result.returncode == -signal.SIGKILL


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_memory_hog_reports_memory_limit(project: Path, use_bwrap: bool) -> None:
    code = """
        data = bytearray(1024 * 1024 * 1024)
        print("allocated", len(data))
    """
    with Sandbox(project, PYTHON, settings(use_bwrap, memory_mb=256)).workspace() as ws:
        result = py(ws, code)
    assert result.returncode != 0
    assert "MemoryError" in result.stderr
    assert result.limit_hit == "memory"


@pytest.mark.slow
@pytest.mark.skipif(cgroup_support().memory_dir is None, reason="no usable memory cgroup")
def test_memory_of_all_processes_limited_by_cgroup(project: Path) -> None:
    # Each child stays under the per-process address-space limit (256 MB) but together they
    # need ~600 MB: only the run's memory cgroup can stop that.
    code = """
        import os, time
        pids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = b"x" * (150 * 1024 * 1024)
                time.sleep(5)
                os._exit(0)
            pids.append(pid)
        codes = [os.waitpid(p, 0)[1] for p in pids]
        print(codes)
        raise SystemExit(1 if any(codes) else 0)
    """
    with Sandbox(project, PYTHON, settings(None, memory_mb=256)).workspace() as ws:
        result = py(ws, code, timeout_s=30)
    assert result.limit_hit == "memory", result
    assert result.returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_cpu_spin_hits_cpu_limit(project: Path, use_bwrap: bool) -> None:
    with Sandbox(project, PYTHON, settings(use_bwrap, cpu_seconds=1)).workspace() as ws:
        result = py(ws, "while True:\n    pass\n", timeout_s=30)
    assert not result.timed_out
    assert result.returncode == -signal.SIGXCPU
    assert result.limit_hit == "cpu"
    # SIGXCPU and the limit named are the contract; how much CPU time the accounting shows by
    # then varies with the machine's load (0.73 s was seen under load), so only "some".
    assert result.cpu_s > 0


@pytest.mark.slow
@pytest.mark.skipif(cgroup_support().pids_dir is None, reason="no usable pids cgroup")
@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_fork_bomb_is_contained(project: Path, use_bwrap: bool) -> None:
    marker = f"perfrl-bomb-{uuid.uuid4().hex}"
    # Bounded even if the sandbox fails: fan-out 3, depth 4 -> at most 120 processes.
    code = """
        import os, sys, time
        def bomb(depth):
            for _ in range(3):
                if depth == 0:
                    break
                for attempt in range(200):
                    try:
                        pid = os.fork()
                        break
                    except OSError:
                        time.sleep(0.01)
                else:
                    continue
                if pid == 0:
                    bomb(depth - 1)
                    time.sleep(60)
                    os._exit(0)
        bomb(4)
        time.sleep(60)
    """
    s = settings(use_bwrap, max_processes=16)
    with Sandbox(project, PYTHON, s).workspace() as ws:
        result = ws.run_python(["-c", textwrap.dedent(code), marker], timeout_s=5)
    assert result.timed_out
    assert result.limit_hit == "processes"
    assert result.wall_s < 5 + 5
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []


# -- environment, results, protections -------------------------------------------------------


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_environment_is_scrubbed(
    project: Path, use_bwrap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2-token-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-aws-value")
    monkeypatch.setenv("LC_TIME", "C")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    with Sandbox(project, PYTHON, settings(use_bwrap)).workspace() as ws:
        result = py(ws, code, env={"PERFRL_MODE": "observe", "PYTHONPATH": "/extra"})
        import json

        inside = json.loads(result.stdout)
        assert "SECRET_TOKEN" not in inside and "AWS_SECRET_ACCESS_KEY" not in inside
        assert "hunter2" not in result.stdout
        assert inside["PERFRL_MODE"] == "observe"
        assert inside["LC_TIME"] == "C"
        assert inside["HOME"] == str(ws.home) and inside["TMPDIR"] == str(ws.tmp)
        assert inside["PYTHONPATH"].split(os.pathsep) == ["/extra", str(ws.runtime_dir)]
        assert inside["PYTHONHASHSEED"] == "0"


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_exit_codes_and_signals(project: Path, use_bwrap: bool) -> None:
    with Sandbox(project, PYTHON, settings(use_bwrap)).workspace() as ws:
        assert py(ws, "raise SystemExit(3)").returncode == 3
        killed = py(ws, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
        assert killed.returncode == -signal.SIGTERM
        assert killed.limit_hit is None and not killed.timed_out
        ok = ws.run(["sh", "-c", "echo out; echo err >&2"], timeout_s=10)
        assert (ok.returncode, ok.stdout, ok.stderr) == (0, "out\n", "err\n")
        with pytest.raises(PerfRLError, match="no such program"):
            ws.run(["definitely-not-a-program-perfrl"], timeout_s=10)


def test_huge_output_is_truncated(project: Path) -> None:
    code = (
        "import sys\nfor _ in range(12):\n    sys.stdout.write('x' * (1024 * 1024))\nprint('END')"
    )
    with Sandbox(project, PYTHON, settings(None)).workspace() as ws:
        result = py(ws, code)
    assert result.returncode == 0
    assert len(result.stdout) < MAX_OUTPUT_BYTES + 200
    assert "bytes of output dropped" in result.stdout and result.stdout.endswith("END\n")


@pytest.mark.slow
def test_pytest_runs_in_sandbox_with_runtime_importable(project: Path) -> None:
    with Sandbox(project, PYTHON, settings(None)).workspace() as ws:
        result = ws.run_python(["-m", "pytest", "-q", "-p", "no:cacheprovider"], timeout_s=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        check = py(ws, "import perfrl_capture, perfrl_worker; print('ok')")
        assert check.stdout.strip() == "ok", check.stderr


def test_without_bwrap_protections_say_what_is_missing(project: Path) -> None:
    sandbox = Sandbox(project, PYTHON, settings(False))
    assert not sandbox.uses_bwrap
    assert not any(p.startswith("bubblewrap") for p in sandbox.protections)
    missing = " | ".join(sandbox.missing_protections)
    assert "no filesystem isolation" in missing and "no network isolation" in missing
    assert any(p.startswith("rlimit: cpu 120 s, memory 2048 MB") for p in sandbox.protections)
    if os.geteuid() == 0 and cgroup_support().pids_dir is None:
        assert "process count not limited" in missing


@needs_bwrap
def test_with_bwrap_protections_listed(project: Path) -> None:
    sandbox = Sandbox(project, PYTHON, settings(True))
    assert sandbox.uses_bwrap
    assert any("read-only root" in p and "no network" in p for p in sandbox.protections)
    assert not any("filesystem" in p for p in sandbox.missing_protections)
    if cgroup_support().pids_dir:
        assert "process limit: cgroup pids.max 64" in sandbox.protections


def test_required_bwrap_missing_is_an_error(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setattr(sandbox_bwrap, "_status", None)  # forget the cached probe
    with pytest.raises(PerfRLError, match="bubblewrap.*not installed"):
        Sandbox(project, PYTHON, settings(True))
    # Auto mode falls back and says so.
    monkeypatch.setattr(sandbox_bwrap, "_status", None)
    sandbox = Sandbox(project, PYTHON, settings(None))
    assert not sandbox.uses_bwrap
    assert any("not installed" in m for m in sandbox.missing_protections)


@pytest.mark.slow
@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_sandboxed_command_dies_with_the_server(project: Path, use_bwrap: bool) -> None:
    marker = f"perfrl-orphan-{uuid.uuid4().hex}"
    sleeper = "import time; time.sleep(120)"
    server = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from perfrl.engine.sandbox import Sandbox
        from perfrl.engine.settings import EngineSettings
        sandbox = Sandbox(Path({str(project)!r}), sys.executable,
                          EngineSettings(use_bwrap={use_bwrap!r}))
        with sandbox.workspace() as ws:
            print("running", flush=True)
            ws.run_python(["-c", {sleeper!r}, {marker!r}], timeout_s=120)
        """
    )
    proc = subprocess.Popen([PYTHON, "-c", server], stdout=subprocess.PIPE, text=True)

    def sandboxed() -> list[int]:
        # The server's command line holds the marker too (and so does a child it forked,
        # until that execs), and so does the launcher's: only the command itself counts.
        return [pid for pid in processes_with(marker)
                if (command_line(pid) or [])[1:] == ["-c", sleeper, marker]]

    try:
        assert proc.stdout.readline().strip() == "running"
        # Waiting for the command itself, not a process whose command line merely holds the
        # marker: the server's own matched at once, so the server was killed while it was
        # still starting the launcher, which then outlived the check (a CI failure). Generous,
        # as the first start of an interpreter beside a full test run can be slow.
        deadline = time.monotonic() + 90
        while not sandboxed() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sandboxed(), ("the sandboxed command never started",
                             [describe(pid) for pid in processes_with(marker)])
    finally:
        proc.kill()  # SIGKILL: the server gets no chance to clean up
        proc.wait()
    # Generous: on a loaded machine a killed process may take a while to be scheduled and die.
    deadline = time.monotonic() + 30
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = processes_with(marker)
    assert survivors == [], [describe(pid) for pid in survivors]


@needs_bwrap
def test_real_home_is_empty_under_bwrap(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An allow-list: nothing of the real HOME is visible, not only the known credential files.
    fake_home = Path(tempfile.mkdtemp(prefix="perfrl-test-home-", dir=Path(__file__).parent))
    try:
        (fake_home / ".ssh").mkdir()
        (fake_home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
        (fake_home / ".netrc").write_text("machine x password hunter2")
        (fake_home / "notes.txt").write_text("not on any credential list")
        monkeypatch.setenv("HOME", str(fake_home))
        code = f"""
            import os
            home = {str(fake_home)!r}
            print(sorted(os.listdir(home)) if os.path.exists(home) else "absent")
        """
        with Sandbox(project, PYTHON, settings(True)).workspace() as ws:
            result = py(ws, code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() in ("[]", "absent")
    finally:
        import shutil

        shutil.rmtree(fake_home)


@needs_bwrap
def test_cgroup_files_read_only_inside_bwrap(project: Path) -> None:
    # Opening for writing (without writing) is enough to see the mount is read-only, and is
    # harmless where it is not: the candidate must not be able to lift its own limits.
    code = """
        import errno, glob, os
        paths = glob.glob("/sys/fs/cgroup/*/cgroup.procs")
        for path in paths:
            try:
                os.close(os.open(path, os.O_WRONLY))
                print("writable", path)
            except OSError as exc:
                print(errno.errorcode[exc.errno])
    """
    with Sandbox(project, PYTHON, settings(True)).workspace() as ws:
        result = py(ws, code)
    lines = result.stdout.split()
    if not lines:
        pytest.skip("no cgroup v1 hierarchy mounted")
    assert set(lines) == {"EROFS"}, result.stdout


def test_run_cgroups_are_removed_afterwards(project: Path) -> None:
    support = cgroup_support()
    bases = [d for d in (support.pids_dir, support.memory_dir, support.cpuacct_dir) if d]
    if not bases:
        pytest.skip("no usable cgroups")
    # Without bubblewrap's cgroup namespace the child sees its group's real path.
    with Sandbox(project, PYTHON, settings(False)).workspace() as ws:
        result = py(ws, "print(open('/proc/self/cgroup').read())")
        assert result.returncode == 0
    groups = {
        line.split(":", 2)[2].rsplit("/", 1)[-1]
        for line in result.stdout.splitlines()
        if line.count(":") >= 2 and "perfrl-" in line
    }
    assert len(groups) == 1  # one group per run, in every usable controller
    (name,) = groups
    assert name.split("-")[2] == str(os.getpid())
    assert not any(os.path.exists(os.path.join(base, name)) for base in bases)
    mine = [
        n for base in bases for n in os.listdir(base) if n.split("-")[2:3] == [str(os.getpid())]
    ]
    assert mine == []


def test_rlimits_and_user_task_count() -> None:
    s = EngineSettings(cpu_seconds=7, memory_mb=300)
    limits = {name: (soft, hard) for name, soft, hard in rlimits_for(s, None)}
    assert limits["RLIMIT_CPU"] == (7, 9)
    assert limits["RLIMIT_AS"] == (300 * 1024 * 1024,) * 2
    assert limits["RLIMIT_CORE"] == (0, 0)
    assert "RLIMIT_NPROC" not in limits
    with_nproc = {name: soft for name, soft, _ in rlimits_for(s, 500)}
    assert with_nproc["RLIMIT_NPROC"] == 500
    # This test's own process and its threads are counted.
    assert count_user_tasks(os.getuid()) >= threading.active_count()


@needs_bwrap
def test_older_bubblewrap_without_size_and_status_fd_still_isolates(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bwrap_status()
    # Ubuntu 22.04 ships bubblewrap 0.6: no --size for --tmpfs, --json-status-fd is there.
    # 0.4 (Ubuntu 20.04) has neither.
    for version in [(0, 6, 1), (0, 4, 0)]:
        old = sandbox_bwrap.BwrapStatus(real.path, True, "", version)
        monkeypatch.setattr(sandbox_bwrap, "_status", old)
        sandbox = Sandbox(project, PYTHON, settings(True))
        code = "import socket, os; print(os.getcwd()); socket.create_connection(('1.1.1.1', 53), 2)"
        with sandbox.workspace() as ws:
            result = py(ws, code)
            assert result.stdout.split()[0] == str(ws.root), result
            assert "OSError" in result.stderr or "unreachable" in result.stderr, result.stderr


def test_workspaces_of_dead_servers_are_removed(tmp_path: Path) -> None:
    from perfrl.engine.sandbox.project_copy import remove_stale_workspaces, workspace_prefix

    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    ours = workspace_prefix()  # perfrl-<ns>-<our pid>-ws-
    ns = ours.split("-")[1]
    stale = tmp_path / f"perfrl-{ns}-{dead.pid}-ws-abc123"
    (stale / "root" / "locked").mkdir(parents=True)
    (stale / "root" / "locked" / "f").write_text("x")
    os.chmod(stale / "root" / "locked", 0)
    alive = tmp_path / f"{ours}live"
    other_ns = tmp_path / f"perfrl-1-{dead.pid}-ws-other"
    unrelated = tmp_path / "perfrl-test-cache"
    for path in (alive, other_ns, unrelated):
        path.mkdir()
    assert remove_stale_workspaces(str(tmp_path)) == [stale.name]
    assert not stale.exists()
    assert alive.exists() and other_ns.exists() and unrelated.exists()


def test_skipped_folders_are_one_rule_for_the_copy_and_the_baseline_key(project: Path) -> None:
    # A virtual environment named .env was copied into every workspace while the baseline
    # cache key ignored it: two lists of skipped folders that disagreed.
    from perfrl.engine.baseline import baseline_cache_key
    from perfrl.engine.locate import locate_function
    from perfrl.engine.sandbox import is_skipped_dir

    (project / ".env" / "lib").mkdir(parents=True)
    (project / ".env" / "lib" / "site.py").write_text("VERSION = 1\n")
    target = locate_function("pkg/mod.py::f", project)
    key = baseline_cache_key(target, PYTHON, settings(False))
    with Sandbox(project, PYTHON, settings(False)).workspace() as ws:
        assert not (ws.root / ".env").exists()
    (project / ".env" / "lib" / "site.py").write_text("VERSION = 2\n")
    assert baseline_cache_key(target, PYTHON, settings(False)) == key
    (project / "tests" / "test_mod.py").write_text("def test_nothing():\n    pass\n")
    assert baseline_cache_key(target, PYTHON, settings(False)) != key
    assert all(is_skipped_dir(name) for name in [".env", ".venv", "x.egg-info", ".git"])


@pytest.mark.parametrize("use_bwrap", BWRAP_MODES)
def test_text_report_shows_one_short_sandbox_line_and_json_the_full_list(
    project: Path, use_bwrap: bool
) -> None:
    from perfrl.cli.report_text import render_report
    from perfrl.engine.types import OptimizationReport

    sandbox = Sandbox(project, PYTHON, settings(use_bwrap))
    report = OptimizationReport(
        function="pkg/mod.py::f", original_source="", candidates=[], best=None, baseline=None,
        threshold=1.1, protections=list(sandbox.protections),
        protections_summary=sandbox.protections_summary,
    )
    lines = [line for line in render_report(report).splitlines() if line.startswith("sandbox:")]
    assert lines == [f"sandbox: {sandbox.protections_summary}"]
    assert len(lines[0]) <= 160  # it used to be a 600-character line
    assert report.to_json()["protections"] == sandbox.protections
    if not use_bwrap:
        assert "NO ISOLATION" in lines[0]
