"""Tiny trusted launcher between the engine and a sandboxed command (stdlib only).

Run as a script by the *server's* interpreter (``python -I -S launcher.py CONFIG
ARGV...``), outside bubblewrap, in a new session made by the engine. It moves itself into the
run's cgroups, sets the resource limits and then ``exec``s ``ARGV`` (bubblewrap, or the
command itself). Doing this in a separate process instead of a ``preexec_fn`` keeps the
server's threads safe (``preexec_fn`` may deadlock in a threaded parent), and because it
happens before ``exec`` every process the command ever starts is inside the cgroups.

CONFIG is JSON: ``{"cgroup_procs": [path, ...], "rlimits": [[name, soft, hard], ...],
"parent_pid": pid}``. With ``parent_pid`` the command is SIGKILLed when the engine dies (Linux
``PR_SET_PDEATHSIG``, kept across ``exec``), so a crashed server leaves no candidate running.
On a setup failure it prints ``perfrl-launcher: <reason>`` to stderr and exits with 125, so the
engine can tell an environment problem from a failing candidate.
"""

import json
import os
import resource
import sys

SETUP_FAILED = 125
PREFIX = "perfrl-launcher: "


def _fail(message: str) -> None:
    sys.stderr.write(PREFIX + message + "\n")
    sys.stderr.flush()
    os._exit(SETUP_FAILED)


def _set_limit(name: str, soft: int, hard: int) -> None:
    which = getattr(resource, name)
    _, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY:
        # An unprivileged process may only lower its hard limit.
        hard = min(hard, cur_hard) if hard != resource.RLIM_INFINITY else cur_hard
        soft = min(soft, hard) if soft != resource.RLIM_INFINITY else hard
    resource.setrlimit(which, (soft, hard))


def _die_with_parent(parent: int) -> None:
    # PDEATHSIG fires when the parent *thread* ends; the engine's thread that started us
    # waits for us to exit, so it cannot end first while the server lives.
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            _fail(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
    except (OSError, AttributeError) as exc:
        _fail(f"prctl unavailable: {exc}")
    if os.getppid() != parent:
        os._exit(SETUP_FAILED)  # the engine is already gone: run nothing


def main() -> None:
    if len(sys.argv) < 3:
        _fail("usage: launcher.py CONFIG ARGV...")
    try:
        config = json.loads(sys.argv[1])
    except ValueError as exc:
        _fail(f"bad config: {exc}")
    argv = sys.argv[2:]
    parent = config.get("parent_pid")
    if parent is not None and sys.platform.startswith("linux"):
        _die_with_parent(int(parent))
    for procs in config.get("cgroup_procs", []):
        try:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as exc:
            _fail(f"cannot join cgroup {procs}: {exc}")
    for name, soft, hard in config.get("rlimits", []):
        soft = resource.RLIM_INFINITY if soft is None else int(soft)
        hard = resource.RLIM_INFINITY if hard is None else int(hard)
        try:
            _set_limit(name, soft, hard)
        except (OSError, ValueError, AttributeError) as exc:
            _fail(f"cannot set {name}: {exc}")
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - the run's own command, exec'd on purpose
    except OSError as exc:
        _fail(f"cannot run {argv[0]}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
