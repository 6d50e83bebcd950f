"""``perfrl-train eval`` draws from an exported model the way the server does (guarded)."""

from __future__ import annotations

import ast

import pytest

from perfrl.model_contract import default_model_dir
from perfrl_train.eval_generation import (
    GuardedGenerator,
    _parse_account,
    function_body,
    program_as_function,
    target_for_source,
)
from perfrl_train.evaluate import EvalConfig, keeps_signature, load_generator, render_markdown

SOURCE = ("def total_price(items, *, tax=0.2):\n    total = 0\n    for item in items:\n"
          "        total = total + item.price\n    return total * (1 + tax)\n")


@pytest.fixture(scope="module")
def shipped():
    generate, kind = load_generator(default_model_dir(),
                                    EvalConfig(max_new_tokens=96, samples=4, seed=0))
    return generate, kind


def test_an_exported_model_generates_through_the_servers_guarded_source(shipped):
    generate, kind = shipped
    assert isinstance(generate, GuardedGenerator) and "guarded" in kind
    texts = generate(SOURCE, 4)
    assert len(texts) == 4
    served = [t for t in texts if t]
    assert served, "the shipped model serves at least one rewrite of this function"
    for text in served:
        ast.parse(text)
        # The forced signature: the target's own def line, names and defaults included.
        assert text.startswith("def total_price(items, *, tax=0.2):\n")
        assert keeps_signature(text, SOURCE, "total_price")
    assert len({ast.dump(ast.parse(t)) for t in served}) == len(served)  # no duplicates
    assert generate.drawn >= 4
    assert sum(generate.dropped.values()) == generate.drawn - len(served)  # the rest dropped


def test_a_program_is_read_as_a_function_body_and_given_back_as_a_program(shipped):
    generate, _ = shipped
    program = "n = int(input())\ns = 0\nfor i in range(n):\n    s += i\nprint(s)\n"
    texts = generate(program, 3)
    assert len(texts) == 3
    for text in texts:
        if text:
            tree = ast.parse(text)
            # The wrapping function is gone: a module of statements, as the program was.
            assert not any(isinstance(node, ast.FunctionDef) for node in tree.body), text


PROGRAMS = [
    "n = int(input())\ns = 0\nfor i in range(n):\n    s += i\nprint(s)\n",
    # A nested function, a global statement, a string whose second line starts with spaces.
    "import sys\nX = 0\n\n\ndef bump():\n    global X\n    X += 1\n\n\nbump()\n"
    "print(\"\"\"a\n    b\"\"\", X)\n",
]


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_program_and_its_function_body_round_trip(program):
    wrapped = program_as_function(program)
    assert wrapped is not None and wrapped.startswith("def main():\n")
    assert target_for_source(wrapped) is not None
    assert function_body(wrapped) == program


@pytest.mark.parametrize("program", [
    "from math import *\nprint(pi)\n",
    "from __future__ import annotations\nprint(1)\n",
    "def (",
])
def test_a_program_that_cannot_be_a_function_body_is_not_wrapped(program):
    assert program_as_function(program) is None


def test_a_text_that_is_not_the_one_function_gives_no_program():
    assert function_body("") == "" and function_body("x = 1\n") == ""
    assert function_body("def main(:\n") == ""


def test_a_lone_function_becomes_a_target_and_a_program_does_not():
    target = target_for_source("import re\n\nPAT = 1\n\n" + SOURCE)
    assert target is not None and target.name == "total_price" and target.start_line == 5
    assert target.source == SOURCE and "import re" in target.file_text
    assert target_for_source("n = int(input())\nprint(n)\n") is None
    assert target_for_source(SOURCE + "\nprint(total_price([]))\n") is None
    assert target_for_source("def (") is None


def test_the_sources_account_of_drops_is_read_back():
    drawn, dropped = _parse_account("9 outputs drawn for m.f, 3 kept; dropped: duplicate: 4; "
                                    "does not parse: 2")
    assert drawn == 9 and dropped == {"duplicate": 4, "does not parse": 2}
    drawn, dropped = _parse_account("none of the model's 8 outputs for m.f was a usable "
                                    "rewrite (repetition loop: 5; defines no function f: 3)")
    assert drawn == 8 and dropped == {"repetition loop": 5, "defines no function f": 3}
    # Mended outputs were kept: they are not counted as dropped.
    drawn, dropped = _parse_account("9 outputs drawn for m.f, 3 kept; dropped: duplicate: 4; "
                                    "mended: range over a sequence: 2")
    assert drawn == 9 and dropped == {"duplicate": 4}


def test_keeps_signature_compares_the_parameters_exactly():
    assert keeps_signature("def f(a, b=1):\n    return a\n", "def f(a, b=1):\n    pass\n", "f")
    assert not keeps_signature("def f(a, b=2):\n    return a\n", "def f(a, b=1):\n    pass\n",
                               "f")
    assert not keeps_signature("def g(a, b=1):\n    return a\n", "def f(a, b=1):\n    pass\n",
                               "f")
    assert not keeps_signature("def f(a, b=1)\n", "def f(a, b=1):\n    pass\n", "f")


def test_the_report_says_how_outputs_were_drawn_and_dropped():
    synth = {"n": 1, "parse_pct": 100.0, "signature_pct": 100.0, "pass_pct": 0.0,
             "faster_pct": 0.0, "mean_speedup_verified": None,
             "median_speedup_verified": None}
    report = {"models": {"m": {"kind": GuardedGenerator.kind, "synthetic": {
        "best@1": synth, "best@8": synth, "outputs_drawn": 10,
        "outputs_dropped": {"duplicate": 3, "does not parse": 1}}}}}
    md = render_markdown(report, 8)
    assert "| synthetic best@1: keeps signature | 100.0% |" in md
    assert ("- m: onnx, guarded decoding (perfrl.sources.model, as the server serves it); "
            "synthetic: 10 outputs drawn, dropped 4 (duplicate: 3, does not parse: 1)") in md


def test_the_held_out_report_card_uses_the_same_guarded_source():
    import argparse
    import importlib.util
    import sys

    from perfrl.sources.model import DEFAULT_RESAMPLE_ROUNDS, ModelCandidateSource
    from tests.conftest import REPO_ROOT

    path = REPO_ROOT / "benchmarks" / "heldout" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("heldout_evaluate_guarded", path)
    assert spec is not None and spec.loader is not None
    heldout = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = heldout  # its dataclasses look their module up there
    spec.loader.exec_module(heldout)
    target = heldout.project_targets()[0]
    sources = heldout.build_sources_for(argparse.Namespace(source="model", model=None, seed=0),
                                        target, {})
    (source,) = sources
    assert isinstance(source, ModelCandidateSource)
    assert source.guarded and source.resample_rounds == DEFAULT_RESAMPLE_ROUNDS
