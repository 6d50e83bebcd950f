"""The prompt the model source gives a model, in the format its spec declares.

- ``prompt_format: "plain"`` (every model before the field existed): the target alone;
- ``prompt_format: "retrieval-v1"``: the nearest stored rewrite
  (:func:`perfrl.memory.retrieval.nearest_pair`: this project's verified rewrites, else the
  model's shipped index) as an example pair before the target, in the model's input
  abstraction; the plain prompt when there is no neighbour or when the example would not fit
  the model's input (as in training, :mod:`perfrl_train.data.retrieval_pairs`);
- a second round (``feedback_format: "feedback-v1"``): the target, then the best failed
  candidate of the first round and its verdict, then the request to try again.

A caller may rely on: a model whose spec has neither field reads exactly the prompt it read
before; the failed candidate and its verdict are written with the same placeholders as the
target (one table), so the model sees one set of names.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Protocol

from perfrl.engine.candidate_check import normalize_candidate
from perfrl.engine.types import FunctionTarget
from perfrl.memory.retrieval import PairIndex, StoredPair, project_pairs, read_pair_index
from perfrl.model_contract import ExamplePair, FailedAttempt, ModelSpec, build_prompt
from perfrl.sources.abstraction import Abstraction, model_input


class PromptModel(Protocol):
    """What prompts need of a loaded model
    (:class:`perfrl.inference.onnx_seq2seq.OnnxSeq2SeqModel`)."""

    model_dir: Path
    spec: ModelSpec

    def prompt_for(self, function_source: str) -> str: ...

    def encode_prompt(self, prompt: str): ...


_SHIPPED: dict[tuple[str, float], PairIndex] = {}
_SHIPPED_LOCK = threading.Lock()


def shipped_index(model: PromptModel) -> PairIndex | None:
    """The index of the model's ``retrieval_index_file``, built once per file version."""
    name = model.spec.retrieval_index_file
    if not name:
        return None
    path = Path(model.model_dir) / name
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    with _SHIPPED_LOCK:
        if key not in _SHIPPED:
            _SHIPPED[key] = PairIndex(read_pair_index(path))
        return _SHIPPED[key]


def retrieved_example(model: PromptModel, target: FunctionTarget) -> StoredPair | None:
    """The stored pair nearest to ``target``: this project's verified rewrites first (its own
    code, verified here), else the model's shipped index."""
    for index in (PairIndex(project_pairs(target.project_root)), shipped_index(model)):
        if index is not None:
            found = index.nearest(target.source, k=1)
            if found:
                return found[0].pair
    return None


def _in_model_form(pair: StoredPair, mode: str, docstrings: str = "read"
                   ) -> ExamplePair | None:
    """``pair`` in the model's input abstraction (each side of one table); a pair already
    written with placeholders (a shipped index of abstracted training pairs) as it is."""
    slow, fast = normalize_candidate(pair.slow), normalize_candidate(pair.fast)
    try:
        text, table = model_input(slow, mode, (), docstrings)
    except ValueError:
        return ExamplePair(slow, fast) if mode != "none" else None
    return ExamplePair(text, table.extend(fast) if table is not None else fast)


def abstract_reason(reason: str, table: Abstraction | None) -> str:
    """A verdict's text with the target's names written as their placeholders (whole words
    only), so that it speaks of the names the model reads."""
    if table is None:
        return reason
    for placeholder, name in sorted(table.names.items(), key=lambda item: -len(item[1])):
        reason = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", placeholder, reason)
    return reason


def model_prompt(model: PromptModel, target: FunctionTarget, model_text: str,
                 table: Abstraction | None, failed: FailedAttempt | None = None) -> str:
    """The prompt for ``model_text`` (the target as the model reads it; ``table`` maps its
    placeholders back), in the format the model's spec declares; with ``failed``, the
    second round's. A prompt that would not fit the model's input falls back to the plain one
    (the caller sees the plain prompt's own truncation)."""
    spec = model.spec
    plain = model.prompt_for(model_text)
    if failed is not None and spec.feedback_format == "feedback-v1":
        code = normalize_candidate(failed.code)
        if table is not None:
            code = table.extend(code)
        shown = FailedAttempt(code, failed.verdict, abstract_reason(failed.reason, table))
        return build_prompt(model_text, spec, failed=shown)
    if spec.prompt_format != "retrieval-v1":
        return plain
    pair = retrieved_example(model, target)
    example = None if pair is None else _in_model_form(pair, spec.input_abstraction,
                                                       spec.docstrings)
    if example is None:
        return plain
    prompt = build_prompt(model_text, spec, example=example)
    return plain if model.encode_prompt(prompt).truncated else prompt
