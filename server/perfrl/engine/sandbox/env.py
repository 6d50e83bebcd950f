"""The scrubbed environment every sandboxed process gets.

Only variables that locate programs, set the locale and time zone, and configure Python are
kept from the server's environment; everything else (API tokens, cloud keys, SSH agent
sockets, passwords in ``*_PASSWORD``...) is dropped. A caller may rely on:

* no variable outside :data:`KEPT_NAMES` / ``LC_*`` reaching the child unless the caller passes
  it explicitly in ``extra``;
* ``PYTHONHASHSEED=0`` and ``PYTHONDONTWRITEBYTECODE=1`` always being set (so that runs are
  comparable and the project copy gets no ``__pycache__``), unless ``extra`` overrides them;
* ``PYTHONPATH`` being exactly ``extra["PYTHONPATH"]`` entries followed by ``pythonpath``
  (the user's own ``PYTHONPATH`` is not kept: runs must not depend on the server's shell).
"""

from __future__ import annotations

import os

# Names copied from the server's environment when present.
KEPT_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _user_base() -> str | None:
    """Where the user's ``pip install --user`` packages live, as the real HOME sees it.

    The sandbox gives the child a private HOME, which would hide ``~/.local``; passing
    ``PYTHONUSERBASE`` keeps an interpreter whose pytest is a user install working.
    """
    if os.environ.get("PYTHONUSERBASE"):
        return os.environ["PYTHONUSERBASE"]
    home = os.environ.get("HOME")
    if home:
        base = os.path.join(home, ".local")
        if os.path.isdir(base):
            return base
    return None


def scrubbed_env(
    home: str,
    tmpdir: str | None,
    pythonpath: list[str],
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Build the child's environment (see the module docstring for the guarantees)."""
    env: dict[str, str] = {}
    for name in KEPT_NAMES:
        value = os.environ.get(name)
        if value:
            env[name] = value
    for name, value in os.environ.items():
        if name.startswith("LC_"):
            env[name] = value
    env.setdefault("PATH", _DEFAULT_PATH)
    env["HOME"] = home
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    user_base = _user_base()
    if user_base:
        env["PYTHONUSERBASE"] = user_base
    entries: list[str] = []
    extra = dict(extra or {})
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"environment entries must be str -> str, got {name!r}: {value!r}")
    caller_path = extra.pop("PYTHONPATH", "")
    entries.extend(p for p in caller_path.split(os.pathsep) if p)
    entries.extend(pythonpath)
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    env.update(extra)
    return env
