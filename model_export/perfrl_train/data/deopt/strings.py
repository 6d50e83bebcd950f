"""Transforms on string building and literal displays: an f-string -> ``str.format`` (a method
call that parses its template at run time), a dict display with identifier keys -> a
``dict(...)`` call with keywords."""

from __future__ import annotations

import ast

from .common import parents, take


def _format_template(node: ast.JoinedStr) -> tuple[str, list[ast.expr]] | None:
    """The ``str.format`` template and arguments equivalent to an f-string, or None when a
    field's format spec is itself computed (a nested field)."""
    parts: list[str] = []
    args: list[ast.expr] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(value, ast.FormattedValue):
            field = "{"
            if value.conversion != -1:
                field += "!" + chr(value.conversion)
            if value.format_spec is not None:
                spec = value.format_spec
                if not (isinstance(spec, ast.JoinedStr) and all(
                        isinstance(v, ast.Constant) for v in spec.values)):
                    return None
                field += ":" + "".join(v.value for v in spec.values)  # type: ignore[attr-defined]
            parts.append(field + "}")
            args.append(value.value)
        else:
            return None
    return "".join(parts), args


def fstring_to_format(fn: ast.FunctionDef) -> bool:
    """``f"{a} and {b!r:>4}"`` -> ``"{} and {!r:>4}".format(a, b)`` (the first f-string with
    a field, docstrings aside)."""
    up = parents(fn)
    for node in ast.walk(fn):
        if not isinstance(node, ast.JoinedStr) or not any(
                isinstance(v, ast.FormattedValue) for v in node.values):
            continue
        parent = up.get(id(node))
        if isinstance(parent, (ast.FormattedValue, ast.JoinedStr)):
            continue  # a format spec, not an expression
        found = _format_template(node)
        if found is None or not take():
            continue
        template, args = found
        call = ast.Call(func=ast.Attribute(ast.Constant(template), "format", ast.Load()),
                        args=args, keywords=[])
        for field_name, val in ast.iter_fields(parent):  # type: ignore[arg-type]
            if val is node:
                setattr(parent, field_name, call)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if item is node:
                        val[k] = call
        return True
    return False


def dict_display_to_call(fn: ast.FunctionDef) -> bool:
    """``{"a": x, "b": y}`` (identifier string keys, no ``**``) -> ``dict(a=x, b=y)``."""
    if "dict" in {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
                  and not isinstance(n.ctx, ast.Load)}:
        return False
    up = parents(fn)
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Dict) and node.keys and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str)
                and k.value.isidentifier() and not _is_keyword(k.value) for k in node.keys)):
            continue
        keys = [k.value for k in node.keys]  # type: ignore[union-attr]
        if len(set(keys)) != len(keys):
            continue  # a repeated key: the display keeps the last, a call raises
        if not take():
            continue
        call = ast.Call(func=ast.Name("dict", ast.Load()), args=[], keywords=[
            ast.keyword(k, v) for k, v in zip(keys, node.values, strict=True)])
        parent = up[id(node)]
        for field_name, val in ast.iter_fields(parent):
            if val is node:
                setattr(parent, field_name, call)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if item is node:
                        val[k] = call
        return True
    return False


def _is_keyword(word: str) -> bool:
    import keyword

    return keyword.iskeyword(word)
