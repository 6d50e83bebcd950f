"""A live ``perfrl_worker`` process in a sandbox workspace, and the engine's end of its FIFOs.

A caller may rely on:

- :meth:`WorkerSession.request` / :meth:`receive` returning parsed JSON objects from the
  worker or raising :class:`WorkerGone` (the process ended, went silent past the deadline,
  or sent more than :data:`MAX_MESSAGE_BYTES` in one line, or something that is not a JSON
  object), never hanging past the deadline it was given and never raising anything else for
  what the worker does;
- the FIFOs being opened by the engine (read *and* write) before the worker starts: a worker
  that deletes or replaces them cannot make the engine block or read another file;
- :meth:`close` ending the process (asking first, then the sandbox's kill), after which
  :attr:`result` holds its :class:`~perfrl.engine.sandbox.RunResult` (stderr for messages);
- :class:`~perfrl.engine.types.Cancelled` when the caller's cancel token is set.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from pathlib import Path

from perfrl.engine.runtime.perfrl_protocol import CHANNEL_REPLIES, CHANNEL_REQUESTS
from perfrl.engine.types import Cancelled, CancelToken

#: One reply line larger than this ends the worker's turn: "huge output" is a crash.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_CLOSE_WAIT_S = 2.0


def _cpuacct_file(pid: str, cpuacct_dir: str) -> str | None:
    """cpuacct.usage of the run cgroup process ``pid`` is in, when it is one the engine made
    under ``cpuacct_dir`` (a sandboxed process cannot move itself out of it)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    root = cpuacct_dir.rstrip("/")
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" not in controllers.split(","):
            continue
        mount = "/sys/fs/cgroup/" + controllers.replace(",", ",")
        for base in (mount, "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct"):
            candidate = os.path.normpath(base + path)
            if candidate.startswith(root + "/") and os.path.basename(candidate).startswith(
                "perfrl-"
            ):
                usage = os.path.join(candidate, "cpuacct.usage")
                if os.path.isfile(usage):
                    return usage
    return None


class WorkerGone(Exception):
    """The worker cannot answer: ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _StopToken:
    """Cancelled when the caller cancels or the engine no longer needs the process."""

    def __init__(self, outer: CancelToken | None) -> None:
        self.outer = outer
        self.stopped = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.stopped.is_set() or (self.outer is not None and self.outer.cancelled)

    def wait(self, timeout: float) -> bool:
        return self.stopped.wait(timeout)


class WorkerSession:
    """One worker: ``start`` it, ``request`` replies, time ``send``/``receive`` pairs, ``close``."""

    def __init__(
        self,
        ws,
        name: str,
        args: list[str],
        env: dict[str, str],
        timeout_s: float,
        cancel: CancelToken | None,
    ) -> None:
        self.ws = ws
        self.name = name
        self.cancel = cancel
        self.channel_dir = Path(ws.data_dir) / f"channel-{name}"
        self.channel_dir.mkdir(mode=0o700)
        os.mkfifo(self.channel_dir / CHANNEL_REQUESTS, 0o600)
        os.mkfifo(self.channel_dir / CHANNEL_REPLIES, 0o600)
        # O_RDWR on a FIFO never blocks on open, and the engine holds its ends from now on.
        self._to_worker = os.open(self.channel_dir / CHANNEL_REQUESTS, os.O_RDWR | os.O_NONBLOCK)
        self._from_worker = os.open(self.channel_dir / CHANNEL_REPLIES, os.O_RDWR | os.O_NONBLOCK)
        self._buffer = bytearray()
        self._token = _StopToken(cancel)
        self.result = None
        #: The worker's first message (set by the caller that read it).
        self.hello: dict = {}
        #: Built-ins and clocks the worker last reported rebound (see perfrl_worker).
        self.replaced: list = []
        self._usage_file: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(
                ["-m", "perfrl_worker", "--channel", str(self.channel_dir), *args],
                env,
                timeout_s,
            ),
            daemon=True,
            name=f"perfrl-worker-{name}",
        )
        self._thread.start()

    def _run(self, args, env, timeout_s) -> None:
        try:
            self.result = self.ws.run_python(args, timeout_s=timeout_s, cancel=self._token, env=env)
        except BaseException as exc:  # noqa: BLE001 - reported by receive()
            self._error = exc

    def find_cpu_clock(self, cpuacct_dir: str | None) -> bool:
        """Find the cpuacct cgroup of this worker's sandboxed run (the processes that hold
        its FIFO open), so :meth:`cpu_ns` reads the kernel's CPU time of the whole run:
        every process and thread of it, and nothing the worker can rewrite or leave."""
        self._usage_file = None
        if not cpuacct_dir:
            return False
        fifo = os.stat(self.channel_dir / CHANNEL_REQUESTS)
        own = os.getpid()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                fds = os.listdir(f"/proc/{entry.name}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    info = os.stat(f"/proc/{entry.name}/fd/{fd}")
                except OSError:
                    continue
                if info.st_ino == fifo.st_ino and info.st_dev == fifo.st_dev:
                    path = _cpuacct_file(entry.name, cpuacct_dir)
                    if path is not None:
                        self._usage_file = path
                        return True
        return False

    def cpu_ns(self) -> int | None:
        """CPU nanoseconds used so far by the worker's whole run (None without a clock)."""
        if self._usage_file is None:
            return None
        try:
            with open(self._usage_file, "rb") as handle:
                return int(handle.read().strip() or b"0")
        except (OSError, ValueError):
            return None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled()

    def send(self, message: dict, deadline: float) -> None:
        data = memoryview((json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8"))
        while data:
            self._check_cancel()
            if not self.alive:
                raise WorkerGone(self._death())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerGone("did not read its requests in time")
            _, writable, _ = select.select([], [self._to_worker], [], min(remaining, 0.05))
            if writable:
                try:
                    written = os.write(self._to_worker, data)
                except BlockingIOError:
                    continue
                data = data[written:]

    def receive(self, deadline: float) -> dict:
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    raise WorkerGone("sent a reply PerfRL cannot read") from None
                if not isinstance(message, dict):
                    raise WorkerGone("sent a reply PerfRL cannot read")
                return message
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                raise WorkerGone(f"sent more than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB at once")
            self._check_cancel()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerGone("did not answer in time")
            readable, _, _ = select.select([self._from_worker], [], [], min(remaining, 0.05))
            if readable:
                try:
                    chunk = os.read(self._from_worker, 1 << 20)
                except BlockingIOError:
                    chunk = b""
                self._buffer += chunk
                continue
            if not self.alive:
                # One last look: the worker may have written its last line and exited.
                try:
                    chunk = os.read(self._from_worker, 1 << 20)
                except BlockingIOError:
                    chunk = b""
                if chunk:
                    self._buffer += chunk
                    continue
                raise WorkerGone(self._death())

    def request(self, message: dict, deadline: float, expect: str) -> dict:
        """Send ``message`` and return the next reply, which must have ``op == expect``."""
        self.send(message, deadline)
        reply = self.receive(deadline)
        if reply.get("op") != expect:
            raise WorkerGone(f"answered {str(reply.get('op'))[:40]!r} where {expect!r} was due")
        return reply

    def _death(self) -> str:
        if self._error is not None:
            return f"could not be started: {self._error}"
        result = self.result
        if result is None:
            return "ended"
        from perfrl.engine.baseline import death_description, output_tail

        tail = output_tail(result, 4)
        text = death_description(result)
        if result.timed_out:
            text = "ran past its time limit"
        return text + (f": {' '.join(tail.split())[:300]}" if tail else "")

    def close(self) -> None:
        if self.alive:
            try:
                self.send({"op": "quit"}, time.monotonic() + 0.2)
            except (WorkerGone, Cancelled):
                pass
            self._thread.join(_CLOSE_WAIT_S)
        if self.alive:
            self._token.stopped.set()
            self._thread.join()
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self._to_worker = self._from_worker = -1
