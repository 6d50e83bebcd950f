"""Greedy and teacher-forced decoding over the server's own runtime, for the parity check.

The export proves the files it ships against PyTorch; running them through
:class:`perfrl.inference.onnx_seq2seq.OnnxSeq2SeqModel`'s stepper (whatever the spec's
decoder format) means the check covers the code the server runs, not a second loop.

A caller may rely on :meth:`OnnxSeq2SeqLoop.decode` returning the generated ids (without the
decoder-start id, ending with ``</s>`` when it was produced) and, when asked, the
log-probabilities of every step as a float32 array of shape ``(steps, vocab)``: what the
decoding strategies work on, whichever of logits or log-probabilities the format returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class DecodeOutput:
    tokens: list[int]
    log_probs: np.ndarray | None  # (steps, vocab) when requested


class OnnxSeq2SeqLoop:
    """One loaded model directory (a spec, its ONNX files and tokenizer)."""

    def __init__(self, model_dir: Path, threads: int = 1):
        from perfrl.inference.decoding import gives_log_probs, log_softmax
        from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel

        self._log_softmax = log_softmax
        self._gives_log_probs = gives_log_probs

        self.model = OnnxSeq2SeqModel.load(Path(model_dir), threads=threads)
        self.eos_id = self.model.spec.eos_token_id

    def decode(self, input_ids: list[int], max_new_tokens: int, *,
               forced_tokens: list[int] | None = None,
               return_log_probs: bool = False) -> DecodeOutput:
        """Greedy or teacher-forced (``forced_tokens``) decoding of one input.

        With ``forced_tokens`` the loop feeds those tokens instead of its own choices (and runs
        for exactly ``len(forced_tokens)`` steps), so the logits can be compared with another
        implementation's step by step even where the argmax would differ.
        """
        stepper = self.model.stepper(list(input_ids))
        normalised = self._gives_log_probs(stepper)
        steps = len(forced_tokens) if forced_tokens is not None else max_new_tokens
        tokens: list[int] = []
        all_rows: list[np.ndarray] = []
        scores = stepper.start(1) if steps > 0 else None
        for step in range(steps):
            assert scores is not None  # started above whenever there is a step to take
            row = scores[0] if normalised else self._log_softmax(scores[:1])[0]
            if return_log_probs:
                all_rows.append(row.astype(np.float32))
            current = int(forced_tokens[step]) if forced_tokens is not None else int(np.argmax(row))
            tokens.append(current)
            if forced_tokens is None and current == self.eos_id:
                break
            if step + 1 < steps:
                scores = stepper.advance(np.array([current], dtype=np.int64), None)
        return DecodeOutput(tokens=tokens,
                            log_probs=np.stack(all_rows) if return_log_probs and all_rows
                            else None)
