"""A raw JSON-RPC client for the real server (``python -P -m perfrl.lsp``) over stdio: it writes
exactly the bytes a test asks for (broken frames included) and reads every frame back in a
thread, so a test can wait for a response by id with a deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def frame(message: Any) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class RawServer:
    """The server in a subprocess; stderr goes to a file so its size can be checked."""

    def __init__(self, cwd: Path, stderr_path: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "perfrl.lsp", *args], cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self._ids = itertools.count(1)
        self._responses: dict[Any, dict] = {}
        self._cond = threading.Condition()
        self.notifications: list[dict] = []
        self.requests: queue.Queue[dict] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # --- output of the server -------------------------------------------------------------------

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            assert length is not None, "the server sent a frame without Content-Length"
            message = json.loads(stream.read(length))
            with self._cond:
                if "method" in message and "id" in message:
                    self._answer_server_request(message)
                elif "method" in message:
                    self.notifications.append(message)
                else:
                    self._responses[json.dumps(message.get("id"))] = message
                self._cond.notify_all()

    def _answer_server_request(self, message: dict) -> None:
        # Progress creation, refreshes, configuration: accept (configuration: no settings).
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [None for _ in message["params"]["items"]]
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    # --- input to the server --------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (OSError, ValueError):  # the server has gone (a test checks how)
            pass

    def send(self, message: Any) -> None:
        self.send_bytes(frame(message))

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        msg_id = next(self._ids) if msg_id is None else msg_id
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def response(self, msg_id: Any, timeout: float = 30.0) -> dict:
        key = json.dumps(msg_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while key not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not (
                        self._reader.is_alive())):
                    raise TimeoutError(f"no response to {msg_id!r} within {timeout} s")
                self._cond.wait(min(remaining, 0.5))
            return self._responses.pop(key)

    def call(self, method: str, params: Any = None, timeout: float = 30.0) -> dict:
        return self.response(self.request(method, params), timeout)

    def wait_notification(self, predicate, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((n for n in self.notifications if predicate(n)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("notification not seen")
                self._cond.wait(min(remaining, 0.5))

    def initialize(self, root: Path, init_options: dict | None = None,
                   capabilities: dict | None = None) -> dict:
        answer = self.call("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(),
            "capabilities": capabilities if capabilities is not None else {
                "window": {"workDoneProgress": True},
                "workspace": {"configuration": True, "applyEdit": True,
                              "workspaceEdit": {"documentChanges": True}},
            },
            "initializationOptions": init_options,
        })
        self.notify("initialized", {})
        return answer

    def open(self, path: Path, text: str | None = None, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": version,
            "text": path.read_text() if text is None else text}})
        return uri

    def code_action(self, uri: str, line: int, timeout: float = 30.0) -> dict:
        pos = {"line": line, "character": 4}
        return self.call("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": pos, "end": pos},
            "context": {"diagnostics": []}}, timeout)

    # --- end ------------------------------------------------------------------------------------

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        self._stderr.close()

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")
