"""A canonical, type-exact encoding of Python values, built without running the value's code.

Runs inside sandboxed worker processes (the user's interpreter: standard library only, numpy
when importable, Python 3.9 syntax). The engine compares the encodings of the original's and
the candidate's outcomes as plain JSON data (``perfrl.engine.canon_compare``), so nothing a
candidate returns is ever unpickled, ``==``-compared or ``repr``-ed where it is judged.

A caller may rely on :func:`encode`:

- never calling a method the value's own class defines: ``__eq__``, ``__repr__``,
  ``__iter__``, ``__getattr__``, properties, ``__len__`` of a subclass... Values of exact
  built-in types are read with their type's own C methods; a *subclass* of a built-in type is
  read through the base type's methods (``list.__iter__``, ``int.__index__``, ...) and is
  tagged with its own type name, so an ``int`` subclass whose ``__eq__`` is always true, or a
  lazy ``list`` subclass, never encodes like an ``int`` or a ``list``;
- naming types by where they really are: a class that claims ``__module__ = "builtins"``
  without being the built-in is named ``forged-builtins.<name>``;
- returning plain JSON data (lists, strings, booleans) whose first item is a tag:
  ``["N"]`` None, ``["b", bool]``, ``["i", hex]`` int, ``["f", float.hex()]``, ``["c", re, im]``
  complex, ``["s", str]``, ``["y", hex]`` bytes, ``["Y", hex]`` bytearray, ``["l", items]``
  list, ``["t", items]`` tuple, ``["d", [[k, v], ...]]`` dict, ``["S", items]`` set,
  ``["F", items]`` frozenset, ``["r", start, stop, step]`` range, ``["sub", type, base, state]``
  subclass of a built-in, ``["o", type, [[name, value], ...]]`` object by its ``__dict__``
  and slots, ``["x", type]`` object without readable state (compared by type only),
  ``["g", kind, name]`` function, class or module by name, ``["a", dtype, shape, items]``
  numpy array, ``["ns", dtype, item]`` numpy scalar, ``["k", text]`` other exact standard
  types read through their own C methods (datetime, Decimal, re.Pattern),
  ``["cyc", n]`` a reference to the container ``n`` levels up;
- raising :class:`EncodeError` (with a short reason) for values too large or too deep.

and on :func:`fingerprint` (how outcomes cross the process boundary, see ``perfrl_worker``):

- equal fingerprints only for values whose encodings are equal: a fingerprint is the SHA-256
  either of the value's pickle when the value is made of exact ``None``, ``bool``, ``int``,
  ``float``, ``str``, ``bytes``, ``list``, ``tuple``, ``dict``, ``set`` and ``frozenset`` only
  (``"p:"``; the C pickler writes those types itself and asks :meth:`_PlainPickler.reducer_override`
  about every other object, which refuses, so no subclass, no ``bytearray`` and no code of the
  value's own is ever involved), or else of its canonical encoding as JSON (``"c:"``);
- different fingerprints for equal values now and then (dicts in another insertion order,
  sets in another iteration order, values sharing objects differently, floats within the
  comparison's tolerance): a differing fingerprint is a reason to compare the encodings
  (:func:`expand` rebuilds one from what :func:`fingerprint` keeps), never a difference.
"""

import builtins
import hashlib
import io
import json
import pickle
import sys
import types

MAX_NODES = 2000000
MAX_DEPTH = 400
MAX_CHARS = 64 * 1024 * 1024


class EncodeError(Exception):
    """The value cannot be encoded within the limits."""


_type_module = type.__dict__["__module__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__
_type_flags = type.__dict__["__flags__"].__get__
_object_getattribute = object.__getattribute__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement or type()


def type_name(kind):
    """``module.Qualname`` of a class, read without running its code ("int" for builtins)."""
    try:
        module = _type_module(kind)
        qualname = _type_qualname(kind)
    except Exception:  # noqa: BLE001 - a class whose name cannot be read
        return "<unnamed type>"
    if type(module) is not str:
        module = "<non-string module>"
    if type(qualname) is not str:
        qualname = "<non-string name>"
    if module == "builtins":
        if getattr(builtins, qualname, None) is kind or not _type_flags(kind) & _HEAPTYPE:
            return qualname
        return "forged-builtins." + qualname
    return module + "." + qualname


_FUNCTION_KINDS = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.MethodDescriptorType if hasattr(types, "MethodDescriptorType") else types.FunctionType,
    types.WrapperDescriptorType if hasattr(types, "WrapperDescriptorType") else types.FunctionType,
)


def _standard_scalars():
    """Exact standard-library types encoded by their own C methods: type -> reader."""
    table: dict = {}
    try:
        import datetime

        for kind in (datetime.date, datetime.datetime, datetime.time):
            table[kind] = kind.isoformat
        table[datetime.timedelta] = lambda v: ",".join(
            str(datetime.timedelta.__dict__[name].__get__(v))
            for name in ("days", "seconds", "microseconds")
        )
    except Exception:  # noqa: BLE001, S110 - only a smaller table
        pass
    try:
        import decimal

        table[decimal.Decimal] = decimal.Decimal.__str__
    except Exception:  # noqa: BLE001, S110
        pass
    try:
        import re

        pattern_type = type(re.compile(""))
        table[pattern_type] = lambda v: "{!r}/{}".format(
            pattern_type.__dict__["pattern"].__get__(v),
            pattern_type.__dict__["flags"].__get__(v),
        )
    except Exception:  # noqa: BLE001, S110
        pass
    return table


_STANDARD = _standard_scalars()

# Built-in bases a subclass is read through, most specific first (bool cannot be subclassed).
_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)


class _Encoder:
    def __init__(self):
        self.nodes = 0
        self.chars = 0
        self.stack = []  # ids of the containers being encoded (cycle detection)

    def _count(self, chars=0):
        self.nodes += 1
        self.chars += chars
        if self.nodes > MAX_NODES or self.chars > MAX_CHARS:
            raise EncodeError("the value is too large to compare")

    def encode(self, value):
        kind = type(value)
        self._count()
        if value is None:
            return ["N"]
        if kind is bool:
            return ["b", value is True]
        if kind is int:
            return ["i", int.__format__(value, "x")]
        if kind is float:
            return ["f", float.hex(value)]
        if kind is str:
            self._count(len(value))
            return ["s", value]
        if kind is complex:
            return ["c", float.hex(value.real), float.hex(value.imag)]
        if kind is bytes:
            self._count(2 * len(value))
            return ["y", bytes.hex(value)]
        if kind is bytearray:
            self._count(2 * len(value))
            return ["Y", bytearray.hex(value)]
        if kind is range:
            return [
                "r",
                int.__format__(value.start, "x"),
                int.__format__(value.stop, "x"),
                int.__format__(value.step, "x"),
            ]
        reader = _STANDARD.get(kind)
        if reader is not None:
            return ["k", type_name(kind), reader(value)]
        if kind in (list, tuple, dict, set, frozenset):
            return self._container(value, kind)
        if kind in _FUNCTION_KINDS or issubclass(kind, (type, types.ModuleType)):
            return self._reference(value)
        numpy_form = self._numpy(value, kind)
        if numpy_form is not None:
            return numpy_form
        for base in _BASES:
            if issubclass(kind, base):
                return self._nested(value, lambda b=base: self._subclass(value, kind, b))
        return self._nested(value, lambda: self._object(value, kind))

    def _subclass(self, value, kind, base):
        return ["sub", type_name(kind), self._base(value, base), self._state(value)]

    def _nested(self, value, build):
        key = id(value)
        if key in self.stack:
            return ["cyc", len(self.stack) - self.stack.index(key)]
        if len(self.stack) >= MAX_DEPTH:
            raise EncodeError("the value is nested too deeply to compare")
        self.stack.append(key)
        try:
            return build()
        finally:
            self.stack.pop()

    def _container(self, value, kind):
        return self._nested(value, lambda: self._base(value, kind))

    def _base(self, value, base):
        """The value read through ``base``'s own methods, encoded like an exact ``base``."""
        if base is int:
            return ["i", int.__format__(int.__index__(value), "x")]
        if base is float:
            return ["f", float.hex(float.__float__(value))]
        if base is complex:
            real = complex.__dict__["real"].__get__(value)
            imag = complex.__dict__["imag"].__get__(value)
            return ["c", float.hex(real), float.hex(imag)]
        if base is str:
            text = str.__str__(value)
            self._count(len(text))
            return ["s", text]
        if base is bytes:
            self._count(2 * bytes.__len__(value))
            return ["y", bytes.hex(value)]
        if base is bytearray:
            self._count(2 * bytearray.__len__(value))
            return ["Y", bytearray.hex(value)]
        if base is list:
            return ["l", [self.encode(item) for item in list.__iter__(value)]]
        if base is tuple:
            return ["t", [self.encode(item) for item in tuple.__iter__(value)]]
        if base is dict:
            return [
                "d",
                [[self.encode(k), self.encode(v)] for k, v in dict.items(value).__iter__()],
            ]
        if base is set:
            return ["S", [self.encode(item) for item in set.__iter__(value)]]
        if base is frozenset:
            return ["F", [self.encode(item) for item in frozenset.__iter__(value)]]
        raise EncodeError("unexpected base type")

    def _reference(self, value):
        kind = type(value)
        if issubclass(kind, types.ModuleType):
            # typeshed declares ``ModuleType.__dict__`` as the instances' attribute; on the
            # class it is the mappingproxy holding the "__dict__" descriptor.
            namespace = types.ModuleType.__dict__["__dict__"]  # type: ignore[index]
            name = namespace.__get__(value).get("__name__")
            return ["g", "module", name if type(name) is str else "?"]
        if issubclass(kind, type):
            return ["g", "class", type_name(value)]
        if type(value) is types.MethodType:
            function = types.MethodType.__dict__["__func__"].__get__(value)
            return ["g", "method", self._function_name(function)]
        return ["g", "function", self._function_name(value)]

    @staticmethod
    def _function_name(function):
        if type(function) is types.FunctionType:
            module = types.FunctionType.__dict__["__module__"].__get__(function)
            qualname = types.FunctionType.__dict__["__qualname__"].__get__(function)
            return f"{module}.{qualname}"
        try:
            module = _object_getattribute(function, "__module__")
            qualname = _object_getattribute(function, "__qualname__")
        except Exception:  # noqa: BLE001
            return type_name(type(function))
        return "{}.{}".format(module if type(module) is str else "?", qualname)

    def _numpy(self, value, kind):
        numpy = sys.modules.get("numpy")
        if numpy is None:
            return None
        if kind is numpy.ndarray:
            dtype = numpy.ndarray.__dict__["dtype"].__get__(value)
            shape = list(numpy.ndarray.__dict__["shape"].__get__(value))
            return self._nested(
                value,
                lambda: ["a", dtype.str, shape, self.encode(numpy.ndarray.tolist(value))],
            )
        if issubclass(kind, numpy.generic) and _type_module(kind) == "numpy":
            return ["ns", type_name(kind), self.encode(numpy.generic.item(value))]
        return None

    def _state(self, value):
        """[[name, encoding], ...] of the instance ``__dict__`` and slot values, sorted."""
        state = {}
        try:
            namespace = _object_getattribute(value, "__dict__")
        except Exception:  # noqa: BLE001 - no instance dictionary
            namespace = None
        if type(namespace) is dict:
            for key, item in dict.items(namespace).__iter__():
                if type(key) is str:
                    state[key] = item
        for klass in _type_mro(type(value)):
            slots = _type_dict(klass).get("__slots__", ())
            if type(slots) is str:
                slots = (slots,)
            if type(slots) not in (tuple, list):
                continue
            for slot in slots:
                if type(slot) is not str or slot in ("__dict__", "__weakref__"):
                    continue
                descriptor = _type_dict(klass).get(slot)
                if type(descriptor) is not types.MemberDescriptorType:
                    continue  # a property posing as a slot: its code is never run
                try:
                    state[slot] = descriptor.__get__(value, klass)
                except AttributeError:
                    continue  # an empty slot
        return [[name, self.encode(state[name])] for name in sorted(state)]

    def _object(self, value, kind):
        state = self._state(value)
        if issubclass(kind, BaseException):
            args = BaseException.__dict__["args"].__get__(value)
            state.append(["(args)", self.encode(args)])
        if not state and not _has_state(value):
            return ["x", type_name(kind)]
        return ["o", type_name(kind), state]


def _has_state(value):
    try:
        namespace = _object_getattribute(value, "__dict__")
    except Exception:  # noqa: BLE001
        return False
    return type(namespace) is dict


def encode(value):
    """The canonical encoding of ``value`` (see the module docstring); raises EncodeError."""
    try:
        return _Encoder().encode(value)
    except RecursionError:
        raise EncodeError("the value is nested too deeply to compare") from None
    except EncodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a C type whose getter fails
        raise EncodeError(f"the value cannot be read: {type_name(type(exc))}") from None


# -- fingerprints ------------------------------------------------------------------------

try:  # the C pickler consults reducer_override for every object of a non-plain type
    import _pickle
except ImportError:  # pragma: no cover - a Python without the C accelerator
    _pickle = None  # type: ignore[assignment]
_CPickler = getattr(_pickle, "Pickler", None)

#: Plain pickles larger than this are fingerprinted through the canonical encoding (whose
#: limits then decide whether the value can be compared at all).
MAX_PLAIN_BYTES = MAX_CHARS


class _NotPlain(Exception):
    pass


if _CPickler is not None:

    class _PlainPickler(_CPickler):  # type: ignore[misc, valid-type]
        """Pickles exact built-in data only (see the module docstring)."""

        def reducer_override(self, obj):
            raise _NotPlain


def plain_pickle(value):
    """The protocol-4 pickle of ``value`` when it holds nothing but exact plain types (see the
    module docstring), else None. Runs none of the value's own code."""
    if _CPickler is None:
        return None
    buffer = io.BytesIO()
    try:
        _PlainPickler(buffer, protocol=4).dump(value)
    except (_NotPlain, RecursionError, MemoryError, ValueError, TypeError,
            pickle.PicklingError):
        return None
    data = buffer.getvalue()
    return data if len(data) <= MAX_PLAIN_BYTES else None


def fingerprint(value):
    """(fingerprint, kept) of ``value``: ``kept`` (bytes or str, no live objects) lets
    :func:`expand` rebuild the encoding later. Raises :class:`EncodeError` like :func:`encode`."""
    data = plain_pickle(value)
    if data is not None:
        return "p:" + hashlib.sha256(data).hexdigest(), data
    text = json.dumps(encode(value), sort_keys=True, separators=(",", ":"))
    return "c:" + hashlib.sha256(text.encode("ascii")).hexdigest(), text


def expand(kept):
    """The canonical encoding of the value :func:`fingerprint` kept ``kept`` for."""
    if type(kept) is bytes:
        # Only exact plain types were written; an unpickler that refuses every class makes
        # sure loading runs no code even if the bytes were tampered with.
        return encode(_PlainUnpickler(io.BytesIO(kept)).load())
    return json.loads(kept)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise EncodeError("a kept value refers to a class")
