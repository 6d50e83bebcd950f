"""Outputs that lost the function's result: certain to fail, dropped before the verifier.

The edit models sometimes replace a function's (or a loop region's) last lines with their
loop and drop the ``return`` that followed it (measured on the example's ``shelf_names``: 3-4
region rewrites per job ending in the old ``i = i + 1`` where ``return names`` was; 19 of 210
candidates on the held-out projects returned nothing). Such a rewrite returns ``None`` where
the original returns a value, so the tests or the behaviour check fail it, at the cost of a
sandboxed test run; dropped early, it is drawn again.

The rule is narrow: the original's own body (not a nested function, lambda or class) holds a
``return`` of something other than ``None`` and no ``yield``, and the rewrite's own body holds
neither a ``return`` of a value nor a ``yield``.

A caller may rely on :func:`loses_result` being true only under that rule.
"""

from __future__ import annotations

import ast

from perfrl.engine.candidate_text import FunctionNode

#: Why such an output was dropped, in the source's note.
LOST_RESULT = "returns nothing where the function returns a value"

_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(function: FunctionNode):
    """The nodes of ``function``'s body outside nested functions, lambdas and classes."""
    stack: list[ast.AST] = [node for node in function.body if not isinstance(node, _OWN_SCOPES)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node)
                     if not isinstance(child, _OWN_SCOPES))


def _gives_a_value(function: FunctionNode) -> bool | None:
    """True when ``function`` returns a value somewhere (a ``return`` of anything but
    ``None``), None when it is a generator (its result is not what ``return`` says), else
    False."""
    found = False
    for node in _own_nodes(function):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return None
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            found = True
    return found


def loses_result(output: FunctionNode, original: FunctionNode | None) -> bool:
    """Whether ``output`` returns nothing while ``original`` returns a value (the module's
    rule)."""
    if original is None or _gives_a_value(original) is not True:
        return False
    return _gives_a_value(output) is False
