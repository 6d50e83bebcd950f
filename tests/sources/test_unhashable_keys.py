"""Outputs putting an object of an unhashable class into a set or a dict are dropped before
the verifier; what the rule cannot be sure of is left to it."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.class_attributes import own_class, project_classes
from perfrl.sources.model import select_clean
from perfrl.sources.unhashable_keys import UNHASHABLE_KEY, unhashable_uses
from tests.conftest import run_output, write_tree

MODELS = '''from dataclasses import dataclass, field


@dataclass
class Line:
    sku: str
    quantity: int


@dataclass
class Order:
    order_id: str
    customer_id: str
    lines: list[Line] = field(default_factory=list)


@dataclass(frozen=True)
class Tag:
    name: str


class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return self.x == other.x


class Keyed(Point):
    def __hash__(self):
        return hash(self.x)
'''

ORDERS = '''from .models import Keyed, Order, Point, Tag


def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:
    found = []
    for order in orders:
        if order.customer_id in customer_ids:
            found.append(order)
    return found


def skus(orders: list[Order]) -> list[str]:
    out = []
    for order in orders:
        for line in order.lines:
            if line.sku not in out:
                out.append(line.sku)
    return out


def counts(records: list[dict]) -> dict:
    out = {}
    for record in records:
        out[record["k"]] = out.get(record["k"], 0) + 1
    return out


def tags(found: list[Tag], points: list[Point], keyed: list[Keyed]) -> int:
    return len(found) + len(points) + len(keyed)
'''


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_tree(tmp_path, {"shop/__init__.py": "", "shop/models.py": MODELS,
                                 "shop/orders.py": ORDERS})


def _check(project: Path, name: str, output: str) -> list[str]:
    target = locate_function(f"shop/orders.py::{name}", project)
    [original] = ast.parse(textwrap.dedent(target.source)).body
    [function] = ast.parse(output).body
    return unhashable_uses(function, original, project_classes(target),  # type: ignore[arg-type]
                           own_class(target))


def test_the_classes_hashability_follows_python(project: Path) -> None:
    classes = project_classes(locate_function("shop/orders.py::tags", project))
    assert not classes["Order"].hashable and not classes["Line"].hashable
    assert classes["Tag"].hashable  # frozen
    assert not classes["Point"].hashable  # __eq__ without __hash__
    assert classes["Keyed"].hashable  # defines __hash__ itself
    assert not classes["dict"].hashable
    assert classes["Order"].element_classes == {"lines": "Line"}


@pytest.mark.parametrize(("name", "output", "uses"), [
    ("open_for", "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
                 "    wanted = set(customer_ids)\n    found = []\n    for order in orders:\n"
                 "        if order in wanted:\n            found.append(order)\n    return found\n",
     ["order in wanted"]),
    # The items of an attribute a known class declares as a list of a class.
    ("skus", "def skus(orders: list[Order]) -> list[str]:\n    seen = set()\n    out = []\n"
             "    for order in orders:\n        for line in order.lines:\n"
             "            if line not in seen:\n                seen.add(line)\n"
             "                out.append(line.sku)\n    return out\n",
     ["line in seen", "seen.add(line)"]),
    # Dict records as keys: of a comprehension, of a dict the function builds.
    ("counts", "def counts(records: list[dict]) -> dict:\n"
               "    return {record: 1 for record in records}\n", ["{record: ... for ...}"]),
    ("counts", "def counts(records: list[dict]) -> dict:\n    out = {}\n"
               "    for record in records:\n        out[record] = 1\n    return out\n",
     ["out[record]"]),
])
def test_an_unhashable_object_used_as_a_key_is_caught(project: Path, name: str, output: str,
                                                      uses: list[str]) -> None:
    assert _check(project, name, output) == uses


@pytest.mark.parametrize(("name", "output"), [
    # A hashable value of the object.
    ("open_for", "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
                 "    wanted = set(customer_ids)\n"
                 "    return [o for o in orders if o.customer_id in wanted]\n"),
    # Hashable classes: frozen, or defining __hash__.
    ("tags", "def tags(found: list[Tag], points: list[Point], keyed: list[Keyed]) -> int:\n"
             "    return len({t for t in found}) + len({k for k in keyed}) + len(points)\n"),
    # Tested against a list (equality, no hash), or a name bound otherwise too.
    ("open_for", "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
                 "    return [o for o in orders if o in orders[:3]]\n"),
    ("open_for", "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
                 "    wanted = set()\n    wanted = list(orders)\n"
                 "    return [o for o in orders if o in wanted]\n"),
])
def test_what_the_rule_cannot_be_sure_of_is_left_to_the_verifier(
        project: Path, name: str, output: str) -> None:
    assert _check(project, name, output) == []


def test_a_caught_output_really_fails(project: Path) -> None:
    output = ("def open_for(orders, customer_ids):\n    wanted = set(customer_ids)\n"
              "    return [o for o in orders if o in wanted]\n")
    run = run_output(project, "from shop.models import Order", output,
                     "open_for([Order('1', 'c')], ['c'])")
    assert run.returncode != 0 and "unhashable type: 'Order'" in run.stderr, run.stderr


def test_the_model_source_drops_it_and_says_why(project: Path) -> None:
    target = locate_function("shop/orders.py::open_for", project)
    original = original_candidate(target)
    header = "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
    outputs = [
        GeneratedSequence(header + "    wanted = set(customer_ids)\n"
                          "    return [o for o in orders if o in wanted]\n", [], -0.1),
        GeneratedSequence(header + "    wanted = set(customer_ids)\n"
                          "    return [o for o in orders if o.customer_id in wanted]\n", [], -0.2),
    ]
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
    assert [c.label for c in kept] == ["sample 1"]
    assert dropped == {UNHASHABLE_KEY: 1}


HOSTILE_OUTPUTS = [
    # Every binding form the rules walk, on the names they type: self rebound, deleted, made
    # global; starred and tuple loop targets; a walrus; dict unpacking (a None key); a lambda
    # and a nested function taking the names; a class of the same name; deep nesting.
    "def open_for(orders: list[Order], customer_ids: list[str]) -> list[Order]:\n"
    "    global orders2\n    (a, *b) = orders\n    for (o, p) in zip(orders, orders):\n"
    "        pass\n    if (w := set(customer_ids)) and {**{}, o: 1}:\n        del w\n"
    "    f = lambda order: {order} | {order: 1 for order in orders}.keys()\n"
    "    def g(order, *orders, **kw):\n        return order in set()\n"
    "    class Order:\n        pass\n"
    "    return [[[[x for x in orders if x in {x}] for y in orders] for z in orders]]\n",
    # Annotations and attributes that are not names at all.
    "def open_for(orders: 'list[', customer_ids: list[str][0]) -> list[Order]:\n"
    "    return [o.__class__.__mro__[0]().x for o in orders.__iter__()]\n",
]


@pytest.mark.parametrize("output", HOSTILE_OUTPUTS)
def test_an_output_written_to_trip_the_rules_neither_crashes_them_nor_passes_as_clean(
        project: Path, output: str) -> None:
    # The rules run in the server process on candidate text: whatever an output looks like,
    # they answer (never raise), and the job goes on with the output kept or dropped.
    target = locate_function("shop/orders.py::open_for", project)
    original = original_candidate(target)
    kept, dropped = select_clean([GeneratedSequence(output, [], -0.1)], target, original,
                                 DistinctCandidates(original))
    assert len(kept) + sum(dropped.values()) == 1
    [function] = ast.parse(output).body
    assert isinstance(_check(project, "open_for", output), list)
    assert isinstance(function, ast.FunctionDef)
