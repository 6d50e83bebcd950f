"""Inputs beyond the recorded calls: type-directed variants of the recorded arguments.

Runs inside the sandbox, in the user's own interpreter, imported by ``perfrl_worker``:
standard library only, Python 3.9 syntax. The engine runs the *original* on what
:func:`generate_inputs` returns and requires the candidate to behave the same on every input
the original accepts (see :func:`original_rejects_input`), so a rewrite that only agrees with
the original on the few calls the tests happen to make (issue 12, finding 12: a quoting
function wrong on trailing backslashes, checked on 3 calls) is caught.

Contract of :func:`generate_inputs` (``recorded_args``: the recorded calls as
``(args_tuple, kwargs_dict)`` pairs; ``budget``: the most inputs wanted; ``seed``):

- **Deterministic**: the same recorded arguments, budget and seed give equal inputs, in the
  same order, in any process (nothing depends on hash randomization, ids or the clock).
- **At most** ``budget`` inputs (fewer when the recorded values allow fewer variants; none
  for ``budget <= 0``, no recorded calls, or calls whose arguments are all objects this
  module does not vary). No input equals a recorded call or another generated input (compared
  by exact types and values, see :func:`canonical_key`).
- **Shape kept**: every input is one recorded call (its *template*) with some arguments
  replaced; it has the template's number of positional arguments and exactly its keyword
  names, in the same order. A replaced value has an exact type seen at that position (or
  ``None`` only where ``None`` was recorded there); elements, keys and values inside
  containers have exact types seen at that place inside the recorded containers. A tuple
  keeps its length when every tuple recorded at that place had the same length (tuples as
  records, such as ``(x, y)``); otherwise it is varied like a list.
- **What is varied** (exact types only; a subclass counts as an object):
  ``str`` with quotes, backslashes (trailing too), whitespace, a spaced dash and a doubled one
  inside, non-ASCII (``ß`` too), combining marks, NUL and empty; ``int`` at 0, 1, -1, 2, -2,
  neighbours, sign flip and just past the largest magnitude recorded there (``2 * max + 1`` at
  most, so a count stays a count); machine boundaries (2**31, 2**63, 2**64) only where a
  recorded magnitude there is at least 2**16; ``float`` at 0.0, -0.0, +-1.0, halves, doubles,
  the smallest subnormal; ``inf`` only where an infinity or a magnitude of 1e300 was recorded
  there and ``nan`` only where a NaN was (NaN is unequal to itself; the engine's comparison
  treats NaN as equal to NaN, so it is safe where the tests themselves use it); ``bool``
  flipped; ``None`` where recorded at that position, and other recorded values where ``None``
  was; ``bytes``/``bytearray`` like strings; ``list``, ``tuple``, ``set``, ``frozenset``,
  ``dict``: empty, duplicated, reordered, shortened, longer (with elements varied from the
  recorded ones), every element changed alike (numbers' signs flipped, strings padded with a
  tab and a newline), and elements, keys and values varied recursively. Values recorded at the
  same position in other calls are also recombined.
- **Order**: first each argument's edge values in turn (ranks first, from the first recorded
  call that has the argument), then every other call's, then random mutations: a budget
  reaches every argument's telling values however many calls were recorded.
- **Objects are never fabricated**: instances of other types (the user's classes, ``self``,
  ``Decimal``, ``complex``, functions...) are kept as recorded, in a copy.
- **Independent**: the recorded arguments are never changed, and no generated input shares
  a mutable object with them or with another input (each input is a deep copy, made with
  ``copy.deepcopy`` or else a pickle round trip; an input that cannot be copied is dropped).
  Aliasing between arguments of the template is kept where those arguments are not replaced.
- **Cost**: generating takes time about linear in ``budget`` times the size of the recorded
  arguments (each input is keyed and copied once; measured: 6 s for 200 inputs from one
  20,000-element list of ints on a 2-core machine at load 10), so scale the budget down for
  large arguments.
  Generated sizes stay within about twice the recorded ones, but an input may still cost the
  function more than any recorded call: the caller should bound each call's time and drop
  inputs on which the original is too slow.

Hypothesis is deliberately not used here: its strategies are meant to drive a property inside
its own engine, while here the original and the candidate run in different processes and
must see the same inputs from a seed; and the user's interpreter rarely has it installed.
The tests of this module use Hypothesis to check the contract above.
"""

import copy
import math
import pickle
import random

GENERATOR_VERSION = "6"

#: Exception types of the *original* that mark a generated input as outside the function's
#: domain (see :func:`original_rejects_input`).
REJECTING_EXCEPTIONS = (TypeError, AttributeError, RecursionError, MemoryError)

# How far the generator looks into recorded values, and how much it keeps of what it sees.
_MAX_DEPTH = 6
# Edge values look this many levels into containers (each level multiplies the work).
_MAX_EDGE_DEPTH = 3
_MAX_ELEMENTS_WALKED = 64
_MAX_POOL = 24
_MAX_EDGES = 48
_MAX_ELEMENT_EDGE_INDICES = 8
_ATTEMPTS_PER_INPUT = 20
# Containers longer than this are keyed by their length, head and tail (see canonical_key).
_KEY_ELEMENTS = 512

_ATOMS = ("none", "bool", "int", "float", "str", "bytes", "bytearray")
_CONTAINERS = ("list", "tuple", "set", "frozenset", "dict")
# Immutable values whose repr names their exact type (float reprs always hold ".", "e",
# "inf" or "nan"; str and bytes reprs are quoted).
_ATOM_TYPES = frozenset({type(None), bool, int, float, str, bytes})
_KIND_BY_TYPE = {
    type(None): "none",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    bytearray: "bytearray",
    list: "list",
    tuple: "tuple",
    set: "set",
    frozenset: "frozenset",
    dict: "dict",
}

# Strings that break quoting, escaping, splitting and ASCII assumptions.
_EDGE_STRINGS = (
    "",
    " ",
    "\\",
    '"',
    "'",
    "a b",
    "a\\",
    "a b\\",
    "a\\\\",
    '\\"',
    'a\\"b',
    '"a b"',
    "\t",
    "\n",
    " a ",
    "\u00e9",
    "\u65e5\u672c\u8a9e",
    "\U0001f600",
    "a\u0301",
    "\x00",
)
_SPECIAL_CHARS = (
    " ",
    "\\",
    '"',
    "'",
    "\t",
    "\n",
    "\u00e9",
    "\u65e5",
    "\U0001f600",
    "\x00",
    "a",
    "Z",
    "0",
    "-",
    "=",
    "%",
    ",",
    ".",
)
_MACHINE_INTS = (2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64)


def kind_of(value):
    """The generator's name for ``value``'s exact type; ``"object"`` for everything it keeps."""
    return _KIND_BY_TYPE.get(type(value), "object")


def original_rejects_input(exc):
    """True when the original raising ``exc`` on a *generated* input means: skip this input.

    Decision: an exception of the original is behaviour the candidate must reproduce (same
    exception type), as on recorded calls: a rewrite that returns where the original raised
    ``ValueError``/``IndexError``/``KeyError`` on an empty or odd input changes what callers
    that catch it see. The exceptions are those that say the generated input lies outside
    what the function accepts or what the machine can run, where the original's behaviour is
    an accident of the generator, not a behaviour anyone relies on: ``TypeError`` and
    ``AttributeError`` (a recombination the function was never meant to take, such as
    ``None`` in one argument with a value another call had in the next), ``RecursionError``
    and ``MemoryError`` (limits, not behaviour). Such inputs are not used as evidence either
    way; the candidate is not run on them, or its outcome on them is ignored.
    """
    return isinstance(exc, REJECTING_EXCEPTIONS)


def _sampled(items, size):
    """All of ``items``, or for a long sequence its length, head and tail: what keys it."""
    if len(items) <= _KEY_ELEMENTS:
        return items, ""
    half = _KEY_ELEMENTS // 2
    return list(items[:half]) + list(items[-half:]), f"#{len(items)}"


def canonical_key(value, _depth=0):
    """A string equal for two values when their exact types and contents are equal.

    Types are exact (``True`` differs from ``1``, ``1`` from ``1.0``, ``-0.0`` from ``0.0``);
    sets are keyed by their sorted element keys, so the key does not depend on hash order;
    NaN has one key. Objects the generator keeps as they are key by their type name only.
    To keep the cost bounded, a list, tuple or dict longer than 512 elements is keyed by its
    length, first 256 and last 256 elements: two such values that differ only in between
    share a key (so a generated input may be dropped as a duplicate, never a duplicate kept).
    """
    kind = kind_of(value)
    if _depth > 40:
        return "..."
    cache = _KEY_CACHE[-1] if _KEY_CACHE and kind in _CONTAINERS else None
    if cache is not None:
        hit = cache.get((id(value), _depth))
        if hit is not None and hit[0] is value:
            return hit[1]
        key = _canonical_key(value, kind, _depth)
        cache[(id(value), _depth)] = (value, key)
        return key
    return _canonical_key(value, kind, _depth)


#: While generate_inputs runs: (id, depth) -> (container, its key). The variants share their
#: elements with the recorded values (a shortened or reordered list holds the same dicts),
#: so each container is keyed once instead of once per variant (measured: 25 s -> 1 s for 24
#: inputs from a list of 2,000 dicts). Keeping the container itself keeps its id unique; the
#: generator never changes a container after it was first keyed.
_KEY_CACHE: list = []


def _canonical_key(value, kind, _depth):
    if kind in ("none", "bool", "int", "str", "bytes"):
        return kind[0] + repr(value)
    if kind == "float":
        return "f" + repr(value)
    if kind == "bytearray":
        return "a" + repr(bytes(value))
    if kind in ("set", "frozenset"):
        if set(map(type, value)) <= _ATOM_TYPES:
            inner = ",".join(sorted(map(repr, value)))
        else:
            inner = ",".join(sorted(canonical_key(item, _depth + 1) for item in value))
        return kind[0:2] + "{" + inner + "}"
    if kind in ("list", "tuple"):
        items, length = _sampled(value, _KEY_ELEMENTS)
        if set(map(type, items)) <= _ATOM_TYPES:
            # The repr of these atoms already tells their types apart (1, 1.0, True, '1').
            inner = ",".join(map(repr, items))
        else:
            inner = ",".join(canonical_key(item, _depth + 1) for item in items)
        return kind[0] + length + "[" + inner + "]"
    if kind == "dict":
        pairs, length = _sampled(list(value.items()), _KEY_ELEMENTS)
        inner = ",".join(
            canonical_key(k, _depth + 1) + ":" + canonical_key(v, _depth + 1) for k, v in pairs
        )
        return "d" + length + "{" + inner + "}"
    cls = type(value)
    return "o<" + getattr(cls, "__module__", "?") + "." + getattr(cls, "__qualname__", "?") + ">"


def _call_key(args, kwargs):
    return (
        len(args),
        tuple(kwargs),
        tuple(canonical_key(a) for a in args),
        tuple(canonical_key(v) for v in kwargs.values()),
    )


def _sorted_elements(values):
    """Elements of a set in an order that does not depend on hash randomization."""
    return sorted(values, key=canonical_key)


def _dedupe(values, skip_key=None):
    seen = set() if skip_key is None else {skip_key}
    out = []
    for value in values:
        key = canonical_key(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _copy_object(value, memo):
    try:
        return copy.deepcopy(value, memo)
    except Exception:  # noqa: BLE001 - any failure to deep-copy: try the pickle round trip
        try:
            # Values the recorded calls already held: they came out of a pickle written by the
            # original's own process, in the user's interpreter; never candidate data.
            return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301
        except Exception as exc:  # noqa: BLE001 - a value that cannot be copied at all
            raise ValueError(f"cannot copy {type(value).__name__}: {exc}") from None


def _independent_copy(value, memo=None):
    """A deep copy sharing nothing mutable with ``value``; raises ValueError when impossible.

    ``memo`` (id -> copy) is shared across one call's arguments, so an object that two of
    them hold is one object in the copy too. Containers of atoms are copied at C speed (a
    tuple or frozenset of atoms is immutable all the way down and is kept as it is)."""
    if memo is None:
        memo = {}
    cls = type(value)
    if cls in _ATOM_TYPES:
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if cls in (list, tuple, set, frozenset):
        if set(map(type, value)) <= _ATOM_TYPES:
            copied = value if cls in (tuple, frozenset) else cls(value)
        elif cls is list:
            copied = []
            memo[key] = copied
            copied.extend(_independent_copy(item, memo) for item in value)
        else:
            copied = cls(_independent_copy(item, memo) for item in value)
    elif cls is dict:
        copied = {}
        memo[key] = copied
        for k, v in value.items():
            copied[_independent_copy(k, memo)] = _independent_copy(v, memo)
    elif cls is bytearray:
        copied = bytearray(value)
    else:
        copied = _copy_object(value, memo)
    memo[key] = copied
    return copied


class _Profile:
    """What the recorded calls hold at each place: values seen, tuple lengths, magnitudes.

    A place is a path: ``("arg", i)`` or ``("kw", name)`` followed by ``"item"`` (element of
    a list, set, frozenset or tuple), ``("at", i)`` (element i of a tuple), ``"key"`` or
    ``"value"`` (of a dict).
    """

    def __init__(self, recorded):
        self.pools = {}
        self._pool_keys = {}
        self.tuple_lengths = {}
        for args, kwargs in recorded:
            for index, value in enumerate(args):
                self._walk(value, (("arg", index),), 0)
            for name, value in kwargs.items():
                self._walk(value, (("kw", name),), 0)

    def _walk(self, value, path, depth):
        keys = self._pool_keys.setdefault(path, set())
        pool = self.pools.setdefault(path, [])
        if len(pool) < _MAX_POOL:
            key = canonical_key(value)
            if key not in keys:
                keys.add(key)
                pool.append(value)
        kind = kind_of(value)
        if depth >= _MAX_DEPTH or kind not in _CONTAINERS:
            return
        if kind == "dict":
            for count, (k, v) in enumerate(value.items()):
                if count >= _MAX_ELEMENTS_WALKED:
                    break
                self._walk(k, (*path, "key"), depth + 1)
                self._walk(v, (*path, "value"), depth + 1)
            return
        items = _sorted_elements(value) if kind in ("set", "frozenset") else value
        if kind == "tuple":
            self.tuple_lengths.setdefault(path, set()).add(len(value))
        for count, item in enumerate(items):
            if count >= _MAX_ELEMENTS_WALKED:
                break
            self._walk(item, (*path, "item"), depth + 1)
            if kind == "tuple":
                self._walk(item, (*path, ("at", count)), depth + 1)

    def pool(self, path):
        return self.pools.get(path, [])

    def tuple_is_record(self, path):
        return len(self.tuple_lengths.get(path, ())) == 1

    def has(self, path, predicate):
        return any(predicate(value) for value in self.pool(path))

    def max_magnitude(self, path, kind):
        magnitudes = [abs(v) for v in self.pool(path) if kind_of(v) == kind]
        finite = [m for m in magnitudes if not (kind == "float" and not math.isfinite(m))]
        return max(finite) if finite else 0


def _whole_list_edges(items):
    """Variants that change every element of ``items`` the same way, for lists of one plain
    kind: numbers with their signs flipped (every element negative: a maximum that starts
    from 0 is wrong on them, and an element-by-element edge never makes them all negative),
    strings padded with tabs and newlines (``strip(" ")`` for ``strip()``). Linear in the
    length, so long lists get them too."""
    kinds = {kind_of(item) for item in items}
    if kinds <= {"int", "float"}:
        return [[-item for item in items]]
    if kinds == {"str"}:
        return [["\t" + item + "\n" for item in items]]
    return []


def _interleave(*lists):
    """Round-robin over lists: the first of each, then the second of each, ..."""
    out = []
    longest = max((len(lst) for lst in lists), default=0)
    for rank in range(longest):
        for lst in lists:
            if rank < len(lst):
                out.append(lst[rank])
    return out


class _Variants:
    """Edge values (deterministic, most telling first) and random mutations for one place."""

    def __init__(self, profile, rng):
        self.profile = profile
        self.rng = rng
        # Edges of the recorded arguments themselves, which random mutation asks for again
        # and again: (path, id) -> (value, edges); the value is kept so its id stays unique.
        self._top_edges = {}

    # -- deterministic edge values ---------------------------------------------------------

    def edges(self, value, path, depth=0):
        """New values for ``value`` at ``path``, most telling first, without ``value`` itself."""
        if depth == 0:
            cached = self._top_edges.get((path, id(value)))
            if cached is not None and cached[0] is value:
                return cached[1]
            edges = self._compute_edges(value, path, depth)
            self._top_edges[(path, id(value))] = (value, edges)
            return edges
        return self._compute_edges(value, path, depth)

    def _compute_edges(self, value, path, depth):
        kind = kind_of(value)
        method = getattr(self, "_edges_" + kind, None)
        own = method(value, path, depth) if method is not None else []
        pool_others = [v for v in self.profile.pool(path) if kind_of(v) != "none"]
        if kind != "none" and self.profile.has(path, lambda v: v is None):
            own = [None, *own]
        values = _interleave(own, pool_others) if kind != "none" else pool_others
        return _dedupe(values, skip_key=canonical_key(value))[:_MAX_EDGES]

    def _edges_bool(self, value, path, depth):
        return [not value]

    def _edges_int(self, value, path, depth):
        largest = self.profile.max_magnitude(path, "int")
        out = [
            0,
            1,
            -1,
            value + 1,
            value - 1,
            -value,
            2,
            -2,
            largest + 1,
            -(largest + 1),
            2 * largest + 1,
        ]
        if largest >= 2**16:
            out += list(_MACHINE_INTS)
        return out

    def _edges_float(self, value, path, depth):
        allow_inf = self.profile.has(
            path, lambda v: kind_of(v) == "float" and (math.isinf(v) or abs(v) >= 1e300)
        )
        allow_nan = self.profile.has(path, lambda v: kind_of(v) == "float" and math.isnan(v))
        out = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            -value,
            value * 2,
            value / 2,
            value + 1.0,
            0.1,
            0.5,
            5e-324,
            1e16,
        ]
        if allow_inf:
            out += [math.inf, -math.inf]
        if allow_nan:
            out += [math.nan]
        return [
            v for v in out if (allow_nan or not math.isnan(v)) and (allow_inf or not math.isinf(v))
        ]

    def _edges_str(self, value, path, depth):
        mid = len(value) // 2
        derived = [
            value + "\\",
            "\t" + value + "\n",
            value + " \\",
            value + '"',
            value[:mid] + " " + value[mid:],
            # Punctuation beside separators, as prose has ("Knuth - Donald", "a--b"): a
            # rewrite that drops the collapsing of repeated separators passes without them.
            value[:mid] + " - " + value[mid:],
            '"' + value,
            value[:mid] + "--" + value[mid:],
            value + "\\\\",
            "\u00e9" + value + "\u00df",  # ß case-folds to "ss": lower() is not casefold()
            value * 2,
            value[::-1],
            value + " ",
            " " + value,
            value + "\t",
            value.upper(),
            value[:mid],
        ]
        return _interleave(derived, list(_EDGE_STRINGS))

    def _edges_bytes(self, value, path, depth):
        mid = len(value) // 2
        derived = [
            value + b"\\",
            value + b'"',
            value[:mid] + b" " + value[mid:],
            value * 2,
            value[::-1],
            bytes([0x80]) + value,
            value[:mid],
        ]
        fixed = [b"", b" ", b"\\", b'"', b"\x00", b"\xff", b"a b\\"]
        return _interleave(derived, fixed)

    def _edges_bytearray(self, value, path, depth):
        return [bytearray(v) for v in self._edges_bytes(bytes(value), path, depth)]

    def _element_edges(self, items, item_path_of, depth):
        """Copies of ``items`` (a list) with one element replaced by one of its edge values:
        every element's most telling edge first (by edge rank), interleaved with the first
        element's edges one after another, so that the edges deep inside an element (a
        record's field: ``{"ip": ""}`` in a list of dicts) come within a small budget too."""
        if depth + 1 >= _MAX_EDGE_DEPTH:
            return []
        per_index = [
            self.edges(item, item_path_of(i), depth + 1)
            for i, item in enumerate(items[:_MAX_ELEMENT_EDGE_INDICES])
        ]
        breadth = []
        for rank in range(max((len(e) for e in per_index), default=0)):
            for i, edges in enumerate(per_index):
                if rank < len(edges):
                    breadth.append([*items[:i], edges[rank], *items[i + 1:]])
        first = [[edge, *items[1:]] for edge in per_index[0]] if per_index else []
        return _interleave(first, breadth)

    def _sequence_edges(self, items, path, depth):
        """Edge variants of a list's elements (as lists), for lists and list-like tuples."""
        item_path = (*path, "item")
        seen_elements = self.profile.pool(item_path)
        structural: list[list[object]] = [[]]
        if items:
            half = len(items) // 2
            structural += _whole_list_edges(items)
            structural += [
                items + items,
                items[::-1],
                [*items, items[-1]],
                items[1:] + items[:1],
                items[:half],
                [items[0]] * len(items),
            ]
            deeper = depth + 1 < _MAX_EDGE_DEPTH
            last_edges = self.edges(items[-1], item_path, depth + 1) if deeper else []
            if last_edges:
                structural.append([*items, last_edges[0]])
        structural += [[*items, v] for v in seen_elements[:4]]
        if not items and seen_elements:
            structural += [[seen_elements[0], seen_elements[0]], list(seen_elements)]
        by_element = self._element_edges(items, lambda i: item_path, depth)
        return _interleave(structural, by_element)

    def _edges_list(self, value, path, depth):
        return self._sequence_edges(list(value), path, depth)

    def _edges_tuple(self, value, path, depth):
        if self.profile.tuple_is_record(path):
            items = list(value)
            return [
                tuple(v) for v in self._element_edges(items, lambda i: (*path, ("at", i)), depth)
            ]
        return [tuple(v) for v in self._sequence_edges(list(value), path, depth)]

    def _set_edges(self, value, path, depth, make):
        items = _sorted_elements(value)
        item_path = (*path, "item")
        out: list[list[object]] = [[]]
        if items:
            # Insertion order decides iteration order among colliding hashes.
            out += [items[1:], items[:-1], items[::-1]]
            out += self._element_edges(items, lambda i: item_path, depth)
            deeper = depth + 1 < _MAX_EDGE_DEPTH
            for edge in (self.edges(items[-1], item_path, depth + 1) if deeper else [])[:6]:
                out.append([*items, edge])
        out += [[*items, v] for v in self.profile.pool(item_path)[:4]]
        result = []
        for variant in out:
            try:
                result.append(make(variant))
            except TypeError:  # an unhashable element: not a set this code can be given
                continue
        return result

    def _edges_set(self, value, path, depth):
        return self._set_edges(value, path, depth, set)

    def _edges_frozenset(self, value, path, depth):
        return self._set_edges(value, path, depth, frozenset)

    def _edges_dict(self, value, path, depth):
        keys = list(value)
        key_path, value_path = (*path, "key"), (*path, "value")
        out: list[dict[object, object]] = [{}]
        if keys:
            structural = [
                dict(reversed(list(value.items()))),
                {k: value[k] for k in keys[1:]},
            ]
            deeper = depth + 1 < _MAX_EDGE_DEPTH
            by_value = []
            for k in keys[:_MAX_ELEMENT_EDGE_INDICES]:
                for edge in (self.edges(value[k], value_path, depth + 1) if deeper else [])[:8]:
                    changed = dict(value)
                    changed[k] = edge
                    by_value.append(changed)
            # A field's edge values as early as the dict's own reshapes (a record's text
            # field empty or padded tells more than its keys reordered).
            out += _interleave(by_value, structural)
            for edge in (self.edges(keys[-1], key_path, depth + 1) if deeper else [])[:8]:
                try:
                    if edge in value:
                        continue
                    grown = dict(value)
                    grown[edge] = value[keys[-1]]
                except TypeError:
                    continue
                out.append(grown)
        return out

    # -- random mutations -------------------------------------------------------------------

    def mutate(self, value, path, depth=0):
        """One random variant of ``value`` at ``path`` (may equal ``value``)."""
        rng = self.rng
        kind = kind_of(value)
        if kind == "object" or rng.random() < 0.35:
            edges = self.edges(value, path, depth)
            return rng.choice(edges) if edges else value
        if kind == "str":
            return self._mutate_text(value, "")
        if kind in ("bytes", "bytearray"):
            text = self._mutate_text(bytes(value).decode("latin-1"), "latin-1")
            data = text.encode("latin-1", "replace")
            return data if kind == "bytes" else bytearray(data)
        if kind == "int":
            largest = self.profile.max_magnitude(path, "int") + 2
            return rng.choice([value + rng.randint(-3, 3), rng.randint(-largest, largest)])
        if kind == "float":
            largest = max(1.0, float(self.profile.max_magnitude(path, "float")))
            return rng.choice(
                [value * rng.choice((-1.0, 0.5, 2.0, 1.0000001)), rng.uniform(-largest, largest)]
            )
        if kind in ("list", "tuple") and not (
            kind == "tuple" and self.profile.tuple_is_record(path)
        ):
            items = self._mutate_sequence(list(value), (*path, "item"), depth)
            return items if kind == "list" else tuple(items)
        if kind == "tuple":
            items = list(value)
            if items and depth + 1 < _MAX_DEPTH:
                i = rng.randrange(len(items))
                items[i] = self.mutate(items[i], (*path, ("at", i)), depth + 1)
            return tuple(items)
        if kind in ("set", "frozenset"):
            items = self._mutate_sequence(_sorted_elements(value), (*path, "item"), depth)
            try:
                return set(items) if kind == "set" else frozenset(items)
            except TypeError:
                return value
        if kind == "dict":
            return self._mutate_dict(value, path, depth)
        edges = self.edges(value, path, depth)
        return rng.choice(edges) if edges else value

    def _mutate_text(self, text, encoding):
        rng = self.rng
        chars = list(text)
        alphabet = (
            _SPECIAL_CHARS if not encoding else tuple(c for c in _SPECIAL_CHARS if ord(c) < 256)
        )
        for _ in range(rng.randint(1, 3)):
            operation = rng.randrange(4)
            if operation == 0 or not chars:
                chars.insert(rng.randint(0, len(chars)), rng.choice(alphabet))
            elif operation == 1:
                chars.append(rng.choice(("\\", "\\\\", " ", '"', " \\")))
            elif operation == 2:
                del chars[rng.randrange(len(chars))]
            else:
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        return "".join(chars)

    def _mutate_sequence(self, items, item_path, depth):
        rng = self.rng
        seen = self.profile.pool(item_path)
        operation = rng.randrange(5)
        if operation == 0 and len(items) > 1:
            rng.shuffle(items)
        elif operation == 1 and items:
            del items[rng.randrange(len(items))]
        elif operation == 2 and items:
            items.insert(rng.randint(0, len(items)), items[rng.randrange(len(items))])
        elif operation == 3 and (items or seen) and depth + 1 < _MAX_DEPTH:
            source = (
                rng.choice(items)
                if items and (not seen or rng.random() < 0.5)
                else rng.choice(seen)
            )
            items.insert(rng.randint(0, len(items)), self.mutate(source, item_path, depth + 1))
        elif items and depth + 1 < _MAX_DEPTH:
            i = rng.randrange(len(items))
            items[i] = self.mutate(items[i], item_path, depth + 1)
        return items

    def _mutate_dict(self, value, path, depth):
        rng = self.rng
        out = dict(value)
        keys = list(out)
        if not keys or depth + 1 >= _MAX_DEPTH:
            return {} if keys else out
        operation = rng.randrange(4)
        if operation == 0:
            k = rng.choice(keys)
            out[k] = self.mutate(out[k], (*path, "value"), depth + 1)
        elif operation == 1:
            del out[rng.choice(keys)]
        elif operation == 2:
            items = list(out.items())
            rng.shuffle(items)
            out = dict(items)
        else:
            k = rng.choice(keys)
            new_key = self.mutate(k, (*path, "key"), depth + 1)
            try:
                if new_key not in out:
                    out[new_key] = out[k]
            except TypeError:
                pass
        return out


def _places(args, kwargs):
    return [("arg", i) for i in range(len(args))] + [("kw", name) for name in kwargs]


def _replace(args, kwargs, place, value):
    if place[0] == "arg":
        args = (*args[:place[1]], value, *args[place[1] + 1:])
    else:
        kwargs = dict(kwargs)
        kwargs[place[1]] = value
    return args, kwargs


def _get(args, kwargs, place):
    return args[place[1]] if place[0] == "arg" else kwargs[place[1]]


def budget_for(recorded_args, least, per_place, most, recorded_bytes=0, large_bytes=1 << 20):
    """How many inputs to ask :func:`generate_inputs` for: ``per_place`` for each argument
    place this module varies (a value of a kind it knows, in some recorded call; ``self`` and
    the user's objects do not count), at least ``least`` and at most ``most``; ``least``
    where the recorded arguments are large (``recorded_bytes``, their pickled size, over
    ``large_bytes``), since generating costs about budget times their size.

    Why: one budget for every function gave a function of five arguments about five edge
    values each (Phase 1a hands them out in turn), where a one-argument function got 24."""
    if recorded_bytes > large_bytes:
        return least
    varied = set()
    for args, kwargs in recorded_args:
        for place in _places(args, kwargs):
            if kind_of(_get(args, kwargs, place)) != "object":
                varied.add(place)
    return max(least, min(most, per_place * len(varied)))


def generate_inputs(recorded_args, budget, seed):
    """New arguments for the target, derived from the recorded ones; see the module docstring.

    ``recorded_args`` is a list of ``(args_tuple, kwargs_dict)``; the result is a list of
    at most ``budget`` new ``(args_tuple, kwargs_dict)`` pairs, the same for the same seed.
    """
    if budget <= 0 or not recorded_args:
        return []
    _KEY_CACHE.append({})
    try:
        return _generate(recorded_args, budget, seed)
    finally:
        _KEY_CACHE.pop()


def _generate(recorded_args, budget, seed):
    calls = [(tuple(args), dict(kwargs)) for args, kwargs in recorded_args]
    profile = _Profile(calls)
    rng = random.Random(seed)
    variants = _Variants(profile, rng)
    seen = {_call_key(args, kwargs) for args, kwargs in calls}
    out = []

    def offer(template, replacements):
        """Add the template with ``replacements`` (place -> value), copied, unless seen."""
        args, kwargs = template
        for place, value in replacements:
            args, kwargs = _replace(args, kwargs, place, value)
        key = _call_key(args, kwargs)
        if key in seen:
            return
        seen.add(key)
        try:
            # One copy of the whole call keeps aliasing between its arguments.
            memo: dict[int, object] = {}
            copied = tuple(_independent_copy(a, memo) for a in args)
            copied_kwargs = {name: _independent_copy(v, memo) for name, v in kwargs.items()}
        except ValueError:
            return
        out.append((copied, copied_kwargs))

    # Phase 1: one argument at a time, every place's most telling edge values first.
    edge_lists = []  # (template index, place, edges)
    by_place: dict[tuple, list] = {}  # place -> [(template index, edges)], first seen first
    for t, (args, kwargs) in enumerate(calls):
        for place in _places(args, kwargs):
            path = (place,)
            edges = variants.edges(_get(args, kwargs, place), path)
            edge_lists.append((t, place, edges))
            by_place.setdefault(place, []).append((t, edges))
    longest = max((len(edges) for _, _, edges in edge_lists), default=0)
    # Phase 1a: every place's edge values in turn, ranks first, each place's from the first
    # recorded call that has it. Without it, a budget shared by every (call, place) pair ran
    # out on the first ranks: with 8 recorded calls of two arguments, 24 inputs held only 0
    # and 1 for an int (never -1), so the more calls a project's tests made, the weaker the
    # check. (One call per place: a call's edges interleave the values recorded at that place
    # in other calls, so rank r is a different kind of value from one call to the next.)
    for rank in range(longest):
        for place, per_call in by_place.items():
            if len(out) >= budget:
                return out
            t, edges = per_call[0]
            if rank < len(edges):
                offer(calls[t], [(place, edges[rank])])
    # Phase 1b: every call's every edge, ranks first (what 1a gave is not offered twice).
    for rank in range(longest):
        for t, place, edges in edge_lists:
            if len(out) >= budget:
                return out
            if rank < len(edges):
                offer(calls[t], [(place, edges[rank])])

    # Phase 2: random mutations of one or more arguments of a random recorded call.
    attempts = 0
    while len(out) < budget and attempts < budget * _ATTEMPTS_PER_INPUT:
        attempts += 1
        template = calls[rng.randrange(len(calls))]
        places = _places(*template)
        if not places:
            continue
        chosen = rng.sample(places, rng.randint(1, len(places)))
        offer(
            template,
            [(place, variants.mutate(_get(*template, place), (place,))) for place in chosen],
        )
    return out
