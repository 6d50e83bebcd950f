"""Signs that a candidate reaches for what judges it instead of rewriting the function.

The verifier's evidence does not depend on these signs: timing comes from outside the
candidate's process and every outcome is checked, so a candidate that bends the clock, slows
the original or looks for the recorded results gains nothing (issue 12). What the signs add
is a *name* for the attempt: a candidate caught at it is never ``faster``, and RRHF's reward
gives it no more than a rewrite that fails (``perfrl_train.reward``), not the reward of an
honest rewrite that merely is not faster.

A caller may rely on:

- :func:`static_signs` reading source text only (nothing runs) and naming only what the
  candidate's function uses and the original's does not: imports of modules that reach the
  clock, the interpreter, other processes or files (:data:`SUSPECT_MODULES`); the built-ins
  that run or open things (:data:`SUSPECT_NAMES`); the attributes that reach into code
  objects, frames and namespaces (:data:`SUSPECT_ATTRIBUTES`); the interpreter's own state
  (:data:`SUSPECT_DOTTED`); and assignments to attributes of a module;
- :func:`runtime_signs` naming what the candidate's worker reported as replaced since it
  started (the built-ins and the ``time`` module's clocks, see ``perfrl_worker``) and the
  original's worker did not: a process that hides this can still not bend the evidence;
- both returning ``[]`` for an honest rewrite: an algorithmic rewrite has no use for any of
  these (a function that needs ``os`` or ``open`` already uses them in the original).
"""

from __future__ import annotations

import ast

#: Modules (top-level names) whose import inside a rewrite reaches beyond the function.
SUSPECT_MODULES = frozenset({
    "builtins", "time", "os", "glob", "pickle", "marshal", "shelve", "gc", "ctypes",
    "inspect", "signal", "subprocess", "socket", "importlib", "shutil", "threading",
    "multiprocessing", "resource", "atexit", "tracemalloc", "faulthandler", "_thread",
    "pathlib", "mmap", "fcntl", "sysconfig", "site", "runpy", "code", "types",
    "dis", "trace", "cProfile", "profile", "pdb", "perfrl_worker", "perfrl_canon",
    "perfrl_capture", "perfrl_inputs", "perfrl_protocol",
})
#: Modules of which only these names are plain computation: ``io.StringIO`` is the classic
#: honest rewrite of ``+=`` string building, while ``io.open`` reaches files.
HARMLESS_MEMBERS = {"io": frozenset({"StringIO", "BytesIO"})}
#: Built-in names that run code, open files or reach into namespaces.
SUSPECT_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "breakpoint", "vars",
    "__builtins__", "memoryview",
})
#: Attributes that reach into code objects, frames and function internals.
SUSPECT_ATTRIBUTES = frozenset({
    "__code__", "__globals__", "__builtins__", "__closure__", "__kwdefaults__",
    "__defaults__", "f_back", "f_globals", "f_locals", "f_code", "f_builtins", "tb_frame",
    "gi_frame", "cr_frame", "_getframe", "__subclasses__", "__loader__", "__spec__",
})
#: ``module.attribute`` spellings that read or change the interpreter's own state.
SUSPECT_DOTTED = frozenset({
    "sys.modules", "sys.argv", "sys.orig_argv", "sys._getframe", "sys.settrace",
    "sys.setprofile", "sys.monitoring", "sys.stdout", "sys.stderr", "sys.stdin",
    "sys.exit", "sys.path", "sys.meta_path", "sys.path_hooks", "sys.audit",
    "sys.addaudithook", "sys.setrecursionlimit", "sys.setswitchinterval", "sys.executable",
    "sys.flags", "os.environ",
})


def _uses(tree: ast.AST) -> set[str]:
    """What in :data:`SUSPECT_MODULES` etc. ``tree`` uses, as short phrases."""
    found: set[str] = set()
    imported_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                imported_modules.add(alias.asname or top)
                if top in SUSPECT_MODULES:
                    found.add(f"imports {top}")
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if top in SUSPECT_MODULES or node.level:
                found.add(f"imports from {top or 'a relative module'}")
            harmless = HARMLESS_MEMBERS.get(top)
            if harmless is not None and not node.level:
                found.update(f"imports {top}.{alias.name}" for alias in node.names
                             if alias.name not in harmless)
            if top == "sys":
                for alias in node.names:
                    if f"sys.{alias.name}" in SUSPECT_DOTTED:
                        found.add(f"uses sys.{alias.name}")
        elif isinstance(node, ast.Name) and node.id in SUSPECT_NAMES:
            found.add(f"uses {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr in SUSPECT_ATTRIBUTES:
                found.add(f"uses .{node.attr}")
            if isinstance(node.value, ast.Name):
                dotted = f"{node.value.id}.{node.attr}"
                if dotted in SUSPECT_DOTTED:
                    found.add(f"uses {dotted}")
                harmless = HARMLESS_MEMBERS.get(node.value.id)
                if harmless is not None and node.attr not in harmless:
                    found.add(f"uses {dotted}")
        elif isinstance(node, ast.Constant) and node.value in SUSPECT_ATTRIBUTES:
            # getattr(f, "__code__"): the same reach, spelled as text.
            found.add(f"names {node.value!r}")
    for node in ast.walk(tree):
        for target in _assigned(node):
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id in imported_modules | {"sys", "time", "builtins", "os"}:
                found.add(f"assigns {target.value.id}.{target.attr}")
    return found


def _assigned(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    return []


def static_signs(original_source: str | ast.AST, candidate_code: str | ast.AST) -> list[str]:
    """What the candidate's source reaches for that the original's does not (sorted; [] when
    nothing, or when either does not parse: the static check reports that). Either side may
    be given parsed already (the job's clean candidates carry their tree)."""
    try:
        candidate = ast.parse(candidate_code) if isinstance(candidate_code, str) \
            else candidate_code
        original = ast.parse(original_source) if isinstance(original_source, str) \
            else original_source
    except (SyntaxError, ValueError):
        return []
    return sorted(_uses(candidate) - _uses(original))


def runtime_signs(candidate_reported: object, original_reported: object) -> list[str]:
    """Names the candidate's worker reported replaced and the original's did not."""
    def names(reported: object) -> set[str]:
        if not isinstance(reported, list):
            return set()
        return {str(item)[:80] for item in reported[:50]}

    return sorted(names(candidate_reported) - names(original_reported))


def tampering_reason(static: list[str], runtime: list[str]) -> str:
    """The text for ``CandidateResult.tampering`` ("" when there is no sign)."""
    parts = []
    if runtime:
        parts.append("replaced " + ", ".join(runtime[:4]) + " in its process")
    if static:
        parts.append("; ".join(static[:4]))
    if not parts:
        return ""
    return "it reaches beyond the function: " + "; ".join(parts)
