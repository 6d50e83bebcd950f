"""Identifier abstraction: a function's own names and string literals as placeholders.

A small model trained from scratch learns the shape of an idiom long before it learns to copy
names it has never seen. Abstraction takes the copying out of its job (the technique of Tufano
et al., *An Empirical Study on Learning Bug-Fixing Patches in the Wild*): before the prompt,
every identifier of the function becomes ``v0``, ``v1``, ... in order of first appearance and
every string literal ``"s0"``, ``"s1"``, ...; the model's output is mapped back with the same
table. The docstring is part of what the model reads (its first string placeholder, as in
every training pair), but not of what it writes: mapping back replaces whatever docstring the
output has with the original's, word for word (:mod:`perfrl.sources.docstrings`).

Kept as they are, because they carry meaning the model needs and never vary between programs:
keywords, builtins, attribute names (``.append``), keyword-argument names in calls
(``key=``), names bound by imports inside the code, and the names a caller asks to keep:
the model source passes the names the function uses from its module's imports
(:func:`module_imports_used`), so that ``re.match(...)`` reaches the model as ``re.match``,
as it did in training, where the imports were inside the function.

A caller may rely on:

- ``concretize(*abstract(code)) == code`` for any code that tokenizes (layout, comments and
  the docstring kept; placeholders never collide with a kept name); the docstring of a
  mapped-back output is always the original's (or none), never one the model wrote;
- :func:`concretize` giving placeholders that are not in the table (new locals the model
  introduced) fresh names that clash with no name of the original, and leaving everything
  else of the output untouched;
- :func:`module_imports_used` naming only names that a module-level import binds, that the
  function reads and that it does not bind itself; :func:`module_names_used` the same for
  every name the module binds at its top level (imports, assignments, functions, classes);
- :func:`names_kept_for` giving the names a model of a given ``input_abstraction`` keeps.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

from perfrl.sources.docstrings import restore_docstring, split_docstring
from perfrl.sources.identifiers import replace_token_spans

_BUILTINS = frozenset(dir(builtins))
_PLACEHOLDER_NAME = re.compile(r"v(\d+)$")
_PLACEHOLDER_STRING = re.compile(r"[\"']s(\d+)[\"']$")


@dataclass
class Abstraction:
    """What :func:`abstract` replaced: placeholder -> original text, names and strings."""

    names: dict[str, str] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    #: Names kept as written besides the built-in rules (module-scope imports).
    kept: frozenset[str] = frozenset()
    #: The original's docstring lines as written ("" when none), which :func:`concretize`
    #: gives every output in place of the one the model wrote.
    docstring: str = ""
    #: Whether the abstracted text leaves docstrings out (``abstract(omit_docstring=True)``);
    #: :meth:`extend` then leaves out the other text's too.
    docstring_omitted: bool = False

    def extend(self, code: str) -> str:
        """``code`` abstracted with this table, new names and strings numbered after the
        existing ones (for the rewritten side of a training pair, a failed candidate shown to
        the model), in the same form as the text the table was made for."""
        if self.docstring_omitted:
            code = split_docstring(code)[0]
        return _abstract_into(code, self)


def _parameters_and_imports(code: str) -> tuple[set[str], set[str]]:
    """Names of every function/lambda parameter, and names bound by imports (top package)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(), set()
    parameters: set[str] = set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    parameters.add(arg.arg)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported.add(alias.asname or alias.name)
            if node.module:
                imported.add(node.module.split(".")[0])
    return parameters, imported


def _kept_name_positions(tokens: list[tokenize.TokenInfo], parameters: set[str]) -> set[tuple]:
    """Start positions of NAME tokens that are attribute names or call keyword arguments."""
    kept = set()
    depth = 0
    for index, token in enumerate(tokens):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        if token.type != tokenize.NAME:
            continue
        previous = tokens[index - 1] if index else None
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if (previous is not None and previous.type == tokenize.OP and previous.string == ".") or (
            depth > 0
            and following is not None
            and following.type == tokenize.OP
            and following.string == "="
            and token.string not in parameters
        ):
            kept.add(token.start)
    return kept


def _significant(code: str) -> list[tokenize.TokenInfo]:
    return [
        t
        for t in tokenize.generate_tokens(io.StringIO(code).readline)
        if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    ]


def _string_key(literal: str) -> object:
    """What makes two string literals one placeholder: their value (``'a'`` and ``"a"`` are
    one string; a rewrite printed by ``ast.unparse`` changes the quotes, not the string), or
    the text itself for a literal that is not a constant (an f-string) or not valid. Mapping
    back writes the first spelling met, which has the same value."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return literal
    return (type(value).__name__, value)


def _abstract_into(code: str, table: Abstraction) -> str:
    tokens = _significant(code)
    parameters, imported = _parameters_and_imports(code)
    kept_positions = _kept_name_positions(tokens, parameters)
    kept_names = _BUILTINS | imported | table.kept
    name_of = {original: placeholder for placeholder, original in table.names.items()}
    string_of = {_string_key(original): placeholder
                 for placeholder, original in table.strings.items()}
    edits = []
    for token in tokens:
        if token.type == tokenize.NAME:
            if (
                keyword.iskeyword(token.string)
                or token.string in kept_names
                or token.start in kept_positions
            ):
                continue
            if token.string not in name_of:
                placeholder = f"v{len(table.names)}"
                table.names[placeholder] = token.string
                name_of[token.string] = placeholder
            edits.append((token.start, token.end, name_of[token.string]))
        elif token.type == tokenize.STRING:
            key = _string_key(token.string)
            if key not in string_of:
                placeholder = f'"s{len(table.strings)}"'
                table.strings[placeholder] = token.string
                string_of[key] = placeholder
            edits.append((token.start, token.end, string_of[key]))
    return replace_token_spans(code, edits)


def abstract(code: str, keep: Iterable[str] = (),
             omit_docstring: bool = False) -> tuple[str, Abstraction]:
    """``code`` with its identifiers and string literals replaced, and the table to undo it.
    Names in ``keep`` stay as written, like builtins. ``omit_docstring``: the text leaves the
    docstring out (the table keeps it either way, for :func:`concretize`).

    Raises :class:`tokenize.TokenError` or :class:`SyntaxError` (IndentationError) for text
    that does not tokenize. Placeholders that are already names of ``code`` (a variable called
    ``v0``) would be ambiguous: such code raises ValueError."""
    if any(
        t.type == tokenize.NAME and _PLACEHOLDER_NAME.match(t.string) for t in _significant(code)
    ):
        raise ValueError("the code already uses placeholder-like names (v0, v1, ...)")
    without, docstring = split_docstring(code)
    table = Abstraction(kept=frozenset(keep), docstring=docstring,
                        docstring_omitted=omit_docstring)
    return _abstract_into(without if omit_docstring else code, table), table


def concretize(code: str, table: Abstraction) -> str:
    """A model output written with placeholders, in the original's names and strings, with the
    original's docstring in place of the one the output wrote (or none): a rewrite never
    loses, changes or invents documentation.

    Placeholders missing from ``table`` (names the output introduced) become ``new_N``, with N
    chosen so that no name of the original or of the output is reused."""
    code = split_docstring(code)[0]
    tokens = _significant(code)
    used = set(table.names.values()) | table.kept | {
        t.string for t in tokens if t.type == tokenize.NAME
    }
    fresh: dict[str, str] = {}
    edits = []
    for token in tokens:
        if token.type == tokenize.NAME and _PLACEHOLDER_NAME.match(token.string):
            original = table.names.get(token.string)
            if original is None:
                if token.string not in fresh:
                    number = len(fresh)
                    while f"new_{number}" in used:
                        number += 1
                    fresh[token.string] = f"new_{number}"
                    used.add(fresh[token.string])
                original = fresh[token.string]
            edits.append((token.start, token.end, original))
        elif token.type == tokenize.STRING and _PLACEHOLDER_STRING.match(token.string):
            original = table.strings.get('"' + token.string[1:-1] + '"')
            if original is not None:
                edits.append((token.start, token.end, original))
    return restore_docstring(replace_token_spans(code, edits), table.docstring)


def string_placeholders(table: Abstraction) -> list[int]:
    """The numbers of the string placeholders (``"s3"``: 3) an output's code may write: those
    ``table`` maps back, but the docstring's (the first, when the function has one), which
    stands for prose no code uses (:func:`invented_strings`)."""
    numbers = sorted(int(match.group(1)) for key in table.strings
                     if (match := _PLACEHOLDER_STRING.match(key)))
    return numbers[1:] if table.docstring and not table.docstring_omitted else numbers


def invented_strings(code: str, table: Abstraction) -> list[str]:
    """The string placeholders (``"s7"``) of a model output that ``table`` does not hold, in
    order of appearance. Such a placeholder stands for no string of the original: a model
    cannot know what text it should be, so mapping back would leave the literal ``"s7"`` in
    the code. The original docstring's placeholder written anywhere in the code counts too
    (it stands for prose, no string the code uses). A docstring the output writes does not
    count: :func:`concretize` replaces it with the original's. Text that does not tokenize
    has none (it is dropped for not parsing anyway)."""
    try:
        tokens = _significant(split_docstring(code)[0])
    except (tokenize.TokenError, SyntaxError):
        return []
    # The docstring's own placeholder stands for prose: written in the code (a dict key, an
    # argument), it is a string the model cannot know the meaning of either.
    prose = {placeholder for placeholder, literal in table.strings.items()
             if table.docstring and literal == table.docstring.strip()}
    found: list[str] = []
    for token in tokens:
        if token.type == tokenize.STRING and _PLACEHOLDER_STRING.match(token.string):
            placeholder = '"' + token.string[1:-1] + '"'
            if (placeholder not in table.strings or placeholder in prose) and (
                placeholder not in found
            ):
                found.append(placeholder)
    return found


def model_input(
    source: str, mode: str, keep: Iterable[str] = (), docstrings: str = "read"
) -> tuple[str, Abstraction | None]:
    """The function text a model whose spec says ``input_abstraction == mode`` reads, and the
    table to map its outputs back (None when nothing was replaced). ``keep``: names left as
    written (see :func:`module_imports_used`); ``docstrings``: the spec's ``docstrings``
    ("omitted": an abstracting model reads the function without its docstring).

    Raises ValueError, and only ValueError, when the model cannot read ``source``: it does not
    tokenize, or it already uses placeholder-like names (see :func:`abstract`)."""
    if mode == "none":
        return source, None
    try:
        return abstract(source, keep, omit_docstring=docstrings == "omitted")
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ValueError(f"it does not tokenize ({exc})") from exc


def model_output(text: str, table: Abstraction | None) -> str:
    """A model output in the original's names; text that does not tokenize is returned as it
    is (it cannot be a usable candidate anyway)."""
    if table is None:
        return text
    try:
        return concretize(text, table)
    except (tokenize.TokenError, SyntaxError):
        return text


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Names bound by the module's own import statements (also under ``if``/``try``)."""
    return _module_level_bindings(tree, imports_only=True)


def _module_level_bindings(tree: ast.Module, imports_only: bool) -> set[str]:
    """Names the module's top-level statements bind (also under ``if``/``try``/``with``):
    imports, and unless ``imports_only`` also assignment targets, functions and classes."""
    bound: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            bound.update(a.asname or a.name for a in node.names if a.name != "*")
        elif imports_only:
            pass
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                bound.update(
                    n.id for n in ast.walk(target) if isinstance(n, ast.Name)
                )
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                pending.extend(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)
    return bound


def bound_names(function: ast.AST) -> set[str]:
    """Every name the function binds itself (parameters, assignment and loop targets, ``except
    ... as`` names, imports, nested defs and classes); the function's own name only when
    ``function`` is not that ``def``."""
    bound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            node is not function
        ):
            bound.add(node.name)
    return bound


def module_imports_used(module_text: str | ast.Module, function_source: str) -> frozenset[str]:
    """Names that ``function_source`` reads from its module's imports (``re``, ``Counter``,
    ``np``...): what :func:`model_input` should keep as written for an ``identifiers-v1``
    model. Empty when either text does not parse."""
    return _module_scope_names_read(module_text, function_source, imports_only=True)


def module_names_used(module: str | ast.Module, function_source: str) -> frozenset[str]:
    """Names that ``function_source`` reads from its module's top level: imports, module
    constants (``RATE``), other functions and classes; what an ``identifiers-v2`` model
    keeps as written. ``module``: its text, or its parsed tree (for many functions of one
    module). Empty when either text does not parse."""
    return _module_scope_names_read(module, function_source, imports_only=False)


def free_names(function_source: str) -> frozenset[str]:
    """Names ``function_source`` reads without binding them, builtins aside: what it reads
    from its module (or an enclosing function) when the module itself is not at hand. Empty
    when the text does not parse."""
    return _module_scope_names_read(None, function_source, imports_only=False) - set(
        dir(builtins))


def names_kept_for(mode: str, module_text: str | ast.Module, function_source: str
                   ) -> frozenset[str]:
    """The names a model of ``input_abstraction == mode`` reads as written, beyond builtins
    and attribute names (see :data:`perfrl.model_contract.INPUT_ABSTRACTIONS`); the module as
    text or already parsed."""
    if mode == "identifiers-v2":
        return module_names_used(module_text, function_source)
    if mode == "identifiers-v1":
        return module_imports_used(module_text, function_source)
    return frozenset()


def _module_scope_names_read(
    module: str | ast.Module | None, function_source: str, imports_only: bool
) -> frozenset[str]:
    """Names ``function_source`` reads without binding them that ``module``'s top level binds
    (``imports_only``: by an import); with no module, every such name (builtins included)."""
    try:
        if isinstance(module, str):
            module = ast.parse(module)
        function = ast.parse(function_source)
    except (SyntaxError, ValueError):
        return frozenset()
    read = {
        node.id
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    if module is not None:
        read &= _module_level_bindings(module, imports_only)
    return frozenset(read - bound_names(function))
