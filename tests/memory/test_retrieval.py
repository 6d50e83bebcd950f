"""Retrieval as context for the model: the nearest stored pair of a function (never a copy of
it), the "retrieval-v1" and "feedback-v1" prompt formats (built and read back), the model
source's prompt with the shipped model (a spec without the new fields keeps today's prompt),
and the training half (each training pair gets its nearest other pair)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.memory import store
from perfrl.memory.retrieval import PairIndex, StoredPair, nearest_pair
from perfrl.model_contract import (
    PROMPT_PREFIX,
    SPEC_FILE,
    ExamplePair,
    FailedAttempt,
    ModelContractError,
    ModelSpec,
    build_prompt,
    default_model_dir,
    load_model_spec,
    split_prompt,
)
from perfrl.sources.abstraction import model_input
from perfrl.sources.prompts import model_prompt
from tests.conftest import whole_function_model

#: Three verified rewrites of different shapes.
FILTER_PAIR = ('''
def adults(people):
    found = []
    for person in people:
        if person.age >= 18:
            found.append(person.name)
    return found
''', '''
def adults(people):
    return [person.name for person in people if person.age >= 18]
''')

MEMBERSHIP_PAIR = ('''
def total_known(counts, catalog):
    total = 0
    for key, count in counts.items():
        if key in list(catalog):
            total += count
    return total
''', '''
def total_known(counts, catalog):
    catalog = set(catalog)
    return sum(count for key, count in counts.items() if key in catalog)
''')

JOIN_PAIR = ('''
def render(rows):
    text = ""
    for row in rows:
        text = text + str(row) + ","
    return text
''', '''
def render(rows):
    return "".join(str(row) + "," for row in rows)
''')

#: Like FILTER_PAIR's slow side in shape, with other names, a dict and another condition.
TARGET = '''
def cheap_skus(prices: dict, limit):
    """SKUs under the limit."""
    picked = []
    for sku in prices:
        if prices[sku] < limit:
            picked.append(sku.upper())
    return picked
'''


def _report(slow: str, fast: str, function: str) -> dict:
    return {"function": function, "original_source": textwrap.dedent(slow).lstrip(),
            "candidates": [{"source": "file", "label": "x", "verdict": "faster", "reason": "ok",
                            "code": textwrap.dedent(fast).lstrip(),
                            "speedup": {"median": 2.0, "low": 1.5, "high": 2.5}}]}


def test_retrieval_returns_the_nearest_pair_and_never_a_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    for slow, fast, name in ((*FILTER_PAIR, "m.py::adults"), (*MEMBERSHIP_PAIR, "m.py::k"),
                             (*JOIN_PAIR, "m.py::render")):
        assert store.record_report(_report(slow, fast, name), project) == 1
    found = nearest_pair(TARGET, project)
    assert found is not None and found.slow.startswith("def adults(")
    assert found.origin == "verified on m.py::adults"
    # The stored function itself, renamed and with another constant, is a copy: the next
    # nearest pair comes back instead.
    copy = FILTER_PAIR[0].replace("person", "p").replace("18", "21").replace("adults", "grown")
    assert nearest_pair(copy, project).slow.startswith(("def total_known(", "def render("))
    # A shipped index adds its pairs after the project's.
    shipped = tmp_path / "index.jsonl"
    shipped.write_text(json.dumps({"id": "t1", "slow": JOIN_PAIR[0], "fast": JOIN_PAIR[1]}) + "\n")
    empty = tmp_path / "other"
    empty.mkdir()
    assert nearest_pair(TARGET, empty) is None
    assert nearest_pair(TARGET, empty, shipped).origin == "t1"


def test_the_index_ranks_by_shape_and_skips_the_query_row():
    pairs = [StoredPair(*JOIN_PAIR, "join"), StoredPair(*FILTER_PAIR, "filter"),
             StoredPair(*MEMBERSHIP_PAIR, "member")]
    index = PairIndex(pairs)
    ranked = index.nearest(TARGET, k=3)
    assert ranked[0].pair.origin == "filter"
    assert [n.score for n in ranked] == sorted((n.score for n in ranked), reverse=True)
    (only,) = index.nearest(pairs[1].slow.replace("found", "seen"), k=1, skip=[2])
    assert only.pair.origin == "join"


def test_the_prompt_formats_round_trip():
    target = "def f(xs):\n    return sorted(xs)[0]\n"
    plain = build_prompt(target)
    assert plain == PROMPT_PREFIX + target  # what every model has read so far
    assert split_prompt(plain).function_source == target
    example = ExamplePair(textwrap.dedent(FILTER_PAIR[0]).lstrip(),
                          textwrap.dedent(FILTER_PAIR[1]).lstrip())
    with_example = build_prompt(target, example=example)
    assert with_example.startswith("Example slow version:\ndef adults(people):\n")
    assert with_example.endswith(plain)
    parts = split_prompt(with_example)
    assert (parts.example, parts.function_source, parts.failed) == (example, target, None)
    failed = FailedAttempt("def f(xs):\n    return xs[0]\n", "failed_tests",
                           "tests/test_f.py::test_f failed: assert 3 == 1")
    both = build_prompt(target, example=example, failed=failed)
    assert split_prompt(both) == type(parts)(target, example, failed)
    with pytest.raises(ValueError):
        split_prompt("Example slow version:\ndef f(): pass\n")


def test_a_spec_without_the_fields_loads_as_plain_and_unknown_formats_are_refused(tmp_path):
    data = json.loads((default_model_dir() / SPEC_FILE).read_text())
    # The shipped spec as written before the fields existed.
    older = {key: value for key, value in data.items()
             if key not in ("prompt_format", "feedback_format", "retrieval_index_file")}
    spec = ModelSpec.from_json(older)
    assert (spec.prompt_format, spec.feedback_format, spec.retrieval_index_file) == (
        "plain", "none", "")
    shipped = load_model_spec(default_model_dir())
    assert (shipped.prompt_format, shipped.feedback_format) == ("plain", "none")
    with pytest.raises(ModelContractError, match="prompt_format 'retrieval-v9'"):
        ModelSpec.from_json({**data, "prompt_format": "retrieval-v9"})


@pytest.fixture(scope="module")
def shipped_model() -> OnnxSeq2SeqModel:
    return OnnxSeq2SeqModel.load(default_model_dir())


def _project_with_memory(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "shop"
    (project / "shop").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "shop" / "prices.py").write_text(textwrap.dedent(TARGET).lstrip())
    store.record_report(_report(*FILTER_PAIR, "m.py::adults"), project)
    return project


def test_the_model_source_keeps_the_plain_prompt_for_a_model_without_the_field(
        shipped_model, tmp_path, monkeypatch):
    project = _project_with_memory(tmp_path, monkeypatch)
    target = locate_function("shop/prices.py::cheap_skus", project_root=project)
    text, table = model_input(target.source, shipped_model.spec.input_abstraction)
    # A neighbour is stored, but the shipped model was not trained to read one.
    assert model_prompt(shipped_model, target, text, table) == build_prompt(
        text, shipped_model.spec)


def test_a_retrieval_model_reads_the_nearest_pair_in_its_abstraction(
        shipped_model, tmp_path, monkeypatch):
    project = _project_with_memory(tmp_path, monkeypatch)
    model_dir = whole_function_model(tmp_path / "retrieval-model")
    data = json.loads((model_dir / SPEC_FILE).read_text())
    (model_dir / SPEC_FILE).write_text(json.dumps({**data, "prompt_format": "retrieval-v1"}))
    model = OnnxSeq2SeqModel.load(model_dir)
    target = locate_function("shop/prices.py::cheap_skus", project_root=project)
    text, table = model_input(target.source, model.spec.input_abstraction)
    prompt = model_prompt(model, target, text, table)
    parts = split_prompt(prompt, model.spec)
    assert parts.function_source == text
    assert parts.example is not None
    # The example is written with placeholders, one table for both sides.
    assert parts.example.slow.startswith("def v0(v1):\n    v2 = []\n    for v3 in v1:")
    assert "return [v3.name for v3 in v1 if v3.age >= 18]" in parts.example.fast
    assert not model.encode_prompt(prompt).truncated
    # The model source builds the same prompt and decodes from it. This model was not trained
    # for the format, so only that it runs through is checked, not what it writes: usable
    # rewrites of the target, or the source's account of the outputs it drew and dropped.
    from perfrl.engine.candidate_source import CandidateSourceError
    from perfrl.sources.model import ModelCandidateSource

    try:
        candidates = list(ModelCandidateSource(model_dir, num_candidates=2, seed=0).generate(
            target, 2))
    except CandidateSourceError as exc:
        assert re.search(r"none of the model's \d+ outputs for cheap_skus", str(exc)), exc
    else:
        assert candidates and candidates[0].label == "greedy"
        assert all(c.code.startswith("def cheap_skus(prices: dict, limit):")
                   for c in candidates)
    # A project with nothing stored (and no shipped index) gives the plain prompt.
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert model_prompt(model, target, text, table) == build_prompt(text, model.spec)


def test_training_pairs_get_their_nearest_other_pair_never_themselves():
    from perfrl_train.data.retrieval_pairs import attach_neighbours, example_of, retrieval_prompt

    rows = [{"id": "filter", "slow": FILTER_PAIR[0], "fast": FILTER_PAIR[1], "meta": {"k": 1}},
            {"id": "filter-copy", "slow": FILTER_PAIR[0].replace("person", "who"),
             "fast": FILTER_PAIR[1].replace("person", "who")},
            {"id": "target", "slow": TARGET, "fast": "def cheap_skus(prices, limit): ..."},
            {"id": "join", "slow": JOIN_PAIR[0], "fast": JOIN_PAIR[1]}]
    rows = [{**row, "slow": row["slow"].lstrip(), "fast": row["fast"].lstrip()} for row in rows]
    out = attach_neighbours(rows)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    examples = {r["id"]: (r["meta"].get("retrieval_example") or {}).get("id") for r in out}
    # Never itself nor its renamed copy: the filter pairs are each other's copies.
    assert examples["filter"] not in ("filter", "filter-copy")
    assert examples["filter-copy"] not in ("filter", "filter-copy")
    assert examples["target"] in ("filter", "filter-copy")
    assert out[0]["meta"]["k"] == 1 and "retrieval_example" not in rows[0]["meta"]
    prompt = retrieval_prompt(out[2])
    parts = split_prompt(prompt)
    assert parts.example == example_of(out[2]) and parts.function_source.startswith(
        "def cheap_skus(")


def test_a_declared_retrieval_model_falls_back_on_its_shipped_index(tmp_path, monkeypatch):
    from perfrl_train.data.retrieval_pairs import INDEX_FILE, main

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))  # no memory at all
    model_dir = whole_function_model(tmp_path / "model")
    pairs = tmp_path / "train.jsonl"
    pairs.write_text("".join(json.dumps({"id": name, "slow": slow.lstrip(), "fast": fast.lstrip()})
                             + "\n" for name, (slow, fast) in
                             (("join", JOIN_PAIR), ("filter", FILTER_PAIR))))
    assert main(["--declare", str(model_dir), "--pairs", str(pairs)]) == 0
    model = OnnxSeq2SeqModel.load(model_dir)
    assert (model.spec.prompt_format, model.spec.retrieval_index_file) == ("retrieval-v1",
                                                                            INDEX_FILE)
    project = tmp_path / "shop"
    (project / "shop").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "shop" / "prices.py").write_text(textwrap.dedent(TARGET).lstrip())
    target = locate_function("shop/prices.py::cheap_skus", project_root=project)
    text, table = model_input(target.source, model.spec.input_abstraction)
    parts = split_prompt(model_prompt(model, target, text, table), model.spec)
    assert parts.example is not None and "v3.age >= 18" in parts.example.fast
    assert main(["--declare", str(tmp_path / "nothing"), "--pairs", str(pairs)]) == 2
