"""Compare outcomes encoded by ``runtime/perfrl_canon.py`` as plain data, running no user code.

A caller may rely on :func:`diff_outcomes` / :func:`diff_values`:

- reading only JSON data (lists, strings, booleans) produced by a worker process; a tree of
  the wrong shape is a difference ("cannot be read"), never an exception;
- exact types: a tag or a type name that differs is a difference (``1`` is not ``1.0``,
  ``True`` is not ``1``, an ``int`` subclass is not an ``int``);
- floats (also inside complex numbers and numpy arrays of floats) equal within
  ``rel_tol``/``abs_tol``, NaN equal to NaN; set elements and dict keys compared exactly;
  dicts and sets compared regardless of order;
- a difference explained with its path inside the value and short renderings of both sides;

and on :func:`same_by_fingerprint`: True only when two outcomes as workers first send them
(fingerprints of the encodings, see ``perfrl_canon.fingerprint``) are certainly the same; a
False means "compare the full encodings", never "they differ".
"""

from __future__ import annotations

import json
import math
from typing import Any

_MAX_SHOWN = 160
_HEX_DIGITS_SHOWN = 400


class _Malformed(Exception):
    pass


def _float(text) -> float:
    if not isinstance(text, str):
        raise _Malformed("float")
    try:
        return float.fromhex(text)
    except (ValueError, OverflowError):
        raise _Malformed("float") from None


def _key(tree) -> str:
    return json.dumps(tree, sort_keys=True, separators=(",", ":"))


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def render(tree, depth: int = 0) -> str:
    """A short Python-like text for an encoded value (for messages only)."""
    try:
        return _clip(_render(tree, depth))
    except (_Malformed, TypeError, ValueError, IndexError, KeyError, RecursionError):
        return "<unreadable value>"


def _render_items(items, depth, limit=8) -> str:
    shown = [_render(item, depth + 1) for item in items[:limit]]
    if len(items) > limit:
        shown.append("...")
    return ", ".join(shown)


def _render(tree, depth) -> str:
    tag = tree[0]
    if depth > 3:
        return "..."
    if tag == "N":
        return "None"
    if tag == "b":
        return "True" if tree[1] else "False"
    if tag == "i":
        text = tree[1]
        if len(text) > _HEX_DIGITS_SHOWN:
            return f"<int of {len(text)} hex digits>"
        return str(int(text, 16))
    if tag == "f":
        return repr(_float(tree[1]))
    if tag == "c":
        return repr(complex(_float(tree[1]), _float(tree[2])))
    if tag == "s":
        return repr(tree[1][:200])
    if tag in ("y", "Y"):
        data = bytes.fromhex(tree[1][:400])
        return repr(data) if tag == "y" else f"bytearray({data!r})"
    if tag == "l":
        return "[" + _render_items(tree[1], depth) + "]"
    if tag == "t":
        inner = _render_items(tree[1], depth)
        return "(" + inner + ("," if len(tree[1]) == 1 else "") + ")"
    if tag == "d":
        pairs = [f"{_render(k, depth + 1)}: {_render(v, depth + 1)}" for k, v in tree[1][:6]]
        return "{" + ", ".join(pairs) + (", ..." if len(tree[1]) > 6 else "") + "}"
    if tag in ("S", "F"):
        inner = _render_items(tree[1], depth)
        return ("{" + inner + "}") if tag == "S" else f"frozenset({{{inner}}})"
    if tag == "r":
        return f"range({int(tree[1], 16)}, {int(tree[2], 16)}, {int(tree[3], 16)})"
    if tag == "sub":
        return f"{tree[1]}({_render(tree[2], depth + 1)})"
    if tag == "o":
        attrs = ", ".join(f"{name}={_render(value, depth + 1)}" for name, value in tree[2][:4])
        return f"{tree[1]}({attrs})"
    if tag == "x":
        return f"<{tree[1]} object>"
    if tag == "g":
        return f"<{tree[1]} {tree[2]}>"
    if tag == "a":
        return f"array({_render(tree[3], depth + 1)}, dtype={tree[1]})"
    if tag == "ns":
        return f"{tree[1]}({_render(tree[2], depth + 1)})"
    if tag == "k":
        return f"{tree[1]}({tree[2]})"
    if tag == "cyc":
        return "[...]"
    raise _Malformed(str(tag))


def type_label(tree) -> str:
    """The type an encoded value has, as a user reads it (``int``, ``pkg.mod.Thing``)."""
    try:
        tag = tree[0]
        simple = {
            "N": "NoneType",
            "b": "bool",
            "i": "int",
            "f": "float",
            "c": "complex",
            "s": "str",
            "y": "bytes",
            "Y": "bytearray",
            "l": "list",
            "t": "tuple",
            "d": "dict",
            "S": "set",
            "F": "frozenset",
            "r": "range",
            "a": "numpy.ndarray",
            "cyc": "a reference to an enclosing value",
        }
        if tag in simple:
            return simple[tag]
        if tag in ("sub", "o", "x", "ns", "k"):
            return str(tree[1])
        if tag == "g":
            return str(tree[1])
    except (TypeError, IndexError, KeyError):
        pass
    return "<unreadable>"


def describe(tree) -> str:
    return f"{render(tree)} ({type_label(tree)})"


class Comparator:
    def __init__(self, rel_tol: float, abs_tol: float) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol

    def floats_equal(self, a: float, b: float) -> bool:
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b or math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def diff(self, expected, got, path: str) -> str | None:
        try:
            return self._diff(expected, got, path, 0)
        except (_Malformed, TypeError, ValueError, IndexError, KeyError, AttributeError):
            return f"{path}: the candidate's value cannot be read"
        except RecursionError:
            return f"{path}: differs (too deeply nested to show where)"

    def _mismatch(self, expected, got, path) -> str:
        return f"{path}: expected {describe(expected)}, got {describe(got)}"

    def _diff(self, expected, got, path, depth):
        if not isinstance(got, list) or not got or not isinstance(got[0], str):
            raise _Malformed("node")
        if expected == got:
            return None
        tag = expected[0]
        if got[0] != tag:
            return self._mismatch(expected, got, path)
        if tag == "f":
            if self.floats_equal(_float(expected[1]), _float(got[1])):
                return None
            return f"{path}: expected {render(expected)}, got {render(got)}"
        if tag == "c":
            if self.floats_equal(_float(expected[1]), _float(got[1])) and self.floats_equal(
                _float(expected[2]), _float(got[2])
            ):
                return None
            return f"{path}: expected {render(expected)}, got {render(got)}"
        if tag in ("i", "b", "N", "r", "g", "x", "k", "cyc"):
            return f"{path}: expected {render(expected)}, got {render(got)}"
        if tag in ("s", "y", "Y"):
            return self._diff_text(expected[1], got[1], path, tag)
        if tag in ("l", "t"):
            return self._diff_sequence(expected[1], got[1], path, depth)
        if tag == "d":
            return self._diff_mapping(expected[1], got[1], path, depth)
        if tag in ("S", "F"):
            want = {_key(item): item for item in expected[1]}
            have = {_key(item): item for item in got[1]}
            if want.keys() == have.keys() and len(got[1]) == len(expected[1]):
                return None
            missing = [render(want[k]) for k in list(want.keys() - have.keys())[:3]]
            extra = [render(have[k]) for k in list(have.keys() - want.keys())[:3]]
            return (
                f"{path}: sets differ; missing {', '.join(missing) or 'nothing'}, "
                f"unexpected {', '.join(extra) or 'nothing'}"
            )
        if tag in ("sub", "o", "ns", "a"):
            if got[1] != expected[1]:
                return self._mismatch(expected, got, path)
            if tag == "o":
                return self._diff_state(expected[2], got[2], path, depth)
            if tag == "ns":
                return self._diff(expected[2], got[2], path, depth + 1)
            if tag == "a":
                if got[2] != expected[2]:
                    return (
                        f"{path}: expected an array of shape {tuple(expected[2])}, got shape "
                        f"{tuple(got[2])}"
                    )
                return self._diff(expected[3], got[3], path, depth + 1)
            found = self._diff(expected[2], got[2], path, depth + 1)
            return found or self._diff_state(expected[3], got[3], path, depth)
        raise _Malformed(tag)

    def _diff_text(self, expected, got, path, tag):
        if not isinstance(got, str):
            raise _Malformed("text")
        if tag != "s":
            expected, got = bytes.fromhex(expected), bytes.fromhex(got)
        index = next(
            (i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
            min(len(expected), len(got)),
        )
        start = max(0, index - 20)
        return (
            f"{path}: differs at index {index} (lengths {len(expected)} and {len(got)}): "
            f"expected {_clip(repr(expected[start : index + 40]))}, "
            f"got {_clip(repr(got[start : index + 40]))}"
        )

    def _diff_sequence(self, expected, got, path, depth):
        if not isinstance(got, list):
            raise _Malformed("items")
        if len(expected) != len(got):
            return (
                f"{path}: expected {len(expected)} items, got {len(got)}: "
                f"expected {_clip(_render_items(expected, 1))}, got {_clip(_render_items(got, 1))}"
            )
        for index, (a, b) in enumerate(zip(expected, got)):
            found = self._diff(a, b, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None

    def _diff_mapping(self, expected, got, path, depth):
        if not isinstance(got, list):
            raise _Malformed("pairs")
        want = {_key(k): (k, v) for k, v in expected}
        have = {}
        for pair in got:
            if not isinstance(pair, list) or len(pair) != 2:
                raise _Malformed("pair")
            have[_key(pair[0])] = (pair[0], pair[1])
        if want.keys() != have.keys() or len(got) != len(expected):
            missing = [render(want[k][0]) for k in want if k not in have][:3]
            extra = [render(have[k][0]) for k in have if k not in want][:3]
            return (
                f"{path}: keys differ; missing {', '.join(missing) or 'none'}, "
                f"unexpected {', '.join(extra) or 'none'}"
            )
        for key, (k, v) in want.items():
            found = self._diff(v, have[key][1], f"{path}[{render(k)}]", depth + 1)
            if found:
                return found
        return None

    def _diff_state(self, expected, got, path, depth):
        if not isinstance(got, list):
            raise _Malformed("state")
        want = {name: value for name, value in expected}
        have = {}
        for pair in got:
            if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str):
                raise _Malformed("attribute")
            have[pair[0]] = pair[1]
        if want.keys() != have.keys():
            missing = [k for k in want if k not in have][:3]
            extra = [k for k in have if k not in want][:3]
            return (
                f"{path}: attributes differ; missing {', '.join(missing) or 'none'}, "
                f"unexpected {', '.join(extra) or 'none'}"
            )
        for name, value in want.items():
            label = f"{path}.args" if name == "(args)" else f"{path}.{name}"
            found = self._diff(value, have[name], label, depth + 1)
            if found:
                return found
        return None


def diff_outcomes(
    comparator: Comparator,
    expected: dict,
    got,
    parameter_names: list[str],
    who: str = "the candidate",
) -> str | None:
    """Explain how outcome ``got`` (from a worker, untrusted) differs from ``expected``."""
    if not isinstance(got, dict) or got.get("kind") not in ("return", "raise", "unencodable"):
        return f"{who}'s outcome cannot be read"
    if got["kind"] == "unencodable":
        return f"{who}'s result cannot be compared: {str(got.get('why', ''))[:200]}"
    if expected["kind"] == "raise":
        if got["kind"] == "return":
            return (
                f"the original raised {expected['type']}: {expected.get('message', '')}; "
                f"{who} returned {describe(got.get('value'))}"
            )
        if got.get("type") != expected["type"]:
            message = str(got.get("message", ""))[:200]
            return (
                f"the original raised {expected['type']}: {expected.get('message', '')}; "
                f"{who} raised {got.get('type')}" + (f": {message}" if message else "")
            )
    elif got["kind"] == "raise":
        message = str(got.get("message", ""))[:200]
        return (
            f"the original returned {describe(expected.get('value'))}; {who} raised "
            f"{got.get('type')}" + (f": {message}" if message else "")
        )
    else:
        found = comparator.diff(expected.get("value"), got.get("value"), "the result")
        if found:
            return found
    if "args_after" not in expected:
        return None
    # Either may be any decoded JSON: what is not the expected shape fails below.
    want: Any = expected.get("args_after")
    have: Any = got.get("args_after")
    if want is None:
        return None
    try:
        (want_args, want_kwargs), (have_args, have_kwargs) = want[1], have[1]
        pairs = [
            (parameter_names[i] if i < len(parameter_names) else f"argument #{i}", a, b)
            for i, (a, b) in enumerate(zip(want_args[1], have_args[1]))
        ]
        have_map = {_key(k): v for k, v in have_kwargs[1]}
        pairs += [
            (render(k).strip("'"), v, have_map.get(_key(k), ["N"])) for k, v in want_kwargs[1]
        ]
    except (TypeError, ValueError, IndexError, KeyError):
        return f"{who}'s arguments after the call cannot be read"
    for name, a, b in pairs:
        found = comparator.diff(a, b, name)
        if found:
            return f"after the call, {found} (the arguments are changed differently)"
    return None


def diff_values(comparator: Comparator, expected, got, path: str = "the result") -> str | None:
    return comparator.diff(expected, got, path)


def _is_fingerprint(value) -> bool:
    return isinstance(value, str) and value[:2] in ("p:", "c:") and len(value) == 66


def same_by_fingerprint(expected, got, with_args: bool = True) -> bool:
    """True when outcome ``got`` (untrusted) certainly matches ``expected`` by fingerprints:
    the same kind, the same exception type or value fingerprint, and (``with_args``, where
    ``expected`` has one) the same fingerprint of the arguments after the call."""
    if not isinstance(expected, dict) or not isinstance(got, dict):
        return False
    kind = expected.get("kind")
    if kind != got.get("kind"):
        return False
    if kind == "return":
        digest = expected.get("digest")
        if not _is_fingerprint(digest) or got.get("digest") != digest:
            return False
    elif kind == "raise":
        if not isinstance(expected.get("type"), str) or got.get("type") != expected["type"]:
            return False
    else:
        return False
    if with_args and "args_digest" in expected:
        args = expected["args_digest"]
        return _is_fingerprint(args) and got.get("args_digest") == args
    return True
