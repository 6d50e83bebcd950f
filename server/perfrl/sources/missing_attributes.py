"""Outputs that take an attribute their parameter's declared type does not have: dropped
before the verifier.

The commonest failure of the shipped model on the held-out projects is an ``AttributeError``
(79 of 210 candidates in the fourteenth session's run; ``'list' object has no attribute
'items'`` alone 16): it writes the attribute a loop of that shape usually has, on whatever
name. Where the signature says what a parameter is (``records: list[dict]``), such an output
fails the tests or the behaviour check, at the cost of a sandboxed test run; dropped early, it
is drawn again. (The opt-in attribute guard, :mod:`perfrl.inference.attribute_guard`, keeps the
attribute from being written at all; measured, the model then mostly writes something else
that is wrong. Dropping asks for a fresh draw instead.)

The rule is narrow: a parameter annotated as a builtin container or string (the guard's
:func:`~perfrl.inference.attribute_guard.parameter_types`), which the output never rebinds
(no assignment, loop or ``with`` target, ``del``, and no nested function or lambda taking a
parameter of that name), read as ``name.attribute`` where that type has no such attribute
and the original function does not read the same attribute on it (an annotation that does
not tell the whole truth is the original's to keep).

A caller may rely on :func:`missing_attributes` naming only what the rule covers.
"""

from __future__ import annotations

import ast

from perfrl.engine.candidate_text import FunctionNode
from perfrl.inference.attribute_guard import parameter_types

#: Why such an output was dropped, in the source's note.
MISSING_ATTRIBUTE = "uses an attribute its parameter's type does not have"


def _rebound(function: FunctionNode) -> set[str]:
    """Names ``function`` binds anywhere after its own parameters (nested scopes included)."""
    names = {node.id for node in ast.walk(function)
             if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))}
    for node in ast.walk(function):
        if node is not function and isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            names.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                         args.vararg, args.kwarg) if a is not None)
    return names


def _attributes_read(function: FunctionNode, name: str) -> set[str]:
    return {node.attr for node in ast.walk(function)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == name}


def missing_attributes(output: FunctionNode, original: FunctionNode | None) -> list[str]:
    """``name.attribute`` for each attribute ``output`` reads that its parameter's declared
    type does not have (the module's rule), sorted."""
    rebound = _rebound(output)
    found: set[str] = set()
    for name, attributes in parameter_types(output).items():
        if name in rebound:
            continue
        allowed = attributes | (_attributes_read(original, name) if original else set())
        found.update(f"{name}.{attr}" for attr in _attributes_read(output, name) - allowed)
    return sorted(found)
