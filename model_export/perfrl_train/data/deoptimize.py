"""De-optimised real code: equivalent but slower rewrites of standard-library functions.

Pipeline (:func:`build_deoptimized_pairs`):

1. :func:`extract_candidates` parses the ``*.py`` files of a stdlib directory (packages
   included; tests, GUIs and site-packages excluded) and keeps
   module-level functions that are self-contained: plain positional parameters, no decorators,
   no generators/async/global/nonlocal, and every free name is either a harmless builtin or a
   module imported at module level from :data:`PURE_MODULES` or a module-level literal
   constant (that import or constant is then moved into the function body, so the function
   stands alone).
2. Each :data:`.deopt.TRANSFORMS` entry rewrites a copy of the AST into a slower equivalent
   form (comprehension -> append loop, sum/min/max -> loop, ``"sep".join`` -> ``+=`` loop,
   ``enumerate`` -> ``range(len())``, ``in {set literal}`` -> ``in [list]``, and the rest of
   :mod:`.deopt`). One pair per (function, transform) that changes something.
3. Inputs are found by fuzzing the ORIGINAL function with small literal values in a
   subprocess (see :mod:`.executor`); functions with fewer than two successful inputs are
   dropped. Both sides are then run on those inputs and the pair is kept only when every
   result is equal.

``any``/``all`` are deliberately not turned into loops: on CPython 3.11 a loop with ``break``
is as fast as ``any(genexpr)``, so such a "slow" side would teach the wrong direction (the
same for ``sum``/``min``/``max`` of a generator expression, and ``d.get`` -> if/else, which is
no slower).
"""

from __future__ import annotations

import ast
import builtins
import copy
import random
import sysconfig
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfrl.sources.abstraction import bound_names

from .deopt import TRANSFORMS, apply_transforms
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
    bound = bound_names(fn)
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
# The transforms live in the :mod:`.deopt` package (shared with the real-code pipeline,
# :mod:`.real_pairs`); this module keeps the self-contained stdlib candidates.


def deoptimize(fn: ast.FunctionDef, transform: str) -> str | None:
    """Source of the slower form of ``fn`` under one transform, or None if it does not apply.

    ``transform`` is a :data:`TRANSFORMS` name, or several joined by ``+`` (applied in order;
    None unless every one of them changes something).
    """
    work = apply_transforms(fn, transform.split("+"))
    if work is None:
        return None
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
