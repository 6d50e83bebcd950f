"""Fingerprints of outcomes (perfrl_canon.fingerprint): what workers send first, so the
engine decodes a full encoding only where two fingerprints differ. Equal fingerprints must
mean equal encodings; the plain-pickle shortcut must never let a subclass, a bytearray or an
object pass for plain data."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest

from perfrl.engine.canon_compare import Comparator, same_by_fingerprint
from perfrl.engine.runtime.perfrl_canon import encode, expand, fingerprint, plain_pickle


class Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class Text(str):
    pass


class Items(list):
    pass


class Point:
    def __init__(self, x):
        self.x = x


def _loop():
    items: list = []
    items.append(items)
    return items


#: Values that must all fingerprint differently from one another (their encodings differ).
DISTINCT = [
    1, True, 1.0, -0.0, 0.0, "1", b"1", bytearray(b"1"), Int(1), Text("1"), [1], Items([1]),
    (1,), {1}, frozenset({1}), {1: 1}, OrderedDict({1: 1}), None, complex(1, 0), range(1),
    Point(1), Point(2), [1, [2, (3, "x")]], {"a": [1.5, None]}, _loop(), float("nan"),
]


def test_distinct_values_get_distinct_fingerprints():
    prints = [fingerprint(value)[0] for value in DISTINCT]
    assert len(set(prints)) == len(prints)


@pytest.mark.parametrize("value", [Int(1), Text("a"), Items([1]), bytearray(b"x"), Point(1),
                                   OrderedDict(), complex(1, 2), range(3), len, int,
                                   [1, Int(2)], {"k": Point(1)}])
def test_only_exact_plain_data_takes_the_pickle_shortcut(value):
    assert plain_pickle(value) is None
    assert fingerprint(value)[0].startswith("c:")


@pytest.mark.parametrize("value", DISTINCT)
def test_what_is_kept_rebuilds_the_encoding(value):
    _, kept = fingerprint(value)
    assert isinstance(kept, (bytes, str))
    rebuilt = expand(kept)
    if isinstance(value, float) and math.isnan(value):
        assert rebuilt[0] == "f"
    else:
        assert json.dumps(rebuilt, sort_keys=True) == json.dumps(encode(value), sort_keys=True)


def test_equal_values_built_apart_share_a_fingerprint():
    make = lambda: {"sku": [f"sk-{i}" for i in range(50)], "qty": (1, 2.5, None)}  # noqa: E731
    assert fingerprint(make())[0] == fingerprint(make())[0]


def test_outcomes_match_by_fingerprint_only_when_everything_does():
    value, args = fingerprint([1, 2])[0], fingerprint(((1,), {}))[0]
    expected = {"kind": "return", "digest": value, "args_digest": args}
    assert same_by_fingerprint(expected, dict(expected))
    assert not same_by_fingerprint(expected, {**expected, "digest": fingerprint([2, 1])[0]})
    assert not same_by_fingerprint(expected, {**expected, "args_digest": value})
    assert same_by_fingerprint(expected, {**expected, "args_digest": value}, with_args=False)
    assert not same_by_fingerprint(expected, {"kind": "raise", "type": "ValueError"})
    assert not same_by_fingerprint(expected, {**expected, "digest": "p:forged"})
    assert not same_by_fingerprint(expected, "not an outcome")
    raised = {"kind": "raise", "type": "KeyError", "message": "a", "args_digest": args}
    assert same_by_fingerprint(raised, {**raised, "message": "another message"})
    assert not same_by_fingerprint(raised, {**raised, "type": "forged-builtins.KeyError"})


def test_a_kept_pickle_that_names_a_class_is_refused():
    import pickle

    from perfrl.engine.runtime.perfrl_canon import EncodeError

    with pytest.raises(EncodeError):
        expand(pickle.dumps(Point(1)))


def test_float_noise_differs_by_fingerprint_and_is_left_to_the_comparison():
    a, b = 0.1 + 0.2, 0.3
    assert fingerprint(a)[0] != fingerprint(b)[0]
    assert Comparator(1e-9, 1e-12).diff(expand(fingerprint(a)[1]), expand(fingerprint(b)[1]),
                                        "x") is None
