"""Interpreter resolution against real interpreters and real virtual environments."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine import interpreter as interp_mod
from perfrl.engine.interpreter import interpreter_info, resolve_interpreter
from perfrl.engine.sandbox import Sandbox
from perfrl.engine.sandbox.bwrap import bwrap_status
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import PerfRLError


def make_venv(path: Path, system_site_packages: bool) -> Path:
    """A real venv (no pip: fast); with system site-packages it sees this pytest."""
    args = [sys.executable, "-m", "venv", "--without-pip"]
    if system_site_packages:
        args.append("--system-site-packages")
    subprocess.run([*args, str(path)], check=True)
    return path / "bin" / "python"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "test_x.py").write_text("def test_x():\n    assert True\n")
    return root


def test_project_venv_is_preferred(project: Path) -> None:
    venv_python = make_venv(project / ".venv", system_site_packages=True)
    found = resolve_interpreter(project, None)
    # The venv's own path, not the base interpreter its symlink points to.
    assert found == str(venv_python)
    assert interpreter_info(found).prefix == str(project / ".venv")


def test_plain_venv_dir_is_found_too(project: Path) -> None:
    venv_python = make_venv(project / "venv", system_site_packages=True)
    assert resolve_interpreter(project, None) == str(venv_python)


def test_python3_on_path_without_venv(project: Path) -> None:
    found = resolve_interpreter(project, None)
    assert found == os.path.abspath(shutil.which("python3"))
    assert interpreter_info(found).pytest_version is not None


def test_configured_absolute_relative_and_name(project: Path) -> None:
    make_venv(project / ".venv", system_site_packages=True)
    assert resolve_interpreter(project, sys.executable) == os.path.abspath(sys.executable)
    # A relative path is relative to the project root, not the server's cwd.
    rel = resolve_interpreter(project, ".venv/bin/python")
    assert rel == str(project / ".venv" / "bin" / "python")
    assert resolve_interpreter(project, "python3") == os.path.abspath(shutil.which("python3"))


def test_configured_folder_is_named_a_folder_not_missing(project: Path, tmp_path: Path) -> None:
    # Issue 17: a folder was reported as "does not exist". A venv folder names its python.
    venv = tmp_path / "env"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    with pytest.raises(PerfRLError, match=r"is a folder, not an interpreter.*env/bin/python"):
        resolve_interpreter(project, str(venv))
    with pytest.raises(PerfRLError, match=r"is a folder, not an interpreter\. Fix"):
        resolve_interpreter(project, str(tmp_path))


def test_configured_missing_path_says_how_to_fix(project: Path) -> None:
    with pytest.raises(PerfRLError, match=r"does not exist.*perfrl.interpreter"):
        resolve_interpreter(project, str(project / "nope" / "python"))
    with pytest.raises(PerfRLError, match="not on PATH"):
        resolve_interpreter(project, "python-perfrl-does-not-exist")
    with pytest.raises(PerfRLError, match="empty"):
        resolve_interpreter(project, "  ")


def test_venv_without_pytest_is_refused_with_install_hint(project: Path) -> None:
    venv_python = make_venv(project / ".venv", system_site_packages=False)
    with pytest.raises(PerfRLError) as info:
        resolve_interpreter(project, None)
    message = str(info.value)
    assert "cannot import pytest" in message
    assert f"{venv_python} -m pip install pytest" in message
    assert "virtual environment" in message


def test_not_a_python_is_refused(project: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(PerfRLError, match="does not look like a Python 3 interpreter"):
        resolve_interpreter(project, str(fake))
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho broken install >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(PerfRLError, match="exit code 3.*broken install"):
        resolve_interpreter(project, str(failing))
    not_exec = tmp_path / "not_exec"
    not_exec.write_text("")
    with pytest.raises(PerfRLError, match="not executable"):
        resolve_interpreter(project, str(not_exec))


def test_info_is_cached_per_path_and_refreshed_when_file_changes(tmp_path: Path) -> None:
    wrapper = tmp_path / "py"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    first = interpreter_info(str(wrapper))
    assert interpreter_info(str(wrapper)) is first
    # A changed executable (reinstall) is probed again.
    wrapper.write_text(f'#!/bin/sh\n# v2\nexec {sys.executable} "$@"\n')
    os.utime(wrapper, ns=(0, first_mtime_plus_one(wrapper)))
    second = interpreter_info(str(wrapper))
    assert second is not first and second.version == first.version
    interp_mod._cache.pop(str(wrapper), None)


def first_mtime_plus_one(path: Path) -> int:
    return path.stat().st_mtime_ns + 1_000_000_000


@pytest.mark.skipif(not bwrap_status().usable, reason="bubblewrap not usable here")
def test_venv_under_tmp_works_inside_bwrap(project: Path) -> None:
    # The private /tmp inside bubblewrap hides the host's /tmp; the sandbox must bind the
    # interpreter's directories back (read-only) for a venv that lives there.
    venv_python = make_venv(project / ".venv", system_site_packages=True)
    found = resolve_interpreter(project, None)
    sandbox = Sandbox(project, found, EngineSettings(use_bwrap=True))
    code = textwrap.dedent(
        """
        import sys, pytest
        print(sys.prefix)
        try:
            open(sys.prefix + "/pyvenv.cfg", "a").write("x")
            print("writable")
        except OSError:
            print("read-only")
        """
    )
    with sandbox.workspace() as ws:
        result = ws.run_python(["-c", code], timeout_s=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(venv_python.parent.parent), "read-only"]
