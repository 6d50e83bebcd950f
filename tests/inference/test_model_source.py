"""The model candidate source: cleaning of model outputs, and the whole path on a real model."""

from __future__ import annotations

import ast
import contextlib
import json
import re
from pathlib import Path

import pytest

from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.locate import locate_function
from perfrl.engine.types import FunctionTarget
from perfrl.inference.background import ModelHandle
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.edit_sites import site_text
from perfrl.sources.model import ModelCandidateSource, clean_model_output, select_usable

from .conftest import TinyModel

LOOP = "def scale(xs):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n    return out\n"
REWRITE = "def scale(xs):\n    return [x * 3 for x in xs]\n"


def make_target(tmp_path: Path, text: str, qualname: str) -> FunctionTarget:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "mod.py").write_text(text)
    return locate_function(f"mod.py::{qualname}", tmp_path)


@pytest.fixture
def target(tmp_path) -> FunctionTarget:
    return make_target(tmp_path, "import math\n\n\n" + LOOP, "scale")


def test_clean_keeps_a_plain_function(target):
    assert clean_model_output(REWRITE, target) == (REWRITE, "")


def test_clean_strips_fences_prose_and_indentation(target):
    text = "Here is a faster version:\n```python\n    " + REWRITE.replace("\n", "\n    ") + "```\n"
    code, _ = clean_model_output(text, target)
    assert code == REWRITE


def test_clean_extracts_the_def_with_the_target_name(target):
    text = "import os\n\ndef helper(y):\n    return y\n\n" + REWRITE + "\nprint(scale([1]))\n"
    code, _ = clean_model_output(text, target)
    assert code == REWRITE


def test_clean_drops_outputs_without_the_function(target):
    assert clean_model_output("import os\n\ndef other(x):\n    return x\n\nx = 1\n", target) == (
        None,
        "defines no function scale",
    )
    code, why = clean_model_output("def scale(xs):\n    return [x * 3 for x in", target)
    assert code is None and why == "does not parse"
    assert clean_model_output("", target)[0] is None


def test_clean_method_output_is_dedented(tmp_path):
    text = "class Box:\n    def scale(self, xs):\n        return xs\n"
    target = make_target(tmp_path, text, "Box.scale")
    code, _ = clean_model_output("    def scale(self, xs):\n        return list(xs)\n", target)
    assert code == "def scale(self, xs):\n    return list(xs)\n"


def test_select_usable_drops_noops_duplicates_and_junk(target):
    outputs = [
        GeneratedSequence(REWRITE, [], -0.1),
        GeneratedSequence(
            "def scale(xs):\n    return [x  *  3 for x in xs]  # same AST\n", [], -0.2
        ),
        GeneratedSequence(LOOP, [], -0.3),
        GeneratedSequence("def scale(xs):\n    return list(map(lambda x: x * 3, xs))\n", [], -0.4),
        GeneratedSequence("def scale(xs):\n    return [", [], -0.5, finished=False),
        GeneratedSequence("x = 1\n", [], -0.6),
    ]
    kept, dropped = select_usable(outputs, target, LOOP)
    assert [index for index, _ in kept] == [0, 3]
    assert kept[0][1] == REWRITE
    assert dropped == {
        "duplicate": 1,
        "same as the original": 1,
        "does not parse (cut at the length limit)": 1,
        "defines no function scale": 1,
    }


def test_unloadable_model_raises_a_source_error_with_the_reason(target, tmp_path):
    source = ModelCandidateSource(tmp_path / "no-model")
    with pytest.raises(CandidateSourceError, match="model is unavailable: .*does not exist"):
        list(source.generate(target, 4))
    assert source.handle.state == "failed"


def test_zero_limit_yields_nothing_without_loading(target, tmp_path):
    source = ModelCandidateSource(tmp_path / "no-model")
    assert list(source.generate(target, 0)) == []
    assert source.handle.state == "not_loaded"


@pytest.mark.slow
@pytest.mark.train
def test_model_source_end_to_end(tiny_model: TinyModel, target):
    handle = ModelHandle(tiny_model.onnx_dir)
    handle.start()
    source = ModelCandidateSource(handle, temperature=1.5, seed=3, max_new_tokens=48)
    candidates = list(source.generate(target, 6))
    assert candidates, "the tiny model memorized the rewrite; the greedy one must survive"
    assert candidates[0].label == "greedy" and candidates[0].code == REWRITE
    assert all(c.source == "model" for c in candidates)
    assert all(c.label == "greedy" or c.label.startswith("sample ") for c in candidates)
    dumps = [ast.dump(ast.parse(c.code)) for c in candidates]
    assert len(set(dumps)) == len(dumps)
    assert ast.dump(ast.parse(LOOP)) not in dumps
    # The same seed gives the same candidates; the labels name the same draws.
    again = list(
        ModelCandidateSource(handle, temperature=1.5, seed=3, max_new_tokens=48).generate(target, 6)
    )
    assert again == candidates
    assert len(list(source.generate(target, 1))) == 1


@pytest.mark.slow
@pytest.mark.train
def test_model_source_refuses_a_function_longer_than_the_model_reads(tiny_model, tmp_path):
    body = "".join(f"    y{i} = xs[{i}] * {i}\n" for i in range(80))
    target = make_target(tmp_path, f"def long(xs):\n{body}    return y0\n", "long")
    source = ModelCandidateSource(tiny_model.onnx_dir)
    with pytest.raises(CandidateSourceError, match="too long for the model"):
        list(source.generate(target, 4))


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize(("model", "reason"), [
    # Three tokens cannot hold a function: every output is cut short and does not parse.
    ("onnx_dir", "does not parse"),
    # Nor an edit script: "@" and a number are no complete '@A-B' line.
    ("edit_dir", "edit without a line '@A-B'"),
])
def test_model_source_reports_when_no_output_is_usable(tiny_model, target, model, reason):
    model_dir = getattr(tiny_model, model)
    source = ModelCandidateSource(model_dir, num_candidates=2, max_new_tokens=3,
                                  resample_rounds=0)
    with pytest.raises(
        CandidateSourceError,
        match=r"none of the model's 2 outputs for scale "
        rf"was a usable rewrite \({re.escape(reason)} \(cut at the length limit\): 2\)",
    ):
        list(source.generate(target, 4))
    # Unusable outputs are drawn again, DEFAULT_RESAMPLE_ROUNDS times by default: 2 each time.
    from perfrl.sources.model import DEFAULT_RESAMPLE_ROUNDS

    source = ModelCandidateSource(model_dir, num_candidates=2, max_new_tokens=3)
    drawn = 2 * (1 + DEFAULT_RESAMPLE_ROUNDS)
    with pytest.raises(CandidateSourceError, match=rf"none of the model's {drawn} outputs"):
        list(source.generate(target, 4))


@pytest.mark.slow
@pytest.mark.train
def test_model_source_drops_duplicate_samples(tiny_model, target):
    # Nearly greedy sampling repeats the memorized rewrite: only the greedy one is kept.
    source = ModelCandidateSource(tiny_model.onnx_dir, temperature=0.05, seed=0, max_new_tokens=48)
    candidates = list(source.generate(target, 4))
    assert [(c.label, c.code) for c in candidates] == [("greedy", REWRITE)]


def test_clean_renames_a_lone_function_back_with_its_recursive_calls(tmp_path):
    target = make_target(
        tmp_path,
        "def cost(n):\n    if n < 2:\n        return 5\n    return cost(n - 1) + cost(n - 2)\n",
        "cost",
    )
    output = (
        "def zone_price(n):\n    # zone_price stays in comments and \"zone_price\" in strings\n"
        "    log.zone_price = 'zone_price'\n    if n < 2:\n        return 5\n"
        "    return zone_price(n - 1) + zone_price(n - 2)\n"
    )
    code, why = clean_model_output(output, target)
    assert why == ""
    assert code == (
        "def cost(n):\n    # zone_price stays in comments and \"zone_price\" in strings\n"
        "    log.zone_price = 'zone_price'\n    if n < 2:\n        return 5\n"
        "    return cost(n - 1) + cost(n - 2)\n"
    )


def test_clean_leaves_other_names_alone_when_the_output_holds_more(target):
    # Two functions and neither is the target: nothing to rename, the output is dropped.
    text = "def a(xs):\n    return xs\n\ndef b(xs):\n    return xs\n"
    assert clean_model_output(text, target) == (None, "defines no function scale")


def test_clean_restores_parameter_names_position_by_position(tmp_path):
    target = make_target(
        tmp_path,
        "def missing(wanted, products, *, limit=3):\n    return [w for w in wanted"
        " if w not in products][:limit]\n",
        "missing",
    )
    output = ("def diff(xs, ys, *, cap=3):\n    lookup = set(ys)\n"
              "    return [x for x in xs if x not in lookup][:cap]\n")
    code, _ = clean_model_output(output, target)
    assert code == ("def missing(wanted, products, *, limit=3):\n    lookup = set(products)\n"
                    "    return [x for x in wanted if x not in lookup][:limit]\n")


def test_clean_keeps_parameters_of_another_shape_or_that_would_clash(tmp_path):
    target = make_target(tmp_path, "def pick(items, key):\n    return items[key]\n", "pick")
    # One parameter fewer: a signature of another shape stays as it is (the verifier refuses).
    assert clean_model_output("def pick(xs):\n    return xs[0]\n", target)[0] == (
        "def pick(xs):\n    return xs[0]\n")
    # `items` already names a local of the output: renaming `a` to it would change the code.
    clash = "def pick(a, b):\n    items = list(a)\n    return items[b]\n"
    assert clean_model_output(clash, target)[0] == clash


def test_clean_does_not_rename_a_function_named_like_its_parameter(tmp_path):
    target = make_target(tmp_path, "def render(rows):\n    return ''.join(rows)\n", "render")
    output = "def rows(rows):\n    return ''.join(rows)\n"
    assert clean_model_output(output, target)[0] == output


@pytest.mark.slow
@pytest.mark.train
def test_an_edit_model_s_script_is_applied_to_the_function(tiny_model: TinyModel, target):
    # The model writes "@2-5" and the one new line; the source applies it to the function.
    source = ModelCandidateSource(tiny_model.edit_dir, num_candidates=1, max_new_tokens=48)
    candidates = list(source.generate(target, 1))
    assert [(c.label, c.code) for c in candidates] == [("greedy", REWRITE)]


def test_edit_scripts_are_applied_before_cleaning_and_failures_keep_their_reason(target):
    from perfrl.edit_script import NOT_ITS_LINES
    from perfrl.sources.model import apply_edits

    model_text = target.source
    outputs = [
        GeneratedSequence("@2-5\n    return [x * 3 for x in xs]\n", [], 0.0),
        GeneratedSequence("@9-9\n    pass\n", [], 0.0),
    ]
    applied, unusable = apply_edits(outputs, model_text)
    assert applied[0].text == REWRITE and unusable == {1: NOT_ITS_LINES}


def test_an_edit_v2_model_s_line_references_are_resolved_and_only_for_it(target):
    from perfrl.edit_script import NOT_ITS_LINES
    from perfrl.sources.model import outputs_as_code

    # The loop written back from references, its body line typed anew; then a bad reference.
    scripts = ["@2-5\n    =2\n    =3\n        out.append(x * 4)\n    =5\n",
               "@2-2\n    =9\n"]
    outputs = [GeneratedSequence(text, [], 0.0) for text in scripts]
    resolved, unusable = outputs_as_code(outputs, target.source, None, "edit-v2")
    assert resolved[0].text == LOOP.replace("x * 3", "x * 4") and unusable == {1: NOT_ITS_LINES}
    # An edit-v1 model's output is never read as references.
    literal, _ = outputs_as_code(outputs[:1], target.source, None, "edit-v1")
    assert "    =2\n" in literal[0].text


def test_line_references_cannot_smuggle_code_past_the_function_either(target):
    """A hostile edit-v2 script uses references to write the ``def`` line again at column 0
    after the function, then a body of its own: only one ``def`` of the target's name becomes
    the candidate (a function body, judged in the sandbox by the tests like any other);
    nothing of the script runs at module level."""
    from perfrl.sources.model import outputs_as_code

    script = ("@5-5\n    =5\n=1\n    import os; os.system('touch /tmp/perfrl-pwned')\n"
              "    return xs\n")
    outputs, unusable = outputs_as_code([GeneratedSequence(script, [], 0.0)], target.source,
                                        None, "edit-v2")
    assert unusable == {} and outputs[0].text.count("def scale(xs):") == 2
    kept, _ = select_usable(outputs, target, target.source)
    assert kept == [(0, "def scale(xs):\n    import os; os.system('touch /tmp/perfrl-pwned')\n"
                        "    return xs\n")]


def test_an_edit_cannot_smuggle_module_code_past_its_function(target):
    """A hostile edit script writes statements at column 0 after the function (they would
    run at import, in the verifier's sandbox, before any test) or a second function of the
    target's name: only one ``def`` of the target's name becomes the candidate, so nothing
    but a function body is judged, by the tests like any other."""
    from perfrl.sources.model import outputs_as_code

    injected = "import os\nos.system('touch /tmp/perfrl-pwned')\n"
    scripts = ["@2-5\n    return [x * 3 for x in xs]\n" + injected,
               "@5-5\n    return out\n" + injected + "def scale(xs):\n    return xs\n"]
    outputs, unusable = outputs_as_code([GeneratedSequence(text, [], 0.0) for text in scripts],
                                        target.source, None, "edit-v1")
    assert unusable == {} and all("os.system" in o.text for o in outputs)
    kept, dropped = select_usable(outputs, target, target.source)
    assert kept == [(0, REWRITE), (1, "def scale(xs):\n    return xs\n")] and not dropped
    # In the middle of the function the same lines break its body: dropped, never run.
    outputs, _ = outputs_as_code([GeneratedSequence("@3-3\n" + injected, [], 0.0)],
                                 target.source, None, "edit-v1")
    kept, dropped = select_usable(outputs, target, target.source)
    assert kept == [] and sum(dropped.values()) == 1


def test_an_output_with_a_string_the_function_does_not_have_is_dropped_with_its_reason(tmp_path):
    """A fresh ``"s7"`` stands for no string of the input: mapped back it would be the text
    ``s7`` in the code. Such an output is unusable (and drawn again), named in the note."""
    from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
    from perfrl.sources.abstraction import model_input
    from perfrl.sources.model import INVENTED_STRING, output_words, outputs_as_code, select_clean

    source = ('def label(xs):\n    out = ""\n    for x in xs:\n        out += x + ","\n'
              '    return out\n')
    text, table = model_input(source, "identifiers")
    assert table is not None and set(table.strings) == {'"s0"', '"s1"'}
    made_up = 'def v0(v1):\n    return "s0".join([v3 + "s4" for v3 in v1])\n'
    right = 'def v0(v1):\n    return "s0".join([v3 + "s1" for v3 in v1])\n'
    outputs, unusable = outputs_as_code(
        [GeneratedSequence(made_up, [], 0.0), GeneratedSequence(right, [], 0.0)],
        text, table, "whole-function")
    assert unusable == {0: INVENTED_STRING}
    assert outputs[1].text == 'def label(xs):\n    return "".join([x + "," for x in xs])\n'
    label_target = make_target(tmp_path, source, "label")
    distinct = DistinctCandidates(original_candidate(label_target))
    kept, dropped = select_clean(outputs, label_target, original_candidate(label_target),
                                 distinct, 0, unusable)
    assert [c.code for c in kept] == [outputs[1].text] and dropped == {INVENTED_STRING: 1}
    # Decoding is not offered fresh string placeholders either, only the input's own.
    words = output_words(text, table)
    assert {"s0", "s1", "v0", "v9"} <= words and "s4" not in words


@pytest.mark.slow
@pytest.mark.train
def test_an_edit_model_also_writes_at_each_loop_region_the_server_proposes(
    tiny_model: TinyModel, tmp_path
):
    # Two loops: the model's own choice of lines plus one forced header per loop region.
    text = ("def twice(xs, ys):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n"
            "    total = 0\n    for y in ys:\n        total += y\n    return out, total\n")
    target = make_target(tmp_path, text, "twice")
    handle = ModelHandle(tiny_model.edit_dir)
    handle.start()
    model = handle.wait(60)
    calls: list[tuple[str, int, str | None]] = []
    real_generate = model.generate

    def recording_generate(prompt, num_return=1, constraints=None, **kwargs):
        # The real decoder runs; the test only notes what each call forced, how many rows,
        # and what its copy bias copies from.
        copy = constraints.copy
        calls.append((model.decode(list(constraints.forced_prefix)), num_return,
                      None if copy is None else model.decode(list(copy.source_ids))))
        return real_generate(prompt, num_return=num_return, constraints=constraints, **kwargs)

    model.generate = recording_generate

    def run(**options) -> list[tuple[str, int, str | None]]:
        calls.clear()
        source = ModelCandidateSource(handle, num_candidates=6, seed=1, max_new_tokens=48,
                                      resample_rounds=0, **options)
        try:
            list(source.generate(target, 6))
        except CandidateSourceError:
            pass  # a tiny model's outputs for a function it never saw may all be unusable
        return list(calls)

    assert run() == [("@", 2, None), ("@2-4", 2, None), ("@5-8", 2, None)]
    assert run(propose_sites=False) == [("@", 6, None)]
    # With a copy bias, a site's group copies from that site's unchanged script; the model's
    # own choice of lines copies nothing (its header is not in the input).
    assert run(copy_bonus=2.0) == [("@", 2, None), ("@2-4", 2, site_text(text, (2, 4))),
                                   ("@5-8", 2, site_text(text, (5, 8)))]


def test_outputs_are_shared_evenly_among_the_groups_the_first_taking_the_rest():
    from perfrl.sources.model import split_rows

    assert split_rows(8, 3) == [3, 3, 2]
    assert split_rows(1, 3) == [1, 0, 0]
    assert split_rows(6, 1) == [6]
    assert sum(split_rows(17, 4)) == 17


def test_an_output_reading_a_name_nothing_defines_is_dropped_with_its_reason(target):
    from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
    from perfrl.sources.model import UNBOUND, select_clean
    from perfrl.sources.unbound_names import module_names

    original = original_candidate(target)
    dropped_binding = ("def scale(xs):\n    for x in xs:\n        out.append(x * 3)\n"
                       "    return out\n")
    outputs = [GeneratedSequence(dropped_binding, [], -0.1),
               GeneratedSequence("def scale(xs):\n    return [math.floor(x * 3) for x in xs]\n",
                                 [], -0.2)]
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original),
                                 known_names=module_names(target.file_text))
    assert [c.label for c in kept] == ["sample 1"]  # ``math`` is the module's import
    assert dropped == {UNBOUND: 1}
    # Without the module's names (the old call), nothing is judged on names.
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
    assert len(kept) == 2


def test_site_words_are_the_words_of_the_replaced_lines_and_fresh_names():
    from perfrl.inference.output_vocabulary import python_words, words_of
    from perfrl.sources.abstraction import model_input
    from perfrl.sources.model import site_words

    text = ("def tally(counts, wanted, skipped):\n    total = 0\n    for key in wanted:\n"
            "        if key in list(counts.keys()):\n            total += counts[key]\n"
            "    return total, skipped\n")
    model_text, table = model_input(text, "identifiers-v2")
    assert table is not None
    fixed_line = model_text.split("\n")[3]  # `if v4 in list(v1.keys()):`, abstracted
    site = site_words(model_text, (4, 4), table)
    fresh = f"v{len(table.names)}"
    assert words_of(fixed_line) <= site and fresh in site and python_words() <= site
    # No other name of the input: not `skipped`, `total`, `wanted`, nor the function's own.
    others = {w for w in words_of(model_text) if re.fullmatch(r"v\d+", w)}
    others -= words_of(fixed_line)
    assert len(others) >= 4 and not others & site


def _abstracted_edit_model(tiny_model: TinyModel, tmp_path: Path, name: str = "abstracted",
                           **generation):
    """The tiny edit model given the identifier abstraction in its spec (and ``generation``'s
    defaults), loaded: its handle and the model (whose ``output_constraints`` a test may wrap
    to record what it is asked)."""
    import shutil

    model_dir = tmp_path / name
    shutil.copytree(tiny_model.edit_dir, model_dir)
    spec = json.loads((model_dir / "perfrl_model.json").read_text())
    spec["input_abstraction"] = "identifiers-v2"
    spec["generation"].update(generation)
    (model_dir / "perfrl_model.json").write_text(json.dumps(spec))
    handle = ModelHandle(model_dir)
    handle.start()
    return handle, handle.wait(60)


@pytest.mark.slow
@pytest.mark.train
def test_with_site_words_each_forced_site_decodes_with_its_own_words(
    tiny_model: TinyModel, tmp_path
):
    """``site_words``: the model's own choice of lines keeps the whole input's words, each
    forced site gets the words of its lines (an abstracted model: the tiny edit model's spec
    given the identifier abstraction)."""
    from perfrl.sources.model import output_words, site_words

    text = ("def twice(xs, ys):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n"
            "    total = 0\n    for y in ys:\n        total += y\n    return out, total\n")
    target = make_target(tmp_path, text, "twice")
    handle, model = _abstracted_edit_model(tiny_model, tmp_path)
    seen: list[tuple[str, frozenset[str] | None]] = []
    real_constraints = model.output_constraints

    def recording_constraints(**options):
        seen.append((options["forced_start"], options["words"]))
        return real_constraints(**options)

    model.output_constraints = recording_constraints

    def run(**options) -> dict[str, frozenset[str] | None]:
        seen.clear()
        source = ModelCandidateSource(handle, num_candidates=6, seed=1, max_new_tokens=32,
                                      resample_rounds=0, whole_words=True, **options)
        with contextlib.suppress(CandidateSourceError):
            list(source.generate(target, 6))
        return dict(seen)

    from perfrl.sources.abstraction import model_input

    model_text, table = model_input(text, "identifiers-v2")
    everything = output_words(model_text, table)
    assert run() == {"@": everything, "@2-4": everything, "@5-8": everything}
    assert run(site_words=True) == {"@": everything,
                                    "@2-4": site_words(model_text, (2, 4), table),
                                    "@5-8": site_words(model_text, (5, 8), table)}


@pytest.mark.slow
@pytest.mark.train
def test_the_attribute_guard_reaches_decoding_with_the_annotated_parameters(
    tiny_model: TinyModel, tmp_path
):
    """``attribute_guard``: every group decodes with the receivers the model's input
    annotates as builtin containers (abstracted: `v1: list[int]`), and no candidate that
    reaches the verifier reads an attribute a list lacks; off, no receivers."""
    from perfrl.inference.attribute_guard import receiver_types

    text = ("def twice(xs: list[int], ys):\n    out = []\n    for x in xs:\n"
            "        out.append(x * 3)\n    return out, ys\n")
    target = make_target(tmp_path, text, "twice")
    handle, model = _abstracted_edit_model(tiny_model, tmp_path)
    seen: list[object] = []
    real_constraints = model.output_constraints

    def recording_constraints(**options):
        seen.append(options.get("receivers"))
        return real_constraints(**options)

    model.output_constraints = recording_constraints

    def run(**options) -> list:
        seen.clear()
        source = ModelCandidateSource(handle, num_candidates=6, seed=1, max_new_tokens=32,
                                      resample_rounds=0, whole_words=True, **options)
        list_attribute = "|".join(dir(list))
        with contextlib.suppress(CandidateSourceError):
            for candidate in source.generate(target, 6):
                # `xs.<anything a list lacks>` never reaches the verifier.
                assert not re.search(rf"\bxs\s*\.\s*(?!(?:{list_attribute})\b)\w",
                                     candidate.code), candidate.code
        return list(seen)

    from perfrl.sources.abstraction import model_input

    model_text, _ = model_input(text, "identifiers-v2")
    wanted = receiver_types(model_text)
    assert set(wanted) == {"v1"}  # xs, as the model reads it
    assert run() and all(r is None for r in run())
    assert run(attribute_guard=True) and all(r == wanted for r in run(attribute_guard=True))


@pytest.mark.slow
@pytest.mark.train
def test_whole_words_are_decoded_as_the_models_spec_says_unless_asked(
    tiny_model: TinyModel, tmp_path
):
    """A model exported with ``--whole-words`` is served with the word guard on (its spec's
    ``generation.whole_words``), one without it with the guard off; an explicit
    ``whole_words`` overrides either."""
    target = make_target(tmp_path, "def twice(xs):\n    out = []\n    for x in xs:\n"
                                   "        out.append(x * 3)\n    return out\n", "twice")

    def decoded_with_whole_words(name: str, spec_says: bool, **options) -> set[bool]:
        handle, model = _abstracted_edit_model(tiny_model, tmp_path, name,
                                               whole_words=spec_says)
        seen: set[bool] = set()
        real_constraints = model.output_constraints

        def recording_constraints(**constraint_options):
            seen.add(constraint_options["whole_words"])
            return real_constraints(**constraint_options)

        model.output_constraints = recording_constraints
        source = ModelCandidateSource(handle, num_candidates=4, seed=1, max_new_tokens=16,
                                      resample_rounds=0, **options)
        with contextlib.suppress(CandidateSourceError):
            list(source.generate(target, 4))
        return seen

    assert decoded_with_whole_words("off", False) == {False}
    assert decoded_with_whole_words("on", True) == {True}
    assert decoded_with_whole_words("on-asked-off", True, whole_words=False) == {False}
    assert decoded_with_whole_words("off-asked-on", False, whole_words=True) == {True}
