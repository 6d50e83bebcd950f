"""Tiny, fast, offline building blocks for tests and the tiny end-to-end run.

:func:`tiny_pairs_dir` writes a small data set with the procedural generator, and
:func:`tiny_checkpoint` trains the ``tiny`` model for a few steps (a freshly initialised T5
emits only pad tokens, so parity needs a model that says something). Both cache their output
in the directory they are given, so a test session builds them once.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Tokenizer corpus for tests: the first N stdlib files (a few seconds instead of ~6 s + more).
TINY_STDLIB_FILES = 60


def tiny_pairs_dir(dest: Path, n: int = 48, seed: int = 0) -> Path:
    """``dest`` with train/valid/test.jsonl of real slow->fast CodePair rows."""
    dest = Path(dest)
    if (dest / "train.jsonl").is_file():
        return dest
    from perfrl_train.data import generate_pairs

    pairs = generate_pairs(n, seed)
    dest.mkdir(parents=True, exist_ok=True)
    splits = {"train": pairs[: n * 3 // 4], "valid": pairs[n * 3 // 4: n * 7 // 8],
              "test": pairs[n * 7 // 8:]}
    for name, rows in splits.items():
        with (dest / f"{name}.jsonl").open("w") as fh:
            for pair in rows:
                row = pair.to_json()
                row["split"] = name
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    return dest


def tiny_checkpoint(work: Path, steps: int = 40, seed: int = 0) -> Path:
    """A tiny SFT checkpoint trained ``steps`` steps on :func:`tiny_pairs_dir` (cached)."""
    from .sft import SFTConfig, train_sft

    work = Path(work)
    ckpt = work / f"tiny-ckpt-{steps}-{seed}"
    if (ckpt / "perfrl_train.json").is_file():
        return ckpt
    data = tiny_pairs_dir(work / "tiny-data")
    train_sft(SFTConfig(out=ckpt, data=data, from_config="tiny", max_steps=steps,
                        batch_size=4, lr=3e-3, warmup_steps=4, eval_every=0,
                        max_source_length=192, max_target_length=128, bf16=False, threads=1,
                        seed=seed, max_stdlib_files=TINY_STDLIB_FILES,
                        cache_dir=work / "cache", progress=False),
              log=lambda *_: None)
    return ckpt
