"""A small onnxruntime decoding loop over an exported model directory (no torch).

Used by the export's parity check (greedy, and teacher-forced to compare logits step by step)
and by evaluation when ``server.inference`` is not available. The server has its own,
optimised runtime (``server/inference/onnx_seq2seq.py``); this one favours being easy to check.

A caller may rely on :meth:`OnnxSeq2SeqLoop.decode` returning the generated ids (without the
decoder-start id, ending with ``</s>`` when it was produced) and, when asked, the raw logits
of every step as a float32 array of shape ``(steps, vocab)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class DecodeOutput:
    tokens: list[int]
    logits: np.ndarray | None  # (steps, vocab) when requested


class OnnxSeq2SeqLoop:
    """Encoder + decoder (first step) + decoder-with-past sessions of one model directory."""

    def __init__(self, model_dir: Path, encoder_file: str = "encoder_model.onnx",
                 decoder_file: str = "decoder_model.onnx",
                 decoder_with_past_file: str = "decoder_with_past_model.onnx",
                 decoder_start_token_id: int = 0, eos_token_id: int = 2, threads: int = 1):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Spinning threads collapse on a loaded 2-core machine (ML.md: 6.2 ms -> 3.3 ms/token).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model_dir = Path(model_dir)

        def session(name: str):
            return ort.InferenceSession(str(model_dir / name), sess_options=opts,
                                        providers=["CPUExecutionProvider"])

        self.encoder = session(encoder_file)
        self.decoder = session(decoder_file)
        self.decoder_past = session(decoder_with_past_file)
        self.start_id = decoder_start_token_id
        self.eos_id = eos_token_id
        self._past_inputs = [i.name for i in self.decoder_past.get_inputs()
                             if i.name.startswith("past_key_values.")]
        self._first_outputs = [o.name for o in self.decoder.get_outputs()]
        self._past_outputs = [o.name for o in self.decoder_past.get_outputs()]

    @classmethod
    def from_spec_dir(cls, model_dir: Path, threads: int = 1) -> OnnxSeq2SeqLoop:
        from server.model_contract import load_model_spec

        spec = load_model_spec(model_dir)
        return cls(model_dir, spec.encoder_file, spec.decoder_file, spec.decoder_with_past_file,
                   spec.decoder_start_token_id, spec.eos_token_id, threads)

    def decode(self, input_ids: list[int], max_new_tokens: int, *,
               forced_tokens: list[int] | None = None, return_logits: bool = False,
               sample: bool = False, temperature: float = 1.0, top_k: int = 0,
               rng: np.random.Generator | None = None) -> DecodeOutput:
        """Greedy (default), sampled, or teacher-forced (``forced_tokens``) decoding of one input.

        With ``forced_tokens`` the loop feeds those tokens instead of its own choices (and runs
        for exactly ``len(forced_tokens)`` steps), so the logits can be compared with another
        implementation's step by step even where the argmax would differ.
        """
        ids = np.asarray([input_ids], dtype=np.int64)
        mask = np.ones_like(ids)
        (hidden,) = self.encoder.run(["last_hidden_state"], {"input_ids": ids,
                                                              "attention_mask": mask})
        steps = len(forced_tokens) if forced_tokens is not None else max_new_tokens
        tokens: list[int] = []
        all_logits: list[np.ndarray] = []
        encoder_past: dict[str, np.ndarray] = {}
        decoder_past: dict[str, np.ndarray] = {}
        current = self.start_id
        rng = rng or np.random.default_rng(0)
        for step in range(steps):
            token_in = np.asarray([[current]], dtype=np.int64)
            if step == 0:
                outs = self.decoder.run(self._first_outputs, {
                    "input_ids": token_in, "encoder_attention_mask": mask,
                    "encoder_hidden_states": hidden})
                named = dict(zip(self._first_outputs, outs, strict=True))
                for name, value in named.items():
                    if name.startswith("present.") and ".encoder." in name:
                        encoder_past[name.replace("present.", "past_key_values.")] = value
            else:
                feed = {"input_ids": token_in, "encoder_attention_mask": mask}
                for name in self._past_inputs:
                    feed[name] = encoder_past[name] if ".encoder." in name else decoder_past[name]
                outs = self.decoder_past.run(self._past_outputs, feed)
                named = dict(zip(self._past_outputs, outs, strict=True))
            for name, value in named.items():
                if name.startswith("present.") and ".decoder." in name:
                    decoder_past[name.replace("present.", "past_key_values.")] = value
            logits = named["logits"][0, -1].astype(np.float32)
            if return_logits:
                all_logits.append(logits)
            if forced_tokens is not None:
                current = int(forced_tokens[step])
            elif sample:
                current = _sample(logits, temperature, top_k, rng)
            else:
                current = int(np.argmax(logits))
            tokens.append(current)
            if forced_tokens is None and current == self.eos_id:
                break
        return DecodeOutput(tokens=tokens,
                            logits=np.stack(all_logits) if return_logits and all_logits else None)


def _sample(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    scaled = logits.astype(np.float64) / max(temperature, 1e-6)
    if top_k and top_k < scaled.size:
        cutoff = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled < cutoff, -np.inf, scaled)
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int(rng.choice(scaled.size, p=probs))
