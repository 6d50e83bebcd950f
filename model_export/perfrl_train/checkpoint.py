"""Training checkpoints: everything needed to rebuild the model and to resume.

A checkpoint directory holds:

- the model (``save_pretrained``: ``config.json`` + ``model.safetensors``) and the tokenizer
  (``save_pretrained``: ``tokenizer.json`` and friends), so ``--base DIR`` and
  ``T5ForConditionalGeneration.from_pretrained(DIR)`` work on it directly;
- ``perfrl_train.json``: which trainer wrote it, its full config, the step, the latest metrics
  and the provenance chain (base model / size, data, earlier stages);
- ``training_state.pt`` (optional): optimizer, scheduler and RNG states for ``--resume``.

A caller may rely on :func:`load_checkpoint` returning a model in eval mode that produces the
same outputs as the one saved, or raising :class:`CheckpointError` naming what is missing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .errors import PerfRLError

TRAIN_META = "perfrl_train.json"
TRAINING_STATE = "training_state.pt"


class CheckpointError(PerfRLError):
    """A checkpoint directory is missing or incomplete."""


def save_checkpoint(out_dir: Path, model, tokenizer, meta: dict, optimizer=None,
                    scheduler=None) -> dict[str, Path]:
    """Write the checkpoint; returns the paths written, by role."""
    import numpy as np
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta_path = out / TRAIN_META
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    written = {"model": out / "model.safetensors", "config": out / "config.json",
               "tokenizer": out / "tokenizer.json", "meta": meta_path}
    if optimizer is not None:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state()},
        }
        torch.save(state, out / TRAINING_STATE)
        written["training_state"] = out / TRAINING_STATE
    return written


def read_meta(ckpt_dir: Path) -> dict:
    path = Path(ckpt_dir) / TRAIN_META
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def load_checkpoint(ckpt_dir: Path):
    """Return ``(model, tokenizer, meta)`` from a checkpoint directory (model in eval mode)."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    ckpt = Path(ckpt_dir)
    if not (ckpt / "config.json").is_file():
        raise CheckpointError(f"{ckpt} is not a checkpoint: config.json is missing (train one "
                              "with `perfrl-train sft`)")
    if not (ckpt / "tokenizer.json").is_file():
        raise CheckpointError(f"{ckpt} is incomplete: tokenizer.json is missing")
    model = T5ForConditionalGeneration.from_pretrained(ckpt)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    return model, tokenizer, read_meta(ckpt)


def load_training_state(ckpt_dir: Path, optimizer, scheduler) -> bool:
    """Restore optimizer / scheduler / RNG states; False when the checkpoint has none."""
    import numpy as np
    import torch

    path = Path(ckpt_dir) / TRAINING_STATE
    if not path.is_file():
        return False
    state = torch.load(path, weights_only=False)  # our own file, written by save_checkpoint
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng = state.get("rng") or {}
    if "python" in rng:
        random.setstate(rng["python"])
    if "numpy" in rng:
        np.random.set_state(rng["numpy"])
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return True
