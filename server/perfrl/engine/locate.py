"""Finding the function to optimize in a user's file, and what the engine needs to know about it.

A caller may rely on:

- :func:`locate_function` and :func:`locate_function_at` returning a
  :class:`~perfrl.engine.types.FunctionTarget` whose ``source`` is exactly lines
  ``start_line..end_line`` of ``file_text`` (first decorator to the last line of the body,
  whole lines, original indentation and line endings), or raising
  :class:`~perfrl.engine.types.TargetNotFound` / :class:`~perfrl.engine.types.UnsupportedTarget`
  with a message meant for the user (what is wrong and what to do instead);
- only *addressable* functions being returned: module-level functions and methods of classes
  (nested classes included), the things a test can reach as ``module.name`` or
  ``module.Class.name``. Functions defined inside other functions are refused by name and, by
  position, mapped to the addressable function that contains them;
- async functions and generators being located (with ``is_async`` / ``is_generator`` set) but
  refused by :func:`ensure_supported`, which the engine calls before verifying;
- :func:`list_functions` never raising on a broken buffer (it returns ``[]``), because the
  language server calls it on every keystroke's worth of text.

Line numbers are 1-based. Columns are 0-based indices into the line as a Python ``str``
(code points), not UTF-8 byte offsets as in :mod:`ast`.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import io
import os
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.source_files import SourceDecodeError, decode_source
from perfrl.engine.types import FunctionTarget, TargetNotFound, UnsupportedTarget

#: Files or folders whose presence marks a project root (the nearest ancestor wins).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", ".git")

_BOM = "\ufeff"
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_INDENT_RE = re.compile(r"[ \t\f]*")


@dataclass(frozen=True)
class FunctionSpan:
    """Where an addressable function sits in a buffer, for code lenses and inlay hints.

    ``start_line`` is the first decorator's line, ``def_line`` the line of ``def``,
    ``end_line`` the last line of the body (all 1-based, inclusive). ``name_col`` is the
    0-based column of the function's name on ``def_line``; ``signature_end`` is
    ``(line, col)`` just after the ``:`` that ends the ``def`` header (1-based line,
    0-based col).
    """

    qualname: str
    name: str
    start_line: int
    def_line: int
    end_line: int
    name_col: int
    signature_end: tuple[int, int]
    method_kind: str = "function"
    is_async: bool = False
    is_generator: bool = False


@dataclass
class _Definition:
    """One ``def`` found in a module, addressable or not."""

    node: _FunctionNode
    qualname: str  # dotted, without "<locals>"
    method_kind: str
    in_class: bool
    # For a def inside another function: the addressable function that contains it.
    enclosing: _Definition | None = None
    # Property setters/deleters and typing.overload stubs share a name with the real function.
    secondary: bool = False


# ---------------------------------------------------------------------------------------------
# Project layout


def _absolute(path: Path | str) -> Path:
    """Absolute, with ``..`` folded, symlinks kept (the user's path is what they see)."""
    return Path(os.path.abspath(path))


def find_project_root(path: Path) -> Path:
    """The nearest ancestor of ``path`` (itself included when it is a folder) holding one of
    :data:`PROJECT_MARKERS`; when there is none, the parent of the top-most package holding
    ``path`` (the folder itself for a plain module's folder).

    The fallback is where such a project's tests usually sit next to the package (``pkg/``
    and ``tests/`` side by side) and where pytest, run there, imports ``pkg`` from; the
    file's own folder would hold no tests at all."""
    path = _absolute(path)
    start = path if path.is_dir() else path.parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    folder = start
    while (folder / "__init__.py").exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def find_import_root(path: Path, project_root: Path) -> Path:
    """The folder that must be on ``sys.path`` for the module at ``path`` to import.

    ``<root>/src`` for a src layout (when ``src`` is not itself a package); otherwise the
    parent of the top-most package holding the file (walking up while ``__init__.py``
    exists, never above ``project_root``), which for a plain module is its own folder. This
    is the folder pytest's default ``prepend`` import mode puts on ``sys.path``.
    """
    path = _absolute(path)
    project_root = _absolute(project_root)
    src = project_root / "src"
    if path.is_relative_to(src) and not (src / "__init__.py").exists():
        return src
    folder = path.parent
    while (
        folder != project_root
        and (folder / "__init__.py").exists()
        and folder.parent.is_relative_to(project_root)
    ):
        folder = folder.parent
    return folder


def module_name(path: Path, import_root: Path) -> str:
    """The dotted module name of ``path`` relative to ``import_root`` (``pkg/__init__.py`` is
    ``pkg``). Raises UnsupportedTarget when a part is not a valid identifier."""
    relative = _absolute(path).relative_to(_absolute(import_root))
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    bad = [part for part in parts if not part.isidentifier()]
    if bad:
        raise UnsupportedTarget(
            f"{relative.as_posix()} cannot be imported as a module: {bad[0]!r} is not a valid "
            "Python identifier. Rename the file or folder so tests can import it."
        )
    return ".".join(parts)


# ---------------------------------------------------------------------------------------------
# Text helpers shared with candidate_check


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept, split only where Python's tokenizer splits (``\\n``,
    ``\\r\\n``, ``\\r``); unlike ``str.splitlines`` a form feed is not a line break."""
    return io.StringIO(text, newline="").readlines()


def parse_module(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` that accepts a leading byte-order mark (kept in ``file_text``). Columns of
    line 1 are then one less than indices into the text; :func:`_char_col` corrects that."""
    return ast.parse(text[1:] if text.startswith(_BOM) else text, filename=filename)


def function_is_generator(node: _FunctionNode) -> bool:
    """Whether ``yield`` / ``yield from`` occurs in the function's own body (not in nested
    functions, lambdas or classes, which have their own frames)."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            # Their decorators and default values still run in our frame.
            if not isinstance(current, ast.Lambda):
                stack.extend(current.decorator_list)
            if not isinstance(current, ast.ClassDef):
                stack.extend(current.args.defaults)
                stack.extend(d for d in current.args.kw_defaults if d is not None)
            else:
                stack.extend(current.bases)
                stack.extend(k.value for k in current.keywords)
            continue
        stack.extend(ast.iter_child_nodes(current))
    return False


def decorator_name(decorator: ast.expr) -> str:
    """The last dotted component a decorator is called by (``functools.lru_cache(8)`` ->
    ``lru_cache``), or "" for anything more exotic."""
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    if isinstance(decorator, ast.Name):
        return decorator.id
    if isinstance(decorator, ast.Attribute):
        return decorator.attr
    return ""


# ---------------------------------------------------------------------------------------------
# Collecting definitions


def _namespace_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements whose definitions land in the namespace that owns ``body``: the body
    itself plus the blocks of compound statements (if/try/with/for/while/match), but not the
    bodies of functions or classes, which have namespaces of their own."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(stmt, field_name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield from _namespace_statements(block)
        for handler in getattr(stmt, "handlers", ()) or ():
            yield from _namespace_statements(handler.body)
        for case in getattr(stmt, "cases", ()) or ():
            yield from _namespace_statements(case.body)


def _method_kind(node: _FunctionNode, in_class: bool) -> tuple[str, bool]:
    """(method_kind, secondary): secondary definitions share their name with the real one
    (``@x.setter``/``@x.deleter`` accessors, ``@overload`` stubs) and are never the target."""
    names = [decorator_name(d) for d in node.decorator_list]
    is_accessor = any(
        isinstance(d, ast.Attribute)
        and d.attr in ("setter", "deleter", "getter")
        and isinstance(d.value, ast.Name)
        and d.value.id == node.name
        for d in node.decorator_list
    )
    secondary = is_accessor or "overload" in names
    if not in_class:
        kind = "function"
    elif "staticmethod" in names:
        kind = "staticmethod"
    elif "classmethod" in names:
        kind = "classmethod"
    elif is_accessor or "property" in names or "cached_property" in names:
        kind = "property"
    else:
        kind = "method"
    return kind, secondary


def _collect_definitions(tree: ast.Module) -> tuple[list[_Definition], list[_Definition]]:
    """(addressable definitions, nested definitions) in source order."""
    addressable: list[_Definition] = []
    nested: list[_Definition] = []

    def visit_namespace(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for stmt in _namespace_statements(body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind, secondary = _method_kind(stmt, in_class)
                definition = _Definition(
                    stmt, prefix + stmt.name, kind, in_class, secondary=secondary
                )
                addressable.append(definition)
                visit_nested(stmt, prefix + stmt.name + ".", definition, False)
            elif isinstance(stmt, ast.ClassDef):
                visit_namespace(stmt.body, prefix + stmt.name + ".", True)

    def visit_nested(node: ast.AST, prefix: str, enclosing: _Definition, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested.append(
                    _Definition(
                        child,
                        prefix + child.name,
                        "method" if in_class else "function",
                        in_class,
                        enclosing=enclosing,
                    )
                )
                visit_nested(child, prefix + child.name + ".", enclosing, False)
            elif isinstance(child, ast.ClassDef):
                visit_nested(child, prefix + child.name + ".", enclosing, True)
            else:
                visit_nested(child, prefix, enclosing, in_class and isinstance(child, ast.stmt))

    visit_namespace(tree.body, "", False)
    return addressable, nested


def _start_line(node: _FunctionNode) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _char_col(line: str, byte_col: int, line_no: int, text: str) -> int:
    """Convert an :mod:`ast` UTF-8 byte column to a ``str`` index into ``line``."""
    bom = 1 if line_no == 1 and text.startswith(_BOM) else 0
    body = line[bom:]
    return bom + len(body.encode("utf-8")[:byte_col].decode("utf-8", errors="replace"))


def _header_colons(text: str) -> list[tuple[int, int]]:
    """Positions (line, col) of every ``:`` token outside brackets, in order."""
    source = text[1:] if text.startswith(_BOM) else text
    colons: list[tuple[int, int]] = []
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in ("(", "[", "{"):
                depth += 1
            elif token.string in (")", "]", "}"):
                depth = max(depth - 1, 0)
            elif token.string == ":" and depth == 0:
                line, col = token.start
                colons.append((line, col + (1 if line == 1 and source is not text else 0)))
    except (tokenize.TokenError, SyntaxError):
        pass
    return colons


def _span(
    definition: _Definition, lines: list[str], text: str, colons: list[tuple[int, int]]
) -> FunctionSpan:
    node = definition.node
    def_text = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
    node_col = _char_col(def_text, node.col_offset, node.lineno, text)
    match = re.compile(r"def\s+(" + re.escape(node.name) + r")\b").search(def_text, node_col)
    name_col = match.start(1) if match else node_col
    first = node.body[0]
    body_line = lines[first.lineno - 1] if first.lineno <= len(lines) else ""
    body_start = (first.lineno, _char_col(body_line, first.col_offset, first.lineno, text))
    low = bisect.bisect_right(colons, (node.lineno, name_col))
    high = bisect.bisect_left(colons, body_start)
    if high > low:
        colon_line, colon_col = colons[high - 1]
        signature_end = (colon_line, colon_col + 1)
    else:  # tokenizer disagreed with the parser; the end of the def line is a fair answer
        signature_end = (node.lineno, len(def_text.rstrip("\r\n")))
    return FunctionSpan(
        qualname=definition.qualname,
        name=node.name,
        start_line=_start_line(node),
        def_line=node.lineno,
        end_line=node.end_lineno or node.lineno,
        name_col=name_col,
        signature_end=signature_end,
        method_kind=definition.method_kind,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        is_generator=function_is_generator(node),
    )


def list_functions(text: str) -> list[FunctionSpan]:
    """Every addressable function of a buffer (module-level functions and methods, in source
    order), without property setters/deleters and ``typing.overload`` stubs. Returns ``[]``
    when the buffer does not parse."""
    try:
        tree = parse_module(text)
    except (SyntaxError, ValueError):
        return []
    lines = split_lines(text)
    colons = _header_colons(text)
    addressable, _ = _collect_definitions(tree)
    return [_span(d, lines, text, colons) for d in addressable if not d.secondary]


# ---------------------------------------------------------------------------------------------
# Locating


def _read_source(path: Path) -> str:
    """The file's text decoded as Python would (coding cookie, BOM kept as U+FEFF), with
    its line endings untouched."""
    if not path.exists():
        raise TargetNotFound(f"{path} does not exist")
    if path.is_dir():
        raise TargetNotFound(f"{path} is a folder; name a Python file (path/to/module.py)")
    if path.suffix != ".py":
        raise TargetNotFound(
            f"{path} is not a Python source file; PerfRL optimizes functions in .py files"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TargetNotFound(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return decode_source(data)[0]
    except SourceDecodeError as exc:
        raise TargetNotFound(f"cannot decode {path}: {exc}") from exc


def _parse_for_user(text: str, path: Path) -> ast.Module:
    try:
        return parse_module(text, filename=str(path))
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "somewhere"
        shown = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        raise TargetNotFound(
            f"{path.name} has a syntax error at {where}: {exc.msg}{shown}. "
            "Fix it before optimizing a function in this file."
        ) from exc
    except ValueError as exc:  # null bytes
        raise TargetNotFound(f"{path.name} cannot be parsed: {exc}") from exc


def _layout(path: Path, project_root: Path | None) -> tuple[Path, Path, str]:
    root = _absolute(project_root) if project_root is not None else find_project_root(path)
    if not path.is_relative_to(root):
        raise TargetNotFound(f"{path} is not inside the project root {root}")
    import_root = find_import_root(path, root)
    return root, import_root, module_name(path, import_root)


def _target(
    path: Path, root: Path, import_root: Path, module: str, text: str, definition: _Definition
) -> FunctionTarget:
    node = definition.node
    lines = split_lines(text)
    start, end = _start_line(node), node.end_lineno or node.lineno
    if start == 1 and lines[0].startswith(_BOM):
        # The byte-order mark is an encoding marker, not part of the function's text;
        # splice() puts it back.
        lines[0] = lines[0][1:]
    first_line = lines[start - 1]
    return FunctionTarget(
        path=path,
        project_root=root,
        import_root=import_root,
        module_name=module,
        qualname=definition.qualname,
        source="".join(lines[start - 1 : end]),
        start_line=start,
        end_line=end,
        def_line=node.lineno,
        indent=_INDENT_RE.match(first_line).group(0),  # type: ignore[union-attr]
        is_method=definition.in_class,
        method_kind=definition.method_kind,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        is_generator=function_is_generator(node),
        file_text=text,
    )


def _single(matches: list[_Definition], qualname: str, path: Path) -> _Definition:
    """The one definition a qualname means; refuses redefinitions, which tests cannot tell
    apart (the module attribute is whichever ran last)."""
    primary = [d for d in matches if not d.secondary] or matches
    if len(primary) > 1:
        lines = ", ".join(str(d.node.lineno) for d in primary)
        raise UnsupportedTarget(
            f"{qualname} is defined {len(primary)} times in {path.name} (lines {lines}); "
            "PerfRL cannot tell which definition the tests call. Remove or rename the others."
        )
    chosen = primary[0]
    if chosen.secondary:
        raise UnsupportedTarget(
            f"{qualname} at line {chosen.node.lineno} of {path.name} is a property setter/"
            "deleter or an @overload stub; point at the property getter or the implementation."
        )
    return chosen


def _resolve_spec_path(raw: str, project_root: Path | None) -> Path:
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute() and project_root is not None:
        under_root = Path(project_root) / candidate
        if under_root.exists():
            return _absolute(under_root)
    return _absolute(candidate)


def locate_function(spec: str, project_root: Path | None = None) -> FunctionTarget:
    """The function named by ``path/to/mod.py::Qualname`` (``Class.method``,
    ``Outer.Inner.method`` for methods). A relative path is looked up under ``project_root``
    first, then the current folder. Async functions and generators are returned (see
    :func:`ensure_supported`)."""
    raw_path, sep, qualname = spec.strip().rpartition("::")
    if not sep or not raw_path or not qualname:
        raise TargetNotFound(
            f"{spec!r} does not name a function; write path/to/module.py::function_name "
            "or path/to/module.py::ClassName.method_name"
        )
    path = _resolve_spec_path(raw_path, project_root)
    text = _read_source(path)
    root, import_root, module = _layout(path, project_root)
    tree = _parse_for_user(text, path)
    addressable, nested = _collect_definitions(tree)

    wanted = qualname.replace(".<locals>.", ".").strip(".")
    matches = [d for d in addressable if d.qualname == wanted]
    if matches:
        return _target(path, root, import_root, module, text, _single(matches, wanted, path))
    inner = [d for d in nested if d.qualname == wanted]
    if inner:
        enclosing = inner[0].enclosing
        assert enclosing is not None
        raise UnsupportedTarget(
            f"{wanted} (line {inner[0].node.lineno} of {path.name}) is defined inside "
            f"{enclosing.qualname}; a nested function cannot be reached by tests on its own. "
            f"Optimize {_relpath_or_name(path, root)}::{enclosing.qualname} instead."
        )
    raise TargetNotFound(_not_found_message(wanted, path, addressable))


def _relpath_or_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _not_found_message(wanted: str, path: Path, addressable: list[_Definition]) -> str:
    names = list(dict.fromkeys(d.qualname for d in addressable if not d.secondary))
    if not names:
        return f"{path.name} defines no functions or methods, so it has no {wanted}"
    members = [n for n in names if n.startswith(wanted + ".")]
    if members:
        return (
            f"{wanted} in {path.name} is a class; name one of its methods, for example "
            f"{', '.join(members[:5])}"
        )
    last = wanted.rsplit(".", 1)[-1]
    same_name = [n for n in names if n.rsplit(".", 1)[-1] == last]
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.6)
    suggestions = list(dict.fromkeys(same_name + close))[:5]
    if suggestions:
        return f"no function {wanted} in {path.name}; did you mean {', '.join(suggestions)}?"
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"no function {wanted} in {path.name}; it defines {shown}"


def locate_function_at(
    path: Path, line: int, project_root: Path | None = None, text: str | None = None
) -> FunctionTarget:
    """The addressable function whose lines (decorators included) contain 1-based ``line``.

    Inside a nested function this is the module-level function or method that contains it.
    ``text``, when given, is the editor's unsaved buffer and is used instead of the file.
    """
    path = _absolute(path)
    if text is None:
        text = _read_source(path)
    elif path.suffix != ".py":
        raise TargetNotFound(
            f"{path} is not a Python source file; PerfRL optimizes functions in .py files"
        )
    root, import_root, module = _layout(path, project_root)
    tree = _parse_for_user(text, path)
    line_count = len(split_lines(text))
    if not 1 <= line <= max(line_count, 1):
        raise TargetNotFound(f"line {line} is outside {path.name}, which has {line_count} lines")
    addressable, _ = _collect_definitions(tree)
    containing = [
        d
        for d in addressable
        if _start_line(d.node) <= line <= (d.node.end_lineno or d.node.lineno)
    ]
    if not containing:
        message = f"line {line} of {path.name} is not inside a function or method"
        names = [d for d in addressable if not d.secondary]
        if names:
            nearest = min(names, key=lambda d: abs(_start_line(d.node) - line))
            message += (
                f"; the nearest is {nearest.qualname} at line {nearest.node.lineno}. "
                "Put the cursor inside the function to optimize."
            )
        raise TargetNotFound(message)
    # Addressable functions never nest inside one another, so at most one contains the line.
    definition = containing[0]
    if definition.secondary:
        _single([definition], definition.qualname, path)  # raises: setter or overload stub
    _single(
        [d for d in addressable if d.qualname == definition.qualname], definition.qualname, path
    )  # raises on redefinitions
    return _target(path, root, import_root, module, text, definition)


def ensure_supported(target: FunctionTarget) -> None:
    """Raise UnsupportedTarget for functions the verifier cannot handle yet."""
    if target.is_async:
        raise UnsupportedTarget(
            f"{target.display} is an async function; PerfRL does not optimize async "
            "functions yet (their timing depends on the event loop). Pick a regular function."
        )
    if target.is_generator:
        raise UnsupportedTarget(
            f"{target.display} is a generator (it uses yield); PerfRL does not optimize "
            "generators yet, because their results are consumed lazily by the caller. "
            "Pick a function that returns its result."
        )
