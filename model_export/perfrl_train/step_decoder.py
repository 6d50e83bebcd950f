"""Write a T5 decoder as two small ONNX graphs built for one-token-at-a-time decoding.

optimum's with-past decoder runs 324 nodes per step after onnxruntime's optimisations, most of
them shape arithmetic, mask building and relative-position bucketing that are the same at
every step (profiled in ``docs/model.md``). For a model this small the per-node overhead, not
the arithmetic, sets the speed. These graphs keep only the arithmetic:

- ``decoder_cross_kv.onnx``: the encoder's hidden states ``(1, L, d_model)`` -> every layer's
  cross-attention keys, already transposed for the score product, ``cross_key.{i}``
  ``(1, heads, d_kv, L)``, and values ``cross_value.{i}`` ``(1, heads, L, d_kv)``. Run once
  per prompt; the step graph broadcasts them over the batch (all rows decode one prompt), so
  they are never tiled or copied.
- ``decoder_step.onnx``: one token per row over a self-attention cache the caller keeps.
  Inputs: ``input_ids`` ``(B, 1)``; ``past_key.{i}`` / ``past_value.{i}``
  ``(B, heads, C, d_kv)``, the cache buffers (C slots, possibly some not written yet, C may
  be 0); ``past_distances`` ``(C,)`` int64, for each slot the distance from the new token to
  the token in it (clipped to ``relative_attention_max_distance``: the buckets saturate
  there), or ``relative_attention_max_distance + 1`` for an empty slot (bias: float32 min,
  so it gets no attention); ``top_k`` ``(1,)`` int64; and the cross tensors. Outputs:
  ``log_probs`` ``(B, 1, vocab)``, the ``top_k`` best of them ``top_log_probs`` /
  ``top_ids`` ``(B, 1, top_k)`` (best first), and the token's own ``new_key.{i}`` /
  ``new_value.{i}`` ``(B, heads, 1, d_kv)``, which the caller writes into its buffers. The
  cache is never copied inside the graph: the token attends to the slots and to itself
  through one softmax over both score sets.

The relative-position bias is precomputed here with the model's own bucketing for every
distance up to the saturation point, so the step graph only gathers it (in float32: the
quantizer is told to leave that lookup alone). Attention over one query needs no transposes:
the fused q/k/v projection of one token reshapes straight into heads. No attention mask over
the encoder: rows never carry padding (one prompt per call, as the server's stepper decodes).
Profiled at 8 rows and 128 cached tokens, int8: the output projection over the vocabulary is
the largest node (~0.5 ms of ~2.4 ms).

The server's side is :mod:`perfrl.inference.step_graphs` (it defines the metadata key naming
the saturation distance); the file names are defined here.

A caller may rely on :func:`write_step_decoder` producing graphs whose log-probabilities
match the PyTorch model's to float32 rounding (``perfrl_train.export`` checks it on every
export), for T5 models with ``feed_forward_proj`` ``relu`` (T5 v1.0, CodeT5; tied or untied output
embeddings); other variants raise :class:`StepDecoderUnsupported`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfrl.inference.step_graphs import MAX_DISTANCE_KEY, SOURCE_IDS

from .errors import PerfRLError

#: The bias lookup stays float32 when the graph is quantized (``perfrl_train.export``): int8
#: would round the relative-position bias, and the table is tiny.
BIAS_LOOKUP_NODE = "self_bias_lookup"
CROSS_KV_FILE = "decoder_cross_kv.onnx"
STEP_FILE = "decoder_step.onnx"
OPSET = 18
IR_VERSION = 8


class StepDecoderUnsupported(PerfRLError):
    """The model's architecture is not one the step graphs reproduce."""


def _bias_by_distance(model) -> np.ndarray:
    """``(max_distance + 1, heads)``: the decoder's self-attention bias for each query-to-key
    distance, from the model's own bucketing (so it matches PyTorch exactly)."""
    import torch

    attention = model.decoder.block[0].layer[0].SelfAttention
    config = model.config
    distances = torch.arange(config.relative_attention_max_distance + 1)
    buckets = attention._relative_position_bucket(
        -distances,  # key position minus query position
        bidirectional=False,
        num_buckets=config.relative_attention_num_buckets,
        max_distance=config.relative_attention_max_distance,
    )
    with torch.no_grad():
        return attention.relative_attention_bias(buckets).float().numpy()


class _GraphBuilder:
    """Accumulates nodes and initializers; names every intermediate uniquely."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0
        self._shapes: set[str] = set()

    def weight(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1,
           **attrs) -> list[str]:
        from onnx import helper

        if isinstance(outputs, int):
            names = []
            for _ in range(outputs):
                self._count += 1
                names.append(f"{op_type.lower()}_{self._count}")
        else:
            names = outputs
        # A node is named after its first output, so that tools (the quantizer's exclusion
        # list) can address it.
        self.nodes.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names

    def one(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        return self.op(op_type, inputs, [output] if output else 1, **attrs)[0]

    def shape(self, name: str, dims: list[int]) -> str:
        """An int64 constant (a shape or axes), written once however often it is asked for."""
        if name not in self._shapes:
            self._shapes.add(self.weight(name, np.asarray(dims, dtype=np.int64)))
        return name

    def model(self, name: str, inputs: list, outputs: list):
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="perfrl.perfrl_train.step_decoder",
            # The newest onnx writes an IR version older onnxruntime releases refuse; opset 18
            # needs no more than IR 8.
            ir_version=IR_VERSION,
        )


def _linear(state: dict, key: str) -> np.ndarray:
    """A torch ``Linear`` weight ``(out, in)`` as a MatMul right operand ``(in, out)``."""
    return state[key].float().numpy().T


def _rms_norm(g: _GraphBuilder, x: str, weight: np.ndarray, name: str, eps: float) -> str:
    """T5's layer norm in standard operators, in the order onnxruntime fuses into one
    ``SimplifiedLayerNormalization`` node."""
    two = g.weight(f"{name}.two", np.array(2.0, dtype=np.float32))
    epsilon = g.weight(f"{name}.eps", np.array(eps, dtype=np.float32))
    axes = g.shape(f"{name}.axes", [-1])
    variance = g.one("ReduceMean", [g.one("Pow", [x, two]), axes], keepdims=1)
    normed = g.one("Div", [x, g.one("Sqrt", [g.one("Add", [variance, epsilon])])])
    return g.one("Mul", [g.weight(f"{name}.weight", weight), normed])


def _check_supported(config) -> None:
    if config.model_type != "t5":
        raise StepDecoderUnsupported(f"step decoder graphs are for T5, not {config.model_type}")
    if config.feed_forward_proj != "relu":
        raise StepDecoderUnsupported(
            f"feed_forward_proj {config.feed_forward_proj!r} is not supported by the step "
            "decoder (relu is: T5 v1.0 and CodeT5)"
        )


def build_cross_kv(model):
    """The ``decoder_cross_kv`` graph (see the module docstring)."""
    from onnx import TensorProto, helper

    config = model.config
    heads, d_kv = config.num_heads, config.d_kv
    state = model.state_dict()
    g = _GraphBuilder()
    hidden = "encoder_hidden_states"
    split_heads = g.shape("split_heads", [0, -1, heads, d_kv])
    outputs = []
    for i in range(config.num_decoder_layers):
        prefix = f"decoder.block.{i}.layer.1.EncDecAttention"
        k_weight = g.weight(f"{prefix}.k", _linear(state, f"{prefix}.k.weight"))
        v_weight = g.weight(f"{prefix}.v", _linear(state, f"{prefix}.v.weight"))
        keys = g.one("MatMul", [hidden, k_weight])
        values = g.one("MatMul", [hidden, v_weight])
        keys = g.one("Reshape", [keys, split_heads])
        values = g.one("Reshape", [values, split_heads])
        g.one("Transpose", [keys], f"cross_key.{i}", perm=[0, 2, 3, 1])
        g.one("Transpose", [values], f"cross_value.{i}", perm=[0, 2, 1, 3])
        outputs += [
            helper.make_tensor_value_info(f"cross_key.{i}", TensorProto.FLOAT,
                                          [1, heads, d_kv, "encoder_length"]),
            helper.make_tensor_value_info(f"cross_value.{i}", TensorProto.FLOAT,
                                          [1, heads, "encoder_length", d_kv]),
        ]
    inputs = [helper.make_tensor_value_info(hidden, TensorProto.FLOAT,
                                            [1, "encoder_length", config.d_model])]
    return g.model("perfrl_decoder_cross_kv", inputs, outputs)


def _copy_mixture(g: _GraphBuilder, config, state: dict, normed: str, logits: str,
                  cross_probs: str, output: str) -> str:
    """The copy head's log-probabilities (:mod:`perfrl_train.copy_head`): a softmax over the
    final hidden state weighs the vocabulary distribution and, per head of the last layer's
    cross-attention (``(B, heads, 1, L)`` in), copying the token at the attended position or
    the one after it. Only the input's tokens need a sum: every other token's
    log-probability is ``log w_0 + log_softmax``, one addition over the vocabulary; the sums
    are computed at the ``2L`` copy positions (each position's token's total mass through a
    same-token matrix) and written over those tokens (positions of one token carry the same
    value, so the order of the writes does not matter)."""
    from .copy_head import GATE_BIAS, GATE_WEIGHT, PROBABILITY_FLOOR

    heads = config.num_heads
    gate_weight = g.weight("copy_gate", _linear(state, GATE_WEIGHT))
    gate_bias = g.weight("copy_gate_bias", state[GATE_BIAS].float().numpy())
    choices = g.one("Softmax", [g.one("Add", [g.one("MatMul", [normed, gate_weight]),
                                              gate_bias])], axis=-1)  # (B, 1, 1 + 2H)
    axis = g.shape("copy_last_axis", [-1])

    def choice_slice(start: int, end: int) -> str:
        return g.one("Slice", [choices, g.shape(f"copy_from_{start}", [start]),
                               g.shape(f"copy_to_{end}", [end]), axis])

    attention = g.one("Reshape", [cross_probs, g.shape("copy_heads", [0, heads, -1])])
    at = g.one("MatMul", [choice_slice(1, 1 + heads), attention])  # (B, 1, L)
    after = g.one("MatMul", [choice_slice(1 + heads, 1 + 2 * heads), attention])
    masses = g.one("Concat", [at, after], axis=-1)  # (B, 1, 2L)
    ids = g.one("Reshape", [SOURCE_IDS, g.shape("source_row", [1, 1, -1])])  # (1, 1, L)
    end = g.weight("copy_end_id", np.array([[[config.eos_token_id]]], dtype=np.int64))
    followers = g.one("Concat", [g.one("Slice", [ids, g.shape("copy_one_on", [1]),
                                                 g.shape("copy_to_end", [np.iinfo(np.int64).max]),
                                                 g.shape("copy_token_axis", [2])]), end],
                      axis=2)
    copy_ids = g.one("Concat", [ids, followers], axis=2)  # (1, 1, 2L)
    as_rows = g.one("Reshape", [copy_ids, g.shape("copy_column", [1, -1, 1])])
    same = g.one("Cast", [g.one("Equal", [as_rows, copy_ids])], to=1)  # (1, 2L, 2L) float32
    token_masses = g.one("MatMul", [masses, same])  # (B, 1, 2L)
    vocabulary = g.one("Add", [g.one("LogSoftmax", [logits], axis=-1),
                               g.one("Log", [choice_slice(0, 1)])])
    copy_ids = g.one("Expand", [copy_ids, g.one("Shape", [masses])])  # (B, 1, 2L)
    at_ids = g.one("GatherElements", [vocabulary, copy_ids], axis=2)
    both = g.one("Add", [g.one("Exp", [at_ids]), token_masses])
    floor = g.weight("copy_floor", np.array(PROBABILITY_FLOOR, dtype=np.float32))
    both = g.one("Log", [g.one("Max", [both, floor])])
    return g.one("ScatterElements", [vocabulary, copy_ids, both], output, axis=2)


def build_step(model):
    """The ``decoder_step`` graph (see the module docstring)."""
    from onnx import TensorProto, helper

    config = model.config
    _check_supported(config)
    heads, d_kv, d_model = config.num_heads, config.d_kv, config.d_model
    inner = heads * d_kv
    eps = config.layer_norm_epsilon
    state = model.state_dict()
    g = _GraphBuilder()

    embeddings = g.weight("shared", state["shared.weight"].float().numpy())
    x = g.one("Gather", [embeddings, "input_ids"])  # (B, 1, d_model)
    table = _bias_by_distance(model)
    # The bias of every cache slot, gathered by distance; one more row for empty slots.
    empty_row = np.full((1, heads), np.finfo(np.float32).min, dtype=np.float32)
    bias_table = g.weight("self_bias_by_distance", np.concatenate([table, empty_row]))
    past_bias = g.one("Gather", [bias_table, "past_distances"], BIAS_LOOKUP_NODE)  # (C, heads)
    past_bias = g.one("Transpose", [past_bias], perm=[1, 0])
    past_bias = g.one("Reshape", [past_bias, g.shape("bias_shape", [1, heads, 1, -1])])
    own_bias = g.weight("self_bias_distance_0", table[0].reshape(1, heads, 1, 1))
    qkv_heads = g.shape("qkv_heads", [0, 3 * heads, 1, d_kv])
    q_heads = g.shape("q_heads", [0, heads, 1, d_kv])
    merge_heads = g.shape("merge_heads", [0, 1, inner])
    last_axis = g.shape("last_axis", [-1])
    slice_start, slice_penultimate = g.shape("zero", [0]), g.shape("minus_one", [-1])
    slice_end = g.shape("end", [np.iinfo(np.int64).max])

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", 1]),
        helper.make_tensor_value_info("past_distances", TensorProto.INT64, ["capacity"]),
        helper.make_tensor_value_info("top_k", TensorProto.INT64, [1]),
    ]
    outputs = [
        helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                      ["batch", 1, config.vocab_size]),
        helper.make_tensor_value_info("top_log_probs", TensorProto.FLOAT, ["batch", 1, "k"]),
        helper.make_tensor_value_info("top_ids", TensorProto.INT64, ["batch", 1, "k"]),
    ]
    for i in range(config.num_decoder_layers):
        block = f"decoder.block.{i}.layer"
        # Self-attention over the cache slots plus this token. The cache is only read: the
        # token's key and value are outputs, written into the caller's buffers, so no step
        # copies the cache (a Concat would, at every step and layer).
        attn = f"{block}.0.SelfAttention"
        normed = _rms_norm(g, x, state[f"{block}.0.layer_norm.weight"].float().numpy(),
                           f"{block}.0.layer_norm", eps)
        qkv_weight = np.concatenate([_linear(state, f"{attn}.{p}.weight") for p in "qkv"], 1)
        qkv = g.one("MatMul", [normed, g.weight(f"{attn}.qkv", qkv_weight)])
        qkv = g.one("Reshape", [qkv, qkv_heads])  # (B, 3*heads, 1, d_kv): seq length is 1
        q, _, _ = g.op("Split", [qkv, g.shape("split_qkv", [heads] * 3)],
                       [f"query.{i}", f"new_key.{i}", f"new_value.{i}"], axis=1)
        keys_t = g.one("Transpose", [f"past_key.{i}"], perm=[0, 1, 3, 2])
        past_scores = g.one("Add", [g.one("MatMul", [q, keys_t]), past_bias])
        own_score = g.one("ReduceSum", [g.one("Mul", [q, f"new_key.{i}"]), last_axis],
                          keepdims=1)
        own_score = g.one("Add", [own_score, own_bias])
        probs = g.one("Softmax", [g.one("Concat", [past_scores, own_score], axis=-1)], axis=-1)
        past_probs = g.one("Slice", [probs, slice_start, slice_penultimate, last_axis])
        own_prob = g.one("Slice", [probs, slice_penultimate, slice_end, last_axis])
        context = g.one("Add", [g.one("MatMul", [past_probs, f"past_value.{i}"]),
                                g.one("Mul", [own_prob, f"new_value.{i}"])])
        context = g.one("Reshape", [context, merge_heads])
        x = g.one("Add", [x, g.one("MatMul", [context, g.weight(
            f"{attn}.o", _linear(state, f"{attn}.o.weight"))])])
        # Cross-attention over the encoder (no bias: T5 gives cross-attention none).
        cross = f"{block}.1.EncDecAttention"
        normed = _rms_norm(g, x, state[f"{block}.1.layer_norm.weight"].float().numpy(),
                           f"{block}.1.layer_norm", eps)
        q = g.one("MatMul", [normed, g.weight(f"{cross}.q", _linear(state, f"{cross}.q.weight"))])
        q = g.one("Reshape", [q, q_heads])
        probs = g.one("Softmax", [g.one("MatMul", [q, f"cross_key.{i}"])], axis=-1)
        cross_probs = probs  # the last layer's: what a copy head copies by
        context = g.one("Reshape", [g.one("MatMul", [probs, f"cross_value.{i}"]), merge_heads])
        x = g.one("Add", [x, g.one("MatMul", [context, g.weight(
            f"{cross}.o", _linear(state, f"{cross}.o.weight"))])])
        # Feed-forward.
        ff = f"{block}.2.DenseReluDense"
        normed = _rms_norm(g, x, state[f"{block}.2.layer_norm.weight"].float().numpy(),
                           f"{block}.2.layer_norm", eps)
        hidden = g.one("Relu", [g.one("MatMul", [normed, g.weight(
            f"{ff}.wi", _linear(state, f"{ff}.wi.weight"))])])
        x = g.one("Add", [x, g.one("MatMul", [hidden, g.weight(
            f"{ff}.wo", _linear(state, f"{ff}.wo.weight"))])])

        cache = ["batch", heads, "capacity", d_kv]
        new = ["batch", heads, 1, d_kv]
        inputs += [
            helper.make_tensor_value_info(f"past_key.{i}", TensorProto.FLOAT, cache),
            helper.make_tensor_value_info(f"past_value.{i}", TensorProto.FLOAT, cache),
            helper.make_tensor_value_info(f"cross_key.{i}", TensorProto.FLOAT,
                                          [1, heads, d_kv, "encoder_length"]),
            helper.make_tensor_value_info(f"cross_value.{i}", TensorProto.FLOAT,
                                          [1, heads, "encoder_length", d_kv]),
        ]
        outputs += [
            helper.make_tensor_value_info(f"new_key.{i}", TensorProto.FLOAT, new),
            helper.make_tensor_value_info(f"new_value.{i}", TensorProto.FLOAT, new),
        ]

    normed = _rms_norm(g, x, state["decoder.final_layer_norm.weight"].float().numpy(),
                       "decoder.final_layer_norm", eps)
    if config.tie_word_embeddings:
        # T5 rescales before the tied projection; folding the scale into the weight saves a node.
        head = state["shared.weight"].float().numpy().T * (d_model**-0.5)
    else:
        head = _linear(state, "lm_head.weight")
    logits = g.one("MatMul", [normed, g.weight("lm_head", head)])
    from .copy_head import has_copy_head

    if has_copy_head(config):
        inputs.append(helper.make_tensor_value_info(SOURCE_IDS, TensorProto.INT64,
                                                    [1, "encoder_length"]))
        _copy_mixture(g, config, state, normed, logits, cross_probs, "log_probs")
    else:
        # Normalised here, where onnxruntime's vectorised kernel costs ~30 us for 8 rows of a
        # 16k vocabulary; numpy's log-sum-exp of the same took ~300 us per step.
        g.one("LogSoftmax", [logits], "log_probs", axis=-1)
    # The k most likely tokens, best first, for top-k sampling: onnxruntime's TopK takes
    # ~0.07 ms for 8 rows where numpy's argpartition over the vocabulary took ~0.34 ms.
    g.op("TopK", ["log_probs", "top_k"], ["top_log_probs", "top_ids"], axis=-1, largest=1,
         sorted=1)
    graph = g.model("perfrl_decoder_step", inputs, outputs)
    # The server clips distances to the table's last real row and marks empty slots with the
    # row after it (see server/perfrl/inference/step_graphs.py).
    helper.set_model_props(
        graph, {MAX_DISTANCE_KEY: str(config.relative_attention_max_distance)}
    )
    return graph


def write_step_decoder(model, out_dir: Path) -> dict[str, Path]:
    """Write both graphs (float32) into ``out_dir``; returns ``{file name: path}``."""
    import onnx

    _check_supported(model.config)
    out_dir = Path(out_dir)
    written = {}
    for name, graph in ((CROSS_KV_FILE, build_cross_kv(model)), (STEP_FILE, build_step(model))):
        onnx.checker.check_model(graph)
        onnx.save(graph, out_dir / name)
        written[name] = out_dir / name
    return written
