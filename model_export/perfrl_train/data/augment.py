"""Renamed copies of training pairs, so that the model learns to copy names from its input.

Why: the procedural idioms draw function names, parameters and docstrings from small pools. A
small model trained only on them learns the pools instead of the input (given any function it
writes ``def f(arr)`` with a docstring from a template), so none of its rewrites of real code
keeps the real parameter names. A renamed copy of a pair has every name the function binds (its
own name, parameters, variables, loop and comprehension targets, module-level names the pair
defines) replaced consistently on both sides by identifiers drawn from real code, and its
docstring replaced by the first line of a real docstring. Behaviour does not change, and the
pair's inputs call the function positionally, so its tests still hold (the build re-runs them).

A caller may rely on :func:`renamed_copy` returning ``None`` rather than a pair whose two sides
were renamed differently, and on names that cannot be renamed safely (keyword-argument names,
names read inside f-strings, builtins, imported modules) staying as they are.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import os
import random
import re
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

from perfrl.sources.identifiers import rename_identifiers

from .pairs import CodePair

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{1,18}[a-z0-9]$")
_RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | {"self", "cls"}


@dataclass(frozen=True)
class NamePool:
    """Identifiers and one-line docstrings harvested from real Python code."""

    identifiers: tuple[str, ...]
    docstrings: tuple[str, ...]


def harvest_pool(source_dir: Path | None = None, max_files: int = 400, seed: int = 0) -> NamePool:
    """Parameter and variable names and docstring first lines from ``source_dir``'s ``.py``
    files (default: this interpreter's standard library), deterministic for a seed."""
    root = Path(source_dir) if source_dir is not None else Path(os.__file__).parent
    skipped = {"test", "tests", "idlelib", "site-packages", "dist-packages"}
    files = sorted(p for p in root.rglob("*.py") if not skipped & set(p.parts))
    random.Random(seed).shuffle(files)
    names: set[str] = set()
    docs: set[str] = set()
    for path in files[:max_files]:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
                doc = ast.get_docstring(node)
                first = doc.strip().splitlines()[0].strip() if doc else ""
                plain = first.isascii() and '"' not in first and "\\" not in first
                if 12 <= len(first) <= 90 and plain:
                    docs.add(first)
    identifiers = sorted(
        n for n in names if _IDENTIFIER.match(n) and n not in _RESERVED and not n.startswith("test")
    )
    return NamePool(tuple(identifiers), tuple(sorted(docs)))


def _bound_names(tree: ast.Module) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
    return bound


def _unsafe_names(tree: ast.Module) -> set[str]:
    """Names a token-level rename would get wrong: keyword-argument names (``key=``), names
    inside f-strings (one STRING token), imported names, ``global``/``nonlocal`` names."""
    unsafe: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            unsafe.add(node.arg)
        elif isinstance(node, ast.JoinedStr):
            unsafe |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            unsafe |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            unsafe |= set(node.names)
        elif isinstance(node, ast.ClassDef):
            unsafe.add(node.name)
    return unsafe


def _all_tokens(code: str) -> set[str]:
    return {
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(code).readline)
        if tok.type == tokenize.NAME
    }


def _docstring_span(tree: ast.Module) -> tuple[int, int, int] | None:
    """(first line, last line, column) of the first function's docstring, 1-based lines."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and len(node.body) > 1
            ):
                return first.lineno, first.end_lineno or first.lineno, first.col_offset
            return None
    return None


def _replace_docstring(code: str, doc: str) -> str:
    span = _docstring_span(ast.parse(code))
    if span is None:
        return code
    start, end, col = span
    lines = code.splitlines(keepends=True)
    lines[start - 1:end] = [" " * col + '"""' + doc + '"""\n']
    return "".join(lines)


def _first_function(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    return next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None
    )


def _same_docstring(slow: ast.Module, fast: ast.Module) -> bool:
    slow_fn, fast_fn = _first_function(slow), _first_function(fast)
    if slow_fn is None or fast_fn is None:
        return False
    doc = ast.get_docstring(slow_fn)
    return doc is not None and doc == ast.get_docstring(fast_fn)


def renamed_copy(pair: CodePair, rng: random.Random, pool: NamePool, index: int) -> CodePair | None:
    """A copy of ``pair`` with its bound names renamed (same mapping on both sides) and, when
    both sides carry the same docstring, a new one; ``None`` when that cannot be done safely."""
    try:
        slow_tree, fast_tree = ast.parse(pair.slow), ast.parse(pair.fast)
    except SyntaxError:
        return None
    keep = _unsafe_names(slow_tree) | _unsafe_names(fast_tree) | _RESERVED
    names = sorted((_bound_names(slow_tree) | _bound_names(fast_tree)) - keep)
    if not names:
        return None
    taken = _all_tokens(pair.slow) | _all_tokens(pair.fast)
    choices = [n for n in pool.identifiers if n not in taken]
    if len(choices) < len(names):
        return None
    mapping = dict(zip(names, rng.sample(choices, len(names))))
    slow, fast = rename_identifiers(pair.slow, mapping), rename_identifiers(pair.fast, mapping)
    if pool.docstrings and _same_docstring(slow_tree, fast_tree):
        doc = rng.choice(pool.docstrings)
        slow, fast = _replace_docstring(slow, doc), _replace_docstring(fast, doc)
    try:
        compile(slow, "<slow>", "exec")
        compile(fast, "<fast>", "exec")
    except SyntaxError:
        return None
    return replace(
        pair,
        id=f"{pair.id}~r{index}",
        slow=slow,
        fast=fast,
        entry=mapping.get(pair.entry, pair.entry),
        meta={**pair.meta, "renamed_from": pair.id},
    )


def renamed_variants(
    pairs: list[CodePair], variants: int, seed: int, pool: NamePool | None = None
) -> list[CodePair]:
    """``variants`` renamed copies of each training pair (other splits are never touched)."""
    if variants <= 0:
        return []
    pool = pool or harvest_pool(seed=seed)
    rng = random.Random(f"perfrl-rename:{seed}")
    out = []
    for pair in pairs:
        if pair.split != "train":
            continue
        for k in range(variants):
            copy = renamed_copy(pair, rng, pool, k)
            if copy is not None:
                out.append(copy)
    return out
