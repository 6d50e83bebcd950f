"""Outputs that put an object of an unhashable project class into a set or a dict: certain
``TypeError``, dropped before the verifier.

A model that learned "make a set, test against it" applies it to the wrong value: ``if order
in customer_ids_set`` where ``order`` is an ``Order`` dataclass (which compares by value and
so has no hash). 41 of EDITR16's failures on the held-out projects were ``unhashable type``.
Such an output fails as soon as the line runs; dropped early, it is drawn again.

The rule is narrow. A name's class comes from
:func:`perfrl.sources.class_attributes.typed_names` (a method's ``self``, a parameter annotated
with a known project class, a loop target over a collection annotated with one); the class must
be known unhashable (:attr:`~perfrl.sources.class_attributes.KnownClass.hashable`). Such a
name, itself (not an attribute of it), is an *unhashable use* when the output tests it with
``in`` / ``not in`` against a set or a dict, adds it to a set, subscripts a dict with it, or
writes it into a set display or comprehension or as a dict display's or comprehension's key.
(The items of ``records: list[dict]`` are dicts: no hash either.) A set or a dict is a local
the output binds only to a set or dict display or comprehension, or a call of ``set``,
``frozenset`` or ``dict``, or a parameter annotated as one. A use the original function makes
too is the original's to keep.

A caller may rely on :func:`unhashable_uses` naming only what the rule covers.
"""

from __future__ import annotations

import ast

from perfrl.engine.candidate_text import FunctionNode
from perfrl.sources.class_attributes import KnownClass, typed_names

#: Why such an output was dropped, in the source's note.
UNHASHABLE_KEY = "puts an unhashable object into a set or a dict"

_HASHED_BUILDERS = (ast.Set, ast.SetComp, ast.Dict, ast.DictComp)
_HASHED_CALLS = frozenset({"set", "frozenset", "dict"})
_HASHED_ANNOTATIONS = frozenset({"set", "Set", "frozenset", "FrozenSet", "dict", "Dict",
                                 "AbstractSet", "Mapping", "MutableMapping"})


def _builds_hashed(value: ast.expr | None) -> bool:
    return isinstance(value, _HASHED_BUILDERS) or (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
        and value.func.id in _HASHED_CALLS)


def _annotated_hashed(annotation: ast.expr | None) -> bool:
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute):
        return annotation.attr in _HASHED_ANNOTATIONS
    return isinstance(annotation, ast.Name) and annotation.id in _HASHED_ANNOTATIONS


def _hashed_locals(function: FunctionNode) -> set[str]:
    """Names ``function`` binds only to sets and dicts (or takes as parameters annotated so)."""
    args = function.args
    verdicts = {arg.arg: _annotated_hashed(arg.annotation)
                for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    assigned: set[int] = set()
    for node in ast.walk(function):
        targets: list[ast.expr]
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                assigned.add(id(target))
                verdicts[target.id] = verdicts.get(target.id, True) and _builds_hashed(value)
    # Any other binding (a loop or ``with`` target, a walrus, ``del``...): not known.
    for node in ast.walk(function):
        if (isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))
                and id(node) not in assigned):
            verdicts[node.id] = False
    return {name for name, ok in verdicts.items() if ok}


def _uses(function: FunctionNode, typed: set[str], hashed: set[str]) -> set[str]:
    """The unhashable uses of ``typed`` names in ``function``, as short descriptions."""
    found = set()

    def is_typed(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in typed

    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if (isinstance(op, (ast.In, ast.NotIn)) and is_typed(left)
                        and isinstance(right, ast.Name) and right.id in hashed):
                    found.add(f"{left.id} in {right.id}")  # type: ignore[attr-defined]
                left = right
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "add" and isinstance(node.func.value, ast.Name)
              and node.func.value.id in hashed and len(node.args) == 1
              and is_typed(node.args[0])):
            found.add(f"{node.func.value.id}.add({node.args[0].id})")  # type: ignore[attr-defined]
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
              and node.value.id in hashed and is_typed(node.slice)):
            found.add(f"{node.value.id}[{node.slice.id}]")  # type: ignore[attr-defined]
        elif isinstance(node, ast.Set):
            found.update(f"{{{e.id}}}" for e in node.elts if is_typed(e))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Dict):
            found.update(f"{{{k.id}: ...}}" for k in node.keys if k is not None and is_typed(k))  # type: ignore[attr-defined]
        elif isinstance(node, ast.SetComp) and is_typed(node.elt):
            found.add(f"{{{node.elt.id} for ...}}")  # type: ignore[attr-defined]
        elif isinstance(node, ast.DictComp) and is_typed(node.key):
            found.add(f"{{{node.key.id}: ... for ...}}")  # type: ignore[attr-defined]
    return found


def unhashable_uses(output: FunctionNode, original: FunctionNode | None,
                    classes: dict[str, KnownClass], own_class: str | None) -> list[str]:
    """Each unhashable use (the module's rule) ``output`` makes and ``original`` does not,
    sorted; empty when the output is fine or nothing is known."""
    unhashable = {name for name, known in classes.items() if not known.hashable}
    if not unhashable:
        return []
    typed = {name for name, cls in typed_names(output, classes, own_class).items()
             if cls in unhashable}
    if not typed:
        return []
    found = _uses(output, typed, _hashed_locals(output))
    if found and original is not None:
        original_typed = {name for name, cls in typed_names(original, classes, own_class).items()
                          if cls in unhashable}
        found -= _uses(original, original_typed, _hashed_locals(original))
    return sorted(found)
