"""Guarded generation on the tiny real model (both decoder formats), and the model source's
guarded path: forced signature, vocabulary mask, re-sampling, drop notes, module-scope
names, region rewrites."""

from __future__ import annotations

import ast
import contextlib
import json
import shutil
from pathlib import Path

import pytest

from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.inference.background import ModelHandle
from perfrl.inference.decoding import RepetitionStop
from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.inference.output_vocabulary import python_words, words_of
from perfrl.model_contract import DECODER_FORMAT_STEP, DECODER_FORMATS
from perfrl.sources.model import ModelCandidateSource, signature_header
from tests.conftest import drain

from .conftest import TinyModel
from .test_model_source import LOOP, REWRITE, make_target

pytestmark = [pytest.mark.slow, pytest.mark.train]


@pytest.fixture(scope="module", params=DECODER_FORMATS)
def model(tiny_model: TinyModel, request) -> OnnxSeq2SeqModel:
    return OnnxSeq2SeqModel.load(tiny_model.model_dir(request.param))


def test_forcing_the_models_own_start_changes_nothing(model):
    prompt = model.prompt_for(LOOP)
    [plain] = model.generate(prompt, max_new_tokens=40)
    constraints = model.output_constraints(forced_start=signature_header(LOOP))
    assert 0 < len(constraints.forced_prefix) < len(plain.token_ids)
    [forced] = model.generate(prompt, max_new_tokens=40, constraints=constraints)
    assert forced.token_ids == plain.token_ids
    assert forced.score == pytest.approx(plain.score, abs=1e-4)


def test_a_forced_signature_is_kept_by_every_row(model):
    # The model learned "scale"; forced to write "def grow(xs, k):" it must go on from there,
    # greedy and sampled rows alike (the sampled rows share the prefix's cache).
    start = "def grow(xs, k):"
    constraints = model.output_constraints(forced_start=start)
    outs = model.generate(model.prompt_for(LOOP), num_return=4, do_sample=True,
                          greedy_first=True, temperature=1.2, seed=1, max_new_tokens=40,
                          constraints=constraints)
    assert all(o.text.startswith(start) for o in outs)
    assert all(o.token_ids[: len(constraints.forced_prefix)] == list(constraints.forced_prefix)
               for o in outs)


def test_the_mask_keeps_outputs_inside_the_allowed_words(model):
    words = python_words() | words_of(LOOP)
    constraints = model.output_constraints(words=words)
    allowed = constraints.allowed
    # The input itself, re-encoded as an output, is never masked.
    ids = model._tokenizer.encode(REWRITE + LOOP, add_special_tokens=False).ids
    assert all(allowed[i] for i in ids)
    assert allowed[model.spec.eos_token_id] and not allowed[model.spec.pad_token_id]
    assert 0 < allowed.sum() < len(allowed)
    outs = model.generate(model.prompt_for(LOOP), num_return=6, do_sample=True, temperature=2.0,
                          seed=0, max_new_tokens=30, constraints=constraints)
    for out in outs:
        assert all(allowed[t] for t in out.token_ids)
    # Without the mask, a hot sampler writes tokens outside it.
    hot = model.generate(model.prompt_for(LOOP), num_return=6, do_sample=True, temperature=2.0,
                         seed=0, max_new_tokens=30)
    assert any(not allowed[t] for o in hot for t in o.token_ids)


def test_whole_words_keep_every_word_of_the_outputs_allowed(model):
    import re

    words = python_words() | words_of(LOOP)

    def unknown(text: str) -> set[str]:
        return {w for w in re.findall(r"\w+", text) if not w[0].isdigit() and w not in words}

    prompt = model.prompt_for(LOOP)
    hot = dict(num_return=8, do_sample=True, temperature=2.5, seed=0, max_new_tokens=30)
    pieces_only = model.generate(prompt, **hot, constraints=model.output_constraints(words=words))
    # The per-token mask alone lets a hot sampler spell words out of allowed pieces ...
    assert any(unknown(o.text) for o in pieces_only)
    whole = model.output_constraints(words=words, whole_words=True)
    guarded = model.generate(prompt, **hot, constraints=whole)
    # ... the word guard does not (a word cut by the length limit aside: it is a prefix).
    for out in guarded:
        cut = re.findall(r"\w+$", out.text) if not out.finished else []
        assert unknown(out.text) <= set(cut)
    # The input itself, token by token, is never refused.
    ids = model._tokenizer.encode(REWRITE + LOOP, add_special_tokens=False).ids
    state = whole.guard.start()
    for token in ids:
        assert whole.guard.accepts(state, token)
        whole.guard.advance(state, token)


def test_repetition_stop_on_the_real_model(model):
    # Forbidding the end of sequence for 30 tokens makes the tiny model write its rewrite
    # again; a stop that counts two repeats ends the row there, on the same greedy path.
    stop = RepetitionStop(max_period=16, min_repeats=2, min_span=8)
    [plain] = model.generate(model.prompt_for(LOOP), max_new_tokens=60, min_new_tokens=30)
    [stopped] = model.generate(model.prompt_for(LOOP), max_new_tokens=60, min_new_tokens=30,
                               constraints=model.output_constraints(repetition=stop))
    assert not plain.looped and len(plain.token_ids) >= 30
    assert stopped.looped and not stopped.finished
    assert 30 <= len(stopped.token_ids) < len(plain.token_ids)
    assert stopped.token_ids == plain.token_ids[: len(stopped.token_ids)]
    assert stop.looping(stopped.token_ids)


def test_a_strong_copy_bias_writes_the_input_out_again(model):
    # The tiny model learned to turn LOOP into REWRITE; biased hard enough towards its input,
    # greedy decoding copies LOOP token for token instead, and stops where LOOP ends. A mild
    # bias leaves the rewrite it is sure of alone.
    prompt = model.prompt_for(LOOP)
    start = signature_header(LOOP)
    [plain] = model.generate(prompt, max_new_tokens=60,
                             constraints=model.output_constraints(forced_start=start))
    assert plain.text.strip() == REWRITE.strip()
    strong = model.output_constraints(forced_start=start, copy_from=LOOP, copy_bonus=40.0)
    [copied] = model.generate(prompt, max_new_tokens=60, constraints=strong)
    assert copied.text.strip() == LOOP.strip() and copied.finished
    mild = model.output_constraints(forced_start=start, copy_from=LOOP, copy_bonus=0.5)
    [kept] = model.generate(prompt, max_new_tokens=60, constraints=mild)
    assert kept.text.strip() == REWRITE.strip()
    # No text or no bonus: no copy bias at all.
    assert model.output_constraints(copy_from=LOOP).copy is None
    assert model.output_constraints(copy_bonus=3.0).copy is None


def _abstracting_copy(tiny_model: TinyModel, tmp_path: Path) -> Path:
    """The tiny model's step-graph export, with a spec that asks for identifier abstraction."""
    copy = tmp_path / "abstracting"
    shutil.copytree(tiny_model.model_dir(DECODER_FORMAT_STEP), copy)
    spec = json.loads((copy / "perfrl_model.json").read_text())
    spec["input_abstraction"] = "identifiers-v1"
    (copy / "perfrl_model.json").write_text(json.dumps(spec))
    return copy


def test_module_scope_imports_reach_the_model_as_written(tiny_model, tmp_path):
    module = (
        "import re\nimport statistics as stats\nfrom collections import Counter\n\n"
        "PATTERN = 'x+'\n\n\n"
        "def pick(words):\n"
        "    counts = Counter(words)\n"
        "    out = [w for w in words if re.match(PATTERN, w)]\n"
        "    return out, stats.fmean([counts[w] for w in out])\n"
    )
    (tmp_path / "project").mkdir()
    target = make_target(tmp_path / "project", module, "pick")
    handle = ModelHandle(_abstracting_copy(tiny_model, tmp_path))
    handle.start()
    model = handle.wait(60)
    prompts: list[str] = []
    real_generate = model.generate

    def recording_generate(prompt, *args, **kwargs):
        prompts.append(prompt)
        return real_generate(prompt, *args, **kwargs)

    model.generate = recording_generate  # a spy on the real model: it still generates
    with contextlib.suppress(CandidateSourceError):  # the tiny model may write nothing usable
        list(ModelCandidateSource(handle, seed=0, max_new_tokens=24).generate(target, 2))
    assert prompts
    text = prompts[0]
    assert "re.match(" in text and "Counter(" in text and "stats.fmean(" in text
    # The function's own names and the module constant are still placeholders.
    assert "def v0(v1):" in text and "PATTERN" not in text and "words" not in text


def test_model_source_reports_its_drops_when_some_outputs_survive(tiny_model, tmp_path):
    target = make_target(tmp_path, "import math\n\n\n" + LOOP, "scale")
    source = ModelCandidateSource(tiny_model.step_dir, temperature=1.5, seed=3,
                                  max_new_tokens=48)
    candidates, note = drain(source.generate(target, 6))
    assert candidates and candidates[0].code == REWRITE
    drawn = int(note.split(" outputs drawn")[0])
    assert drawn >= 6 and f", {len(candidates)} kept" in note
    if drawn > len(candidates):
        assert "; dropped: " in note
    for candidate in candidates:  # the signature is the target's, always
        assert candidate.code.startswith("def scale(xs):\n")


def test_the_engine_carries_a_sources_note_into_the_report(tmp_path):
    from perfrl.engine.optimize import collect_candidates
    from perfrl.engine.types import Candidate

    class NotingSource:
        name = "noting"

        def generate(self, target, limit):
            yield Candidate(source="noting", label="one", code=REWRITE)
            return "1 output drawn, 1 kept"

    target = make_target(tmp_path, LOOP, "scale")
    collected = collect_candidates(target, [NotingSource()], 4)
    assert collected.notes == ["noting: 1 output drawn, 1 kept"]
    assert len(collected.candidates) == 1


def test_long_functions_get_region_rewrites_spliced_into_the_whole_function(tiny_model, tmp_path):
    lines = "".join(f"    y{i} = xs[{i}] * {i}\n" for i in range(14))
    module = (
        "def scale(xs):\n" + lines
        + "    out = []\n    for x in xs:\n        out.append(x * 3)\n    return out\n"
    )
    target = make_target(tmp_path, module, "scale")
    source = ModelCandidateSource(tiny_model.step_dir, seed=0, max_new_tokens=48)
    candidates = list(source.generate(target, 4))
    regional = [c for c in candidates if c.label.startswith("lines 16-19 ")]
    assert regional, [c.label for c in candidates]
    code = regional[0].code
    ast.parse(code)
    assert code == "def scale(xs):\n" + lines + "    return [x * 3 for x in xs]\n"


def test_a_model_trained_on_regions_rewrites_the_loop_region_of_a_short_function(
        tiny_model, tmp_path):
    """A spec's ``region_min_lines`` (0: a model trained on region pairs) decides which
    functions are also rewritten region by region; the source's own setting overrides it."""
    module = "def scale(xs, k):\n    if not k:\n        return []\n    out = []\n" \
             "    for x in xs:\n        out.append(x * k)\n    return out\n"
    target = make_target(tmp_path, module, "scale")

    def regional_labels(model_dir: Path, **override) -> list[str]:
        source = ModelCandidateSource(model_dir, seed=0, max_new_tokens=48, **override)
        return [c.label for c in source.generate(target, 8) if c.label.startswith("lines 4-7 ")]

    default_dir = tiny_model.model_dir(DECODER_FORMAT_STEP)
    assert regional_labels(default_dir) == []  # 7 lines: under the default of 15
    assert regional_labels(default_dir, region_min_lines=0)
    regions_dir = tmp_path / "regions"
    shutil.copytree(default_dir, regions_dir)
    spec = json.loads((regions_dir / "perfrl_model.json").read_text())
    spec["region_min_lines"] = 0
    (regions_dir / "perfrl_model.json").write_text(json.dumps(spec))
    assert regional_labels(regions_dir)
    assert regional_labels(regions_dir, region_min_lines=15) == []
