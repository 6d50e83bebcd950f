"""Tiny, fast, offline building blocks for tests and the tiny end-to-end run.

:func:`tiny_pairs_dir` writes a small data set with the procedural generator, and
:func:`tiny_checkpoint` trains the ``tiny`` model for a few steps (a freshly initialised T5
emits only pad tokens, so parity needs a model that says something). Both cache their output
in the directory they are given, so a test session builds them once when its tests pass the
same directory (the session fixture ``tiny_work`` in ``tests/model_export/conftest.py``).
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Tokenizer corpus for tests: the first N stdlib files (a few seconds instead of ~6 s + more).
TINY_STDLIB_FILES = 60


@contextmanager
def _built_once(product: Path) -> Iterator[bool]:
    """Serialise the builders of ``product`` across processes (pytest-xdist workers share a
    folder): yields True when the caller must build it, False when it is already complete.
    The ``<product>.done`` marker is written only after a build that returned, so a build cut
    short is redone (what it left is removed first), never taken for a complete one."""
    done = product.with_name(product.name + ".done")
    if done.is_file():
        yield False
        return
    product.parent.mkdir(parents=True, exist_ok=True)
    with product.with_name(product.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if done.is_file():
            yield False
            return
        shutil.rmtree(product, ignore_errors=True)
        yield True
        done.write_text("ok\n")


def tiny_pairs_dir(dest: Path, n: int = 48, seed: int = 0) -> Path:
    """``dest`` with train/valid/test.jsonl of real slow->fast CodePair rows (cached)."""
    dest = Path(dest)
    with _built_once(dest) as build:
        if build:
            _write_tiny_pairs(dest, n, seed)
    return dest


def _write_tiny_pairs(dest: Path, n: int, seed: int) -> None:
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


def tiny_checkpoint(work: Path, steps: int = 40, seed: int = 0) -> Path:
    """A tiny SFT checkpoint trained ``steps`` steps on :func:`tiny_pairs_dir`, cached in
    ``work``: processes that pass the same ``work`` train it once between them."""
    from .sft import SFTConfig, train_sft

    work = Path(work)
    ckpt = work / f"tiny-ckpt-{steps}-{seed}"
    with _built_once(ckpt) as build:
        if build:
            data = tiny_pairs_dir(work / "tiny-data")
            train_sft(SFTConfig(out=ckpt, data=data, from_config="tiny", max_steps=steps,
                                batch_size=4, lr=3e-3, warmup_steps=4, eval_every=0,
                                max_source_length=192, max_target_length=128, bf16=False,
                                threads=1, seed=seed, max_stdlib_files=TINY_STDLIB_FILES,
                                cache_dir=work / "cache", progress=False),
                      log=lambda *_: None)
    return ckpt
