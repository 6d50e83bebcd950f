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
"""

import builtins
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
