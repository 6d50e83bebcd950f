"""Reading training pairs and turning them into token ids, the same way everywhere.

Training, RRHF scoring and evaluation all go through :func:`encode_source` and
:func:`encode_target`, so the model sees exactly one input format: ``build_prompt(slow)``
(the shared, torch-free prompt of ``server/perfrl/model_contract.py``) encoded as ``<s> ... </s>``
(or, for rows that carry a string field ``prompt_prefix``, that prefix instead of the task's),
and targets encoded as ``tokens ... </s>`` (no ``<s>``: generation starts from the
decoder-start id, pad, and stops at ``</s>``). Supervised fine-tuning encodes a row through
:func:`encode_example_source`, which is that same prompt unless the row carries a retrieved
example (:mod:`perfrl_train.data.retrieval_pairs`, the "retrieval-v1" format) or a failed
attempt (:mod:`perfrl_train.data.feedback_pairs`, the "feedback-v1" second round).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.edit_script import make_edit_script
from perfrl.model_contract import EDIT_FORMATS, PROMPT_PREFIX, build_prompt
from perfrl.sources.edit_sites import site_spans

from .errors import PerfRLError
from .tokenizer import EOS_ID

#: A row field: its edit script's hunks grow to the server's proposed sites (data/mix.py).
EDIT_SITES_FIELD = "edit_sites"


class ExampleFormatError(PerfRLError, ValueError):
    """A pairs file is missing, empty, or has rows without ``slow`` / ``fast`` text."""


@dataclass
class Example:
    """One slow -> fast pair as the trainers need it; ``row`` keeps the whole JSON record."""

    id: str
    slow: str
    fast: str
    row: dict = field(default_factory=dict)


def read_examples(path: Path, limit: int | None = None) -> list[Example]:
    """Rows of a JSONL file with string fields ``slow`` and ``fast`` (CodePair rows or any other)
    and, optionally, a non-empty string ``prompt_prefix`` (the input's prefix for that row).

    Raises ExampleFormatError naming the file and line of the first bad row.
    """
    path = Path(path)
    if not path.is_file():
        raise ExampleFormatError(f"pairs file {path} does not exist (build one with "
                                 "`perfrl-train data --out DIR`)")
    out: list[Example] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExampleFormatError(f"{path}:{lineno}: not JSON: {exc}") from exc
            if not isinstance(row, dict) or not isinstance(row.get("slow"), str) \
                    or not isinstance(row.get("fast"), str):
                raise ExampleFormatError(f"{path}:{lineno}: a row needs string fields "
                                         "'slow' and 'fast'")
            prefix = row.get("prompt_prefix")
            if prefix is not None and not (isinstance(prefix, str) and prefix.strip()):
                # Silently falling back to the task prefix would train the wrong task.
                raise ExampleFormatError(f"{path}:{lineno}: 'prompt_prefix' must be a "
                                         "non-empty string (or absent for the default "
                                         f"{PROMPT_PREFIX!r})")
            out.append(Example(id=str(row.get("id", f"{path.stem}-{lineno}")),
                               slow=row["slow"], fast=row["fast"], row=row))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise ExampleFormatError(f"pairs file {path} holds no rows")
    return out


def encode_source(tokenizer, slow: str, max_length: int,
                  prompt_prefix: str | None = None, output_format: str = "function") -> list[int]:
    """``<s> prompt </s>`` ids, truncated to ``max_length`` (``</s>`` kept last).

    ``prompt_prefix`` replaces the model's task prefix ("Write faster version:") for rows
    of another task, e.g. the denoising pre-training rows ("Fill in the masked code:").
    ``output_format`` "edit-v1" / "edit-v2": the edit model's prompt (numbered lines), for the
    task's rows."""
    return tokenizer(source_text(slow, prompt_prefix, output_format), truncation=True,
                     max_length=max_length)["input_ids"]


def source_text(slow: str, prompt_prefix: str | None = None,
                output_format: str = "function") -> str:
    """The prompt text :func:`encode_source` encodes."""
    if prompt_prefix is not None:
        return prompt_prefix + slow.strip("\n") + "\n"
    return build_prompt(slow, output_format=output_format)


def row_prompt_prefix(example: Example) -> str | None:
    """The row's own ``prompt_prefix`` (a string field of its JSON record), or None."""
    prefix = example.row.get("prompt_prefix")
    return prefix if isinstance(prefix, str) else None


def encode_example_source(tokenizer, example: Example, max_length: int,
                          output_format: str = "function") -> list[int]:
    """The source ids of ``example``: the "feedback-v1" prompt when its row shows a failed
    attempt (:mod:`perfrl_train.data.feedback_pairs`), else the "retrieval-v1" prompt when
    :mod:`perfrl_train.data.retrieval_pairs` attached an example pair; either only when it
    fits in ``max_length``, and otherwise exactly :func:`encode_source`'s (with the row's own
    ``prompt_prefix`` when it has one)."""
    from .data.feedback_pairs import failed_of
    from .data.retrieval_pairs import example_of

    if output_format in EDIT_FORMATS:
        return encode_source(tokenizer, example.slow, max_length, row_prompt_prefix(example),
                             output_format)
    failed = failed_of(example.row)
    pair = example_of(example.row)
    if failed is not None or pair is not None:
        prompt = build_prompt(example.slow, failed=failed) if failed is not None else \
            build_prompt(example.slow, example=pair)
        ids = tokenizer(prompt)["input_ids"]
        if len(ids) <= max_length:
            return ids
    return encode_source(tokenizer, example.slow, max_length, row_prompt_prefix(example))


def encode_target(tokenizer, code: str, max_length: int) -> list[int]:
    """``code </s>`` ids (no ``<s>``), truncated to ``max_length`` with ``</s>`` kept last."""
    ids = tokenizer(code.strip("\n") + "\n", add_special_tokens=False)["input_ids"]
    return [*ids[:max_length - 1], EOS_ID]


def example_target_text(example: Example, output_format: str = "function") -> str:
    """What the model learns to write for ``example``: the faster function, or for an
    edit model the edit script from the slow side to it ("edit-v2": with line references), its
    hunks grown to whole loop regions when the row says ``"edit_sites": true`` (rows with their
    own ``prompt_prefix``, such as denoising rows, keep their target as it is)."""
    if output_format in EDIT_FORMATS and row_prompt_prefix(example) is None:
        # Rows the mix marked: hunks grown to the loop regions the server proposes as sites.
        sites = site_spans(example.slow) if example.row.get(EDIT_SITES_FIELD) else ()
        return make_edit_script(example.slow, example.fast, sites,
                                line_refs=output_format == "edit-v2")
    return example.fast


def decode_output(tokenizer, ids) -> str:
    """Generated ids back to code (special tokens dropped)."""
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def pad_batch(seqs: list[list[int]], pad_id: int, label_pad: int | None = None):
    """Right-pad to the longest; returns ``(ids, mask)`` tensors (``label_pad`` fills ids)."""
    import torch

    width = max(len(s) for s in seqs)
    fill = pad_id if label_pad is None else label_pad
    ids = torch.full((len(seqs), width), fill, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
