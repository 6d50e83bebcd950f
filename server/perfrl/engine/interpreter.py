"""Find and check the Python interpreter that runs the user's project tests.

Order: the configured interpreter (a path, a path relative to the project root, or a command
name on PATH), else the project's ``.venv/bin/python`` (or ``venv/bin/python``), else
``python3`` on PATH. The interpreter must start and import pytest; otherwise
:func:`resolve_interpreter` raises :class:`PerfRLError` saying how to fix it.

A caller may rely on:

* the returned path being absolute and *not* symlink-resolved (a venv's ``bin/python`` is a
  symlink to the base interpreter; resolving it would lose the venv);
* :func:`interpreter_info` being cached per path (and invalidated when the executable's
  modification time changes), so asking again is free;
* the probe running with the same scrubbed environment the sandbox uses, so "has pytest" here
  means "has pytest in the sandbox" (user site-packages included, ``PYTHONPATH`` not).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.sandbox.env import scrubbed_env
from perfrl.engine.types import PerfRLError

# The runtime scripts (capture plugin, verification worker) keep to Python 3.9 syntax.
MIN_VERSION = (3, 9)
_PROBE_TIMEOUT_S = 60.0
_PROBE = (
    "import json, sys\n"
    "try:\n"
    "    import pytest\n"
    "    pv, err = pytest.__version__, None\n"
    "except Exception as exc:\n"
    "    pv, err = None, f'{type(exc).__name__}: {exc}'\n"
    "print(json.dumps({'version': sys.version.split()[0],"
    " 'version_info': list(sys.version_info[:3]),"
    " 'executable': sys.executable, 'prefix': sys.prefix, 'base_prefix': sys.base_prefix,"
    " 'exec_prefix': sys.exec_prefix, 'path': sys.path, 'pytest': pv, 'pytest_error': err}))\n"
)


@dataclass(frozen=True)
class InterpreterInfo:
    """What the probe found about one interpreter.

    ``path`` is the interpreter as given (absolute); ``sys_path`` and the prefixes are what it
    reports, used by the sandbox to make its installation visible inside bubblewrap.
    """

    path: str
    version: str
    version_info: tuple[int, int, int]
    prefix: str
    base_prefix: str
    exec_prefix: str
    sys_path: tuple[str, ...]
    pytest_version: str | None
    pytest_error: str | None

    def install_dirs(self) -> list[str]:
        """Directories the interpreter needs to read: prefixes and existing sys.path entries."""
        dirs = [self.prefix, self.base_prefix, self.exec_prefix, os.path.dirname(self.path)]
        dirs.append(os.path.dirname(os.path.realpath(self.path)))
        dirs.extend(p for p in self.sys_path if p and os.path.isabs(p))
        seen: list[str] = []
        for d in dirs:
            if d and os.path.exists(d) and d not in seen:
                seen.append(d)
        return seen


_cache: dict[str, tuple[int, InterpreterInfo]] = {}
_cache_lock = threading.Lock()


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def interpreter_info(path: str) -> InterpreterInfo:
    """Run ``path`` once and report its version, prefixes, sys.path and pytest version.

    Raises PerfRLError when it cannot be started or does not answer. A missing pytest is not
    an error here (``pytest_version`` is None); :func:`check_interpreter` makes it one.
    """
    path = os.path.abspath(path)
    stamp = _mtime_ns(path)
    with _cache_lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    env = scrubbed_env(home=os.environ.get("HOME", "/"), tmpdir=None, pythonpath=[])
    try:
        proc = subprocess.run(
            [path, "-c", _PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
    except subprocess.TimeoutExpired:
        raise PerfRLError(
            f"The interpreter {path} did not answer within {_PROBE_TIMEOUT_S:.0f} s. "
            f"Check that it starts (`{path} -c pass`) or set perfrl.interpreter "
            "(CLI: --python) to another one."
        ) from None
    except OSError as exc:
        raise PerfRLError(
            f"The interpreter {path} cannot be started ({exc.strerror or exc}). "
            "Set perfrl.interpreter (CLI: --python) to a working Python 3 interpreter."
        ) from None
    if proc.returncode != 0:
        raise PerfRLError(
            f"The interpreter {path} failed to start (exit code {proc.returncode}): "
            f"{_last_line(proc.stderr)}. Set perfrl.interpreter (CLI: --python) to a "
            "working Python 3 interpreter."
        )
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        info = InterpreterInfo(
            path=path,
            version=str(data["version"]),
            version_info=tuple(int(x) for x in data["version_info"]),  # type: ignore[arg-type]
            prefix=str(data["prefix"]),
            base_prefix=str(data["base_prefix"]),
            exec_prefix=str(data["exec_prefix"]),
            sys_path=tuple(str(p) for p in data["path"]),
            pytest_version=data["pytest"],
            pytest_error=data["pytest_error"],
        )
    except (ValueError, KeyError, IndexError, TypeError):
        raise PerfRLError(
            f"{path} does not look like a Python 3 interpreter (unexpected answer: "
            f"{proc.stdout[-200:]!r}). Set perfrl.interpreter (CLI: --python) to python3."
        ) from None
    with _cache_lock:
        _cache[path] = (stamp, info)
    return info


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def check_interpreter(path: str) -> InterpreterInfo:
    """interpreter_info, plus the checks the engine needs: Python >= 3.9 with pytest."""
    info = interpreter_info(path)
    if info.version_info[:2] < MIN_VERSION:
        raise PerfRLError(
            f"The interpreter {path} is Python {info.version}; PerfRL needs Python "
            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer. Set perfrl.interpreter "
            "(CLI: --python) to a newer one."
        )
    if info.pytest_version is None:
        raise PerfRLError(
            f"The interpreter {path} (Python {info.version}) cannot import pytest "
            f"({info.pytest_error}). PerfRL runs your project's tests with it: install pytest "
            f"with `{path} -m pip install pytest`, or set perfrl.interpreter "
            "(CLI: --python) to an environment that has it."
        )
    return info


def _is_path_like(value: str) -> bool:
    return os.sep in value or value.startswith((".", "~"))


def _configured_path(project_root: Path, configured: str) -> str:
    value = configured.strip()
    if not value:
        raise PerfRLError(
            "perfrl.interpreter (CLI: --python) is set but empty; give a path to a Python "
            "interpreter or leave it unset to use the project's .venv or python3."
        )
    if _is_path_like(value):
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = project_root / path
        path_str = os.path.abspath(path)
        if os.path.isdir(path_str):
            inside = os.path.join(path_str, "bin", "python")
            hint = (f" (a virtual environment? its interpreter is {inside})"
                    if os.path.isfile(inside) else "")
            raise PerfRLError(
                f"The configured interpreter {value!r} is a folder, not an interpreter"
                f"{hint}. Fix perfrl.interpreter (CLI: --python): give the interpreter's own "
                "path, or a command name such as python3."
            )
        if not os.path.isfile(path_str):
            raise PerfRLError(
                f"The configured interpreter {value!r} does not exist (looked for {path_str}). "
                "Fix perfrl.interpreter (CLI: --python): a path, a path relative to the "
                "project root, or a command name such as python3."
            )
        if not os.access(path_str, os.X_OK):
            raise PerfRLError(
                f"The configured interpreter {path_str} is not executable. Fix "
                "perfrl.interpreter (CLI: --python) or its permissions (chmod +x)."
            )
        return path_str
    found = shutil.which(value)
    if found is None:
        raise PerfRLError(
            f"The configured interpreter {value!r} is not on PATH. Fix perfrl.interpreter "
            "(CLI: --python): give the full path of the interpreter."
        )
    return os.path.abspath(found)


def _project_venv(project_root: Path) -> str | None:
    for name in (".venv", "venv"):
        candidate = project_root / name / "bin" / "python"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def resolve_interpreter(project_root: Path, configured: str | None) -> str:
    """Return the absolute path of the interpreter for ``project_root``'s tests.

    ``configured`` (the setting) wins; a relative path is taken relative to the project root
    and a bare name is looked up on PATH. Without it: ``<root>/.venv/bin/python``, then
    ``<root>/venv/bin/python``, then ``python3`` on PATH. The chosen interpreter is checked
    (starts, Python >= 3.9, imports pytest); PerfRLError explains what to change otherwise.
    """
    project_root = Path(project_root)
    if configured is not None:
        path = _configured_path(project_root, configured)
        origin = "the configured interpreter"
    else:
        venv = _project_venv(project_root)
        if venv is not None:
            path, origin = venv, "the project's virtual environment"
        else:
            found = shutil.which("python3")
            if found is None:
                raise PerfRLError(
                    f"No interpreter found for {project_root}: there is no .venv/bin/python "
                    "in the project and no python3 on PATH. Set perfrl.interpreter "
                    "(CLI: --python) to the Python that runs your tests."
                )
            path, origin = os.path.abspath(found), "python3 on PATH"
    try:
        check_interpreter(path)
    except PerfRLError as exc:
        raise PerfRLError(f"{exc} (PerfRL picked {origin}.)") from None
    return path
