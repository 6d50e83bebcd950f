"""Outputs with a ``while`` loop that can never end once entered: dropped before the verifier.

Turning an index ``while`` loop into something else, the shipped model sometimes keeps the
``while`` and drops its increment (``while i < len(products):`` with nothing in the body
changing ``i``). Every test that enters the loop then runs until the sandbox's time limit (7
of the 40 candidates of the example's ``shelf_names`` over 8 seeds, 20 s of sandbox each);
dropped early, the output is drawn again.

The rule is narrow, so that it never drops a loop that could end: the condition reads only
names, constants, operators and ``len()`` of names; nothing in the body can end the loop
(``break``, ``return``, ``raise``, ``yield``, ``await``) or change what the condition reads:
none of its names is assigned, deleted, declared ``global``/``nonlocal``, passed to a call
(but for ``names.append(i)`` on a list, set or dict the function made itself: those keep their
argument as it is), used as a call's receiver (``items.pop()``) or written through
(``items[k] = ...``), under its own name or any name the function gives it (``rows =
items``); each is a local of the function (a global may change in any call) that no nested
function or lambda reads and no ``locals()``, ``vars()``, ``exec`` or ``eval`` can reach. A
loop the inputs never enter is dead code that a faster rewrite has no use for either.

A caller may rely on :func:`endless_loop` returning the line of the first such loop, or None.
"""

from __future__ import annotations

import ast

from perfrl.engine.candidate_text import FunctionNode
from perfrl.sources.unbound_names import scope_bindings

#: Why such an output was dropped, in the source's note.
ENDLESS_LOOP = "a while loop nothing in it can end"

_ENDING = (ast.Break, ast.Return, ast.Raise, ast.Yield, ast.YieldFrom, ast.Await)
_CONDITION_NODES = (ast.Name, ast.Constant, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp,
                    ast.Load, ast.cmpop, ast.boolop, ast.unaryop, ast.operator)


def _condition_names(test: ast.expr) -> set[str] | None:
    """The names the condition reads, or None when it holds anything beyond the rule's
    (a call other than ``len(name)``, an attribute, a subscript...)."""
    names = set()
    for node in ast.walk(test):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "len"
                    and len(node.args) == 1 and not node.keywords
                    and isinstance(node.args[0], ast.Name)):
                return None
            continue
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif not isinstance(node, _CONDITION_NODES):
            return None
    return names - {"len"}


#: Methods of a list, set or dict that keep their argument as it is (they store it).
_STORING_METHODS = frozenset({"append", "add", "insert"})
_DISPLAYS = (ast.List, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp)


def _fresh_containers(function: FunctionNode) -> set[str]:
    """Locals (not parameters) every binding of which is a list, set or dict display or
    comprehension (``names = []``): their ``append``/``add``/``insert`` cannot change the
    argument."""
    displays: dict[str, bool] = {}
    direct: set[int] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            direct.add(id(node.targets[0]))
            name = node.targets[0].id
            displays[name] = displays.get(name, True) and isinstance(node.value, _DISPLAYS)
    rebound = {node.id for node in ast.walk(function)
               if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del))
               and id(node) not in direct}
    args = function.args
    parameters = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                  args.vararg, args.kwarg) if a is not None}
    return {name for name, only in displays.items() if only} - rebound - parameters


def _stores_only(call: ast.Call, fresh: set[str]) -> bool:
    """Whether ``call`` is ``c.append(x)`` (or add, insert) on a fresh container ``c``."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr in _STORING_METHODS
            and isinstance(func.value, ast.Name) and func.value.id in fresh)


def _may_change(body: list[ast.stmt], names: set[str], fresh: set[str]) -> bool:
    """Whether anything in ``body`` may end the loop or change one of ``names`` (``fresh``:
    see :func:`_fresh_containers`)."""
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, _ENDING):
                return True
            if isinstance(node, ast.Name) and node.id in names and not isinstance(
                    node.ctx, ast.Load):
                return True
            if isinstance(node, ast.Call) and not _stores_only(node, fresh - names) and any(
                    isinstance(arg, ast.Name) and arg.id in names
                    for arg in [*node.args, *(k.value for k in node.keywords)]):
                return True
            if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(
                    node.value, ast.Name) and node.value.id in names and (
                    not isinstance(node.ctx, ast.Load) or isinstance(node, ast.Attribute)):
                return True  # written through, or a method that may mutate it
            if isinstance(node, ast.Starred) and isinstance(node.value, ast.Name) \
                    and node.value.id in names:
                return True
    return False


def _aliases(function: FunctionNode, names: set[str]) -> set[str]:
    """``names`` with every name the function binds to one of them (``rows = items``), so
    that a change through the other name counts."""
    found = set(names)
    for _ in range(3):  # aliases of aliases, a few levels deep
        for node in ast.walk(function):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and isinstance(
                    node.value, ast.Name) and node.value.id in found:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return found


def _shared_with_nested_scopes(function: FunctionNode, names: set[str]) -> bool:
    """Whether a nested function or lambda reads one of ``names`` (a closure could change
    it when the loop calls it), or the function declares one ``global``/``nonlocal``, or
    reads its frame (``locals()``, ``vars()``, ``exec``, ``eval``)."""
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)) and names & set(node.names):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "locals", "vars", "exec", "eval"):
            return True
        if node is not function and isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and any(
                isinstance(inner, ast.Name) and inner.id in names for inner in ast.walk(node)):
            return True
    return False


def endless_loop(function: FunctionNode) -> int | None:
    """The line of the first ``while`` loop of ``function`` that can never end once entered
    (the module's rule), or None."""
    local_names = scope_bindings(function)
    for node in ast.walk(function):
        if not isinstance(node, ast.While):
            continue
        names = _condition_names(node.test)
        if not names or not names <= local_names:
            continue  # `while True:` ends by what the rule does not follow; a global may
            # be changed by any call
        watched = _aliases(function, names)
        if _shared_with_nested_scopes(function, watched):
            continue
        if not _may_change(node.body, watched, _fresh_containers(function)):
            return node.lineno
    return None
