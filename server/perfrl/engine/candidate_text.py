"""Candidate cleaning: a proposed rewrite's text normalised and parsed once, and de-duplicated.

Every candidate of a job passes through :func:`clean_candidate`, the only maker of a
:class:`CleanCandidate`: it normalises the text (Markdown fences and prose removed, dedented,
``\\n`` line endings, one trailing newline) and parses it, once. What the job does afterwards
(the de-duplication below, :func:`~perfrl.engine.candidate_check.check_candidate`, the splice
into the module, the diff) works on that value and never parses the candidate text again.
:class:`DistinctCandidates` is the one de-duplication rule: two candidates are the same when
their normalised ASTs are (layout and comments do not count), and a candidate the same as the
original is dropped with its own reason.

A caller may rely on:

- :func:`normalize_candidate` never raising, being idempotent, and returning the function
  dedented to column 0 with ``\\n`` line endings and one trailing newline (or ``""``);
- :func:`clean_candidate` never raising for any text, and calling :func:`ast.parse` on the
  candidate's text once when that text parses as it is (after fences and dedent); text with
  prose after the function is parsed once per line trimmed, at most ``_MAX_TRIM_ATTEMPTS``
  times, until what is left parses;
- a :class:`CleanCandidate` being a :class:`~perfrl.engine.types.Candidate` whose ``code`` is
  the normalised text, so it goes wherever a candidate goes (verifier, report);
- :meth:`DistinctCandidates.admit` returning ``None`` for the first candidate of each key and
  :data:`DUPLICATE` or :data:`SAME_AS_ORIGINAL` otherwise.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from perfrl.engine.types import Candidate, FunctionTarget

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

#: Why :class:`DistinctCandidates` drops a candidate (the words the job reports).
DUPLICATE = "duplicate"
SAME_AS_ORIGINAL = "same as the original"
#: What :func:`clean_candidate` found wrong with a text (``CleanCandidate.flaw``).
EMPTY = "empty"
DOES_NOT_PARSE = "does not parse"

_FENCE_RE = re.compile(r"```[^\n`]*(?:\n|\Z)(.*?)(?:```|\Z)", re.DOTALL)
_DEF_START_RE = re.compile(r"[ \t]*(@|def\s|async\s+def\s)")
# Trimming trailing prose costs one parse per line tried; model outputs are short.
_MAX_TRIM_ATTEMPTS = 200


# ---------------------------------------------------------------------------------------------
# Normalising and parsing (the one place candidate text is parsed)


def _indent(line: str) -> str:
    """The run of spaces, tabs and form feeds that starts ``line`` (may be empty)."""
    return line[: len(line) - len(line.lstrip(" \t\f"))]


def _common_indent(lines: list[str]) -> str:
    indents = [_indent(line) for line in lines if line.strip()]
    if not indents:
        return ""
    prefix = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def dedent_code(text: str) -> str:
    """Remove the indentation common to every line that has content.

    Lines made only of whitespace are left exactly as they are (``textwrap.dedent`` empties
    them), and :func:`~perfrl.engine.candidate_check.splice` does not indent them either: the
    tokenizer ignores them in code, and inside a multi-line string their whitespace is content.
    So a dedent followed by a splice gives back the original bytes.
    """
    lines = text.split("\n")
    prefix = _common_indent(lines)
    if not prefix:
        return text
    return "\n".join(line[len(prefix) :] if line.strip() else line for line in lines)


def _tidy(text: str) -> str:
    """No leading blank lines, exactly one trailing newline ("" when there is no content).

    Neither changes whether the text parses, so a text is parsed after tidying, and the tree
    describes the text as it is kept."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    text = "\n".join(lines).rstrip()
    return text + "\n" if text else ""


@dataclass(frozen=True)
class ParsedText:
    """A normalised candidate text and its parse: ``module`` is None when it does not parse,
    and ``error`` then says why ("line 3: '(' was never closed")."""

    text: str
    module: ast.Module | None = field(compare=False, repr=False)
    error: str = ""

    @property
    def function(self) -> FunctionNode | None:
        """The parsed ``def`` when the text is that one statement, else None."""
        return lone_function(self.module)


def lone_function(module: ast.Module | None) -> FunctionNode | None:
    """The ``def`` that is ``module``'s one statement, else None."""
    if module is None or len(module.body) != 1:
        return None
    node = module.body[0]
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _parse(text: str) -> ParsedText:
    try:
        return ParsedText(text, ast.parse(text))
    except SyntaxError as exc:
        return ParsedText(text, None, f"line {exc.lineno}: {exc.msg}")
    except ValueError as exc:  # null bytes, before Python 3.12
        return ParsedText(text, None, str(exc))


def _from_fence(text: str) -> str:
    """The content of the Markdown code block holding the function, when there is a fence."""
    if "```" not in text:
        return text
    blocks = _FENCE_RE.findall(text)
    if not blocks:
        return text
    with_def = [b for b in blocks if re.search(r"^\s*(async\s+)?def\s", b, re.MULTILINE)]
    return (with_def or blocks)[0]


def _without_prose(text: str, parsed: ParsedText) -> ParsedText | None:
    """Lines of prose before the first decorator/``def`` and after the function body dropped;
    None when there is no ``def`` line.

    Trailing lines are dropped only when they are no deeper than the ``def`` and come after
    the last line of the body, and only if what is left parses: cutting lines out of a
    truncated body could turn a broken candidate into a valid but different function. When
    nothing parses, the text from the ``def`` line on (with its parse error). ``parsed`` is
    ``text``'s own failed parse: a text is never parsed twice.
    """
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _DEF_START_RE.match(line)), None)
    if first is None:
        return None
    lines = lines[first:]
    def_indent = len(_indent(lines[0]))
    last_deeper = max(
        (
            i
            for i, line in enumerate(lines)
            if line.strip() and len(_indent(line)) > def_indent
        ),
        default=0,
    )
    tried = {parsed.text: parsed}
    for end in range(len(lines), last_deeper, -1)[:_MAX_TRIM_ATTEMPTS]:
        attempt = _tidy(dedent_code("\n".join(lines[:end])))
        if attempt not in tried:  # a blank line cut gives the same text
            tried[attempt] = _parse(attempt)
            if tried[attempt].module is not None:
                return tried[attempt]
    # Nothing parses: the text from the def line on (the first attempt), with its error.
    return tried[_tidy(dedent_code("\n".join(lines)))]


def parse_candidate_text(code: str) -> ParsedText:
    """``code`` normalised (see :func:`normalize_candidate`) and parsed."""
    # A byte-order mark is an encoding artefact, never code (splice puts the file's back).
    text = code.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = dedent_code(_from_fence(text))
    parsed = _parse(_tidy(text))
    if parsed.module is not None:
        return parsed
    return _without_prose(text, parsed) or parsed


def normalize_candidate(code: str) -> str:
    """The function alone: Markdown fences and surrounding prose removed, dedented, ``\\n``
    line endings, no leading blank lines, exactly one trailing newline ("" when empty).

    When the text parses as it is (after fences and dedent) nothing else is removed, so
    extra statements such as module-level imports stay and
    :func:`~perfrl.engine.candidate_check.check_candidate` names them.
    """
    return parse_candidate_text(code).text


# ---------------------------------------------------------------------------------------------
# The clean candidate


@dataclass(frozen=True)
class CleanCandidate(Candidate):
    """A candidate as the job works on it; made only by :func:`clean_candidate`.

    ``code`` is the normalised text and ``module`` its parse (None when it does not parse);
    ``number`` is the candidate's 1-based place among its source's outputs; ``key`` is what
    de-duplication compares (the normalised AST, or the text when it does not parse);
    ``flaw`` is "" for a text holding the target's function, else :data:`EMPTY`,
    :data:`DOES_NOT_PARSE` or "defines no function NAME"; ``parse_error`` says where the parse
    failed."""

    number: int
    key: str
    flaw: str = ""
    parse_error: str = ""
    module: ast.Module | None = field(default=None, compare=False, repr=False, hash=False)

    @property
    def function(self) -> FunctionNode | None:
        """The parsed ``def`` when the text is that one statement, else None."""
        return lone_function(self.module)


def _defs_in(body: list[ast.stmt], name: str) -> list[FunctionNode]:
    return [s for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and s.name == name]


def _classes_in(body: list[ast.stmt], name: str) -> list[ast.ClassDef]:
    return [s for s in body if isinstance(s, ast.ClassDef) and s.name == name]


def find_definition(tree: ast.Module, qualname: str) -> FunctionNode | None:
    """The ``def`` that stands for ``qualname`` in a module-shaped text: at the top level for a
    function, inside the class of the same name for a method (following the whole class path
    first, ``Outer.Inner.method``), else a class of the method's own class name anywhere, else
    a module-level function of the method's name; the last one when several match."""
    *classes, name = qualname.split(".")
    body: list[ast.stmt] | None = tree.body
    for class_name in classes:
        found = _classes_in(body, class_name) if body is not None else []
        body = found[-1].body if found else None
    if body is not None and (defs := _defs_in(body, name)):
        return defs[-1]
    if classes:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ClassDef)
                and node.name == classes[-1]
                and (defs := _defs_in(node.body, name))
            ):
                return defs[-1]
    defs = _defs_in(tree.body, name)
    return defs[-1] if defs else None


def _definition_alone(parsed: ParsedText, node: FunctionNode) -> ParsedText:
    """The text of ``node`` (decorators included) cut out of ``parsed`` and dedented, with
    ``node`` moved to match it (its last line can only end with a comment: ``; x = 1`` there
    is part of the body). When the lines do not all share the ``def``'s indentation (a
    multi-line string below it), the cut text is parsed instead."""
    lines = parsed.text.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    piece = lines[start - 1 : end]
    prefix = _common_indent([line.rstrip("\n") for line in piece])
    text = _tidy(dedent_code("".join(piece)))
    if len(prefix) != node.col_offset:
        return _parse(text)
    for child in ast.walk(node):
        if "lineno" not in child._attributes:
            continue  # operators and contexts have no position
        child.lineno -= start - 1  # type: ignore[attr-defined]
        child.col_offset -= len(prefix)  # type: ignore[attr-defined]
        if getattr(child, "end_lineno", None) is not None:
            child.end_lineno -= start - 1  # type: ignore[attr-defined]
        if getattr(child, "end_col_offset", None) is not None:
            child.end_col_offset -= len(prefix)  # type: ignore[attr-defined]
    return ParsedText(text, ast.Module(body=[node], type_ignores=[]))


def clean_candidate(
    candidate: Candidate, target: FunctionTarget, number: int, extract_definition: bool = False
) -> CleanCandidate:
    """``candidate`` normalised and parsed; the only way to make a :class:`CleanCandidate`.

    ``extract_definition``: when the text parses as a module holding more than one function
    definition, keep only the ``def`` of the target (see :func:`find_definition`); the flaw is
    "defines no function NAME" when there is none. Otherwise the text is kept whole, and the
    checker names any extra statement. A candidate already clean is returned as it is.
    """
    if isinstance(candidate, CleanCandidate):
        return candidate
    parsed = parse_candidate_text(candidate.code)
    flaw = ""
    if not parsed.text:
        flaw = EMPTY
    elif parsed.module is None:
        flaw = DOES_NOT_PARSE
    elif extract_definition and parsed.function is None:
        node = find_definition(parsed.module, target.qualname)
        if node is None:
            flaw = f"defines no function {target.name}"
        else:
            parsed = _definition_alone(parsed, node)
    key = "text:" + parsed.text if parsed.module is None else ast.dump(parsed.module)
    return CleanCandidate(
        source=candidate.source,
        label=candidate.label,
        code=parsed.text,
        number=number,
        key=key,
        flaw=flaw,
        parse_error=parsed.error,
        module=parsed.module,
    )


def as_clean(code: str | Candidate, target: FunctionTarget) -> CleanCandidate:
    """``code`` (a text, a candidate or a clean candidate) in its clean form; a clean one is
    returned as it is, anything else is cleaned whole (no definition extracted)."""
    if isinstance(code, str):
        code = Candidate("text", "", code)
    return clean_candidate(code, target, 0)


def original_candidate(target: FunctionTarget) -> CleanCandidate:
    """The target's own function as a clean candidate (source ``"original"``)."""
    return clean_candidate(Candidate("original", "original", target.source), target, 0)


# ---------------------------------------------------------------------------------------------
# De-duplication (the one rule)


class DistinctCandidates:
    """Admits each candidate once: by normalised AST, so outputs that differ only in layout
    or comments count once, and never the original itself (``original``: its clean form)."""

    def __init__(self, original: CleanCandidate) -> None:
        self.original_key = original.key
        self._seen: set[str] = set()

    def admit(self, candidate: CleanCandidate) -> str | None:
        """None when ``candidate`` is new (it is remembered); else why it is dropped:
        :data:`SAME_AS_ORIGINAL` or :data:`DUPLICATE`."""
        if candidate.key == self.original_key:
            return SAME_AS_ORIGINAL
        if candidate.key in self._seen:
            return DUPLICATE
        self._seen.add(candidate.key)
        return None
