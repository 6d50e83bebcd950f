"""Whether one logical line of code is a Python statement on its own.

The indentation guard (:mod:`perfrl.inference.indent_guard`) asks this when an edit's hunk line
ends, so that a line Python cannot read (``for x in xs`` without its colon, ``n = = 1``,
``order.is``) is not closed: the row must go on writing it (a colon, the rest of an
expression) or, if nothing can mend it, never gets the newline. A block's header is judged with
a body of ``pass`` under it, and a clause that continues a statement (``else:``, ``elif c:``,
``except E:``, ``finally:``) behind the statement it needs: whether the clause stands where
Python allows it is the block structure's question, not this one's (a ``try:`` gets a
``finally`` after its body for the same reason).

A caller may rely on: a line that is part of some valid function body, taken alone with its
own indentation removed, is accepted (the one exception: a ``case`` clause, accepted unread,
as it needs its ``match``); the answer depending on the text only.
"""

from __future__ import annotations

import ast
import re
import warnings
from functools import lru_cache

from perfrl.inference.bracket_guard import LexState, feed_text

#: A clause that continues a compound statement, and the statement it needs before it.
_CONTINUED = {
    "else": "if 1:\n pass\n",
    "elif": "if 1:\n pass\n",
    "except": "try:\n pass\n",
    "finally": "try:\n pass\n",
}


def _first_word(code: str) -> str:
    word = ""
    for char in code:
        if not (char.isalnum() or char == "_"):
            break
        word += char
    return word


@lru_cache(maxsize=4096)
def statement_parses(line: str, opens_block: bool) -> bool:
    """Whether ``line`` (one logical line, continuation lines included; its first line's
    indentation is ignored) is a statement Python can parse; ``opens_block``: it ends with a
    colon that opens a block (a body is supplied)."""
    return _statement_parses(line, opens_block)


def _syntax_error(text: str) -> tuple[int, str] | None:
    """Where in ``text`` (a character index) Python's parser stops, and its message; None
    when ``text`` parses."""
    with warnings.catch_warnings():
        # "invalid escape sequence", "invalid decimal literal" (`1if`): Python's warnings
        # about text that parses; the answer is the same, the server's log stays quiet.
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            ast.parse(text)
        except SyntaxError as exc:
            lines = text.split("\n")
            row = max((exc.lineno or 1) - 1, 0)
            index = sum(len(line) + 1 for line in lines[:row]) + max((exc.offset or 1) - 1, 0)
            return index, exc.msg
        except ValueError as exc:
            return 0, str(exc)
        except (RecursionError, MemoryError) as exc:
            # Text nested past what the parser can build (`x.a.a...` a hundred thousand deep):
            # no code a rewrite needs, and the decoding it guards must not end with it.
            return 0, type(exc).__name__
    return None


def _statement_parses(line: str, opens_block: bool) -> bool:
    code = line.strip()
    if not code:
        return True
    first = _first_word(code)
    if first in ("case", "match") and opens_block:
        return True  # soft keywords: a `match` needs its cases, a `case` its `match`
    # A clause stands behind the statement it needs, a block header over a body; a `try`
    # needs a clause after its body (`try: x` on one line too).
    text = _CONTINUED.get(first, "") + code
    if opens_block:
        text += "\n pass\n"
    if first == "try":
        text += "\nfinally:\n pass\n"
    elif code.startswith("@"):
        text = code + "\ndef _():\n pass\n"  # a decorator needs what it decorates
    return _syntax_error(text) is None


# What may follow a line's text for it to end as a statement: the brackets left open are
# closed between a middle and a tail. Together they complete the prefixes of real code's
# lines (tests/inference/test_statement_syntax.py checks every prefix of the statement lines
# of standard-library modules).
_MIDDLES = ("", " x", "x", " in x", " else x", " x else x", ": x", " x: x", " import x",
            " x import x", " x in x", " in x else x", " x for x in x", " for x in x",
            " x, x", "1", " = x", " def x(): x", " x = x", "x(): x", ",")
_TAILS = ("", ":", " in x:", " x:")
_INNER = ("", "x", " x")
_OUTER_MIDDLES = ("", " x", " else x", ": x", " in x", ",")
_OUTER_TAILS = ("", ":")
#: Parser messages that point before the end of a prefix that can still be completed.
_POINTING_BACK = ("Perhaps you forgot a comma", "expected 'else' after 'if' expression",
                  "after dictionary key", "cannot use starred expression here")
# A `.` that starts a number (`(.5`), cut before its digits.
_NUMBER_DOT = re.compile(r"(?<![\w)\]}\"'])\.\Z")
# A last word or operator may be cut short (`i` of `if`, `-` of `->`): judged without it.
_OPERATOR_CHARS = frozenset("=<>!*/%&|^~+-:@.")


def _without_cut_tail(code: str) -> str:
    """``code`` without its last word or run of operator characters (scanned from the end:
    a pattern anchored at the end would be tried at every position, quadratic in a long
    line)."""
    end = len(code)
    if end and (code[-1].isalnum() or code[-1] == "_"):
        while end and (code[end - 1].isalnum() or code[end - 1] == "_"):
            end -= 1
    elif end and code[-1] in _OPERATOR_CHARS:
        while end and code[end - 1] in _OPERATOR_CHARS:
            end -= 1
    return code[:end]


def line_prefix_viable(prefix: str) -> bool:
    """Whether ``prefix`` (the start of a logical line, continuation lines included) can
    still end as a statement: some text after it makes one that :func:`statement_parses`
    accepts. Approximate in the accepting direction: a prefix inside a string or a comment,
    or after a backslash, is accepted unread, and the last word or operator is left out (it
    may be cut short). A caller may rely on: every prefix of the statement lines of the
    standard-library modules the tests read being accepted (measured over 15 modules: all
    but one of 792,859, a starred generator in a tuple, ``(*(f(p) for ``); ``x.is.``,
    ``n = = ``, ``for x in y z:`` being refused."""
    return _completable(_NUMBER_DOT.sub("", _without_cut_tail(prefix.lstrip())))


@lru_cache(maxsize=65536)
def _completable(code: str) -> bool:
    """:func:`line_prefix_viable` of a prefix whose last word or operator is whole (the
    prefixes a word's pieces make share one answer)."""
    if not code.strip() or code.rstrip().endswith("\\"):
        return True
    lex = LexState()
    if not feed_text(lex, code):
        return False
    if lex.quote or lex.comment:
        return True  # judged where the line ends
    closers = "".join(reversed(lex.brackets))
    # Where Python's parser gives up tells most answers at the cost of one parse: an error
    # inside what is written is past mending by anything written after it, but for the
    # messages that point back to where an unfinished construct began (measured over every
    # prefix of 15 standard-library modules' statement lines: only these did).
    context = _CONTINUED.get(_first_word(code), "")
    error = _syntax_error(context + code + closers)
    if error is None:
        return True
    index, message = error
    if index - len(context) < len(code.rstrip()) and not any(
            early in message for early in _POINTING_BACK):
        return False
    # A word left whole (followed by what was cut off) is not to be lengthened.
    whole_word = code[-1].isalnum() or code[-1] == "_"
    # The middle goes inside the innermost open bracket, or (`(a if f(`) after one or two of
    # the brackets are closed, the first inner part completing what the innermost holds; past
    # the innermost, only the middles such prefixes need (the search answers a prefix nothing
    # completes in about 120 parses, where every middle at every level took 532).
    for closed in range(min(len(closers), 2) + 1):
        inner: tuple[str, ...] = ("",)
        middles: tuple[str, ...] = _MIDDLES
        tails: tuple[str, ...] = _TAILS
        if closed:
            inner, middles, tails = _INNER, _OUTER_MIDDLES, _OUTER_TAILS
        for first in inner:
            if whole_word and first[:1].isalnum():
                continue
            start = code + first + closers[:closed]
            for middle in middles:
                if whole_word and not first and not closed and middle[:1].isalnum():
                    continue
                for tail in tails:
                    text = start + middle + closers[closed:] + tail
                    if _statement_parses(text, bool(tail)):
                        return True
    return False
