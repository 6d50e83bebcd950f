"""Export of a tiny trained model: real optimum + onnxruntime, parity, contract."""

from __future__ import annotations

import json

import pytest

from tests.conftest import require_module

require_module("optimum.exporters.onnx")

from perfrl.model_contract import (
    DECODER_FORMAT_OPTIMUM,
    DECODER_FORMAT_STEP,
    DECODER_FORMATS,
    SPEC_FILE,
    load_model_spec,
)
from perfrl_train.checkpoint import load_checkpoint
from perfrl_train.export import (
    ExportConfig,
    ExportError,
    ParityError,
    check_parity,
    export_model,
)
from perfrl_train.testing import tiny_checkpoint

FILES = {
    DECODER_FORMAT_STEP: {"encoder_model.onnx", "decoder_cross_kv.onnx", "decoder_step.onnx"},
    DECODER_FORMAT_OPTIMUM: {"encoder_model.onnx", "decoder_model.onnx",
                             "decoder_with_past_model.onnx"},
}


@pytest.fixture(scope="module", params=DECODER_FORMATS)
def exported(tmp_path_factory, tiny_work, request):
    work = tmp_path_factory.mktemp("export")
    ckpt = tiny_checkpoint(tiny_work)
    result = export_model(ExportConfig(checkpoint=ckpt, out=work / "model", parity_prompts=4,
                                       parity_max_new_tokens=32, keep_fp32=True, threads=1,
                                       decoder_format=request.param),
                          log=lambda *_: None)
    return ckpt, result


@pytest.mark.slow
def test_export_writes_a_directory_the_contract_accepts(exported):
    ckpt, result = exported
    spec = load_model_spec(result.out)
    model, _, _ = load_checkpoint(ckpt)
    assert spec.quantization == "int8-dynamic-per-channel"
    assert (spec.num_decoder_layers, spec.num_heads, spec.d_kv, spec.vocab_size) == (
        model.config.num_decoder_layers, model.config.num_heads, model.config.d_kv,
        model.config.vocab_size)
    assert (spec.pad_token_id, spec.eos_token_id, spec.decoder_start_token_id) == (0, 2, 0)
    assert spec.training["trainer"] == "sft"
    assert not (result.out / "decoder_model_merged.onnx").exists()
    onnx_files = FILES[spec.decoder_format]
    assert {p.name for p in result.out.glob("*.onnx")} == onnx_files
    assert set(result.files) >= onnx_files | {"tokenizer.json", SPEC_FILE}
    assert all(p.is_file() for p in result.files.values())
    # int8 files are smaller than the fp32 ones kept beside them, a loadable directory too
    assert load_model_spec(result.out / "fp32").quantization == "none"
    for name in onnx_files:
        assert (result.out / name).stat().st_size < (result.out / "fp32" / name).stat().st_size


@pytest.mark.slow
def test_parity_figures_are_within_the_stated_tolerances(exported):
    _, result = exported
    fp32, int8 = result.parity
    assert fp32.precision == "fp32" and fp32.passed
    assert fp32.greedy_sequences_equal == fp32.prompts and fp32.max_abs_logprob_diff <= 1e-4
    assert int8.precision == "int8" and int8.decisive_top1_agreement >= 0.99
    assert json.loads((result.out / "parity.json").read_text())[0]["precision"] == "fp32"


@pytest.mark.slow
def test_parity_check_fails_loudly_on_a_different_model(exported):
    ckpt, result = exported
    model, tok, _ = load_checkpoint(ckpt)
    import torch

    with torch.no_grad():  # perturb PyTorch's weights: the ONNX files no longer match
        model.lm_head.weight.add_(0.05 * torch.randn_like(model.lm_head.weight))
        model.shared.weight.add_(0.05 * torch.randn_like(model.shared.weight))
    with pytest.raises(ParityError) as info:
        check_parity(model, tok, result.out / "fp32", ["def f(x):\n    return x\n"], "fp32",
                     max_new_tokens=16)
    assert not info.value.report.passed


def test_export_refuses_a_non_empty_output(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("")
    with pytest.raises(ExportError, match="not empty"):
        export_model(ExportConfig(checkpoint=tmp_path, out=tmp_path / "out"))
    with pytest.raises(ExportError, match="config.json is missing"):
        export_model(ExportConfig(checkpoint=tmp_path / "nothing", out=tmp_path / "o2"))


def test_the_spec_declares_what_the_checkpoint_was_trained_to_write(tiny_work):
    from perfrl.model_contract import EDIT_PROMPT_PREFIX, PROMPT_PREFIX
    from perfrl_train.export import build_spec

    model, tokenizer, meta = load_checkpoint(tiny_checkpoint(tiny_work))
    spec = build_spec(model, tokenizer, meta, "none", [])
    assert (spec.output_format, spec.prompt_prefix) == ("function", PROMPT_PREFIX)
    assert spec.docstrings == "read"
    assert build_spec(model, tokenizer, meta, "none", [], "identifiers-v1",
                      docstrings="omitted").docstrings == "omitted"
    assert spec.region_min_lines == 15
    assert build_spec(model, tokenizer, meta, "none", [],
                      region_min_lines=0).region_min_lines == 0
    # The decoding the server uses by default: as measured (--temperature, --whole-words).
    assert (spec.generation.temperature, spec.generation.whole_words) == (0.8, False)
    served = build_spec(model, tokenizer, meta, "none", [], temperature=0.5,
                        whole_words=True).generation
    assert (served.temperature, served.whole_words) == (0.5, True)
    with pytest.raises(ExportError, match="--temperature must be positive"):
        export_model(ExportConfig(checkpoint=tiny_checkpoint(tiny_work), out=tiny_work / "t",
                                  temperature=0))
    with pytest.raises(ExportError, match="--region-min-lines"):
        export_model(ExportConfig(checkpoint=tiny_checkpoint(tiny_work), out=tiny_work / "y",
                                  region_min_lines=-1))
    with pytest.raises(ExportError, match="--docstrings must be one of read, omitted"):
        export_model(ExportConfig(checkpoint=tiny_checkpoint(tiny_work), out=tiny_work / "x",
                                  docstrings="sometimes"))
    meta = {**meta, "config": {**meta["config"], "output_format": "edit-v1"}}
    spec = build_spec(model, tokenizer, meta, "none", [])
    assert (spec.output_format, spec.prompt_prefix) == ("edit-v1", EDIT_PROMPT_PREFIX)
