"""A training checkpoint rebuilt from an exported ``perfrl-step-v1`` model directory.

Only exported models are committed (raw checkpoints are not), so continuing to train the
shipped model needs its weights back in PyTorch form. Every weight is in the ONNX files: the
encoder's initializers carry the module path in the names of the nodes that use them, the
step decoder's are named after the modules (``perfrl_train.step_decoder``), and the decoder's
self-attention bias is stored as a table by distance, from which each bucket's row is read
back. int8 weights are dequantized (``(q - zero_point) * scale``, per output channel or per
tensor), so the result is the int8 model's weights in float32, a starting point for further
training, not the float32 model that was exported.

    perfrl-train recover --model server/perfrl/models/default --out CKPT

A caller may rely on:

- ``CKPT`` being a checkpoint ``perfrl-train sft --base CKPT`` accepts (``config.json``,
  ``model.safetensors``, the model's own ``tokenizer.json`` wrapped as in training, and
  ``perfrl_train.json`` with the export's prompt prefix and input abstraction);
- :class:`RecoverError` (a :class:`perfrl_train.errors.PerfRLError`) for a directory that is not
  a ``perfrl-step-v1`` export of a T5 this code can rebuild, naming what is missing;
- :func:`recover` returning how many parameters it set; every parameter of the model is set
  (a missing one is an error, never a random leftover).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfrl_train.errors import PerfRLError
from perfrl_train.train_common import help_field


class RecoverError(PerfRLError):
    """The model directory cannot be turned back into a checkpoint."""


@dataclass
class RecoverConfig:
    model: Path = help_field(None, "exported model directory (perfrl-step-v1), e.g. "  # noqa: RUF009
                                   "server/perfrl/models/default")
    out: Path = help_field(None, "checkpoint directory to write (must be empty or absent)")  # noqa: RUF009


def _arrays(path: Path) -> tuple[dict[str, np.ndarray], list]:
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise RecoverError(f"{path} is missing: recover needs a perfrl-step-v1 export")
    graph = onnx.load(str(path)).graph
    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}, list(graph.node)


def _dequantized(arrays: dict[str, np.ndarray], stem: str) -> np.ndarray:
    """``stem``'s float weight: itself, or ``(q - zero_point) * scale`` of its int8 form
    (scale and zero point per last-axis channel or per tensor)."""
    if stem in arrays:
        return arrays[stem].astype(np.float32)
    try:
        quantized = arrays[f"{stem}_quantized"].astype(np.float32)
        scale = arrays[f"{stem}_scale"].astype(np.float32)
        zero = arrays[f"{stem}_zero_point"].astype(np.float32)
    except KeyError:
        raise RecoverError(f"weight {stem!r} is not in the model") from None
    return (quantized - zero) * scale


_ENCODER_MATMUL = re.compile(r"^/(block\.\d+/layer\.\d+/\w+/\w+)/MatMul(?:_quant)?$")


def _encoder_weights(arrays: dict[str, np.ndarray], nodes: list) -> dict[str, np.ndarray]:
    """Encoder parameters by their PyTorch names (``encoder.`` prefix included), and the
    shared embedding (``shared.weight``) the encoder holds."""
    weights: dict[str, np.ndarray] = {}
    for node in nodes:
        match = _ENCODER_MATMUL.match(node.name)
        if not match:
            continue
        stems = [i[: -len("_quantized")] for i in node.input if i.endswith("_quantized")
                 and i[: -len("_quantized")] + "_scale" in arrays]
        stems += [i for i in node.input if i in arrays and arrays[i].ndim == 2
                  and not i.endswith("_quantized")]
        if len(stems) != 1:
            raise RecoverError(f"cannot tell the weight of encoder node {node.name}")
        module = match.group(1).replace("/", ".")
        # ONNX MatMul holds (in, out); torch.nn.Linear holds (out, in).
        weights[f"encoder.{module}.weight"] = _dequantized(arrays, stems[0]).T
    for name in list(arrays):
        stem = name[: -len("_quantized")] if name.endswith("_quantized") else name
        if stem.endswith(("layer_norm.weight", "relative_attention_bias.weight")):
            weights[f"encoder.{stem}"] = _dequantized(arrays, stem)
    weights["shared.weight"] = _dequantized(arrays, "embed_tokens.weight")
    return weights


def _decoder_weights(step: dict[str, np.ndarray], cross: dict[str, np.ndarray], config,
                     model) -> dict[str, np.ndarray]:
    import torch

    inner = config.num_heads * config.d_kv
    weights: dict[str, np.ndarray] = {}
    for i in range(config.num_decoder_layers):
        block = f"decoder.block.{i}"
        qkv = _dequantized(step, f"{block}.layer.0.SelfAttention.qkv")
        for index, part in enumerate("qkv"):
            weights[f"{block}.layer.0.SelfAttention.{part}.weight"] = (
                qkv[:, index * inner:(index + 1) * inner].T)
        weights[f"{block}.layer.0.SelfAttention.o.weight"] = _dequantized(
            step, f"{block}.layer.0.SelfAttention.o").T
        for part in "qo":
            weights[f"{block}.layer.1.EncDecAttention.{part}.weight"] = _dequantized(
                step, f"{block}.layer.1.EncDecAttention.{part}").T
        for part in "kv":
            weights[f"{block}.layer.1.EncDecAttention.{part}.weight"] = _dequantized(
                cross, f"{block}.layer.1.EncDecAttention.{part}").T
        for part in ("wi", "wo"):
            weights[f"{block}.layer.2.DenseReluDense.{part}.weight"] = _dequantized(
                step, f"{block}.layer.2.DenseReluDense.{part}").T
        for layer in range(3):
            weights[f"{block}.layer.{layer}.layer_norm.weight"] = _dequantized(
                step, f"{block}.layer.{layer}.layer_norm.weight")
    weights["decoder.final_layer_norm.weight"] = _dequantized(
        step, "decoder.final_layer_norm.weight")
    # The table holds the bias of every distance 0..max_distance: each bucket's row is the
    # row of a distance that falls in it (the same bucketing the export used).
    table = _dequantized(step, "self_bias_by_distance")
    attention = model.decoder.block[0].layer[0].SelfAttention
    distances = torch.arange(config.relative_attention_max_distance + 1)
    buckets = attention._relative_position_bucket(
        -distances, bidirectional=False, num_buckets=config.relative_attention_num_buckets,
        max_distance=config.relative_attention_max_distance).numpy()
    bias = np.zeros((config.relative_attention_num_buckets, config.num_heads), np.float32)
    seen = set()
    for distance, bucket in enumerate(buckets):
        if bucket not in seen:
            bias[bucket] = table[distance]
            seen.add(int(bucket))
    # Buckets no distance up to max_distance reaches are never used by the decoder either.
    weights["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = bias
    if not config.tie_word_embeddings:
        weights["lm_head.weight"] = _dequantized(step, "lm_head").T
    return weights


def recover(model_dir: Path, out: Path) -> int:
    """Write the checkpoint rebuilt from ``model_dir`` into ``out``; returns parameters set."""
    import torch
    from transformers import T5ForConditionalGeneration

    from perfrl_train.checkpoint import save_checkpoint
    from perfrl_train.modeling import ModelSize, t5_config_for
    from perfrl_train.tokenizer import wrap_fast_tokenizer

    if out.exists() and any(out.iterdir()):
        raise RecoverError(f"{out} is not empty: recover writes a new checkpoint directory")
    spec_path = model_dir / "perfrl_model.json"
    if not spec_path.is_file():
        raise RecoverError(f"{model_dir} holds no perfrl_model.json: not an exported model")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    if spec.get("decoder_format") != "perfrl-step-v1":
        raise RecoverError(f"{model_dir}: decoder format {spec.get('decoder_format')!r}; "
                           "recover reads perfrl-step-v1 exports only")
    encoder, nodes = _arrays(model_dir / spec["encoder_file"])
    encoder_weights = _encoder_weights(encoder, nodes)
    try:
        vocab_size, d_model = encoder_weights["shared.weight"].shape
        d_ff = encoder_weights["encoder.block.0.layer.1.DenseReluDense.wi.weight"]
        size = ModelSize(d_model=int(d_model), d_ff=int(d_ff.shape[0]),
                         num_layers=int(spec["training"]["num_encoder_layers"]),
                         num_decoder_layers=int(spec["num_decoder_layers"]),
                         num_heads=int(spec["num_heads"]), vocab_size=int(vocab_size),
                         dropout_rate=0.1)
    except (KeyError, TypeError, ValueError) as exc:
        raise RecoverError(f"{model_dir}: the model's shape cannot be read ({exc})") from None
    # The export checks T5 v1.0 with tied embeddings (step_decoder._check_supported).
    config = t5_config_for(size, size.vocab_size)
    model = T5ForConditionalGeneration(config)
    step, _ = _arrays(model_dir / spec["step_decoder_file"])
    cross, _ = _arrays(model_dir / spec["cross_kv_file"])
    weights = {**encoder_weights, **_decoder_weights(step, cross, config, model)}
    state = model.state_dict()
    tied = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
    if config.tie_word_embeddings:
        tied.add("lm_head.weight")
    missing = [name for name in state if name not in weights and name not in tied]
    if missing:
        raise RecoverError(f"{model_dir}: no weight found for {', '.join(missing[:5])}")
    for name, array in weights.items():
        if name not in state:
            raise RecoverError(f"{model_dir}: {name} is not a parameter of the model")
        if tuple(array.shape) != tuple(state[name].shape):
            raise RecoverError(f"{name}: shape {array.shape}, model wants "
                               f"{tuple(state[name].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                           for k, v in weights.items()}, strict=False)
    model.tie_weights()
    from tokenizers import Tokenizer

    tokenizer = wrap_fast_tokenizer(Tokenizer.from_file(str(model_dir / spec["tokenizer_file"])),
                                    spec.get("max_source_length", 512))
    meta = {
        "recovered_from": str(model_dir),
        "prompt_prefix": spec.get("prompt_prefix"),
        "input_abstraction": spec.get("input_abstraction", "none"),
        "note": "int8 weights dequantized to float32 (perfrl_train.recover)",
    }
    save_checkpoint(out, model, tokenizer, meta)
    return len(weights)
