"""Outputs that read an attribute the project's own class does not have: dropped before the
verifier.

After the builtins (:mod:`perfrl.sources.missing_attributes`), the commonest certain failure
of the shipped model on the held-out projects is an ``AttributeError`` on one of the project's
own objects: ``self.splitlines()`` in a ``Catalogue`` method, ``book.split()`` for a ``Book``
(41 of the 76 ``AttributeError`` failures of EDITR16's two runs). Each such output costs a
sandboxed test run to find out; dropped early, it is drawn again.

The rule is narrow, so that it never drops a rewrite that could run. A class is *known* when
its ``class`` statement is at the top level of the target's module or of a module of the
project the target's module imports it from (``from .records import Book``; with it, the
classes of that module its attributes are declared to hold), its decorators are only
``dataclass``/``total_ordering`` forms, it names no metaclass, its bases are ``object``,
``NamedTuple`` or known classes, and nothing in it can add attributes no statement shows
(``__getattr__``, ``__getattribute__``, ``setattr(``, ``__dict__``; nor is one the module
passes to ``setattr``). Its attributes are ``object``'s (a ``NamedTuple``'s: ``tuple``'s and
the named-tuple methods), the names its body binds (methods, properties, class variables,
dataclass fields) and every ``X`` some method assigns as ``self.X`` (or the module as
``Cls.X``), its known bases' included. A name of the output has a known class when it is a
method's ``self`` (the output is a method of that class, or a region of one), a parameter
annotated with the class (``book: Book``), or the target of every loop or comprehension binding
it, each over a parameter annotated as a collection of the class (``books: list[Book]``) or
over ``x.X`` where ``x``'s known class declares ``X: list[Book]`` (``self.books``,
``order.lines``; or a method sets ``self.X = books``, ``books: list[Book]`` its parameter); any
other binding of the name leaves it unknown. The items of a collection of ``dict``, ``list`` or
``set`` (``records: list[dict]``) are known the same way, as the builtin. Reading ``name.attr``
where the class lacks ``attr`` drops the output, unless ``attr`` is a dunder, the output
assigns ``attr`` on something itself, or the original function reads ``name.attr`` too (the
original's code is the original's to keep). So does ``name[...]`` where the class lacks the
method that subscript calls (``__getitem__``, ``__setitem__``, ``__delitem__``: ``payment["cents"]``
of a ``Payment`` dataclass), unless the original subscripts ``name`` the same way.

A caller may rely on :func:`missing_class_attributes` naming only what the rule covers, and
:func:`project_classes` never raising on a module that does not parse or an import it cannot
find (those classes are unknown).
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.candidate_text import FunctionNode
from perfrl.engine.locate import decorator_name as last_name
from perfrl.engine.locate import parse_module
from perfrl.engine.types import FunctionTarget

#: Why such an output was dropped, in the source's note.
MISSING_CLASS_ATTRIBUTE = "uses an attribute its object's class does not have"

_OBJECT = frozenset(dir(object))
_NAMED_TUPLE = frozenset(dir(tuple)) | {"_asdict", "_replace", "_fields", "_make",
                                        "_field_defaults"}
_DECORATORS = frozenset({"dataclass", "total_ordering"})
_OPEN_TEXT = ("__getattr__", "__getattribute__", "setattr(", "__dict__")
_QUOTED_COLLECTION = re.compile(r"(?:\w+\.)?(\w+)\[\s*['\"]?(\w+)['\"]?\s*(?:,\s*\.\.\.\s*)?\]")
_UNHASHABLE_BUILTINS = {"dict": dict, "list": list, "set": set}
_COLLECTIONS = frozenset({"list", "List", "set", "Set", "frozenset", "FrozenSet", "tuple",
                          "Tuple", "Sequence", "Iterable", "Iterator", "Collection",
                          "MutableSequence", "AbstractSet"})


@dataclass(frozen=True)
class KnownClass:
    """A class whose every attribute a statement shows (see the module)."""

    attributes: frozenset[str]
    #: Attributes the class declares as a collection of a known class: name -> class name.
    element_classes: dict[str, str]
    #: Whether its instances can be set members or dict keys: False for a ``dataclass`` that
    #: compares by value and is neither frozen nor ``unsafe_hash``, or a class defining
    #: ``__eq__`` (or ``__hash__ = None``) without a ``__hash__`` method, itself or its bases.
    hashable: bool = True


def _annotation_name(node: ast.expr | None) -> str | None:
    """``Book`` of ``Book`` or ``"Book"``; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if node.value.isidentifier() else None
    return node.id if isinstance(node, ast.Name) else None


def _element_name(node: ast.expr | None) -> str | None:
    """``Book`` of ``list[Book]``, ``Sequence["Book"]``, ``tuple[Book, ...]``; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        # A quoted annotation is read by pattern, not parsed: it may be candidate text, which
        # is parsed in one place only (perfrl.engine.candidate_text).
        match = _QUOTED_COLLECTION.fullmatch(node.value.strip())
        return match.group(2) if match and match.group(1) in _COLLECTIONS else None
    if not (isinstance(node, ast.Subscript) and last_name(node.value) in _COLLECTIONS):
        return None
    inner = node.slice
    if isinstance(inner, ast.Tuple):
        if not (len(inner.elts) == 2 and isinstance(inner.elts[1], ast.Constant)
                and inner.elts[1].value is Ellipsis):
            return None
        inner = inner.elts[0]
    return _annotation_name(inner)


#: Calls that make a new collection of the same items as their first argument.
_SAME_ITEMS = frozenset({"list", "tuple", "sorted"})


def _copied_collection(value: ast.expr) -> str | None:
    """The name whose items ``value`` holds: ``xs`` of ``xs``, ``list(xs)``, ``tuple(xs)``,
    ``sorted(xs, ...)``; else None."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
            and value.func.id in _SAME_ITEMS and value.args:
        value = value.args[0]
    return value.id if isinstance(value, ast.Name) else None


_Facts = tuple[set[str], dict[str, str], list[str], "bool | None"]


def _own_hashability(node: ast.ClassDef) -> bool | None:
    """Whether the class statement itself makes its instances hashable (True), unhashable
    (False), or leaves it to its bases (None)."""
    own = {statement.name for statement in node.body
           if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "__hash__" in own:
        return True  # a dataclass keeps a __hash__ the class defines
    for decorator in node.decorator_list:
        if last_name(decorator) != "dataclass":
            continue
        options = {k.arg: k.value.value for k in decorator.keywords
                   if isinstance(k.value, ast.Constant)} if isinstance(decorator, ast.Call) else {}
        if options.get("unsafe_hash", False):
            return True
        if not options.get("eq", True):
            return None  # a dataclass that does not compare leaves __hash__ as inherited
        return bool(options.get("frozen", False))
    nulled = any(isinstance(statement, ast.Assign) and any(_is_name(t, "__hash__")
                                                           for t in statement.targets)
                 for statement in node.body)
    if nulled or "__eq__" in own:
        return False
    return None


def _class_facts(node: ast.ClassDef, text: str) -> _Facts | None:
    """(own attributes, element classes, base names, own hashability) of a class statement,
    or None when something in it can add attributes no statement shows."""
    segment = ast.get_source_segment(text, node) or ""
    if node.keywords or any(marker in segment for marker in _OPEN_TEXT):
        return None
    if any(last_name(decorator) not in _DECORATORS for decorator in node.decorator_list):
        return None
    attributes: set[str] = set()
    elements: dict[str, str] = {}
    for statement in node.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            attributes.add(statement.name)
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            attributes.add(statement.target.id)
            element = _element_name(statement.annotation)
            if element:
                elements[statement.target.id] = element
        elif isinstance(statement, ast.Assign):
            attributes.update(n.id for t in statement.targets for n in ast.walk(t)
                              if isinstance(n, ast.Name))
    for method in node.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
            continue
        me = method.args.args[0].arg
        # ``self.books = books`` (or ``list(books)``, ``sorted(books, ...)``) where the method
        # takes ``books: list[Book]`` (or ``Iterable[Book]``...).
        given = {arg.arg: element for arg in method.args.args
                 if (element := _element_name(arg.annotation))}
        for inner in ast.walk(method):
            if (isinstance(inner, ast.Assign) and len(inner.targets) == 1
                    and isinstance(inner.targets[0], ast.Attribute)
                    and _is_name(inner.targets[0].value, me)):
                source = _copied_collection(inner.value)
                if source in given:
                    elements[inner.targets[0].attr] = given[source]
            if (isinstance(inner, ast.AnnAssign) and isinstance(inner.target, ast.Attribute)
                    and _is_name(inner.target.value, me)):
                element = _element_name(inner.annotation)
                if element:
                    elements[inner.target.attr] = element
            if (isinstance(inner, ast.Attribute) and _is_name(inner.value, me)
                    and isinstance(inner.ctx, ast.Store)):
                attributes.add(inner.attr)
    bases = []
    for base in node.bases:
        name = last_name(base)
        if not name:
            return None
        bases.append(name)
    return attributes, elements, bases, _own_hashability(node)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _module_file(target: FunctionTarget, imported: ast.ImportFrom) -> Path | None:
    """The project file a ``from ... import`` of the target's module reads, when it is one."""
    parts = target.module_name.split(".")
    if imported.level:
        package = parts if target.path.name == "__init__.py" else parts[:-1]
        if imported.level - 1 > len(package):
            return None
        parts = package[:len(package) - (imported.level - 1)]
    else:
        parts = []
    parts = parts + (imported.module.split(".") if imported.module else [])
    if not parts:
        return None
    for candidate in (target.import_root.joinpath(*parts).with_suffix(".py"),
                      target.import_root.joinpath(*parts, "__init__.py")):
        try:
            if candidate.is_file() and candidate.resolve().is_relative_to(
                    target.project_root.resolve()):
                return candidate
        except OSError:
            return None
    return None


@functools.lru_cache(maxsize=64)
def _top_classes(text: str) -> dict[str, _Facts | None]:
    """The module's top-level classes by name: their facts, or None for one that is not known.
    Attributes the module's own statements give a class from outside (``Book.extra = 1``)
    count as its own; a class the module passes to ``setattr`` is not known."""
    try:
        tree = parse_module(text)
    except (SyntaxError, ValueError):
        return {}
    classes = {node.name: _class_facts(node, text) for node in tree.body
               if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        facts = None
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name):
            facts = classes.get(node.value.id)
            if facts is not None:
                facts[0].add(node.attr)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "setattr" and node.args
              and isinstance(node.args[0], ast.Name) and node.args[0].id in classes):
            classes[node.args[0].id] = None
    return classes


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def project_classes(target: FunctionTarget) -> dict[str, KnownClass]:
    """The known classes (see the module) the target's module can name, by name."""
    raw = dict(_top_classes(target.file_text))
    try:
        tree = parse_module(target.file_text)
    except (SyntaxError, ValueError):
        return {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        path = _module_file(target, node)
        text = _read(path) if path is not None else None
        if text is None:
            continue
        classes = _top_classes(text)
        wanted = [(alias.name, alias.asname or alias.name) for alias in node.names]
        while wanted:
            name, local = wanted.pop()
            if name not in classes or local in raw:
                continue
            # Bases are looked up among the imported module's own classes.
            raw[local] = facts = _closed_over(name, classes)
            # The classes its attributes hold (``Order.lines: list[Line]``), by their names.
            wanted += [(element, element) for element in (facts[1].values() if facts else ())]
    known = {name: found for name in raw if (found := _resolve(name, raw, ())) is not None}
    # Items of ``records: list[dict]``: what a dict (list, set) has, and no hash.
    return {**{name: KnownClass(frozenset(dir(kind)), {}, hashable=False)
               for name, kind in _UNHASHABLE_BUILTINS.items() if name not in raw}, **known}


def _closed_over(name: str, classes: dict) -> _Facts | None:
    """A class of another module with its known bases' facts folded in (its base names mean
    nothing in the target's module)."""
    known = _resolve(name, classes, ())
    return None if known is None else (set(known.attributes), known.element_classes, [],
                                       known.hashable)


def _resolve(name: str, raw: dict, seen: tuple[str, ...]) -> KnownClass | None:
    facts = raw.get(name)
    if facts is None or name in seen:
        return None
    attributes, elements, bases, hashable = facts
    everything = set(_OBJECT) | attributes
    merged = dict(elements)
    inherited = True
    for base in bases:
        if base == "object":
            continue
        if base == "NamedTuple":
            everything |= _NAMED_TUPLE
            continue
        known = _resolve(base, raw, (*seen, name))
        if known is None:
            return None
        everything |= known.attributes
        merged = {**known.element_classes, **merged}
        inherited = inherited and known.hashable
    return KnownClass(frozenset(everything), merged,
                      inherited if hashable is None else hashable)


def typed_names(function: FunctionNode, classes: dict[str, KnownClass],
                own_class: str | None) -> dict[str, str]:
    """Names of ``function`` with a known class (see the module): name -> class name."""
    args = function.args
    parameters = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    declared: dict[str, str] = {}
    elements: dict[str, str] = {}
    for arg in parameters:
        name = _annotation_name(arg.annotation)
        element = _element_name(arg.annotation)
        if arg.arg == "self" and own_class is not None and own_class in classes:
            declared["self"] = own_class
        elif name is not None and name in classes:
            declared[arg.arg] = name
        elif element is not None and element in classes:
            elements[arg.arg] = element
    loops: list[tuple[str, ast.expr]] = []
    loop_targets: set[int] = set()
    for node in ast.walk(function):
        if (isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension))
                and isinstance(node.target, ast.Name)):
            loops.append((node.target.id, node.iter))
            loop_targets.add(id(node.target))
    other_bindings = _other_bindings(function, loop_targets)
    typed = {name: cls for name, cls in declared.items() if name not in other_bindings}
    parameter_names = {arg.arg for arg in parameters}
    # A loop over ``order.lines`` knows its items once ``order`` is known: a few passes.
    for _ in range(3):
        bound: dict[str, set[str | None]] = {}
        for target, iterable in loops:
            bound.setdefault(target, set()).add(
                _iterated_class(iterable, elements, typed, classes))
        found = {name: next(iter(kinds)) for name, kinds in bound.items()
                 if name not in parameter_names and name not in other_bindings
                 and len(kinds) == 1 and next(iter(kinds)) in classes}
        if all(typed.get(name) == cls for name, cls in found.items()):
            break
        typed.update(found)  # type: ignore[arg-type]
    return typed


def _other_bindings(function: FunctionNode, loop_targets: set[int]) -> set[str]:
    """Names ``function`` binds other than as the loop targets given (by ``id``)."""
    names = set()
    for node in ast.walk(function):
        if id(node) in loop_targets:
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                and node is not function:
            inner = node.args
            names.update(arg.arg for arg in (*inner.posonlyargs, *inner.args, *inner.kwonlyargs,
                                             inner.vararg, inner.kwarg) if arg is not None)
    return names


def _iterated_class(iterable: ast.expr, elements: dict[str, str], typed: dict[str, str],
                    classes: dict[str, KnownClass]) -> str | None:
    """The class of the items of ``iterable`` when it is a parameter annotated as a
    collection of a known class, or ``x.X`` where ``x``'s known class declares ``X`` so
    (``self.books``, ``order.lines``), also through ``sorted(...)``, ``reversed(...)``,
    ``list(...)`` or a slice."""
    while True:
        if (isinstance(iterable, ast.Call) and last_name(iterable) in ("sorted", "reversed",
                                                                         "list", "tuple")
                and isinstance(iterable.func, ast.Name) and iterable.args):
            iterable = iterable.args[0]
        elif isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
            iterable = iterable.value
        else:
            break
    if isinstance(iterable, ast.Name):
        return elements.get(iterable.id)
    if isinstance(iterable, ast.Attribute) and isinstance(iterable.value, ast.Name):
        owner = classes.get(typed.get(iterable.value.id, ""))
        return None if owner is None else owner.element_classes.get(iterable.attr)
    return None


def _attributes_read(function: FunctionNode) -> set[tuple[str, str]]:
    return {(node.value.id, node.attr) for node in ast.walk(function)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and isinstance(node.ctx, ast.Load)}


def missing_class_attributes(output: FunctionNode, original: FunctionNode | None,
                             classes: dict[str, KnownClass], own_class: str | None) -> list[str]:
    """``name.attribute`` for each attribute ``output`` reads that ``name``'s known class does
    not have (the module's rule), sorted. ``own_class`` is the class the target is a method
    of (None for a plain function)."""
    if not classes:
        return []
    typed = typed_names(output, classes, own_class)
    if not typed:
        return []
    assigned = {node.attr for node in ast.walk(output)
                if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load)}
    kept = _attributes_read(original) if original is not None else set()
    found = set()
    for name, attribute in _attributes_read(output):
        cls = typed.get(name)
        if (cls is None or attribute.startswith("__") or attribute in assigned
                or (name, attribute) in kept):
            continue
        if attribute not in classes[cls].attributes:
            found.add(f"{name}.{attribute}")
    kept_subscripts = _subscripts(original) if original is not None else set()
    for name, method in _subscripts(output) - kept_subscripts:
        cls = typed.get(name)
        if cls is not None and method not in classes[cls].attributes:
            found.add(f"{name}[...] ({method})")
    return sorted(found)


#: The method a subscript calls, by what the subscript does.
_SUBSCRIPT_METHODS = {ast.Load: "__getitem__", ast.Store: "__setitem__", ast.Del: "__delitem__"}


def _subscripts(function: FunctionNode) -> set[tuple[str, str]]:
    """(name, the method it calls) for each ``name[...]`` in ``function``."""
    return {(node.value.id, _SUBSCRIPT_METHODS[type(node.ctx)]) for node in ast.walk(function)
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)}


def own_class(target: FunctionTarget) -> str | None:
    """The class ``target`` is a plain method of (its qualname's last class), else None."""
    if not target.is_method or target.method_kind not in ("method", "property"):
        return None
    parts = target.qualname.split(".")
    return parts[-2] if len(parts) >= 2 and "<locals>" not in parts else None
