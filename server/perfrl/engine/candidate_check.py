"""Checking and splicing a candidate rewrite of one function, without running it.

A caller may rely on:

- :func:`check_candidate` returning ``None`` only for a candidate that is exactly one
  ``def`` with the original's name, decorators, parameters (names, kinds, order, default
  values; annotations may change), async-ness and generator-ness, that compiles with the
  ``__future__`` features of the target's file and that splices into the file to give a file
  that parses; otherwise a short reason for the user that completes "the candidate ...";
- :func:`splice` changing only lines ``start_line..end_line`` of ``target.file_text``: every
  other character is kept, the candidate is indented like the original and written with the
  file's line endings.

Each takes a text or a candidate. A :class:`~perfrl.engine.candidate_text.CleanCandidate`
(what the job passes) is used as it is: its text is not parsed again; anything else is first
cleaned by :func:`~perfrl.engine.candidate_text.clean_candidate`. ``normalize_candidate`` and
``dedent_code`` live in :mod:`perfrl.engine.candidate_text` and are importable from here.
"""

from __future__ import annotations
import __future__

import ast
import copy
import difflib
import functools

from perfrl.engine.candidate_text import (
    FunctionNode,
    as_clean,
    dedent_code,
    normalize_candidate,
)
from perfrl.engine.locate import function_is_generator, parse_module, split_lines
from perfrl.engine.types import Candidate, FunctionTarget

__all__ = ["candidate_diff", "check_candidate", "dedent_code", "normalize_candidate", "splice"]

# ---------------------------------------------------------------------------------------------
# Checking


def _future_flags(file_text: str) -> int:
    """Compiler flags for the ``from __future__`` imports of the target's module."""
    try:
        tree = parse_module(file_text)
    except (SyntaxError, ValueError):
        return 0
    flags = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            break  # __future__ imports may only follow the docstring
    return flags


def _parameters(args: ast.arguments) -> list[tuple[str, str, str | None]]:
    """(kind, name, default as an AST dump or None) for every parameter, in order."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params: list[tuple[str, str, str | None]] = []
    for index, (arg, default) in enumerate(zip(positional, defaults)):
        kind = "positional-only" if index < len(args.posonlyargs) else "positional-or-keyword"
        params.append((kind, arg.arg, None if default is None else ast.dump(default)))
    if args.vararg is not None:
        params.append(("*args", args.vararg.arg, None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(("keyword-only", arg.arg, None if default is None else ast.dump(default)))
    if args.kwarg is not None:
        params.append(("**kwargs", args.kwarg.arg, None))
    return params


def _signature_text(args: ast.arguments) -> str:
    """The parameter list without annotations, as source."""
    bare = copy.deepcopy(args)
    for arg in [*bare.posonlyargs, *bare.args, *bare.kwonlyargs, bare.vararg, bare.kwarg]:
        if arg is not None:
            arg.annotation = None
    return f"({ast.unparse(bare)})"


def _first_parameter_difference(original: ast.arguments, candidate: ast.arguments) -> str:
    old, new = _parameters(original), _parameters(candidate)
    for (old_kind, old_name, old_default), (new_kind, new_name, new_default) in zip(old, new):
        if old_name != new_name:
            return f"has parameter {new_name!r} where the original has {old_name!r}"
        if old_kind != new_kind:
            return f"makes {old_name!r} {new_kind} instead of {old_kind}"
        if (old_default is None) != (new_default is None):
            return (
                f"{'removes' if new_default is None else 'adds'} the default value of {old_name!r}"
            )
        if old_default != new_default:
            return f"changes the default value of {old_name!r}"
    if len(new) > len(old):
        return f"adds parameter {new[len(old)][1]!r}"
    return f"removes parameter {old[len(new)][1]!r}"


def _statement_word(stmt: ast.stmt) -> str:
    words = {
        ast.Import: "an import",
        ast.ImportFrom: "an import",
        ast.ClassDef: "a class",
        ast.FunctionDef: "a function",
        ast.AsyncFunctionDef: "an async function",
        ast.Assign: "an assignment",
        ast.AnnAssign: "an assignment",
        ast.AugAssign: "an assignment",
        ast.Expr: "an expression",
    }
    return words.get(type(stmt), f"a {type(stmt).__name__.lower()} statement")


def _original_node(target: FunctionTarget) -> FunctionNode:
    return _function_of(target.source)


@functools.lru_cache(maxsize=8)
def _function_of(source: str) -> FunctionNode:
    """The original's ``def``, parsed once for all the candidates of a job (read only)."""
    node = ast.parse(dedent_code(source)).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    return node


def _decorators_text(node: FunctionNode) -> str:
    return " ".join(f"@{ast.unparse(d)}" for d in node.decorator_list) or "none"


def check_candidate(target: FunctionTarget, code: str | Candidate) -> str | None:
    """``None`` when the candidate may replace the target; otherwise why not (a phrase that
    follows "the candidate", e.g. "renames the function from f to g")."""
    clean = as_clean(code, target)
    if not clean.code.strip():
        return "is empty"
    tree = clean.module
    if tree is None:
        return f"does not parse: {clean.parse_error}"
    functions = [s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(tree.body) != 1:
        others = [s for s in tree.body if s not in functions[:1]]
        words = ", ".join(f"{_statement_word(s)} at line {s.lineno}" for s in others[:3])
        return (
            f"defines more than the function ({words}); a candidate must be a single "
            "function definition, with any imports inside its body"
        )
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"is {_statement_word(node)}, not a function definition"
    original = _original_node(target)
    if node.name != original.name:
        return (
            f"renames the function from {original.name} to {node.name}; the name must stay the same"
        )
    if isinstance(node, ast.AsyncFunctionDef) != target.is_async:
        return (
            "is async but the original is not"
            if not target.is_async
            else "is not async but the original is"
        )
    if function_is_generator(node) != target.is_generator:
        return (
            "is a generator (it uses yield) but the original is not"
            if not target.is_generator
            else "is not a generator (no yield) but the original is"
        )
    if [ast.dump(d) for d in node.decorator_list] != [ast.dump(d) for d in original.decorator_list]:
        return (
            f"changes the decorators from {_decorators_text(original)} to "
            f"{_decorators_text(node)}; decorators must stay exactly as in the original"
        )
    if _parameters(node.args) != _parameters(original.args):
        difference = _first_parameter_difference(original.args, node.args)
        return (
            f"changes the parameters from {_signature_text(original.args)} to "
            f"{_signature_text(node.args)}: it {difference}. Names, kinds, order and "
            "default values must stay the same (annotations may change)"
        )
    try:
        # The tree, not the text: compiling it finds what the parser lets through ('break'
        # outside a loop...) without parsing the candidate again.
        compile(
            tree, "<candidate>", "exec", flags=_future_flags(target.file_text), dont_inherit=True
        )
    except SyntaxError as exc:
        return f"does not compile: line {exc.lineno}: {exc.msg}"
    except ValueError as exc:
        return f"does not compile: {exc}"
    try:
        splice(target, clean)
    except ValueError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------
# Splicing


def _line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _splice_text(target: FunctionTarget, code: str | Candidate) -> str:
    """The file with the target's lines replaced; not checked."""
    lines = split_lines(target.file_text)
    region = lines[target.start_line - 1 : target.end_line]
    newline = (
        _line_ending(region[0])
        if region and _line_ending(region[0])
        else next((_line_ending(line) for line in lines if _line_ending(line)), "\n")
    )
    body = as_clean(code, target).code
    new_lines = body.split("\n")[:-1] if body else []
    # Whitespace-only lines are written as they are (see dedent_code).
    rendered = newline.join(target.indent + line if line.strip() else line for line in new_lines)
    if new_lines and region and _line_ending(region[-1]):
        rendered += newline
    if region and region[0].startswith("\ufeff"):
        rendered = "\ufeff" + rendered
    return "".join(lines[: target.start_line - 1]) + rendered + "".join(lines[target.end_line :])


def splice(target: FunctionTarget, code: str | Candidate) -> str:
    """The text of the target's file with the function replaced by ``code``, re-indented to
    the target's indentation and written with the file's line endings. Raises ValueError
    when the resulting file does not parse."""
    new_text = _splice_text(target, code)
    try:
        parse_module(new_text)
    except SyntaxError as exc:
        raise ValueError(
            f"does not fit into {target.relpath}: line {exc.lineno}: {exc.msg}"
        ) from exc
    return new_text


def candidate_diff(target: FunctionTarget, code: str | Candidate, context: int = 3) -> str:
    """A unified diff (``a/<relpath>`` -> ``b/<relpath>``) of the file before and after the
    splice, with ``\\n`` line endings whatever the file uses. Works for candidates that do
    not parse too, so the user can see what was proposed."""
    old = [line.rstrip("\r\n") for line in split_lines(target.file_text)]
    new = [line.rstrip("\r\n") for line in split_lines(_splice_text(target, code))]
    diff = difflib.unified_diff(
        old,
        new,
        fromfile=f"a/{target.relpath}",
        tofile=f"b/{target.relpath}",
        n=context,
        lineterm="",
    )
    text = "\n".join(diff)
    return text + "\n" if text else ""
