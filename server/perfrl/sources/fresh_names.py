"""Names for the variables a model rewrite introduces.

An abstracting model writes a variable the input did not have as a fresh placeholder, and
:func:`perfrl.sources.abstraction.concretize` can only call it ``new_0``: the user would then
apply ``new_0 = set(carried)`` into their code. Here each such name is given one that says
what it holds, read from where it is first bound (``carried_set = set(carried)``,
``for product in products``), so the rewrite the user applies reads like code they would
write. A name is only changed when a rule knows what the value is; otherwise ``new_N``
stays (an honest placeholder beats a misleading name).

The renaming is a pure function of the candidate's text: it never changes what the code does
(the new name is unused anywhere in the function and is not a builtin, so no lookup of any
other name can resolve differently), and the verifier judges the renamed text.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re

from perfrl.sources.identifiers import rename_identifiers

#: The names concretize gives to placeholders the model introduced.
FRESH_NAME = re.compile(r"^new_\d+$")

_SET_MAKERS = {"set", "frozenset"}
_SORTERS = {"sorted"}
_COUNTERS = {"Counter"}


def name_fresh_variables(code: str, tree: ast.AST, original: ast.AST | None) -> str:
    """``code`` (one function's source, ``tree`` its parse) with each ``new_N`` variable that
    ``original`` (the parsed original function, None when unknown) does not have renamed
    after what it is first bound to, where a rule knows; ``code`` as it is when nothing is
    renamed. Takes parses rather than texts: candidate text is parsed once, by the engine's
    cleaning function (tests/engine/test_candidate_text.py holds every parse to that)."""
    original_names = _all_names(original) if original is not None else set()
    taken = _all_names(tree) | original_names | set(dir(builtins))
    # A keyword argument spelled like the variable (``f(new_0=...)``) names another
    # function's parameter; renaming tokens would rename it too, so such a name stays.
    keywords = {node.arg for node in ast.walk(tree) if isinstance(node, ast.keyword)}
    # Code may reach a variable by its spelling (``eval("new_0")``, ``locals()["new_0"]``):
    # a name written in any string stays, so renaming never changes what the code does.
    strings = [node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    mapping: dict[str, str] = {}
    for fresh, value in _first_bindings(tree).items():
        if fresh in original_names or fresh in keywords or any(fresh in s for s in strings):
            continue  # the user's own variable happens to be called new_N, or it is spelled
        wanted = _describe(value)
        if wanted is None:
            continue
        name = _unused(wanted, taken)
        if name is not None:
            mapping[fresh] = name
            taken.add(name)
    return rename_identifiers(code, mapping) if mapping else code


def _all_names(tree: ast.AST) -> set[str]:
    """Every identifier ``tree`` binds or reads: names, parameters, functions and classes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


class _Iterated:
    """Marks a loop variable: the value is one element of ``source``."""

    def __init__(self, source: ast.expr) -> None:
        self.source = source


def _first_bindings(tree: ast.AST) -> dict[str, ast.expr | _Iterated]:
    """For each fresh name, in order of appearance, what its first simple binding gives it:
    the assigned expression, or the iterable of the ``for`` (or comprehension) it names the
    element of. Names first bound any other way (tuple targets, ``with``) are left out."""
    found: dict[str, ast.expr | _Iterated] = {}
    seen: set[str] = set()
    positioned = [n for n in ast.walk(tree) if isinstance(n, (ast.stmt, ast.expr))]
    for node in sorted(positioned, key=lambda n: (n.lineno, n.col_offset)):
        target: ast.expr | None = None
        value: ast.expr | _Iterated | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            target, value = node.target, _Iterated(node.iter)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for generator in node.generators:
                if isinstance(generator.target, ast.Name):
                    _note(generator.target.id, _Iterated(generator.iter), found, seen)
            continue
        if isinstance(target, ast.Name):
            _note(target.id, value, found, seen)
        elif isinstance(node, ast.Name):
            seen.add(node.id)  # read (or bound some other way) before any simple binding
    return found


def _note(name: str, value, found: dict, seen: set[str]) -> None:
    if FRESH_NAME.match(name) and name not in seen:
        found[name] = value
    seen.add(name)


def _describe(value: ast.expr | _Iterated | None) -> str | None:
    """A name for what ``value`` holds, or None when no rule knows."""
    if isinstance(value, _Iterated):
        return _element_name(value.source)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        subject = _subject(value.args[0]) if value.args else None
        maker = value.func.id
        if maker in _SET_MAKERS and subject:
            return f"{subject}_set"
        if maker in _SORTERS and subject:
            return f"sorted_{subject}"
        if maker in _COUNTERS and subject:
            return f"{subject}_counts"
        if maker == "len" and subject:
            return f"{subject}_count"
        return None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if value.func.attr == "compile" and _subject(value.func.value) == "re":
            return "pattern"
        return None
    if isinstance(value, ast.SetComp):
        key = _field(value.elt)
        return f"{key}_set" if key else None
    if isinstance(value, ast.DictComp):
        key = _field(value.key)
        return f"by_{key}" if key else None
    if isinstance(value, ast.Attribute):
        # A bound method or attribute hoisted out of a loop: ``append = names.append``.
        owner = _subject(value.value)
        return f"{owner}_{value.attr}" if owner else value.attr
    return None


def _element_name(iterable: ast.expr) -> str | None:
    """The name of one element of ``iterable``: ``product`` for ``products``, ``index`` for
    ``range(...)``."""
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
        if iterable.func.id == "range":
            return "index"
        if iterable.func.id in ("sorted", "reversed", "list", "set") and iterable.args:
            return _element_name(iterable.args[0])
        return None
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):
        if iterable.func.attr in ("keys", "values") and not iterable.args:
            return iterable.func.attr[:-1]
        return None
    subject = _subject(iterable)
    if subject and len(subject) > 3 and subject.endswith("s") and not subject.endswith("ss"):
        return subject[:-1]
    return None


def _subject(node: ast.expr) -> str | None:
    """The plain name an expression is about: ``carried`` for ``carried`` and ``self.carried``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _field(node: ast.expr) -> str | None:
    """The field an element expression reads: ``sku`` for ``row["sku"]`` and ``row.sku``."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
        return key if isinstance(key, str) and key.isidentifier() else None
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _unused(wanted: str, taken: set[str]) -> str | None:
    """``wanted`` lower-cased, or with a number added, where that is a free identifier."""
    base = wanted.lower()
    if not base.isidentifier() or keyword.iskeyword(base) or FRESH_NAME.match(base):
        return None
    if base not in taken:
        return base
    for number in range(2, 10):
        candidate = f"{base}_{number}"
        if candidate not in taken:
            return candidate
    return None
