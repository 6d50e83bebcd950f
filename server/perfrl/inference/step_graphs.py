"""The decoder of a ``perfrl-step-v1`` model: graphs built for one token at a time.

Written by :mod:`perfrl_train.step_decoder` (see there for the graphs' inputs and outputs):
``cross_kv_file`` turns the encoder's output into every layer's cross-attention keys and
values once per prompt; ``step_decoder_file`` runs one step over the self-attention cache.
Compared with optimum's with-past decoder it runs fewer than half the nodes per step, and
the cross-attention tensors are broadcast over the batch instead of being tiled per row.

A caller may rely on :class:`StepGraphDecoder` raising :class:`ModelLoadError` at load time
when the files do not have the names, layer count or metadata the format defines, and on its
steppers following :class:`perfrl.inference.decoding.Stepper` for one prompt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfrl.inference.ort_sessions import ModelLoadError, names, open_session, require_names
from perfrl.model_contract import ModelSpec

#: Metadata key of the step graph: the largest query-to-key distance its bias table holds
#: (larger distances share the last bucket, so the stepper clips them to it); the distance
#: one above it marks an empty cache slot.
MAX_DISTANCE_KEY = "perfrl.max_distance"
#: Cache slots are added this many at a time: a step attends over fewer than this many empty
#: slots, and the cache is copied once per this many steps.
CACHE_CHUNK = 32
#: The step graph's input of the prompt's token ids ``(1, L)``, only in a model with a copy
#: head (its output distribution copies from them: ``perfrl_train.copy_head``).
SOURCE_IDS = "source_ids"
_KIND = "a PerfRL step-decoder graph (perfrl-step-v1)"


class StepGraphDecoder:
    """The cross-attention and step sessions, their names checked once at load time."""

    def __init__(self, model_dir: Path, spec: ModelSpec, threads: int) -> None:
        cross_path = model_dir / spec.cross_kv_file
        step_path = model_dir / spec.step_decoder_file
        self.cross_kv = open_session(cross_path, threads)
        self.step = open_session(step_path, threads)
        layers = range(spec.num_decoder_layers)
        self.cross_names = [f"cross_{kind}.{i}" for i in layers for kind in ("key", "value")]
        self.cache_inputs = [f"past_{kind}.{i}" for i in layers for kind in ("key", "value")]
        self.step_outputs = ["log_probs", "top_log_probs", "top_ids"] + [
            f"new_{kind}.{i}" for i in layers for kind in ("key", "value")
        ]
        require_names(cross_path, names(self.cross_kv.get_inputs()),
                      {"encoder_hidden_states"}, _KIND)
        require_names(cross_path, names(self.cross_kv.get_outputs()), set(self.cross_names),
                      _KIND)
        step_inputs = names(self.step.get_inputs())
        require_names(step_path, step_inputs,
                      {"input_ids", "past_distances", "top_k", *self.cache_inputs,
                       *self.cross_names}, _KIND)
        require_names(step_path, names(self.step.get_outputs()), set(self.step_outputs), _KIND)
        graph_layers = sum(1 for name in step_inputs if name.startswith("past_key."))
        if graph_layers != spec.num_decoder_layers:
            raise ModelLoadError(
                f"{model_dir} is inconsistent: {spec.step_decoder_file} has {graph_layers} "
                f"decoder layers but perfrl_model.json says "
                f"num_decoder_layers={spec.num_decoder_layers}"
            )
        metadata = self.step.get_modelmeta().custom_metadata_map
        try:
            self.max_distance = int(metadata[MAX_DISTANCE_KEY])
        except (KeyError, ValueError):
            raise ModelLoadError(
                f"{step_path} lacks the {MAX_DISTANCE_KEY} metadata of {_KIND}: export it again"
            ) from None
        self.copies = SOURCE_IDS in step_inputs
        self.vocab_size = spec.vocab_size
        self.empty_cache = np.zeros((1, spec.num_heads, 0, spec.d_kv), dtype=np.float32)

    def stepper(self, hidden: np.ndarray, mask: np.ndarray, start_id: int,
                source_ids: np.ndarray) -> _StepGraphStepper:
        """A stepper decoding the prompt ``source_ids`` ``(1, L)`` whose encoder output is
        ``hidden`` (batch 1).

        ``mask`` is accepted for the common interface and must be all ones: the graphs take
        no attention mask, since every row decodes the same unpadded prompt. The ids reach a
        graph with a copy head (:data:`SOURCE_IDS`); others do not read them."""
        stepper = _StepGraphStepper(self, hidden, start_id)
        if self.copies:
            stepper.feeds[SOURCE_IDS] = np.asarray(source_ids, dtype=np.int64).reshape(1, -1)
        return stepper


class _StepGraphStepper:
    """Keeps the self-attention cache in buffers that grow by :data:`CACHE_CHUNK` slots.

    The step graph reads the buffers and returns only the new token's key and value, which
    are written into the next slot here: a step costs no copy of the cache (optimum's graph
    concatenates, i.e. copies, every layer's cache at every step). Slots not yet written are
    marked empty in ``past_distances``, which gives them no attention weight.
    """

    def __init__(self, decoder: StepGraphDecoder, hidden: np.ndarray, start_id: int) -> None:
        self.d = decoder
        self.log_probs = True  # the graph normalises: see decoding.Stepper
        self.top_k = 0  # set by the strategy: > 0 fills last_top
        self.last_top: tuple[np.ndarray, np.ndarray] | None = None
        cross = decoder.cross_kv.run(decoder.cross_names, {"encoder_hidden_states": hidden})
        # One feed dict for the whole decode: the cross tensors stay, the rest is replaced.
        self.feeds: dict[str, np.ndarray] = dict(zip(decoder.cross_names, cross))
        self.start_id = start_id
        self.cache: list[np.ndarray] = []  # per layer: key, value; (rows, heads, slots, d_kv)
        self.length = 0  # slots written

    def _distances(self, capacity: int) -> np.ndarray:
        distances = np.full(capacity, self.d.max_distance + 1, dtype=np.int64)  # empty slots
        distances[: self.length] = np.minimum(
            np.arange(self.length, 0, -1), self.d.max_distance
        )  # slot s holds the token self.length - s positions back
        return distances

    def _run(self, tokens: np.ndarray) -> np.ndarray:
        feeds = self.feeds
        feeds["input_ids"] = tokens.reshape(-1, 1)
        feeds["past_distances"] = self._distances(self.cache[0].shape[2])
        # At least 1 (the graph always runs TopK), at most the vocabulary (TopK's limit).
        feeds["top_k"] = np.array([min(max(1, self.top_k), self.d.vocab_size)], dtype=np.int64)
        feeds.update(zip(self.d.cache_inputs, self.cache))
        log_probs, top_values, top_ids, *new = self.d.step.run(self.d.step_outputs, feeds)
        self.last_top = (top_values[:, 0], top_ids[:, 0]) if self.top_k > 0 else None
        if self.length == self.cache[0].shape[2]:
            self.cache = [_grown(buffer, CACHE_CHUNK) for buffer in self.cache]
        for buffer, token_entry in zip(self.cache, new):
            buffer[:, :, self.length] = token_entry[:, :, 0]
        self.length += 1
        return log_probs[:, 0]

    def start(self, n: int) -> np.ndarray:
        self.length = 0
        self.cache = [self.d.empty_cache] * len(self.d.cache_inputs)
        # The first step is the same for every row: run it once, then tile.
        scores = self._run(np.array([self.start_id], dtype=np.int64))
        if n != 1:
            self.cache = [np.repeat(buffer, n, axis=0) for buffer in self.cache]
            scores = np.repeat(scores, n, axis=0)
            if self.last_top is not None:
                top_scores, top_ids = self.last_top
                self.last_top = (
                    np.repeat(top_scores, n, axis=0), np.repeat(top_ids, n, axis=0)
                )
        return scores

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if rows is not None:
            self.cache = [buffer[rows] for buffer in self.cache]
        return self._run(tokens.astype(np.int64, copy=False))


def _grown(buffer: np.ndarray, slots: int) -> np.ndarray:
    """``buffer`` with ``slots`` more (zeroed) slots along the sequence axis."""
    rows, heads, used, d_kv = buffer.shape
    grown = np.zeros((rows, heads, used + slots, d_kv), dtype=buffer.dtype)
    grown[:, :, :used] = buffer
    return grown
