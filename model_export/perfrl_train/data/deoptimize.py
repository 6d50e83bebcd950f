"""De-optimised real code: equivalent but slower rewrites of standard-library functions.

Pipeline (:func:`build_deoptimized_pairs`):

1. :func:`extract_candidates` parses the ``*.py`` files of a stdlib directory (packages
   included; tests, GUIs and site-packages excluded) and keeps
   module-level functions that are self-contained: plain positional parameters, no decorators,
   no generators/async/global/nonlocal, and every free name is either a harmless builtin or a
   module imported at module level from :data:`PURE_MODULES` or a module-level literal
   constant (that import or constant is then moved into the function body, so the function
   stands alone).
2. Each :data:`TRANSFORMS` entry rewrites a copy of the AST into a slower equivalent form
   (comprehension -> append loop, sum/min/max -> loop, ``"sep".join`` -> ``+=`` loop,
   ``enumerate`` -> ``range(len())``, ``in {set literal}`` -> ``in [list]``, ``d.get`` ->
   if/else). One pair per (function, transform) that changes something.
3. Inputs are found by fuzzing the ORIGINAL function with small literal values in a
   subprocess (see :mod:`.executor`); functions with fewer than two successful inputs are
   dropped. Both sides are then run on those inputs and the pair is kept only when every
   result is equal.

``any``/``all`` are deliberately not turned into loops: on CPython 3.11 a loop with ``break``
is as fast as ``any(genexpr)``, so such a "slow" side would teach the wrong direction.
"""

from __future__ import annotations

import ast
import builtins
import copy
import random
import sysconfig
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .executor import CallJob, run_calls, same_behaviour
from .pairs import CodePair

# Modules whose import is moved into the function body: pure, no I/O, no global state.
PURE_MODULES = frozenset(
    {
        "re",
        "math",
        "itertools",
        "functools",
        "operator",
        "string",
        "collections",
        "bisect",
        "heapq",
        "unicodedata",
        "keyword",
    }
)
# Builtins a candidate may not use: I/O, reflection, code execution, interpreter state.
UNSAFE_BUILTINS = frozenset(
    {
        "open",
        "print",
        "input",
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "exit",
        "quit",
        "breakpoint",
        "help",
        "setattr",
        "delattr",
        "memoryview",
        "__build_class__",
        "__loader__",
        "__spec__",
        "copyright",
        "credits",
        "license",
    }
)
SAFE_BUILTINS = frozenset(n for n in dir(builtins) if n not in UNSAFE_BUILTINS)
# Directories never scanned: third-party code, tests, GUIs, tooling.
SKIP_DIRS = frozenset(
    {
        "site-packages",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "ensurepip",
        "venv",
        "config-3.11-x86_64-linux-gnu",
        "lib-dynload",
        "__pycache__",
        "pydoc_data",
    }
)
# Modules never scanned: they are about processes, files, the interpreter or are huge tests.
SKIP_MODULES = frozenset(
    {"antigravity", "this", "__phello__", "_pydecimal", "pydoc", "turtle", "_pyio"}
)


@dataclass
class Candidate:
    module: str
    name: str
    lineno: int
    node: ast.FunctionDef  # imports of PURE_MODULES already inserted into the body
    n_required: int  # positional params without default
    n_params: int


# ---------------------------------------------------------------- candidate extraction


def _bound_names(fn: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in fn.args.posonlyargs + fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def _module_imports(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level name -> the import statement that binds it, for PURE_MODULES only."""
    out: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in PURE_MODULES and "." not in alias.name:
                    out[alias.asname or alias.name] = ast.Import(names=[alias])
        elif isinstance(node, ast.ImportFrom) and node.module in PURE_MODULES and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = ast.ImportFrom(
                        module=node.module, names=[alias], level=0
                    )
    return out


def _immutable(value) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes))


def _module_constants(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level ``NAME = <literal>`` assignments (assigned once), e.g. lookup tables."""
    counts: dict[str, int] = {}
    found: dict[str, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            # Only immutable values: inlining a mutable module-level table (a cache, a
            # registry) would give each call a fresh copy and change behaviour.
            if _immutable(value) and len(repr(value)) <= 400:
                found[node.targets[0].id] = node
    return {k: v for k, v in found.items() if counts.get(k) == 1}


def _self_contained(fn: ast.FunctionDef, imports: dict[str, ast.stmt]) -> list[ast.stmt] | None:
    """The imports the function needs, or None when it is not self-contained."""
    a = fn.args
    if fn.decorator_list or a.vararg or a.kwarg or a.kwonlyargs or not (a.posonlyargs + a.args):
        return None
    for node in ast.walk(fn):
        if node is not fn and isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            return None
        if isinstance(
            node,
            (
                ast.Yield,
                ast.YieldFrom,
                ast.Await,
                ast.Global,
                ast.Nonlocal,
                ast.Import,
                ast.ImportFrom,
            ),
        ):
            return None
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return None  # no reflection through dunders
    bound = _bound_names(fn)
    needed: list[ast.stmt] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in bound or node.id in SAFE_BUILTINS:
                continue
            if node.id in imports:
                stmt = imports[node.id]
                if all(ast.dump(stmt) != ast.dump(s) for s in needed):
                    needed.append(stmt)
                continue
            return None
    return needed


def _insert_imports(fn: ast.FunctionDef, imports: list[ast.stmt]) -> None:
    has_doc = (
        fn.body
        and isinstance(fn.body[0], ast.Expr)
        and isinstance(fn.body[0].value, ast.Constant)
        and isinstance(fn.body[0].value.value, str)
    )
    at = 1 if has_doc else 0
    fn.body[at:at] = [copy.deepcopy(s) for s in imports]


def _module_functions(tree: ast.Module):
    """Module-level functions, and static methods of module-level classes (undecorated)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef)
                    and len(item.decorator_list) == 1
                    and isinstance(item.decorator_list[0], ast.Name)
                    and item.decorator_list[0].id == "staticmethod"
                ):
                    fn = copy.deepcopy(item)
                    fn.decorator_list = []
                    yield fn


def _scannable(root: Path, path: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(p in SKIP_DIRS or p.startswith("test") for p in parts[:-1]):
        return False
    return path.stem not in SKIP_MODULES and not path.stem.startswith("test")


def default_stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def extract_candidates(
    stdlib_dir: Path | None = None, *, max_modules: int | None = None
) -> list[Candidate]:
    """Self-contained module-level functions of the top-level ``*.py`` files, sorted."""
    root = Path(stdlib_dir) if stdlib_dir is not None else default_stdlib_dir()
    files = sorted(p for p in root.rglob("*.py") if _scannable(root, p))
    if max_modules is not None:
        files = files[:max_modules]
    out = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        # Module-level imports of pure modules and literal constants move into the body.
        imports = {**_module_constants(tree), **_module_imports(tree)}
        for node in _module_functions(tree):
            needed = _self_contained(node, imports)
            if needed is None:
                continue
            fn = copy.deepcopy(node)
            _insert_imports(fn, needed)
            params = fn.args.posonlyargs + fn.args.args
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            out.append(
                Candidate(
                    module=module,
                    name=node.name,
                    lineno=node.lineno,
                    node=fn,
                    n_required=len(params) - len(fn.args.defaults),
                    n_params=len(params),
                )
            )
    return out


# ---------------------------------------------------------------- transforms


class _Names:
    """Fresh identifiers that do not clash with any name in the function."""

    def __init__(self, fn: ast.FunctionDef):
        self.taken = (
            {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
            | {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
            | {fn.name}
        )

    def new(self, *options: str) -> str:
        for base in options:
            if base not in self.taken:
                self.taken.add(base)
                return base
        k = 2
        while f"{options[0]}{k}" in self.taken:
            k += 1
        self.taken.add(f"{options[0]}{k}")
        return f"{options[0]}{k}"


def _stmt(src: str) -> list[Any]:
    """Statements of a template; typed loosely because each caller knows the node types its
    own template produces (``For``, ``Assign``...) and fills their fields."""
    return ast.parse(src).body


def _comp_targets_leak(
    fn: ast.FunctionDef, comp: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
) -> bool:
    """True when a comprehension variable is also used outside it (a loop would clobber it)."""
    targets = set()
    for gen in comp.generators:
        targets |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
    inside = {id(n) for n in ast.walk(comp)}
    outside = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and id(n) not in inside}
    return bool(targets & outside)


def _loop_over(comp, inner: list[ast.stmt]) -> list[ast.stmt]:
    """Nested for/if statements equivalent to the comprehension's generators around inner."""
    body = inner
    for gen in reversed(comp.generators):
        for cond in reversed(gen.ifs):
            body = [ast.If(test=cond, body=body, orelse=[])]
        body = [ast.For(target=gen.target, iter=gen.iter, body=body, orelse=[])]
    return body


_OPAQUE = (
    ast.Lambda,
    ast.BoolOp,
    ast.IfExp,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.NamedExpr,
)
# Statement fields evaluated exactly once, before anything else in the statement runs, so a
# sub-expression of them can be computed by statements placed just before.
_ONCE_FIELDS = {
    ast.Assign: "value",
    ast.AugAssign: "value",
    ast.AnnAssign: "value",
    ast.Expr: "value",
    ast.Return: "value",
    ast.If: "test",
    ast.For: "iter",
}


def _find_in(parent: ast.AST, pred) -> tuple[ast.AST, str, int | None, ast.AST] | None:
    """First sub-expression matching pred that is evaluated unconditionally, exactly once."""
    for name, val in ast.iter_fields(parent):
        children = (
            [(None, val)]
            if isinstance(val, ast.AST)
            else (list(enumerate(val)) if isinstance(val, list) else [])
        )
        for idx, child in children:
            if not isinstance(child, ast.expr):
                continue
            if pred(child):
                return parent, name, idx, child
            if isinstance(child, _OPAQUE):
                continue  # conditional or repeated evaluation: hoisting would change order
            found = _find_in(child, pred)
            if found:
                return found
    return None


def _sites(fn: ast.FunctionDef, pred):
    """(block, index, statement, parent, field, list index, node) for hoistable matches."""
    for node in ast.walk(fn):
        if isinstance(node, _OPAQUE):
            continue
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(node, attr, None)
            if not isinstance(block, list):
                continue
            for i, st in enumerate(block):
                field_name = _ONCE_FIELDS.get(type(st))
                value = getattr(st, field_name, None) if field_name else None
                if value is None:
                    continue
                if pred(value):
                    yield block, i, st, st, field_name, None, value
                    continue
                found = _find_in(value, pred) if not isinstance(value, _OPAQUE) else None
                if found:
                    yield (block, i, st, *found)


def _hoist(site, acc: str, prelude: list[ast.stmt]) -> None:
    """Replace the matched expression by ``acc`` and put ``prelude`` before its statement."""
    block, i, _st, parent, field_name, idx, _node = site
    ref = ast.Name(acc, ast.Load())
    if idx is None:
        setattr(parent, field_name, ref)
    else:
        getattr(parent, field_name)[idx] = ref
    block[i:i] = prelude


def comprehension_to_loop(fn: ast.FunctionDef) -> bool:
    """A list/set/dict comprehension -> an explicit loop with append/add/[]= before the
    statement that uses it (only where it is evaluated unconditionally, exactly once)."""
    names = _Names(fn)
    for site in list(
        _sites(fn, lambda e: isinstance(e, (ast.ListComp, ast.SetComp, ast.DictComp)))
    ):
        value = site[-1]
        if any(g.is_async for g in value.generators) or _comp_targets_leak(fn, value):
            continue
        acc = names.new("result", "acc", "out", "collected")
        if isinstance(value, ast.ListComp):
            init, add = "[]", _stmt(f"{acc}.append(_E)")
        elif isinstance(value, ast.SetComp):
            init, add = "set()", _stmt(f"{acc}.add(_E)")
        else:
            init, add = "{}", _stmt(f"{acc}[_K] = _E")
        _fill(add[0], value)
        prelude = _stmt(f"{acc} = {init}") + _loop_over(value, add)
        _hoist(site, acc, prelude)
        return True
    return False


def _fill(stmt: ast.stmt, comp) -> None:
    """Put the comprehension's element expression(s) where the _E / _K placeholders are."""
    for node in ast.walk(stmt):
        for field_name, val in ast.iter_fields(node):
            if isinstance(val, ast.Name) and val.id in ("_E", "_K"):
                if isinstance(comp, ast.DictComp):
                    repl = comp.value if val.id == "_E" else comp.key
                else:
                    repl = comp.elt
                setattr(node, field_name, repl)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if isinstance(item, ast.Name) and item.id == "_E":
                        val[k] = comp.value if isinstance(comp, ast.DictComp) else comp.elt


def _is_builtin_call(value, name: str, nargs: int) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == name
        and len(value.args) == nargs
        and not value.keywords
        and not any(isinstance(a, ast.Starred) for a in value.args)
    )


def sum_to_loop(fn: ast.FunctionDef) -> bool:
    """``x = sum(it)`` -> ``acc = 0; for v in it: acc += v`` (generator bodies inlined)."""
    names = _Names(fn)
    for site in list(_sites(fn, lambda e: _is_builtin_call(e, "sum", 1))):
        arg = site[-1].args[0]
        acc = names.new("total", "acc", "result")
        if (
            isinstance(arg, ast.GeneratorExp)
            and not _comp_targets_leak(fn, arg)
            and not any(g.is_async for g in arg.generators)
        ):
            add = _stmt(f"{acc} += _E")
            _fill(add[0], arg)
            loop: list[Any] = _loop_over(arg, add)
        else:
            item = names.new("value", "item", "elem")
            loop = _stmt(f"for {item} in _IT:\n    {acc} += {item}")
            loop[0].iter = arg
        _hoist(site, acc, _stmt(f"{acc} = 0") + loop)
        return True
    return False


def minmax_to_loop(fn: ast.FunctionDef) -> bool:
    """``x = max(it)`` / ``min(it)`` (one argument) -> an explicit scan with the same errors."""
    names = _Names(fn)
    for site in list(
        _sites(fn, lambda e: _is_builtin_call(e, "max", 1) or _is_builtin_call(e, "min", 1))
    ):
        value = site[-1]
        which = value.func.id
        it, best, item = names.new("it"), names.new("best"), names.new("value", "item")
        op = ">" if which == "max" else "<"
        prelude = _stmt(
            f"{it} = iter(_ARG)\n"
            f"try:\n    {best} = next({it})\n"
            f"except StopIteration:\n"
            f"    raise ValueError('{which}() arg is an empty sequence') from None\n"
            f"for {item} in {it}:\n    if {item} {op} {best}:\n        {best} = {item}\n"
        )
        prelude[0].value.args[0] = value.args[0]
        _hoist(site, best, prelude)
        return True
    return False


def join_to_concat(fn: ast.FunctionDef) -> bool:
    """``x = "sep".join(parts)`` -> a ``+=`` loop building the string."""
    names = _Names(fn)

    def is_join(e: ast.expr) -> bool:
        return (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Attribute)
            and e.func.attr == "join"
            and isinstance(e.func.value, ast.Constant)
            and isinstance(e.func.value.value, str)
            and len(e.args) == 1
            and not e.keywords
            and not isinstance(e.args[0], ast.Starred)
        )

    for site in list(_sites(fn, is_join)):
        value = site[-1]
        sep = value.func.value.value
        acc, part = names.new("text", "acc", "result"), names.new("part", "piece")
        if sep:
            idx = names.new("idx", "pos")
            loop = _stmt(
                f"for {idx}, {part} in enumerate(_IT):\n"
                f"    if {idx}:\n        {acc} += {sep!r}\n"
                f"    {acc} += {part}\n"
            )
            loop[0].iter.args[0] = value.args[0]
        else:
            loop = _stmt(f"for {part} in _IT:\n    {acc} += {part}\n")
            loop[0].iter = value.args[0]
        _hoist(site, acc, _stmt(f"{acc} = ''") + loop)
        return True
    return False


def enumerate_to_range_len(fn: ast.FunctionDef) -> bool:
    """``for i, x in enumerate(seq):`` -> ``for i in range(len(seq)): x = seq[i]``."""
    for node in ast.walk(fn):
        if not (isinstance(node, ast.For) and _is_builtin_call(node.iter, "enumerate", 1)):
            continue
        # Typed loosely: the checks just below establish the node shapes mypy cannot follow.
        call: Any = node.iter
        target: Any = node.target
        if not (
            isinstance(call.args[0], ast.Name)
            and isinstance(target, ast.Tuple)
            and len(target.elts) == 2
            and all(isinstance(e, ast.Name) for e in target.elts)
        ):
            continue
        seq = call.args[0].id
        rebinds = any(
            isinstance(n, ast.Name) and n.id == seq and isinstance(n.ctx, ast.Store)
            for b in node.body
            for n in ast.walk(b)
        )
        if rebinds:
            continue
        i_name, x_name = (e.id for e in target.elts if isinstance(e, ast.Name))
        node.target = ast.Name(i_name, ast.Store())
        node.iter = _stmt(f"range(len({seq}))")[0].value
        node.body[0:0] = _stmt(f"{x_name} = {seq}[{i_name}]")
        return True
    return False


def set_literal_to_list(fn: ast.FunctionDef) -> bool:
    """``x in {"a", "b", ...}`` (constant set) -> ``x in ["a", "b", ...]`` (a linear scan)."""
    changed = False
    for node in ast.walk(fn):
        if not isinstance(node, ast.Compare):
            continue
        for k, (op, comp) in enumerate(zip(node.ops, node.comparators, strict=True)):
            if (
                isinstance(op, (ast.In, ast.NotIn))
                and isinstance(comp, ast.Set)
                and len(comp.elts) >= 3
                and all(isinstance(e, ast.Constant) for e in comp.elts)
            ):
                node.comparators[k] = ast.List(elts=comp.elts, ctx=ast.Load())
                changed = True
    return changed


def dict_get_to_ifelse(fn: ast.FunctionDef) -> bool:
    """``d.get(k, default)`` -> ``d[k] if k in d else default`` (k, default: names/constants)."""
    simple = (ast.Name, ast.Constant)

    class _T(ast.NodeTransformer):
        done = False

        def visit_Call(self, node):
            self.generic_visit(node)
            if (
                not self.done
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and 1 <= len(node.args) <= 2
                and not node.keywords
                and all(isinstance(a, simple) for a in node.args)
            ):
                d, key = node.func.value, node.args[0]
                default = node.args[1] if len(node.args) == 2 else ast.Constant(None)
                self.done = True
                return ast.IfExp(
                    test=ast.Compare(left=key, ops=[ast.In()], comparators=[d]),
                    body=ast.Subscript(value=d, slice=key, ctx=ast.Load()),
                    orelse=default,
                )
            return node

    t = _T()
    t.visit(fn)
    return t.done


TRANSFORMS: dict[str, Callable[[ast.FunctionDef], bool]] = {
    "comprehension_to_loop": comprehension_to_loop,
    "sum_to_loop": sum_to_loop,
    "minmax_to_loop": minmax_to_loop,
    "join_to_concat": join_to_concat,
    "enumerate_to_range_len": enumerate_to_range_len,
    "set_literal_to_list": set_literal_to_list,
    "dict_get_to_ifelse": dict_get_to_ifelse,
}


def deoptimize(fn: ast.FunctionDef, transform: str) -> str | None:
    """Source of the slower form of ``fn`` under one transform, or None if it does not apply.

    ``transform`` is a :data:`TRANSFORMS` name, or several joined by ``+`` (applied in order;
    None unless every one of them changes something).
    """
    work = copy.deepcopy(fn)
    for name in transform.split("+"):
        if name not in TRANSFORMS:
            raise KeyError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        if not TRANSFORMS[name](work):
            return None
    ast.fix_missing_locations(work)
    src = ast.unparse(work)
    compile(src, "<deopt>", "exec")  # a transform bug must fail loudly, not write bad data
    return src + "\n"


# ---------------------------------------------------------------- inputs and verification

_POOL = [
    0,
    1,
    2,
    3,
    7,
    10,
    -1,
    "",
    "a",
    "abc",
    "Hello World",
    "a,b;c d",
    "  x\ty  \n",
    "foo_bar-baz",
    "A1b2C3",
    "3.14",
    [],
    [1, 2, 3],
    [3, 1, 2, 2],
    ["a", "bb", "c"],
    (1, 2),
    ("x", "y"),
    {"a": 1, "b": 2},
    None,
    True,
    False,
    1.5,
    b"abc",
    [[1, 2], [2, 3]],
    [["a", "b"], ["b", "c"]],
    [0, 1, 0],
    [True, False, True],
    {"HTTPS": "on"},
    {"x": "1", "y": ""},
    ["x", "y", "z"],
    "1.2.3",
    [(1, "a"), (2, "b")],
]


def _fuzz_inputs(cand: Candidate, rng: random.Random, n: int = 150) -> list[str]:
    out: set[str] = set()
    for _ in range(n * 3):
        k = rng.randint(cand.n_required, cand.n_params)
        args = tuple(rng.choice(_POOL) for _ in range(k))
        out.add(repr(args))
        if len(out) >= n:
            break
    return sorted(out)


def build_deoptimized_pairs(
    *,
    seed: int = 0,
    stdlib_dir: Path | None = None,
    max_modules: int | None = None,
    max_inputs: int = 6,
    call_timeout_s: float = 0.25,
) -> tuple[list[CodePair], dict]:
    """Verified (slow, real fast) pairs and stats (counts at every stage)."""
    cands = extract_candidates(stdlib_dir, max_modules=max_modules)
    stats: dict[str, Any] = {
        "candidates": len(cands),
        "functions_with_inputs": 0,
        "functions_used": 0,
        "pairs_by_transform": {},
        "rejected_by_transform": {},
    }
    # Which transforms apply, before spending any execution on a function.
    applicable: list[tuple[Candidate, str, str, str]] = []
    for c in cands:
        fast = ast.unparse(c.node) + "\n"
        singles = []
        for tname in TRANSFORMS:
            slow = deoptimize(c.node, tname)
            if slow is not None and slow != fast:
                applicable.append((c, tname, slow, fast))
                singles.append(tname)
        if len(singles) >= 2:  # all of them at once: a further, more distant slow form
            combo = "+".join(singles)
            slow = deoptimize(c.node, combo)
            if slow is not None:
                applicable.append((c, combo, slow, fast))
    useful = {id(c): c for c, *_ in applicable}
    rng = random.Random(f"perfrl-deopt:{seed}")
    fuzz = {key: _fuzz_inputs(c, rng) for key, c in useful.items()}
    keys = list(useful)
    jobs = [CallJob(ast.unparse(useful[k].node), useful[k].name, fuzz[k]) for k in keys]
    results = run_calls(jobs, call_timeout_s=call_timeout_s) if jobs else []
    good_inputs: dict[int, list[str]] = {}
    for key, outcomes in zip(keys, results, strict=True):
        ok = [(a, o) for a, o in zip(fuzz[key], outcomes, strict=True) if o.ok and o.literal]
        distinct = {o.value_repr for _, o in ok}
        if len(ok) >= 2 and len(distinct) >= 2:
            # Prefer inputs with different outputs: they tell more about behaviour.
            chosen, seen = [], set()
            for a, o in ok:
                if o.value_repr not in seen:
                    chosen.append(a)
                    seen.add(o.value_repr)
            good_inputs[key] = chosen[:max_inputs]
    stats["functions_with_inputs"] = len(good_inputs)
    todo = [(c, t, s, f) for c, t, s, f in applicable if id(c) in good_inputs]
    jobs = []
    for c, _t, slow, fast in todo:
        jobs.append(CallJob(fast, c.name, good_inputs[id(c)]))
        jobs.append(CallJob(slow, c.name, good_inputs[id(c)]))
    results = run_calls(jobs, call_timeout_s=call_timeout_s * 4) if jobs else []
    pairs: list[CodePair] = []
    used = set()
    for k, (c, tname, slow, fast) in enumerate(todo):
        fast_out, slow_out = results[2 * k], results[2 * k + 1]
        if not all(a.ok and same_behaviour(a, b) for a, b in zip(fast_out, slow_out, strict=True)):
            stats["rejected_by_transform"][tname] = stats["rejected_by_transform"].get(tname, 0) + 1
            continue
        used.add((c.module, c.name))
        stats["pairs_by_transform"][tname] = stats["pairs_by_transform"].get(tname, 0) + 1
        uid = zlib.crc32(f"{c.module}.{c.name}:{tname}".encode())
        pairs.append(
            CodePair(
                id=f"deopt-{c.module}-{c.name}-{tname}-{uid:08x}",
                origin="deoptimized",
                idiom=tname,
                slow=slow,
                fast=fast,
                entry=c.name,
                inputs=good_inputs[id(c)],
                split="train",
                meta={
                    "module": c.module,
                    "function": c.name,
                    "lineno": c.lineno,
                    "transform": tname,
                    "expected": [o.value_repr for o in fast_out],
                },
            )
        )
    stats["functions_used"] = len(used)
    stats["pairs"] = len(pairs)
    return pairs, stats
