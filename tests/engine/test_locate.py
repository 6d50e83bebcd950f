"""Locating functions in real files: layouts, kinds of functions, positions and refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perfrl.engine.locate import (
    ensure_supported,
    find_import_root,
    find_project_root,
    list_functions,
    locate_function,
    locate_function_at,
    module_name,
)
from perfrl.engine.types import TargetNotFound, UnsupportedTarget

SHOP = textwrap.dedent('''\
    """A module with every kind of function."""
    import functools


    @functools.lru_cache(maxsize=None)
    # a comment between the decorator and the def
    def total(prices, tax=0.2):
        def with_tax(p):
            def rounded():
                return round(p * (1 + tax), 2)
            return rounded()
        return sum(with_tax(p) for p in prices)


    class Cart:
        """A cart."""

        def __init__(self, items):
            self.items = items

        def count(self):
            return len(self.items)

        @staticmethod
        def parse(text):
            return text.split(",")

        @classmethod
        def empty(cls):
            return cls([])

        @property
        def size(self):
            return len(self.items)

        @size.setter
        def size(self, value):
            raise AttributeError(value)

        @functools.cached_property
        def heavy(self):
            return sorted(self.items)

        class Line:
            class Price:
                def cents(self, amount: float) -> (
                    int
                ):
                    return int(amount * 100)

        async def fetch(self):
            return self.items

        def each(self):
            yield from self.items

        def not_a_generator(self):
            def inner():
                yield 1
            return list(inner()) + [(lambda: (yield))]


    if True:
        def conditional(x):
            return x
''')


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    write(tmp_path / "shop" / "__init__.py", "")
    return write(tmp_path / "shop" / "cart.py", SHOP)


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


# --- project layout ---------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["pyproject.toml", "setup.py", "setup.cfg", "pytest.ini",
                                    "tox.ini", ".git"])
def test_project_root_is_nearest_marker(tmp_path: Path, marker: str) -> None:
    (tmp_path / "outer.toml").write_text("")
    root = tmp_path / "proj"
    (root / "pkg" / "sub").mkdir(parents=True)
    if marker == ".git":
        (root / ".git").mkdir()
    else:
        (root / marker).write_text("")
    module = write(root / "pkg" / "sub" / "mod.py", "x = 1\n")
    assert find_project_root(module) == root
    assert find_project_root(root / "pkg") == root


def test_project_root_falls_back_to_the_files_folder(tmp_path: Path) -> None:
    module = write(tmp_path / "lonely" / "mod.py", "x = 1\n")
    assert find_project_root(module) == tmp_path / "lonely"


def test_project_root_without_markers_is_above_the_top_package(tmp_path: Path) -> None:
    """No marker anywhere: the folder holding the package (where tests/ usually sits)."""
    root = tmp_path / "plain"
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "sub" / "__init__.py", "")
    module = write(root / "pkg" / "sub" / "mod.py", "x = 1\n")
    assert find_project_root(module) == root
    assert find_project_root(root / "pkg") == root


def test_import_root_of_a_package_is_the_parent_of_the_top_package(shop: Path) -> None:
    root = shop.parent.parent
    write(root / "shop" / "deep" / "__init__.py", "")
    deep = write(root / "shop" / "deep" / "mod.py", "x = 1\n")
    assert find_import_root(deep, root) == root
    assert module_name(deep, root) == "shop.deep.mod"
    assert module_name(root / "shop" / "__init__.py", root) == "shop"


def test_src_layout_imports_from_src(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    write(tmp_path / "src" / "pkg" / "__init__.py", "")
    module = write(tmp_path / "src" / "pkg" / "mod.py", "def f():\n    return 1\n")
    target = locate_function(f"{module}::f")
    assert target.import_root == tmp_path / "src"
    assert target.module_name == "pkg.mod"
    assert target.relpath == "src/pkg/mod.py"
    assert target.display == "src/pkg/mod.py::f"


def test_src_that_is_itself_a_package_is_not_a_src_layout(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    write(tmp_path / "src" / "__init__.py", "")
    module = write(tmp_path / "src" / "mod.py", "def f():\n    return 1\n")
    target = locate_function(f"{module}::f")
    assert (target.import_root, target.module_name) == (tmp_path, "src.mod")


def test_rootdir_style_module_without_package(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("")
    module = write(tmp_path / "lib" / "helpers.py", "def f():\n    return 1\n")
    target = locate_function(f"{module}::f")
    assert target.project_root == tmp_path
    assert target.import_root == tmp_path / "lib"
    assert target.module_name == "helpers"


def test_module_path_that_is_not_importable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    write(tmp_path / "my-pkg" / "__init__.py", "")
    module = write(tmp_path / "my-pkg" / "mod.py", "def f():\n    return 1\n")
    with pytest.raises(UnsupportedTarget, match="'my-pkg' is not a valid Python identifier"):
        locate_function(f"{module}::f")


def test_relative_spec_is_resolved_under_the_given_project_root(shop: Path) -> None:
    root = shop.parent.parent
    target = locate_function("shop/cart.py::Cart.count", project_root=root)
    assert target.path == shop
    assert target.module_name == "shop.cart"


def test_dotdot_in_the_path_is_folded(shop: Path) -> None:
    root = shop.parent.parent
    target = locate_function(f"{root}/shop/../shop/cart.py::total")
    assert target.path == shop and target.relpath == "shop/cart.py"


def test_file_outside_the_given_project_root_is_refused(shop: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(TargetNotFound, match="is not inside the project root"):
        locate_function(f"{shop}::total", project_root=elsewhere)


# --- kinds of functions ---------------------------------------------------------------------


def test_decorated_function_source_starts_at_the_decorator(shop: Path) -> None:
    target = locate_function(f"{shop}::total")
    assert target.start_line == line_of(shop, "@functools.lru_cache")
    assert target.def_line == line_of(shop, "def total")
    assert target.end_line == line_of(shop, "return sum(with_tax")
    assert target.source.startswith("@functools.lru_cache(maxsize=None)\n# a comment")
    assert target.source.endswith("    return sum(with_tax(p) for p in prices)\n")
    lines = shop.read_text().splitlines(keepends=True)
    assert target.source == "".join(lines[target.start_line - 1:target.end_line])
    assert target.file_text == shop.read_text()
    assert (target.indent, target.is_method, target.method_kind) == ("", False, "function")
    assert not target.is_async and not target.is_generator
    assert target.qualname == "total" and target.name == "total"
    ensure_supported(target)


@pytest.mark.parametrize(
    ("qualname", "kind", "first_line"),
    [
        ("Cart.count", "method", "    def count(self):\n"),
        ("Cart.parse", "staticmethod", "    @staticmethod\n"),
        ("Cart.empty", "classmethod", "    @classmethod\n"),
        ("Cart.size", "property", "    @property\n"),
        ("Cart.heavy", "property", "    @functools.cached_property\n"),
        ("Cart.__init__", "method", "    def __init__(self, items):\n"),
    ],
)
def test_methods(shop: Path, qualname: str, kind: str, first_line: str) -> None:
    target = locate_function(f"{shop}::{qualname}")
    assert target.is_method
    assert target.method_kind == kind
    assert target.indent == "    "
    assert target.source.startswith(first_line)
    assert target.module_name == "shop.cart"


def test_method_of_nested_class_with_multiline_signature(shop: Path) -> None:
    target = locate_function(f"{shop}::Cart.Line.Price.cents")
    assert target.indent == " " * 12
    assert target.source == (
        "            def cents(self, amount: float) -> (\n"
        "                int\n"
        "            ):\n"
        "                return int(amount * 100)\n"
    )
    assert target.method_kind == "method"


def test_function_inside_module_level_if_is_addressable(shop: Path) -> None:
    target = locate_function(f"{shop}::conditional")
    assert target.indent == "    " and target.method_kind == "function"


def test_async_and_generators_are_located_but_not_supported(shop: Path) -> None:
    fetch = locate_function(f"{shop}::Cart.fetch")
    assert fetch.is_async and not fetch.is_generator
    with pytest.raises(UnsupportedTarget, match="async function"):
        ensure_supported(fetch)
    each = locate_function(f"{shop}::Cart.each")
    assert each.is_generator and not each.is_async
    with pytest.raises(UnsupportedTarget, match="generator"):
        ensure_supported(each)


def test_yield_in_nested_function_or_lambda_does_not_make_a_generator(shop: Path) -> None:
    target = locate_function(f"{shop}::Cart.not_a_generator")
    assert not target.is_generator
    ensure_supported(target)


def test_property_setter_is_not_chosen_for_the_property_name(shop: Path) -> None:
    target = locate_function(f"{shop}::Cart.size")
    assert "@property" in target.source and "setter" not in target.source


def test_tab_indented_method(tmp_path: Path) -> None:
    module = write(tmp_path / "tabs.py", "class A:\n\tdef m(self):\n\t\treturn 1\n")
    target = locate_function(f"{module}::A.m")
    assert target.indent == "\t"
    assert target.source == "\tdef m(self):\n\t\treturn 1\n"


def test_crlf_file_keeps_its_line_endings_in_the_source(tmp_path: Path) -> None:
    module = write(tmp_path / "crlf.py", "import os\n\n\ndef f(x):\n    return x\n", "\r\n")
    target = locate_function(f"{module}::f")
    assert target.source == "def f(x):\r\n    return x\r\n"
    assert target.file_text.count("\r\n") == 5
    assert (target.start_line, target.end_line) == (4, 5)


def test_file_with_byte_order_mark_and_coding_cookie(tmp_path: Path) -> None:
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef f():\n    return '\xc3\xa9'\n")
    target = locate_function(f"{bom}::f")
    assert target.file_text.startswith("\ufeffdef f()")
    assert target.source == "def f():\n    return '\u00e9'\n"  # the mark is not source
    assert target.indent == ""
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\ndef g():\n    return '\xe9'\n")
    assert "'\u00e9'" in locate_function(f"{latin}::g").source


def test_redefined_function_is_refused(tmp_path: Path) -> None:
    module = write(tmp_path / "twice.py", "def f():\n    return 1\n\n\ndef f():\n    return 2\n")
    with pytest.raises(UnsupportedTarget, match=r"defined 2 times .*lines 1, 5"):
        locate_function(f"{module}::f")


def test_overload_stubs_are_skipped(tmp_path: Path) -> None:
    module = write(tmp_path / "over.py", textwrap.dedent("""\
        from typing import overload

        @overload
        def f(x: int) -> int: ...
        @overload
        def f(x: str) -> str: ...
        def f(x):
            return x
        """))
    target = locate_function(f"{module}::f")
    assert target.source == "def f(x):\n    return x\n"


# --- refusals ----------------------------------------------------------------------------------


def test_nested_function_is_refused_with_the_enclosing_function(shop: Path) -> None:
    with pytest.raises(UnsupportedTarget) as info:
        locate_function(f"{shop}::total.with_tax")
    message = str(info.value)
    assert "defined inside total" in message
    assert "shop/cart.py::total instead" in message
    with pytest.raises(UnsupportedTarget, match="defined inside total"):
        locate_function(f"{shop}::total.<locals>.with_tax.<locals>.rounded")


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    module = write(tmp_path / "broken.py", "def ok():\n    return 1\n\ndef bad(:\n    pass\n")
    with pytest.raises(TargetNotFound) as info:
        locate_function(f"{module}::ok")
    message = str(info.value)
    assert "broken.py has a syntax error at line 4" in message
    assert "def bad(:" in message


def test_not_found_suggests_close_names(shop: Path) -> None:
    with pytest.raises(TargetNotFound, match=r"no function totl .*did you mean total"):
        locate_function(f"{shop}::totl")
    with pytest.raises(TargetNotFound, match=r"did you mean Cart\.count"):
        locate_function(f"{shop}::count")
    with pytest.raises(TargetNotFound, match=r"Cart in cart\.py is a class; .*Cart\.__init__"):
        locate_function(f"{shop}::Cart")
    with pytest.raises(TargetNotFound, match=r"it defines total, Cart\.__init__"):
        locate_function(f"{shop}::zzzzzzzz")


def test_missing_file_wrong_suffix_and_bad_spec(tmp_path: Path) -> None:
    with pytest.raises(TargetNotFound, match="does not exist"):
        locate_function(f"{tmp_path / 'nope.py'}::f")
    text_file = write(tmp_path / "notes.txt", "def f(): pass\n")
    with pytest.raises(TargetNotFound, match="not a Python source file"):
        locate_function(f"{text_file}::f")
    with pytest.raises(TargetNotFound, match=r"write path/to/module\.py::function_name"):
        locate_function(str(tmp_path / "mod.py"))
    with pytest.raises(TargetNotFound, match="is a folder"):
        locate_function(f"{tmp_path}/::f")


# --- by position -----------------------------------------------------------------------------


def test_line_lookup_decorator_body_and_nested_def(shop: Path) -> None:
    for needle in ["@functools.lru_cache", "# a comment between", "def total",
                   "def rounded", "return round(", "return sum(with_tax"]:
        assert locate_function_at(shop, line_of(shop, needle)).qualname == "total", needle
    assert locate_function_at(shop, line_of(shop, "@staticmethod")).qualname == "Cart.parse"
    assert locate_function_at(shop, line_of(shop, "return int(amount")).qualname == (
        "Cart.Line.Price.cents"
    )
    inner = locate_function_at(shop, line_of(shop, "def inner():"))
    assert inner.qualname == "Cart.not_a_generator"


def test_line_outside_any_function(shop: Path) -> None:
    with pytest.raises(TargetNotFound, match=r"line 1 of cart\.py is not inside a function"):
        locate_function_at(shop, 1)
    with pytest.raises(TargetNotFound, match="nearest is Cart.__init__"):
        locate_function_at(shop, line_of(shop, '"""A cart."""'))
    with pytest.raises(TargetNotFound, match="outside cart.py"):
        locate_function_at(shop, 10_000)


def test_line_in_property_setter_is_refused(shop: Path) -> None:
    with pytest.raises(UnsupportedTarget, match="setter"):
        locate_function_at(shop, line_of(shop, "raise AttributeError"))


def test_unsaved_buffer_is_used_instead_of_the_file(shop: Path) -> None:
    buffer = "\n\n" + shop.read_text()
    target = locate_function_at(shop, line_of(shop, "def count") + 2, text=buffer)
    assert target.qualname == "Cart.count"
    assert target.file_text == buffer
    assert target.def_line == line_of(shop, "def count") + 2


def test_buffer_for_a_file_not_yet_on_disk(tmp_path: Path) -> None:
    target = locate_function_at(tmp_path / "new.py", 2, text="def f():\n    return 1\n")
    assert target.qualname == "f" and target.module_name == "new"


# --- spans for the editor --------------------------------------------------------------------


def test_list_functions_spans(shop: Path) -> None:
    spans = {span.qualname: span for span in list_functions(shop.read_text())}
    assert "total.with_tax" not in spans and "with_tax" not in spans
    assert list(spans)[:3] == ["total", "Cart.__init__", "Cart.count"]
    total = spans["total"]
    assert (total.start_line, total.def_line) == (line_of(shop, "@functools"),
                                                  line_of(shop, "def total"))
    assert total.name_col == 4
    assert total.signature_end == (total.def_line, len("def total(prices, tax=0.2):"))
    cents = spans["Cart.Line.Price.cents"]
    assert cents.name_col == 16
    assert cents.signature_end == (cents.def_line + 2, 14)
    assert spans["Cart.fetch"].is_async and spans["Cart.fetch"].name_col == 14
    assert spans["Cart.each"].is_generator
    assert spans["Cart.parse"].method_kind == "staticmethod"
    assert spans["Cart.size"].end_line == line_of(shop, "def size(self):") + 1
    assert list(spans).count("Cart.size") == 1


def test_list_functions_signature_with_lambda_default_and_body_on_def_line() -> None:
    text = "def f(key=lambda x: x, *, d={'a': 1}) -> 'dict[str, int]': return d\n"
    (span,) = list_functions(text)
    assert span.signature_end == (1, text.index(": return") + 1)
    assert (span.start_line, span.end_line) == (1, 1)


def test_list_functions_columns_are_characters_not_bytes() -> None:
    text = "\ufeffdef f(x='é'): return x\nclass Ä:\n    def g(self, s='ü'): return s\n"
    spans = {s.qualname: s for s in list_functions(text)}
    assert spans["f"].name_col == 5
    assert spans["f"].signature_end == (1, text.index(": return") + 1)
    assert spans["Ä.g"].name_col == 8
    assert spans["Ä.g"].signature_end == (3, len("    def g(self, s='ü'):"))


def test_list_functions_on_broken_text_is_empty() -> None:
    assert list_functions("def f(:\n") == []
    assert list_functions("x = '\0'") == []  # null bytes: ValueError in 3.11
    assert list_functions("") == []
