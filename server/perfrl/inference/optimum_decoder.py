"""The decoder of an optimum ``text2text-generation-with-past`` export, one step at a time.

Format ``optimum-with-past`` of :mod:`perfrl.model_contract`: a first-step decoder (which also
computes the cross-attention cache) and a decoder with past keys and values. Kept for models
exported before the step graphs (:mod:`perfrl.inference.step_graphs`, about twice as fast) and
for checkpoints the step graphs do not support.

A caller may rely on :class:`OptimumDecoder` raising :class:`ModelLoadError` at load time when
the two files are not a matching with-past export of ``spec.num_decoder_layers`` layers, and on
its steppers following :class:`perfrl.inference.decoding.Stepper`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from perfrl.inference.ort_sessions import ModelLoadError, names, open_session, require_names
from perfrl.model_contract import ModelSpec

_PAST_INPUT = re.compile(r"past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$")
_PRESENT_OUTPUT = re.compile(r"present\.(\d+)\.(decoder|encoder)\.(key|value)$")
_KIND = "an encoder-decoder export (text2text-generation-with-past)"


class OptimumDecoder:
    """The two decoder sessions with their input/output names checked once at load time."""

    def __init__(self, model_dir: Path, spec: ModelSpec, threads: int) -> None:
        first_path = model_dir / spec.decoder_file
        past_path = model_dir / spec.decoder_with_past_file
        self.decoder = open_session(first_path, threads)
        self.decoder_past = open_session(past_path, threads)
        dec_in, dec_out = names(self.decoder.get_inputs()), names(self.decoder.get_outputs())
        require_names(
            first_path, dec_in, {"input_ids", "encoder_hidden_states", "encoder_attention_mask"},
            _KIND,
        )
        require_names(first_path, dec_out, {"logits"}, _KIND)
        past_in = names(self.decoder_past.get_inputs())
        past_out = names(self.decoder_past.get_outputs())
        require_names(past_path, past_in, {"input_ids", "encoder_attention_mask"}, _KIND)
        require_names(past_path, past_out, {"logits"}, _KIND)
        self.decoder_inputs = dec_in
        self.decoder_outputs = dec_out
        self.past_inputs = past_in
        self.past_outputs = past_out
        # Each past input of the with-past decoder is fed from the present output of the same
        # layer/kind: decoder self-attention entries from the latest step, encoder
        # (cross-attention) entries from the first step, which alone computes them.
        self.past_keys = [
            m.group(0)[len("past_key_values.") :] for m in map(_PAST_INPUT.match, past_in) if m
        ]
        present = {m.group(0)[len("present.") :] for m in map(_PRESENT_OUTPUT.match, dec_out) if m}
        if not self.past_keys:
            raise ModelLoadError(
                f"{past_path} takes no past_key_values inputs: "
                "export with task text2text-generation-with-past"
            )
        missing = sorted(set(self.past_keys) - present)
        if missing:
            raise ModelLoadError(
                f"{first_path} does not output present.{missing[0]} that "
                f"{spec.decoder_with_past_file} needs: the two decoder files do not match"
            )
        layers = len({key.split(".")[0] for key in self.past_keys})
        if layers != spec.num_decoder_layers:
            raise ModelLoadError(
                f"{model_dir} is inconsistent: {spec.decoder_with_past_file} has {layers} decoder "
                f"layers but perfrl_model.json says num_decoder_layers={spec.num_decoder_layers}"
            )

    def stepper(self, hidden: np.ndarray, mask: np.ndarray, start_id: int,
                source_ids: np.ndarray) -> _OptimumStepper:
        """A stepper decoding the prompt whose encoder output is ``hidden`` (batch 1);
        ``source_ids``, for the common interface, is not read (optimum's graphs have no copy
        head)."""
        return _OptimumStepper(self, hidden, mask, start_id)


class _OptimumStepper:
    """The :class:`~perfrl.inference.decoding.Stepper` for one prompt over the sessions.

    All rows decode the same prompt, so the encoder's hidden states and the cross-attention
    cache are identical across rows: the first decoder step runs on one row and is tiled,
    and reordering rows (beam search) never needs to move the cross-attention cache.
    """

    def __init__(
        self, sessions: OptimumDecoder, hidden: np.ndarray, mask: np.ndarray, start_id: int
    ) -> None:
        self.s = sessions
        self.hidden = hidden
        self.mask = mask
        self.start_id = start_id
        self.past: dict[str, np.ndarray] = {}
        self.batch = 0

    def start(self, n: int) -> np.ndarray:
        feeds = {
            "input_ids": np.array([[self.start_id]], dtype=np.int64),
            "encoder_hidden_states": self.hidden,
            "encoder_attention_mask": self.mask,
        }
        outputs = self.s.decoder.run(
            None, {k: v for k, v in feeds.items() if k in self.s.decoder_inputs}
        )
        named = dict(zip(self.s.decoder_outputs, outputs))
        self.past = {key: np.repeat(named["present." + key], n, axis=0) for key in self.s.past_keys}
        self.batch = n
        return np.repeat(named["logits"][:, -1, :], n, axis=0)

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        n = len(tokens)
        if rows is not None:
            for key, value in self.past.items():
                if ".encoder." in key:
                    if n != self.batch:
                        # Rows are identical: any n of them do (more than there are: copies,
                        # when one row's forced prefix becomes n rows).
                        self.past[key] = value[:n] if n <= len(value) else np.repeat(
                            value[:1], n, axis=0
                        )
                else:
                    self.past[key] = value[rows]
        self.batch = n
        feeds = {
            "input_ids": tokens.reshape(n, 1),
            "encoder_attention_mask": np.repeat(self.mask, n, axis=0),
        }
        if "encoder_hidden_states" in self.s.past_inputs:
            feeds["encoder_hidden_states"] = np.repeat(self.hidden, n, axis=0)
        for key, value in self.past.items():
            feeds["past_key_values." + key] = value
        outputs = self.s.decoder_past.run(None, feeds)
        for name, value in zip(self.s.past_outputs, outputs):
            if name.startswith("present.") and ".decoder." in name:
                self.past[name[len("present.") :]] = value
        return outputs[self.s.past_outputs.index("logits")][:, -1, :]
