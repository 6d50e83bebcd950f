"""The one way PerfRL decodes and encodes a user's Python source (CLI, engine, sandbox, server).

Python reads a source file in the encoding its coding line or BOM declares (PEP 263), UTF-8
otherwise; PerfRL does the same, and writes a file back in the encoding it was read in, so a
``latin-1`` module stays ``latin-1`` byte for byte outside the edited function.

A caller may rely on: ``encode_source(*decode_source(data)) == data`` for every file Python
itself can decode; a BOM is kept in the text as U+FEFF (so offsets and splices see it) and is
written back once.
"""

from __future__ import annotations

import io
import os
import tempfile
import tokenize
from pathlib import Path

#: The encoding of a file without a coding line or BOM, and of buffers an editor sends.
DEFAULT_ENCODING = "utf-8"


class SourceDecodeError(ValueError):
    """The bytes are not Python source in the encoding they declare (the message says why)."""


def source_encoding(data: bytes) -> str:
    """The encoding Python would read ``data`` with, as a codec name to write it back with
    (``utf-8`` for a file with a BOM: the BOM stays in the decoded text as U+FEFF)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown or conflicting coding line
        raise SourceDecodeError(str(exc)) from exc
    return DEFAULT_ENCODING if encoding == "utf-8-sig" else encoding


def decode_source(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: the file's text with its line endings untouched, and the codec
    :func:`encode_source` must use to write it back."""
    encoding = source_encoding(data)
    try:
        return data.decode(encoding), encoding
    except (LookupError, UnicodeDecodeError) as exc:
        raise SourceDecodeError(f"not valid {encoding}: {exc}") from exc


def encode_source(text: str, encoding: str = DEFAULT_ENCODING) -> bytes:
    """``text`` as bytes in ``encoding``; a character the encoding cannot hold raises
    :class:`SourceDecodeError` naming it (never silently replaced)."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise SourceDecodeError(
            f"{bad!r} cannot be written in the file's encoding {encoding}"
        ) from exc


def declared_encoding(text: str) -> str:
    """The encoding a source file holding ``text`` declares (its coding line, else UTF-8):
    the one to write ``text`` back with, so Python reads the same text from the bytes."""
    head = "".join(text.splitlines(keepends=True)[:2])
    return source_encoding(head.encode("utf-8", "surrogatepass"))


def write_source_atomically(path: Path, text: str, encoding: str) -> None:
    """Replace ``path`` with ``text`` in ``encoding`` in one step (a reader sees the old or
    the new file, never half of one), keeping its permission bits. The one way PerfRL writes
    a user's file, and only for an edit the user asked for (``--apply``)."""
    data = encode_source(text, encoding)  # raises before anything is written
    mode = path.stat().st_mode
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".perfrl-", suffix=".py")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
