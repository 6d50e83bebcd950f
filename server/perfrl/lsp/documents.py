"""Functions in editor buffers: which function a position is in, and its exact source text.

A caller may rely on :class:`FunctionIndex` never raising on a broken buffer (no functions
are found in a buffer that does not parse) and on :attr:`BufferFunction.source` being exactly
what :func:`perfrl.engine.locate.locate_function_at` would put in ``FunctionTarget.source``
for the same text, so results keyed by source text match between the two.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from perfrl.engine.locate import FunctionSpan, list_functions, split_lines


@dataclass(frozen=True)
class BufferFunction:
    """An addressable function of one buffer version."""

    span: FunctionSpan
    source: str

    @property
    def qualname(self) -> str:
        return self.span.qualname

    @property
    def name(self) -> str:
        return self.span.name

    def contains(self, line0: int) -> bool:
        """Whether 0-based ``line0`` lies within the function (decorators included)."""
        return self.span.start_line - 1 <= line0 <= self.span.end_line - 1


def uri_to_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI, or None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return Path(path)


def functions_of(text: str) -> list[BufferFunction]:
    """Every addressable function of ``text`` with its source, in source order."""
    lines = split_lines(text)
    # A byte-order mark belongs to the file, not to the function on its first line: the
    # engine's FunctionTarget.source never holds one, and the two must compare equal.
    return [
        BufferFunction(span, "".join(lines[span.start_line - 1:span.end_line]).removeprefix("\ufeff"))
        for span in list_functions(text)
    ]


class FunctionIndex:
    """``functions_of`` cached per (uri, version), so lenses, hints and actions for one
    buffer version parse it once. Bounded: the least recently used entries are dropped."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._cache: OrderedDict[tuple[str, int | None, int], list[BufferFunction]] = (
            OrderedDict()
        )

    def functions(self, uri: str, version: int | None, text: str) -> list[BufferFunction]:
        # The text's hash is part of the key: documents read from disk have no version.
        key = (uri, version, hash(text))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        found = functions_of(text)
        self._cache[key] = found
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return found

    def at(self, uri: str, version: int | None, text: str, line0: int) -> BufferFunction | None:
        """The function containing 0-based ``line0``, or None."""
        for function in self.functions(uri, version, text):
            if function.contains(line0):
                return function
        return None

    def named(self, uri: str, version: int | None, text: str,
              qualname: str) -> BufferFunction | None:
        for function in self.functions(uri, version, text):
            if function.qualname == qualname:
                return function
        return None
