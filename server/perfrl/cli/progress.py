"""Progress display on stderr for the ``perfrl`` command.

On a terminal it redraws one line with a bar; otherwise (CI logs, pipes) it prints one line
per stage change so logs stay readable. Nothing is ever written to stdout, which carries the
report (or the JSON) alone.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from perfrl.engine.types import ProgressEvent

BAR_WIDTH = 24


class StderrProgress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = enabled and self.stream.isatty()
        self.started = time.monotonic()
        self._last_line = ""

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        if event.total:
            done = event.done or 0
            filled = int(BAR_WIDTH * done / event.total)
            bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + f"] {done}/{event.total} "
        else:
            bar = ""
        line = f"perfrl {elapsed:5.1f}s {bar}{event.message}"
        if self.interactive:
            self.stream.write("\r\033[K" + line[:119])
            if event.stage == "done":
                self.stream.write("\n")
        elif event.message != self._last_line:
            self.stream.write(line + "\n")
        self._last_line = event.message
        self.stream.flush()

    def close(self) -> None:
        if self.interactive and self._last_line:
            self.stream.write("\r\033[K")
            self.stream.flush()
