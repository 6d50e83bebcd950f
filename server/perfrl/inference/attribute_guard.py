"""Attributes a receiver's type has: a per-row check on ``vK.name`` for builtin containers.

The commonest failure of the edit models on the held-out projects is an attribute the
receiver cannot have (`'list' object has no attribute 'partition'`, `records.items()` on a
``list[dict]``): the model writes the attribute a loop of that shape usually has, on whatever
name. A function's signature often says what its parameters are (``v1: list[Payment]``); an
:class:`AttributeGuard` follows the text a row writes and refuses a token that would make
``vK.<word>`` spell a word no attribute of ``vK``'s type starts with, or end it where it is
not one. Decoding then takes the best token it accepts, as for the other guards
(:mod:`perfrl.inference.word_guard`).

Only parameters annotated as a builtin container or string (``list``, ``list[...]``,
``typing.List[...]``, ``dict``, ``set``, ``frozenset``, ``tuple``, ``str``, ``bytes``) are
guarded (:func:`receiver_types`); an optional one (``X | None``) or any other type is not. A
caller may rely on: a text whose guarded attributes all exist on their types being accepted
token by token, however it is cut into tokens; nothing but ``vK.attribute`` (optionally with
spaces around the dot) judged. Known limit: a parameter the output rebinds to another type
keeps its annotated type here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_CONTAINERS: dict[str, type] = {
    "list": list, "List": list, "dict": dict, "Dict": dict, "set": set, "Set": set,
    "frozenset": frozenset, "FrozenSet": frozenset, "tuple": tuple, "Tuple": tuple,
    "str": str, "bytes": bytes,
}
#: A placeholder, a dot, and the attribute word after it (open when it ends the text).
_ATTRIBUTE = re.compile(r"(?<![\w.])(v\d+)[ \t]*\.[ \t]*(\w*)")
#: How much of a row's text the guard keeps: a receiver, a dot and a long attribute name.
_KEPT = 80


def _type_name(annotation: ast.expr) -> str | None:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "typing":
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def receiver_types(function_text: str) -> dict[str, frozenset[str]]:
    """Each parameter of the (first) function in ``function_text`` annotated as a builtin
    container or string, with the attributes its type has; {} when the text does not parse."""
    try:
        tree = ast.parse(function_text)
    except (SyntaxError, ValueError):
        return {}
    function = next((n for n in tree.body
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    return {} if function is None else parameter_types(function)


def parameter_types(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, frozenset[str]]:
    """Each parameter of ``function`` annotated as a builtin container or string (see the
    module), with the attributes its type has."""
    args = function.args
    found = {}
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        name = None if arg.annotation is None else _type_name(arg.annotation)
        if name in _CONTAINERS:
            found[arg.arg] = frozenset(dir(_CONTAINERS[name]))
    return found


@dataclass
class AttributeState:
    """The last characters a row wrote (enough to see a receiver, its dot and attribute)."""

    tail: str = ""


class AttributeGuard:
    """Attributes of guarded receivers for one prompt, over a vocabulary's token texts."""

    def __init__(self, texts: Sequence[str], eos_id: int,
                 receivers: Mapping[str, frozenset[str]]) -> None:
        self._texts = texts
        self._eos_id = eos_id
        self._receivers = dict(receivers)
        self._prefixes = {name: {a[:i] for a in attributes for i in range(len(a) + 1)}
                          for name, attributes in self._receivers.items()}

    def _fits(self, before: str, after: str, ended: bool) -> bool:
        """Whether every guarded attribute the new text touches is (or can still become,
        while it ends an unfinished text) one its receiver has."""
        for match in _ATTRIBUTE.finditer(after):
            if match.end() < len(before):
                continue  # closed before this token, and judged then
            receiver, attribute = match.group(1), match.group(2)
            if receiver not in self._receivers:
                continue
            if match.end() == len(after) and not ended:
                if attribute not in self._prefixes[receiver]:
                    return False
            elif attribute not in self._receivers[receiver]:
                return False
        return True

    def start(self, prefix_tokens: Sequence[int] = ()) -> AttributeState:
        """The state after ``prefix_tokens`` (assumed valid)."""
        state = AttributeState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def accepts(self, state: AttributeState, token: int) -> bool:
        if not self._receivers:
            return True
        if token == self._eos_id:
            return self._fits(state.tail, state.tail, ended=True)
        return self._fits(state.tail, state.tail + self._texts[token], ended=False)

    def advance(self, state: AttributeState, token: int) -> None:
        """Move ``state`` past ``token`` (accepted, or forced: followed without judging)."""
        if token != self._eos_id:
            state.tail = (state.tail + self._texts[token])[-_KEPT:]
