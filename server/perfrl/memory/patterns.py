"""Rewrite patterns learned from before/after pairs by anti-unification, applied to new code.

The technique of Getafix and Refazer, kept small: a verified rewrite (slow function -> fast
function) is reduced to the statements that changed (:func:`rule_from_pair`), with the
function's own names turned into holes; two rules of the same shape are generalized into one
by anti-unification (:func:`generalize`: where the two differ, a hole; where they agree, the
shared code), and a rule rewrites another function wherever its "before" side matches a run of
statements there (:func:`apply_rule`), the holes bound to that function's own names and
expressions. Everything is syntax: nothing here runs code, and a rewrite is only a candidate
for the verifier.

A caller may rely on: :func:`apply_rule` returns whole function definitions (column 0) that
parse, keep the signature, and differ from the input only in the matched statements (every
other line is kept byte for byte); rules survive :meth:`RewriteRule.to_json` /
:meth:`RewriteRule.from_json` unchanged.
"""

from __future__ import annotations

import ast
import builtins
import copy
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeGuard, cast

#: Holes are names no real code uses.
HOLE_PREFIX = "__perfrl_h"
#: Module names kept as written (a rule about ``re.compile`` is about ``re``).
KNOWN_MODULES = frozenset({
    "re", "collections", "itertools", "functools", "math", "statistics", "heapq", "bisect",
    "operator", "string", "json", "os", "sys", "time", "datetime", "decimal", "fractions",
    "random", "array", "copy", "typing", "dataclasses", "enum", "io", "pathlib",
})
_CONCRETE_NAMES = frozenset(dir(builtins)) | KNOWN_MODULES
#: A "before" side with fewer real (non-hole) nodes than this matches too much to be useful.
MIN_CONCRETE_NODES = 6


def _unparse(stmts: list[ast.stmt]) -> str:
    return ast.unparse(ast.fix_missing_locations(ast.Module(copy.deepcopy(stmts), [])))


def _is_hole(node: object) -> TypeGuard[ast.Name]:
    return isinstance(node, ast.Name) and node.id.startswith(HOLE_PREFIX)


@dataclass
class RewriteRule:
    """``before`` statements become ``after`` statements; holes are ``__perfrl_h<N>`` names.
    ``fresh`` names the holes only ``after`` uses (new variables) by the name they had."""

    before: list[ast.stmt]
    after: list[ast.stmt]
    fresh: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    def to_json(self) -> dict:
        return {"before": _unparse(self.before), "after": _unparse(self.after),
                "fresh": self.fresh, "origin": self.origin}

    @classmethod
    def from_json(cls, data: dict) -> RewriteRule:
        return cls(ast.parse(data["before"]).body, ast.parse(data["after"]).body,
                   dict(data.get("fresh", {})), data.get("origin", ""))

    def key(self) -> str:
        """Equal for rules that rewrite alike (used to de-duplicate)."""
        return ast.dump(ast.Module(self.before, [])) + "=>" + ast.dump(ast.Module(self.after, []))

    def concrete_size(self) -> int:
        return sum(1 for stmt in self.before for node in ast.walk(stmt) if not _is_hole(node))


# --- from a pair to a rule ---------------------------------------------------------------


def _function(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        body = ast.parse(textwrap.dedent(source)).body
    except SyntaxError:
        return None
    fns = [n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return fns[0] if len(fns) == 1 else None


def _same(a: ast.AST | list, b: ast.AST | list) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    if not isinstance(a, ast.AST) or not isinstance(b, ast.AST):
        return a == b
    return ast.dump(a) == ast.dump(b)


_BLOCK_FIELDS = ("body", "orelse", "finalbody")


def _changed_window(before: list[ast.stmt], after: list[ast.stmt]
                    ) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The smallest runs of statements that differ, descending into one compound statement
    whose header is unchanged."""
    start = 0
    while start < min(len(before), len(after)) and _same(before[start], after[start]):
        start += 1
    end_b, end_a = len(before), len(after)
    while end_b > start and end_a > start and _same(before[end_b - 1], after[end_a - 1]):
        end_b, end_a = end_b - 1, end_a - 1
    b, a = before[start:end_b], after[start:end_a]
    if len(b) == 1 and len(a) == 1 and type(b[0]) is type(a[0]):
        differing = [f for f in b[0]._fields if not _same(getattr(b[0], f), getattr(a[0], f))]
        if len(differing) == 1 and differing[0] in _BLOCK_FIELDS:
            inner = _changed_window(getattr(b[0], differing[0]), getattr(a[0], differing[0]))
            if inner[0]:
                return inner
    return b, a


def _abstract_names(before: list[ast.stmt], after: list[ast.stmt]) -> dict[str, str]:
    """Holes for the names the rewrite uses (not builtins or known modules); ``fresh`` maps
    holes that only ``after`` uses to their original names."""
    holes: dict[str, str] = {}
    for stmt in [*before, *after]:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id not in _CONCRETE_NAMES:
                holes.setdefault(node.id, f"{HOLE_PREFIX}{len(holes)}")
            elif isinstance(node, ast.arg) and node.arg not in _CONCRETE_NAMES:
                holes.setdefault(node.arg, f"{HOLE_PREFIX}{len(holes)}")
    return holes


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.names.get(node.arg, node.arg)
        return node


def _renamed(stmts: list[ast.stmt], names: dict[str, str]) -> list[ast.stmt]:
    return [_Rename(names).visit(copy.deepcopy(s)) for s in stmts]


class _Widen(ast.NodeTransformer):
    """Replaces each maximal expression of ``moved`` (plain dumps) by its hole."""

    def __init__(self, moved: dict[str, str]) -> None:
        self.moved = moved

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.expr) and not isinstance(node, ast.Name):
            hole = self.moved.get(_plain_dump(node))
            if hole is not None:
                return ast.copy_location(ast.Name(hole, ast.Load()), node)
        return super().visit(node)


def _widen(before: list[ast.stmt], after: list[ast.stmt], first_free: int
           ) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """Expressions the rewrite carries over whole (a condition, an element, a key) become
    holes that match any expression: what the rewrite teaches is the statements around them.
    Only expressions that use the function's names are widened (``[]`` or ``0`` that start
    an accumulator stay as written)."""
    in_after = {_plain_dump(n) for s in after for n in ast.walk(s) if isinstance(n, ast.expr)}
    moved: dict[str, str] = {}

    def collect(node: ast.AST) -> None:
        if isinstance(node, ast.expr) and not isinstance(node, ast.Name | ast.Starred):
            dump = _plain_dump(node)
            uses_names = any(_is_hole(n) for n in ast.walk(node))
            if dump in in_after and uses_names and not isinstance(node.ctx if hasattr(
                    node, "ctx") else None, ast.Store):
                moved.setdefault(dump, f"{HOLE_PREFIX}{first_free + len(moved)}")
                return
        for child in ast.iter_child_nodes(node):
            collect(child)

    for stmt in before:
        collect(stmt)
    widen = _Widen(moved)
    # A statement never is an expression, so visiting one returns a statement.
    return ([cast(ast.stmt, widen.visit(copy.deepcopy(s))) for s in before],
            [cast(ast.stmt, widen.visit(copy.deepcopy(s))) for s in after])


def rule_from_pair(slow: str, fast: str, origin: str = "") -> RewriteRule | None:
    """The rule one verified rewrite teaches, or None when the pair does not reduce to a
    statement-level change (other signature, nothing changed, the whole body rewritten into
    something too small to match safely)."""
    slow_fn, fast_fn = _function(slow), _function(fast)
    if slow_fn is None or fast_fn is None or not _same(slow_fn.args, fast_fn.args):
        return None
    before, after = _changed_window(slow_fn.body, fast_fn.body)
    if not before:
        return None
    names = _abstract_names(before, after)
    before_names = {n.id for s in before for n in ast.walk(s) if isinstance(n, ast.Name)}
    before_names |= {n.arg for s in before for n in ast.walk(s) if isinstance(n, ast.arg)}
    fresh = {hole: name for name, hole in names.items() if name not in before_names}
    widened_before, widened_after = _widen(_renamed(before, names), _renamed(after, names),
                                           len(names))
    rule = RewriteRule(widened_before, widened_after, fresh, origin)
    return rule if rule.concrete_size() >= MIN_CONCRETE_NODES else None


# --- anti-unification ------------------------------------------------------------------------


class _AntiUnifier:
    """Least general generalization of two trees: equal parts kept, differing parts become
    holes, the same pair of differing parts always the same hole (so ``x ... x`` stays tied)."""

    def __init__(self, first_free: int) -> None:
        self.table: dict[tuple[str, str], str] = {}
        self.next = first_free

    def hole_for(self, a: ast.AST, b: ast.AST) -> ast.Name:
        key = (_plain_dump(a), _plain_dump(b))
        if key not in self.table:
            self.table[key] = f"{HOLE_PREFIX}{self.next}"
            self.next += 1
        return ast.copy_location(ast.Name(self.table[key], ast.Load()), a)

    def node(self, a, b):
        if isinstance(a, list) or isinstance(b, list):
            if not (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)):
                return None
            out = [self.node(x, y) for x, y in zip(a, b, strict=True)]
            return None if any(o is None for o in out) and (a or b) else out
        if not isinstance(a, ast.AST) or not isinstance(b, ast.AST):
            return a if a == b else None
        if _plain_dump(a) == _plain_dump(b):
            return copy.deepcopy(a)
        if type(a) is not type(b):
            both_expressions = isinstance(a, ast.expr) and isinstance(b, ast.expr)
            return self.hole_for(a, b) if both_expressions else None
        fields = {}
        for name in a._fields:
            value = self.node(getattr(a, name), getattr(b, name))
            if value is None and (getattr(a, name) is not None or getattr(b, name) is not None):
                if isinstance(a, ast.expr):
                    return self.hole_for(a, b)
                return None
            fields[name] = value
        return ast.copy_location(type(a)(**fields), a)


def _plain_dump(node: ast.AST) -> str:
    """``ast.dump`` without load/store context (a name read and written is the same name)."""
    return ast.dump(node).replace("ctx=Load()", "").replace("ctx=Store()", "") \
        .replace("ctx=Del()", "")


def generalize(first: RewriteRule, second: RewriteRule) -> RewriteRule | None:
    """One rule covering both, or None when their shapes differ or the result would match
    almost anything."""
    if len(first.before) != len(second.before) or len(first.after) != len(second.after):
        return None
    used = [int(n.id[len(HOLE_PREFIX):]) for r in (first, second)
            for s in [*r.before, *r.after] for n in ast.walk(s) if _is_hole(n)]
    unifier = _AntiUnifier(max(used, default=-1) + 1)
    before = unifier.node(first.before, second.before)
    after = unifier.node(first.after, second.after)
    if before is None or after is None:
        return None
    before_holes = {n.id for s in before for n in ast.walk(s) if _is_hole(n)}
    after_holes = {n.id for s in after for n in ast.walk(s) if _is_hole(n)}
    if after_holes - before_holes - set(first.fresh):
        return None  # a generalized "after" needs a value the "before" cannot supply
    rule = RewriteRule(before, after, {h: n for h, n in first.fresh.items() if h in after_holes},
                       f"{first.origin}+{second.origin}".strip("+"))
    return rule if rule.concrete_size() >= MIN_CONCRETE_NODES else None


# --- matching and rewriting ----------------------------------------------------------------


def _match(template, concrete, bindings: dict[str, ast.AST]) -> bool:
    if isinstance(template, list):
        return (isinstance(concrete, list) and len(template) == len(concrete)
                and all(_match(t, c, bindings) for t, c in zip(template, concrete, strict=True)))
    if isinstance(template, ast.AST) and _is_hole(template):
        if not isinstance(concrete, ast.expr):
            return False
        if isinstance(template.ctx, ast.Store) and not isinstance(concrete, ast.Name):
            return False
        bound = bindings.get(template.id)
        if bound is None:
            bindings[template.id] = concrete
            return True
        return _plain_dump(bound) == _plain_dump(concrete)
    if isinstance(template, ast.arg):
        if not isinstance(concrete, ast.arg):
            return False
        if template.arg.startswith(HOLE_PREFIX):
            name = ast.Name(concrete.arg, ast.Load())
            bound = bindings.setdefault(template.arg, name)
            return _plain_dump(bound) == _plain_dump(name)
        return template.arg == concrete.arg
    if not isinstance(template, ast.AST):
        return template == concrete
    if type(template) is not type(concrete):
        return False
    if isinstance(template, ast.expr_context):
        return True
    return all(_match(getattr(template, f), getattr(concrete, f, None), bindings)
               for f in template._fields if f not in ("type_comment",))


class _Fill(ast.NodeTransformer):
    def __init__(self, bindings: dict[str, ast.AST]) -> None:
        self.bindings = bindings

    def visit_Name(self, node: ast.Name) -> ast.AST:
        bound = self.bindings.get(node.id)
        if bound is None:
            return node
        if isinstance(bound, ast.Name):
            return ast.Name(bound.id, node.ctx)
        return copy.deepcopy(bound)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        bound = self.bindings.get(node.arg)
        if isinstance(bound, ast.Name):
            node.arg = bound.id
        return node


def _blocks(fn: ast.AST) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(fn):
        for name in _BLOCK_FIELDS:
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block


def _fresh_names(rule: RewriteRule, taken: set[str]) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for hole, original in rule.fresh.items():
        name, n = original, 1
        while name in taken:
            n += 1
            name = f"{original}_{n}"
        taken.add(name)
        out[hole] = ast.Name(name, ast.Load())
    return out


def apply_rule(rule: RewriteRule, function_source: str) -> list[str]:
    """Every rewrite of ``function_source`` (a whole def, any indentation) that ``rule``
    gives, one match at a time, dedented to column 0."""
    source = textwrap.dedent(function_source)
    fn = _function(source)
    if fn is None:
        return []
    lines = source.splitlines(keepends=True)
    taken = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    taken |= {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
    width = len(rule.before)
    out: list[str] = []
    for block in _blocks(fn):
        for start in range(len(block) - width + 1):
            window = block[start:start + width]
            bindings: dict[str, ast.AST] = {}
            if not _match(rule.before, window, bindings):
                continue
            bindings.update(_fresh_names(rule, set(taken)))
            if any(n.id.startswith(HOLE_PREFIX) for s in rule.after for n in ast.walk(s)
                   if isinstance(n, ast.Name) and n.id not in bindings):
                continue
            new_stmts = [_Fill(bindings).visit(copy.deepcopy(s)) for s in rule.after]
            first, last = window[0], window[-1]
            indent = lines[first.lineno - 1][: first.col_offset]
            body = _unparse(new_stmts) if new_stmts else "pass"
            text = "".join(indent + line + "\n" for line in body.splitlines())
            rewritten = ("".join(lines[: first.lineno - 1]) + text
                         + "".join(lines[last.end_lineno:]))
            try:
                parsed = _function(rewritten)
            except RecursionError:
                continue
            if parsed is not None and _same(parsed.args, fn.args) and rewritten not in out:
                out.append(rewritten)
    return out
