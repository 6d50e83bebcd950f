"""Open, change and close of buffers: the size limit is said once, memory is returned on close.

pygls keeps the text of open documents; this module tells the user once per document when a
buffer is above :data:`~perfrl.lsp.documents.MAX_ANALYSED_CHARS` (PerfRL then offers nothing
for it, instead of blocking every request while it parses), and drops the parsed index of a
document when it is closed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

from lsprotocol import types

from perfrl.lsp.documents import MAX_ANALYSED_CHARS, too_large
from perfrl.lsp.server import PerfServer

#: Closing a buffer at least this large hands the freed memory back to the system.
TRIM_AFTER_CHARS = 256 * 1024


def _return_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise, and a closed
    5 MB buffer would keep the server's RSS up for good)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _check_size(ls: PerfServer, uri: str) -> None:
    document = ls.open_document(uri)
    if document is None:
        return
    if len(document.source) >= TRIM_AFTER_CHARS:
        ls.large_documents.add(uri)
    if not too_large(document.source):
        ls.too_large_told.discard(uri)
        return
    if uri in ls.too_large_told:
        return
    ls.too_large_told.add(uri)
    size = len(document.source)
    ls.tell_user(
        f"PerfRL: {uri.rsplit('/', 1)[-1]} has {size:,} characters, above the limit of "
        f"{MAX_ANALYSED_CHARS:,}; PerfRL does not analyse it (no code actions, lenses or "
        "hints for it). Move the function to optimize into a smaller module.",
        types.MessageType.Warning)


def register(server: PerfServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PerfServer, params: types.DidOpenTextDocumentParams):
        _check_size(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PerfServer, params: types.DidChangeTextDocumentParams):
        _check_size(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PerfServer, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        ls.functions.forget(uri)
        ls.too_large_told.discard(uri)
        if uri in ls.large_documents:
            ls.large_documents.discard(uri)
            _return_memory()
