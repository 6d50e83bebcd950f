"""A function's docstring put back, word for word, into every rewrite a model writes.

A docstring is prose: a model that rewrites code for speed has nothing to do with it, but it
reads it (as its first string placeholder, the form every training pair has) and often writes
one back, not always the original's: the docstring slot may come back holding a string of the
code, or not at all. So the rewrite's own docstring is dropped and the original's put in its
place (:func:`perfrl.sources.abstraction.concretize`): applying a rewrite never deletes or
changes a user's documentation.

Text level only (``tokenize``), so nothing here parses a module. A caller may rely on:
``restore_docstring(*split_docstring(code)) == code`` for a function whose docstring sits on
its own lines and is followed by more statements; code in any other shape (a one-line body,
a docstring alone, text that does not tokenize) comes back unchanged with no docstring.
"""

from __future__ import annotations

import io
import tokenize

_SKIPPED = (tokenize.NL, tokenize.COMMENT)


def _tokens(code: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return None


def _body_start(tokens: list[tokenize.TokenInfo]) -> int | None:
    """Index of the first token of the function's body (after its INDENT), or None when the
    text does not start with a ``def`` whose body is an indented block."""
    index = 0
    while index < len(tokens) and tokens[index].type in _SKIPPED:
        index += 1
    if index < len(tokens) and tokens[index].string == "async":
        index += 1
    if index >= len(tokens) or tokens[index].string != "def":
        return None
    depth = 0
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.OP and token.string == ":" and depth == 0:
            after = position + 1
            while after < len(tokens) and tokens[after].type == tokenize.COMMENT:
                after += 1
            if after >= len(tokens) or tokens[after].type != tokenize.NEWLINE:
                return None  # a one-line body: `def f(x): return x`
            after += 1
            while after < len(tokens) and tokens[after].type in _SKIPPED:
                after += 1
            if after >= len(tokens) or tokens[after].type != tokenize.INDENT:
                return None
            return after + 1
    return None


def _docstring_span(tokens: list[tokenize.TokenInfo], start: int) -> tuple[int, int] | None:
    """First and last line (1-based) of the docstring statement at ``tokens[start]``, when the
    body starts with one that has its lines to itself and more statements follow. (Comment
    lines before the docstring come before the body's INDENT; a docstring after them is left
    in, since putting it back right after the header would swap the two.)"""
    if tokens[start - 2].type != tokenize.NEWLINE:
        return None  # comment lines between the header and the docstring
    index = start
    first = index
    while index < len(tokens) and tokens[index].type == tokenize.STRING:
        index += 1
    strings_end = index
    while index < len(tokens) and tokens[index].type == tokenize.COMMENT:
        index += 1
    if strings_end == first or index >= len(tokens) or tokens[index].type != tokenize.NEWLINE:
        return None  # no string, or a string that is part of an expression or statement
    newline = tokens[index]
    following = index + 1
    while following < len(tokens) and tokens[following].type in _SKIPPED:
        following += 1
    if following >= len(tokens) or tokens[following].type in (tokenize.DEDENT,
                                                               tokenize.ENDMARKER):
        return None  # the docstring is the whole body: the function has nothing else
    if tokens[following].start[0] == newline.start[0]:
        return None  # `"""doc"""; x = 1`: the line holds code too
    return tokens[first].start[0], newline.start[0]


def _header_end_line(tokens: list[tokenize.TokenInfo], body_start: int) -> int:
    """The last line of the ``def`` header: the line of the NEWLINE token ending it."""
    index = body_start - 1
    while tokens[index].type != tokenize.NEWLINE:
        index -= 1
    return tokens[index].start[0]


def split_docstring(code: str) -> tuple[str, str]:
    """``code`` (one function, dedented) without its docstring's lines, and those lines
    (``""`` when there is none to take out; see the module docstring for the shapes)."""
    tokens = _tokens(code)
    start = None if tokens is None else _body_start(tokens)
    span = None if tokens is None or start is None else _docstring_span(tokens, start)
    if span is None:
        return code, ""
    lines = code.splitlines(keepends=True)
    first, last = span
    return "".join(lines[: first - 1] + lines[last:]), "".join(lines[first - 1 : last])


def restore_docstring(code: str, docstring: str) -> str:
    """``code`` (a model's rewrite) with ``docstring`` (lines :func:`split_docstring` took out)
    as its first statement again, at the body's indentation. Unchanged when ``docstring`` is
    empty, when the rewrite starts its body with a docstring of its own, or when it is not a
    function with an indented body (a rewrite that does not tokenize is dropped later anyway).
    """
    if not docstring:
        return code
    tokens = _tokens(code)
    start = None if tokens is None else _body_start(tokens)
    if tokens is None or start is None:
        return code
    if tokens[start].type == tokenize.STRING:
        return code
    indent = tokens[start - 1]
    # The first line takes the rewrite's indentation; the others are inside the string
    # literal, where changing a space would change the docstring itself. It goes right after
    # the header, before any comment lines that open the body, where split_docstring took it.
    first, _, rest = docstring.partition("\n")
    moved = indent.string + first.lstrip() + "\n" + rest
    body_line = _header_end_line(tokens, start) + 1
    lines = code.splitlines(keepends=True)
    return "".join([*lines[: body_line - 1], moved, *lines[body_line - 1 :]])
