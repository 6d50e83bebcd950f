"""Outputs reading an attribute the project's own class does not have are dropped before the
verifier; what the rule cannot be sure of is left to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.class_attributes import (
    MISSING_CLASS_ATTRIBUTE,
    missing_class_attributes,
    own_class,
    project_classes,
)
from perfrl.sources.model import select_clean
from tests.conftest import run_output, write_tree

RECORDS = '''from dataclasses import dataclass


@dataclass(frozen=True)
class Book:
    isbn: str
    title: str
    year: int

    @property
    def label(self) -> str:
        return self.isbn + " " + self.title


class Shelf(list):
    """A list subclass: its attributes are not all shown by statements."""
'''

CATALOGUE = '''from __future__ import annotations

from .records import Book, Shelf


class Catalogue:
    def __init__(self, books: list[Book], owner: str):
        self.books = books
        self.owner = owner

    def titles(self) -> list[str]:
        out = []
        for book in self.books:
            out.append(book.title)
        return out


def oldest(books: list[Book]) -> Book:
    best = books[0]
    for book in books:
        if book.year < best.year:
            best = book
    return best


def on_shelf(shelf: Shelf) -> int:
    return len(shelf)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_tree(tmp_path, {"library/__init__.py": "", "library/records.py": RECORDS,
                                 "library/catalogue.py": CATALOGUE})


def fn(code: str) -> ast.FunctionDef:
    [function] = ast.parse(code).body
    assert isinstance(function, ast.FunctionDef)
    return function


def _check(project: Path, spec: str, output: str) -> list[str]:
    target = locate_function(f"library/catalogue.py::{spec}", project)
    original = fn(__import__("textwrap").dedent(target.source))
    return missing_class_attributes(fn(output), original, project_classes(target),
                                    own_class(target))


def test_the_known_classes_come_from_the_module_and_its_project_imports(project: Path) -> None:
    target = locate_function("library/catalogue.py::Catalogue.titles", project)
    classes = project_classes(target)
    # Shelf subclasses list: its attributes are not all shown, so it is not known. The
    # builtin containers are known for the items of ``records: list[dict]``.
    assert sorted(classes) == ["Book", "Catalogue", "dict", "list", "set"]
    assert not classes["dict"].hashable and "items" in classes["dict"].attributes
    assert {"isbn", "title", "year", "label", "__eq__"} <= classes["Book"].attributes
    assert {"books", "owner", "titles"} <= classes["Catalogue"].attributes
    assert classes["Catalogue"].element_classes == {"books": "Book"}
    assert own_class(target) == "Catalogue"


@pytest.mark.parametrize(("spec", "output", "missing"), [
    # self of a Catalogue method, read as if it were a string.
    ("Catalogue.titles",
     "def titles(self) -> list[str]:\n    return [l for l in self.splitlines()]\n",
     ["self.splitlines"]),
    # The items of self.books (declared through __init__'s list[Book] parameter).
    ("Catalogue.titles",
     "def titles(self) -> list[str]:\n    return [book.name for book in self.books]\n",
     ["book.name"]),
    # A lambda's parameter is no loop target: its class is not known.
    ("oldest",
     "def oldest(books: list[Book]) -> Book:\n"
     "    return sorted(books, key=lambda book: book.split())[0]\n", []),
    # The items of a parameter annotated list[Book], through sorted().
    ("oldest",
     "def oldest(books: list[Book]) -> Book:\n"
     "    for book in sorted(books):\n        return book.published\n", ["book.published"]),
    # A dataclass subscripted as if it were a dict record: no __getitem__ (nor __setitem__).
    ("oldest",
     "def oldest(books: list[Book]) -> Book:\n"
     "    return min(books, key=lambda b: b.year) if books[0]['year'] else books[0]\n", []),
    ("Catalogue.titles",
     "def titles(self) -> list[str]:\n    return [book['title'] for book in self.books]\n",
     ["book[...] (__getitem__)"]),
    ("Catalogue.titles",
     "def titles(self) -> list[str]:\n    for book in self.books:\n"
     "        book['seen'] = True\n    return self[0]\n",
     ["book[...] (__setitem__)", "self[...] (__getitem__)"]),
])
def test_an_attribute_the_class_lacks_is_caught(project: Path, spec: str, output: str,
                                                missing: list[str]) -> None:
    assert _check(project, spec, output) == missing


@pytest.mark.parametrize(("spec", "output"), [
    # Attributes the classes have: fields, properties, methods, object's.
    ("oldest", "def oldest(books: list[Book]) -> Book:\n"
               "    return min(books, key=lambda b: (b.year, b.label, b.__hash__()))\n"),
    ("Catalogue.titles", "def titles(self) -> list[str]:\n"
                         "    return [b.title for b in self.books if self.owner]\n"),
    # A loop target bound otherwise too: its class is not known.
    ("oldest", "def oldest(books: list[Book]) -> Book:\n    book = books\n"
               "    for book in books:\n        pass\n    return book.pop()\n"),
    # An attribute the output assigns itself, and one the original reads itself.
    ("Catalogue.titles", "def titles(self) -> list[str]:\n    self.cache = 1\n"
                         "    return self.cache\n"),
    # A class that is not known (a list subclass).
    ("on_shelf", "def on_shelf(shelf: Shelf) -> int:\n    return shelf.count(1)\n"),
    ("on_shelf", "def on_shelf(shelf: Shelf) -> int:\n    return shelf[0]\n"),
    # A list of Books is a list: subscripting it is fine; so is what the original does.
    ("oldest", "def oldest(books: list[Book]) -> Book:\n    return books[0]\n"),
])
def test_what_the_rule_cannot_be_sure_of_is_left_to_the_verifier(
        project: Path, spec: str, output: str) -> None:
    assert _check(project, spec, output) == []


def test_a_caught_output_really_fails(project: Path) -> None:
    output = "def titles(self) -> list[str]:\n    return [l for l in self.splitlines()]\n"
    run = run_output(project, "from library.catalogue import Catalogue\n"
                     "from library.records import Book", output,
                     "titles(Catalogue([Book('1', 't', 1990)], 'me'))")
    assert run.returncode != 0 and "AttributeError" in run.stderr, run.stderr


def test_attributes_the_module_gives_a_class_from_outside_count(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        "class Plain:\n    def f(self):\n        return 1\n\n\nPlain.extra = 2\n\n\n"
        "class Patched:\n    pass\n\n\nsetattr(Patched, 'g', 3)\n")
    target = locate_function("mod.py::Plain.f", tmp_path)
    classes = project_classes(target)
    assert "extra" in classes["Plain"].attributes and "Patched" not in classes
    output = "def f(self):\n    return self.extra + self.missing\n"
    assert missing_class_attributes(fn(output), fn("def f(self):\n    return 1\n"),
                                    classes, own_class(target)) == ["self.missing"]


def test_a_class_that_can_grow_attributes_is_not_known(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        "class Loose:\n    def __getattr__(self, name):\n        return name\n\n"
        "    def f(self):\n        return 1\n")
    target = locate_function("mod.py::Loose.f", tmp_path)
    assert "Loose" not in project_classes(target)
    output = "def f(self):\n    return self.anything\n"
    assert missing_class_attributes(fn(output), fn("def f(self):\n    return 1\n"),
                                    project_classes(target), own_class(target)) == []


def test_the_model_source_drops_it_and_says_why(project: Path) -> None:
    target = locate_function("library/catalogue.py::Catalogue.titles", project)
    original = original_candidate(target)
    outputs = [
        GeneratedSequence("def titles(self) -> list[str]:\n"
                          "    return [x for x in self.splitlines()]\n", [], -0.1),
        GeneratedSequence("def titles(self) -> list[str]:\n"
                          "    return [book.title for book in self.books]\n", [], -0.2),
    ]
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
    assert [c.label for c in kept] == ["sample 1"]
    assert dropped == {MISSING_CLASS_ATTRIBUTE: 1}


def test_a_collection_copied_in_init_keeps_its_items_class(tmp_path: Path) -> None:
    # `self.orders = list(orders)` of an `Iterable[Order]` parameter (as OrderBook of the
    # held-out invoicing project does) holds Orders; a copy of something else holds nothing
    # known.
    module = ("from dataclasses import dataclass\nfrom typing import Iterable\n\n\n"
              "@dataclass\nclass Order:\n    customer_id: str\n\n\n"
              "class OrderBook:\n"
              "    def __init__(self, orders: Iterable[Order], rows: list[Order], n: int):\n"
              "        self.orders = list(orders)\n"
              "        self.ranked = sorted(rows, key=len)\n"
              "        self.kept = tuple(orders)\n"
              "        self.numbers = list(range(n))\n\n"
              "    def first(self) -> Order:\n        return self.orders[0]\n")
    root = write_tree(tmp_path, {"shop/__init__.py": "", "shop/orders.py": module})
    target = locate_function("shop/orders.py::OrderBook.first", root)
    classes = project_classes(target)
    assert classes["OrderBook"].element_classes == {
        "orders": "Order", "ranked": "Order", "kept": "Order"}
    output = fn("def first(self) -> Order:\n"
                "    return [order.customer for order in self.orders][0]\n")
    assert missing_class_attributes(output, None, classes, own_class(target)) == [
        "order.customer"]
