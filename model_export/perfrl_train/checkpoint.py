"""Training checkpoints: everything needed to rebuild the model and to resume.

A checkpoint directory holds:

- the model (``save_pretrained``: ``config.json`` + ``model.safetensors``) and the tokenizer
  (``save_pretrained``: ``tokenizer.json`` and friends), so ``--base DIR`` and
  ``T5ForConditionalGeneration.from_pretrained(DIR)`` work on it directly (a model with the
  copy head: ``copy_head.load_t5(DIR)``, which :func:`load_checkpoint` uses);
- ``perfrl_train.json``: which trainer wrote it, its full config, the step, the latest metrics
  and the provenance chain (base model / size, data, earlier stages);
- ``training_state.pt`` (optional): optimizer, scheduler and RNG states for ``--resume``
  (the RNG states of every process of a data-parallel run, and whatever else the trainer
  needs to continue exactly, such as the order of the batches not yet seen).

A caller may rely on :func:`load_checkpoint` returning a model in eval mode that produces the
same outputs as the one saved, or raising :class:`CheckpointError` naming what is missing, and
on every file being complete or absent: each is written beside its place and renamed into it,
so an interrupted save leaves the previous checkpoint's file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import PerfRLError

TRAIN_META = "perfrl_train.json"
TRAINING_STATE = "training_state.pt"


class CheckpointError(PerfRLError):
    """A checkpoint directory is missing or incomplete."""


def save_checkpoint(out_dir: Path, model, tokenizer, meta: dict, optimizer=None,
                    scheduler=None, *, rng_by_rank: list[dict] | None = None,
                    extra_state: dict | None = None) -> dict[str, Path]:
    """Write the checkpoint; returns the paths written, by role.

    With ``optimizer``, ``training_state.pt`` holds its state, the scheduler's, this
    process's RNG states (``rng``), ``rng_by_rank`` (every process's, in a data-parallel run)
    and ``extra_state`` (the trainer's own, returned as it was by :func:`load_training_state`).
    """
    import torch

    from .distributed import rng_state

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta_path = out / TRAIN_META
    _write_atomically(meta_path, lambda tmp: tmp.write_text(
        json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"))
    written = {"model": out / "model.safetensors", "config": out / "config.json",
               "tokenizer": out / "tokenizer.json", "meta": meta_path}
    if optimizer is not None:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_state(),
            "rng_by_rank": rng_by_rank,
            "extra": extra_state or {},
        }
        _write_atomically(out / TRAINING_STATE, lambda tmp: torch.save(state, tmp))
        written["training_state"] = out / TRAINING_STATE
    return written


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def read_meta(ckpt_dir: Path) -> dict:
    path = Path(ckpt_dir) / TRAIN_META
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def load_checkpoint(ckpt_dir: Path):
    """Return ``(model, tokenizer, meta)`` from a checkpoint directory (model in eval mode)."""
    from transformers import AutoTokenizer

    from .copy_head import load_t5

    ckpt = Path(ckpt_dir)
    if not (ckpt / "config.json").is_file():
        raise CheckpointError(f"{ckpt} is not a checkpoint: config.json is missing (train one "
                              "with `perfrl-train sft`)")
    if not (ckpt / "tokenizer.json").is_file():
        raise CheckpointError(f"{ckpt} is incomplete: tokenizer.json is missing")
    model = load_t5(ckpt)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    return model, tokenizer, read_meta(ckpt)


def load_training_state(ckpt_dir: Path, optimizer, scheduler, rank: int = 0) -> dict | None:
    """Restore optimizer / scheduler / RNG states (process ``rank``'s RNG when the checkpoint
    has one per process, else the main process's); returns the trainer's ``extra_state``
    (``{}`` when it saved none), or None when the checkpoint has no training state."""
    import torch

    from .distributed import restore_rng_state

    path = Path(ckpt_dir) / TRAINING_STATE
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=False)  # our own file, written by save_checkpoint
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    by_rank = state.get("rng_by_rank") or []
    restore_rng_state(by_rank[rank] if rank < len(by_rank) else state.get("rng") or {})
    return dict(state.get("extra") or {})
