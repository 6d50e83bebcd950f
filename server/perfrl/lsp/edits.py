"""The workspace edit that puts a verified rewrite into a buffer.

A caller may rely on :func:`rewrite_edit` producing one ``TextEdit`` that replaces exactly the
function's lines (decorators to the last body line) and nothing else, with columns in the
position encoding negotiated with the client, inside a ``TextDocumentEdit`` carrying the
buffer version when the client supports ``documentChanges`` (so a client refuses it once the
buffer changed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lsprotocol import types

from perfrl.engine.candidate_check import splice
from perfrl.engine.locate import split_lines
from perfrl.engine.types import FunctionTarget
from perfrl.lsp.documents import BufferFunction


@dataclass(frozen=True)
class RewriteEdit:
    edit: types.WorkspaceEdit
    #: The function's text (whole lines, with endings) once the edit is applied.
    new_source: str


def _strip_ending(text: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def rewritten_source(target: FunctionTarget, code: str) -> str:
    """The function's text (whole lines) once ``code`` replaces ``target`` in its file; the
    same text :func:`rewrite_edit` produces for a buffer holding ``target.source``. Raises
    ValueError when the rewrite does not fit."""
    old_lines = split_lines(target.file_text)
    new_lines = split_lines(splice(target, code))
    tail = len(old_lines) - target.end_line
    return "".join(new_lines[target.start_line - 1: len(new_lines) - tail]).removeprefix(
        "\ufeff")


def rewrite_edit(
    uri: str,
    version: int | None,
    text: str,
    function: BufferFunction,
    verified_target: FunctionTarget,
    code: str,
    num_units,
    document_changes: bool,
) -> RewriteEdit:
    """The edit replacing ``function`` in ``text`` by ``code``.

    ``verified_target`` is the target the job verified; its source must equal
    ``function.source`` (the caller checks freshness). ``num_units(str) -> int`` counts a
    string in the client's position units. Raises ValueError when the rewrite does not fit.
    """
    span = function.span
    # The verified target with the buffer's current text and line numbers: the function may
    # have moved since the job started (edits above it), but its text is the same.
    target = replace(
        verified_target,
        file_text=text,
        start_line=span.start_line,
        end_line=span.end_line,
        def_line=span.def_line,
    )
    old_lines = split_lines(text)
    new_lines = split_lines(splice(target, code))
    tail = len(old_lines) - span.end_line
    region = new_lines[span.start_line - 1: len(new_lines) - tail]
    new_source = "".join(region)
    last_old = old_lines[span.end_line - 1]
    edit_range = types.Range(
        start=types.Position(line=span.start_line - 1, character=0),
        end=types.Position(line=span.end_line - 1,
                           character=num_units(_strip_ending(last_old))),
    )
    new_text = _strip_ending(new_source) if _strip_ending(last_old) != last_old else new_source
    text_edit = types.TextEdit(range=edit_range, new_text=new_text)
    if document_changes:
        workspace_edit = types.WorkspaceEdit(document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version),
                edits=[text_edit],
            )
        ])
    else:
        workspace_edit = types.WorkspaceEdit(changes={uri: [text_edit]})
    # The edit keeps a byte-order mark in front of line 1; the function's source (as
    # functions_of reports it) never holds one.
    return RewriteEdit(edit=workspace_edit, new_source=new_source.removeprefix("\ufeff"))
