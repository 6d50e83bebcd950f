"""Reading LSP frames (``Content-Length`` header, blank line, JSON body) from a byte stream.

pygls' own reader (``pygls.io_.run_async``) stops answering for good after one broken frame
and allocates whatever ``Content-Length`` says. :class:`FrameReader` is the replacement the
server's stdio loop uses. A caller may rely on:

- :meth:`FrameReader.next_message` returning a decoded JSON value, a :class:`FrameProblem`
  (one broken frame, described in one line) or None at end of input, and never raising for
  anything the peer sends;
- recovery after a broken frame: garbage, a frame without ``Content-Length``, a length too
  small or too large, or a body that is not JSON costs that frame only; the next well-formed
  frame is read normally (the reader re-synchronises on the next ``Content-Length:``);
- bounded memory: a header line longer than :data:`MAX_HEADER_LINE` is discarded as garbage
  and a ``Content-Length`` above :data:`MAX_CONTENT_LENGTH` is refused without allocating;
- a peer that announces more bytes than it sends is not waited on forever: once input stalls
  for :data:`STALL_S` and what arrived is a complete JSON value, that value is used.

It blocks in ``select``/``os.read`` on the file descriptor, so it runs in a thread of its own;
the JSON is decoded in that thread too, off the event loop (a 5 MB ``didOpen`` costs the
loop nothing).
"""

from __future__ import annotations

import json
import os
import re
import select
from dataclasses import dataclass

#: Largest body accepted: far above any real buffer an editor sends, far below what would
#: exhaust memory. Larger frames are refused (and skipped) without allocating.
MAX_CONTENT_LENGTH = 256 * 1024 * 1024
#: Longest header line kept while looking for the end of the headers.
MAX_HEADER_LINE = 64 * 1024
#: How long the body may stall before a complete JSON value received so far is used.
STALL_S = 0.3
_CHUNK = 1 << 16
_LENGTH_TOKEN = b"content-length:"
_LENGTH_VALUE = re.compile(rb"\s*(\d{1,20})\s*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class FrameProblem:
    """A frame that could not be read; ``parse_error`` is True when its body was not JSON
    (the JSON-RPC answer is then a -32700 error with a null id)."""

    message: str
    parse_error: bool = False


class FrameReader:
    """Frames from a readable file descriptor (a pipe, a socket, a file)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._eof = False
        #: Lines about bytes skipped on the way to a good frame (the caller logs and clears).
        self.notes: list[str] = []

    # --- input ----------------------------------------------------------------------------------

    def _fill(self, timeout: float | None = None) -> bool:
        """Read what is available into the buffer; False at end of input or on timeout."""
        if self._eof:
            return False
        if timeout is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return False
        try:
            chunk = os.read(self._fd, _CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _line(self) -> bytes | None:
        """The next line without its line break, or None at end of input. A line longer than
        MAX_HEADER_LINE comes back cut (the rest follows as further lines)."""
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 1]
                return line.removesuffix(b"\r")
            if len(self._buffer) > MAX_HEADER_LINE:
                # Keep a tail that may hold the start of a header split across reads.
                keep = len(_LENGTH_TOKEN) + 24
                line = bytes(self._buffer[:-keep])
                del self._buffer[:-keep]
                return line
            start = len(self._buffer)
            if not self._fill():
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                return None

    # --- frames ---------------------------------------------------------------------------------

    def next_message(self) -> object | FrameProblem | None:
        """The next message (a decoded JSON value), a problem with one frame, or None at the
        end of input."""
        length: int | None = None
        problem: str | None = None
        skipped = 0
        while True:
            line = self._line()
            if line is None:
                if problem or skipped:
                    return FrameProblem(problem or f"{skipped} bytes that are not a frame "
                                        "before the end of input")
                return None
            if not line.strip():
                if length is not None:
                    if skipped:
                        self.notes.append(f"{skipped} bytes that are not a frame were skipped")
                    return self._body(length)
                if problem:
                    return FrameProblem(problem)
                if skipped:
                    return FrameProblem(f"a frame without a Content-Length header "
                                        f"({skipped} bytes skipped)")
                continue  # blank lines between frames
            at = line.lower().rfind(_LENGTH_TOKEN)
            if at < 0:
                if b":" not in line or length is None:
                    # Not a header of the frame being read (other headers such as
                    # Content-Type are fine once the length is known).
                    skipped += len(line) + 1
                continue
            skipped += at
            match = _LENGTH_VALUE.fullmatch(line[at + len(_LENGTH_TOKEN):])
            if match is None:
                length, problem = None, f"a Content-Length that is not a number: {line[:80]!r}"
                continue
            value = int(match.group(1))
            if value > MAX_CONTENT_LENGTH:
                length = None
                problem = (f"a frame of {value} bytes, above the limit of "
                           f"{MAX_CONTENT_LENGTH} bytes; it was skipped")
                continue
            length, problem = value, None

    def _body(self, length: int) -> object | FrameProblem:
        while len(self._buffer) < length:
            if self._fill(timeout=STALL_S):
                continue
            if self._eof or self._complete_value() is not None:
                break
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        if len(body) < length:
            self.notes.append(f"a Content-Length of {length} bytes, but only {len(body)} "
                              "arrived")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return FrameProblem(f"a body that is not UTF-8 ({exc.reason} at byte {exc.start})",
                                parse_error=True)
        try:
            value, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
        except json.JSONDecodeError as exc:
            return FrameProblem(f"a body that is not JSON ({exc.msg} at character {exc.pos} "
                                f"of {len(text)}; Content-Length {length})", parse_error=True)
        rest = text[end:]
        if rest.strip():
            # The length was too large: the bytes after the value belong to the next frame.
            self._buffer[:0] = rest.encode("utf-8")
            self.notes.append(f"a Content-Length of {length} bytes for a "
                              f"{length - len(rest.encode('utf-8'))}-byte message")
        return value

    def _complete_value(self) -> int | None:
        """The byte length of a complete JSON value at the start of the buffer, or None."""
        try:
            text = self._buffer.decode("utf-8")
            _, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return len(text[:end].encode("utf-8"))
