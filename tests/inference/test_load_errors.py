"""Broken model directories give a clear reason, never a crash, and a "failed" handle."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from perfrl.inference.background import ModelHandle, ModelNotReady
from perfrl.inference.onnx_seq2seq import ModelLoadError, OnnxSeq2SeqModel
from perfrl.model_contract import (
    DECODER_FORMAT_OPTIMUM,
    DECODER_FORMAT_STEP,
    ModelSpec,
    write_model_spec,
)

from .conftest import TinyModel

FILES = (
    "encoder_model.onnx",
    "decoder_model.onnx",
    "decoder_with_past_model.onnx",
    "tokenizer.json",
)


def failed_handle(model_dir: Path) -> ModelHandle:
    states: list[str] = []
    handle = ModelHandle(model_dir)
    handle.add_listener(lambda h: states.append(h.state))
    handle.start()
    with pytest.raises(ModelLoadError) as excinfo:
        handle.wait(60)
    assert handle.state == "failed"
    assert handle.error == str(excinfo.value)
    assert states == ["loading", "failed"]
    assert handle.model is None
    return handle


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelLoadError, match="does not exist"):
        OnnxSeq2SeqModel.load(missing)
    handle = failed_handle(missing)
    assert str(missing) in handle.error


def test_directory_without_spec(tmp_path):
    handle = failed_handle(tmp_path)
    assert "perfrl_model.json is missing" in handle.error


def test_missing_onnx_file(tmp_path):
    write_model_spec(tmp_path, ModelSpec())
    for name in FILES:
        if name != "decoder_with_past_model.onnx":
            (tmp_path / name).write_bytes(b"x")
    handle = failed_handle(tmp_path)
    assert "decoder_with_past_model.onnx is missing" in handle.error


def test_unknown_spec_format(tmp_path):
    (tmp_path / "perfrl_model.json").write_text(json.dumps({"format_version": 99}))
    handle = failed_handle(tmp_path)
    assert "format_version 99" in handle.error


def test_wait_times_out_while_loading_and_start_is_idempotent(tmp_path):
    release = threading.Event()
    calls = []

    def slow_loader(model_dir):
        calls.append(model_dir)
        release.wait(30)
        raise ModelLoadError("gave up")

    handle = ModelHandle(tmp_path, loader=slow_loader)
    assert handle.state == "not_loaded"
    handle.start()
    handle.start()
    assert handle.state == "loading"
    with pytest.raises(ModelNotReady, match="still loading"):
        handle.wait(0.05)
    release.set()
    with pytest.raises(ModelLoadError, match="gave up"):
        handle.wait(30)
    assert calls == [tmp_path]
    assert handle.state == "failed"


def test_unexpected_loader_exception_becomes_a_reason(tmp_path):
    def broken_loader(model_dir):
        raise RuntimeError("disk on fire")

    handle = ModelHandle(tmp_path, loader=broken_loader)
    with pytest.raises(ModelLoadError, match="RuntimeError: disk on fire"):
        handle.wait(30)
    assert handle.state == "failed"


def test_a_raising_listener_does_not_break_loading(tmp_path):
    handle = ModelHandle(tmp_path / "missing")

    def bad_listener(h):
        raise RuntimeError("listener bug")

    handle.add_listener(bad_listener)
    with pytest.raises(ModelLoadError):
        handle.wait(30)
    assert handle.state == "failed"


# -- a real model, damaged ----------------------------------------------------------------------


def _copy(tiny_model: TinyModel, dest: Path) -> Path:
    shutil.copytree(tiny_model.onnx_dir, dest)
    return dest


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("decoder_format", [DECODER_FORMAT_OPTIMUM, DECODER_FORMAT_STEP])
def test_good_model_reaches_ready_with_listeners(tiny_model: TinyModel, decoder_format):
    states = []
    handle = ModelHandle(tiny_model.model_dir(decoder_format))
    handle.add_listener(lambda h: states.append(h.state))
    model = handle.wait(60)
    assert handle.state == "ready" and handle.error is None and handle.model is model
    assert states == ["loading", "ready"]
    assert handle.load_seconds is not None
    assert model.spec.decoder_format == decoder_format


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize(
    ("decoder_format", "file"),
    [(DECODER_FORMAT_OPTIMUM, "decoder_model.onnx"), (DECODER_FORMAT_STEP, "decoder_step.onnx")],
)
def test_corrupt_onnx_file(tiny_model: TinyModel, tmp_path, how, decoder_format, file):
    model_dir = shutil.copytree(tiny_model.model_dir(decoder_format), tmp_path / "model")
    target = model_dir / file
    data = target.read_bytes()
    target.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"\x00\xffnot onnx" * 50, "empty": b""}[
            how
        ]
    )
    handle = failed_handle(model_dir)
    assert f"cannot load {target}" in handle.error
    assert "corrupt" in handle.error


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize(
    ("decoder_format", "source", "dest", "reason"),
    [
        (DECODER_FORMAT_OPTIMUM, "decoder_model.onnx", "decoder_with_past_model.onnx",
         "text2text-generation-with-past"),
        (DECODER_FORMAT_STEP, "decoder_cross_kv.onnx", "decoder_step.onnx",
         "is not a PerfRL step-decoder graph (perfrl-step-v1): it lacks ['cross_key.0'"),
    ],
)
def test_swapped_decoder_files_are_refused(
    tiny_model: TinyModel, tmp_path, decoder_format, source, dest, reason
):
    model_dir = shutil.copytree(tiny_model.model_dir(decoder_format), tmp_path / "model")
    shutil.copy(model_dir / source, model_dir / dest)
    handle = failed_handle(model_dir)
    assert reason in handle.error


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize(
    ("decoder_format", "layers"), [(DECODER_FORMAT_OPTIMUM, 6), (DECODER_FORMAT_STEP, 1)]
)
def test_spec_disagreeing_with_the_files(tiny_model: TinyModel, tmp_path, decoder_format, layers):
    model_dir = shutil.copytree(tiny_model.model_dir(decoder_format), tmp_path / "model")
    spec = json.loads((model_dir / "perfrl_model.json").read_text())
    spec["num_decoder_layers"] = layers
    (model_dir / "perfrl_model.json").write_text(json.dumps(spec))
    handle = failed_handle(model_dir)
    assert f"num_decoder_layers={layers}" in handle.error


@pytest.mark.slow
@pytest.mark.train
def test_corrupt_tokenizer(tiny_model: TinyModel, tmp_path):
    model_dir = _copy(tiny_model, tmp_path / "model")
    (model_dir / "tokenizer.json").write_text("{not json")
    handle = failed_handle(model_dir)
    assert "cannot load the tokenizer" in handle.error


# -- the step-graph format, damaged -------------------------------------------------------------


def test_unknown_decoder_format(tmp_path):
    write_model_spec(tmp_path, ModelSpec())
    spec = json.loads((tmp_path / "perfrl_model.json").read_text())
    spec["decoder_format"] = "perfrl-step-v9"
    (tmp_path / "perfrl_model.json").write_text(json.dumps(spec))
    handle = failed_handle(tmp_path)
    assert "decoder_format 'perfrl-step-v9'" in handle.error
    assert "perfrl-step-v1" in handle.error


def test_missing_step_file_is_named(tmp_path):
    write_model_spec(tmp_path, ModelSpec(decoder_format=DECODER_FORMAT_STEP))
    for name in ("encoder_model.onnx", "decoder_cross_kv.onnx", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"x")
    handle = failed_handle(tmp_path)
    assert "decoder_step.onnx is missing" in handle.error


@pytest.mark.slow
@pytest.mark.train
def test_step_graph_without_its_metadata_is_refused(tiny_model: TinyModel, tmp_path):
    import onnx

    model_dir = shutil.copytree(tiny_model.step_dir, tmp_path / "model")
    graph = onnx.load(model_dir / "decoder_step.onnx")
    del graph.metadata_props[:]
    onnx.save(graph, model_dir / "decoder_step.onnx")
    handle = failed_handle(model_dir)
    assert "perfrl.max_distance" in handle.error and "export it again" in handle.error
