"""Functions in editor buffers: which function a position is in, and its exact source text.

A caller may rely on :class:`FunctionIndex` never raising on a broken buffer (no functions
are found in a buffer that does not parse), never parsing a text longer than
:data:`MAX_ANALYSED_CHARS`, holding only the latest text of each document (memory is
returned when a version replaces another, and on :meth:`FunctionIndex.forget`), and on
:attr:`BufferFunction.source` being exactly what
:func:`perfrl.engine.locate.locate_function_at` would put in ``FunctionTarget.source`` for the
same text, so results keyed by source text match between the two; :func:`function_target`
builds that target from the span the index holds, without parsing again.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from perfrl.engine.locate import (
    FunctionSpan,
    find_import_root,
    find_project_root,
    list_functions,
    module_name,
    parse_module,
    split_lines,
)
from perfrl.engine.types import FunctionTarget, TargetNotFound, UnsupportedTarget

#: Buffers longer than this (in characters) are not analysed: no code actions, lenses or
#: hints. Parsing one of 5 MB takes seconds and hundreds of MB, for a file nobody optimizes
#: function by function.
MAX_ANALYSED_CHARS = 1_000_000
_INDENT = re.compile(r"[ \t\f]*")


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
        BufferFunction(
            span, "".join(lines[span.start_line - 1:span.end_line]).removeprefix("\ufeff"))
        for span in list_functions(text)
    ]


def too_large(text: str) -> bool:
    return len(text) > MAX_ANALYSED_CHARS


def syntax_problem(text: str, name: str) -> str | None:
    """What is wrong with ``text`` if it does not parse, quoted from ``text`` itself (not from
    the file on disk, which the parser's error would otherwise quote), else None."""
    try:
        parse_module(text)
    except (SyntaxError, ValueError) as exc:
        lineno = getattr(exc, "lineno", None)
        where = f"line {lineno}" if lineno else "somewhere"
        lines = split_lines(text)
        shown = lines[lineno - 1].strip() if lineno and lineno <= len(lines) else ""
        message = getattr(exc, "msg", None) or str(exc)
        return f"{name} has a syntax error at {where}: {message}" + (
            f": {shown}" if shown else "")
    return None


def function_target(path: Path, text: str, function: BufferFunction,
                    functions: list[BufferFunction]) -> FunctionTarget:
    """The engine's target for ``function`` of ``text`` (saved or not) at ``path``, built
    from the span the index holds. Raises UnsupportedTarget for a function defined more than
    once (the tests could call either) and TargetNotFound for a file outside any project."""
    same = [f for f in functions if f.qualname == function.qualname]
    if len(same) > 1:
        lines = ", ".join(str(f.span.def_line) for f in same)
        raise UnsupportedTarget(
            f"{function.qualname} is defined {len(same)} times in {path.name} (lines {lines}); "
            "PerfRL cannot tell which definition the tests call. Remove or rename the others.")
    root = find_project_root(path)
    if not path.is_relative_to(root):
        raise TargetNotFound(f"{path} is not inside the project root {root}")
    import_root = find_import_root(path, root)
    span = function.span
    return FunctionTarget(
        path=path,
        project_root=root,
        import_root=import_root,
        module_name=module_name(path, import_root),
        qualname=span.qualname,
        source=function.source,
        start_line=span.start_line,
        end_line=span.end_line,
        def_line=span.def_line,
        indent=_INDENT.match(function.source).group(0),  # type: ignore[union-attr]
        is_method=span.method_kind != "function",
        method_kind=span.method_kind,
        is_async=span.is_async,
        is_generator=span.is_generator,
        file_text=text,
    )


class FunctionIndex:
    """``functions_of`` of the latest text of each document, so lenses, hints and actions
    for one version parse it once. One entry per uri (a new version replaces the previous
    one); at most ``capacity`` uris, the least recently used dropped first."""

    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        #: uri -> ((version, hash of the text), functions)
        self._entries: OrderedDict[str, tuple[tuple[int | None, int], list[BufferFunction]]] = (
            OrderedDict())
        self._parsing: dict[tuple[str, int | None, int], asyncio.Future] = {}

    def _cached(self, uri: str, key: tuple[int | None, int]) -> list[BufferFunction] | None:
        entry = self._entries.get(uri)
        if entry is None or entry[0] != key:
            return None
        self._entries.move_to_end(uri)
        return entry[1]

    def _store(self, uri: str, key: tuple[int | None, int],
               found: list[BufferFunction]) -> None:
        self._entries[uri] = (key, found)
        self._entries.move_to_end(uri)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def functions(self, uri: str, version: int | None, text: str) -> list[BufferFunction]:
        """The functions of ``text`` ([] when it is too large or does not parse); parses
        on the calling thread when not cached (see :meth:`prepare` for the event loop)."""
        if too_large(text):
            return []
        # The text's hash is part of the key: documents read from disk have no version.
        key = (version, hash(text))
        cached = self._cached(uri, key)
        if cached is not None:
            return cached
        found = functions_of(text)
        self._store(uri, key, found)
        return found

    async def prepare(self, uri: str, version: int | None, text: str,
                      run: Callable[..., asyncio.Future]) -> None:
        """Parse ``text`` with ``run(function, argument)`` (an executor, off the event loop)
        unless cached, so the next :meth:`functions` call is immediate. Concurrent calls for
        the same text share one parse."""
        if too_large(text):
            return
        key = (version, hash(text))
        if self._cached(uri, key) is not None:
            return
        pending = self._parsing.get((uri, *key))
        if pending is None:
            pending = asyncio.ensure_future(run(functions_of, text))
            self._parsing[(uri, *key)] = pending
            try:
                found = await pending
            finally:
                self._parsing.pop((uri, *key), None)
            self._store(uri, key, found)
        else:
            await pending

    def forget(self, uri: str) -> None:
        """Drop what is held for ``uri`` (the document was closed)."""
        self._entries.pop(uri, None)

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
