"""Where an edit model is asked to write: hunk headers proposed at the function's loops.

An edit model ("edit-v1" / "edit-v2", :mod:`perfrl.edit_script`) has two jobs: name the lines
to change (``@A-B``) and write their replacement. Measured on real code, the first is the
weaker one: a small edit model names the right lines for few functions (most of its headers
point at the same lines whatever the function), while most slow code is a loop with the
statements that set it up and read its result. So the server proposes the headers itself: each
loop region of the function (:func:`perfrl.sources.regions.extract_regions`: a loop, the setup
statements just before it, a ``return`` right after it) becomes a header that decoding forces
as the start of some outputs, and the model writes only the replacement.

A caller may rely on: headers of the form ``@A-B`` (no newline, so that a byte-level BPE
encodes them as the start of a longer text: the model writes the newline), for lines counted
as :func:`perfrl.edit_script.number_lines` counts them in the text given, in source order,
distinct, at most ``limit``; none for a text that does not parse or holds no loop;
:func:`site_text` giving exactly the script that rewrites nothing at such a header (what the
copy bias, :mod:`perfrl.inference.copy_bias`, copies from: the forced header is its start, so a
row's first free tokens continue it). Training
(:func:`perfrl.edit_script.make_edit_script` with ``widen_to``) writes some scripts with the
same spans, so that the model knows what to write after a forced header.
"""

from __future__ import annotations

from perfrl.edit_script import SCRIPT_START, Hunk, code_lines, format_hunks
from perfrl.sources.regions import extract_regions

#: Loop regions given a forced header, at most (the first ones in the function).
MAX_SITES = 3


def site_spans(model_text: str, limit: int = MAX_SITES) -> list[tuple[int, int]]:
    """The line spans ``(first, last)`` (1-based, inclusive, numbered as the edit model reads
    them) of the loop regions of ``model_text``, first ``limit`` regions, distinct."""
    if limit <= 0:
        return []
    # number_lines counts from the first non-blank line; regions count from the text's first.
    leading_blank = len(model_text.split("\n")) - len(model_text.lstrip("\n").split("\n"))
    last_line = len(code_lines(model_text))
    spans: list[tuple[int, int]] = []
    for region in extract_regions(model_text):
        span = (region.start_line - leading_blank, region.end_line - leading_blank)
        if span[0] < 1 or span[1] > last_line or span in spans:
            continue
        spans.append(span)
        if len(spans) == limit:
            break
    return spans


def site_header(span: tuple[int, int]) -> str:
    """The ``@A-B`` header of one span."""
    return f"{SCRIPT_START}{span[0]}-{span[1]}"


def site_headers(model_text: str, limit: int = MAX_SITES) -> list[str]:
    """The ``@A-B`` headers of :func:`site_spans` (the function as the edit model reads it,
    before numbering)."""
    return [site_header(span) for span in site_spans(model_text, limit)]


def site_text(model_text: str, span: tuple[int, int]) -> str:
    """The script that writes the site's lines back unchanged: its header ``@A-B``, a
    newline, then the lines, each ending with one."""
    first, last = span
    return format_hunks([Hunk(first, last, tuple(code_lines(model_text)[first - 1 : last]))])
