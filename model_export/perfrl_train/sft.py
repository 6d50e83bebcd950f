"""Supervised fine-tuning: the model learns ``build_prompt(slow) -> fast`` with cross-entropy.

``perfrl-train sft --data DIR --out CKPT (--from-config small | --base DIR_OR_HUB_NAME)``.

A caller may rely on:

- :func:`train_sft` writing a checkpoint (see :mod:`.checkpoint`) to ``cfg.out`` at the end
  (and every ``save_every`` steps), ``metrics.jsonl`` beside it (one record per logged step and
  per evaluation), and returning an :class:`SFTResult` with the final figures;
- the same seed, data and config giving the same weights (single process, fixed thread count);
- ``--resume`` continuing from the optimizer / scheduler / RNG state saved in ``cfg.out``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import load_checkpoint, load_training_state, read_meta, save_checkpoint
from .errors import PerfRLError
from .examples import Example, encode_example_source, encode_target, pad_batch, read_examples
from .train_common import (
    MetricsLog,
    autocast_context,
    config_to_json,
    help_field,
    linear_schedule,
    resolve_bf16,
    seed_everything,
    set_threads,
)

LABEL_PAD = -100  # ignored by the cross-entropy


class TrainingError(PerfRLError):
    """Training cannot start (bad data, bad config) or diverged."""


@dataclass
class SFTConfig:
    out: Path = help_field(None, "checkpoint directory to write (created)")  # noqa: RUF009
    data: Path | None = help_field(None, "directory holding train.jsonl and valid.jsonl")  # noqa: RUF009
    train_file: Path | None = help_field(None, "training pairs JSONL (default: DATA/train.jsonl)")  # noqa: RUF009
    valid_file: Path | None = help_field(None, "validation pairs JSONL (default: DATA/valid.jsonl)")  # noqa: RUF009
    base: str | None = help_field(None, "start from this checkpoint dir or hub name "
                                        "(e.g. Salesforce/codet5-small)")
    from_config: str | None = help_field(None, "start from random weights of this size: tiny "
                                               "| small (trains a BPE tokenizer on local code)")
    max_source_length: int = help_field(512, "prompt tokens kept (truncated beyond)")
    max_target_length: int = help_field(256, "target tokens kept (truncated beyond)")
    batch_size: int = help_field(8, "pairs per optimizer step")
    max_steps: int = help_field(1000, "optimizer steps")
    lr: float = help_field(5e-4, "peak learning rate (AdamW)")
    warmup_steps: int = help_field(100, "linear warm-up steps, then linear decay to 0")
    weight_decay: float = help_field(0.01, "AdamW weight decay")
    grad_clip: float = help_field(1.0, "clip the gradient norm to this (0: off)")
    bf16: bool | None = help_field(None, "bf16 autocast (weights stay fp32); default auto: on "
                                         "only with native CPU bf16 (avx512_bf16/AMX), else "
                                         "it is emulated and slower")
    eval_every: int = help_field(200, "evaluate the validation loss every N steps (0: end only)")
    eval_max_examples: int = help_field(256, "validation pairs used per evaluation")
    save_every: int = help_field(0, "also write the checkpoint every N steps (0: end only)")
    log_every: int = help_field(10, "log the training loss every N steps")
    limit_train: int | None = help_field(None, "use only the first N training pairs")
    seed: int = help_field(0, "seed for weights, shuffling and dropout")
    threads: int = help_field(2, "torch intra-op threads (the machine is shared)")
    max_stdlib_files: int | None = help_field(None, "tokenizer corpus: at most N stdlib files "
                                                    "(default all; small values for tests)")
    cache_dir: Path | None = help_field(None, "tokenizer cache (default $PERFRL_CACHE or "  # noqa: RUF009
                                              "~/.cache/perfrl)")
    resume: bool = help_field(False, "continue from the checkpoint and training state in OUT")
    progress: bool = help_field(True, "show a tqdm progress bar")


@dataclass
class SFTResult:
    out: Path
    steps: int
    final_train_loss: float
    final_valid_loss: float | None
    seconds: float
    written: dict[str, Path] = field(default_factory=dict)


def _resolve_files(cfg: SFTConfig) -> tuple[Path, Path | None]:
    data = Path(cfg.data) if cfg.data else None
    train = cfg.train_file or (data / "train.jsonl" if data else None)
    if train is None:
        raise TrainingError("give --data DIR (with train.jsonl) or --train-file FILE")
    valid = cfg.valid_file or (data / "valid.jsonl" if data else None)
    if valid is not None and not Path(valid).is_file():
        valid = None
    return Path(train), valid


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random,
                           group: int = 50) -> list[list[int]]:
    """Shuffled batches of indices whose members have similar lengths (less padding on CPU)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * group):
        chunk = sorted(order[start:start + batch_size * group], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def make_batch(sources: list[list[int]], targets: list[list[int]], pad_id: int) -> dict:
    """Model inputs for teacher forcing: padded input ids / mask, labels padded with -100."""
    input_ids, attention_mask = pad_batch(sources, pad_id)
    labels, _ = pad_batch(targets, pad_id, label_pad=LABEL_PAD)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def encode_examples(tokenizer, examples: list[Example], max_source: int, max_target: int):
    sources = [encode_example_source(tokenizer, ex, max_source) for ex in examples]
    targets = [encode_target(tokenizer, ex.fast, max_target) for ex in examples]
    return sources, targets


def token_loss(model, batch: dict, bf16: bool = False):
    """Mean cross-entropy per target token (what ``model(..., labels=...)`` computes)."""
    with autocast_context(bf16):
        return model(**batch).loss


def evaluate_loss(model, tokenizer, sources, targets, batch_size: int, bf16: bool) -> float:
    """Token-weighted mean cross-entropy over the given pairs, no gradient, eval mode."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(sources), batch_size):
            batch = make_batch(sources[start:start + batch_size],
                               targets[start:start + batch_size], tokenizer.pad_token_id)
            n = int((batch["labels"] != LABEL_PAD).sum())
            total += float(token_loss(model, batch, bf16)) * n
            count += n
    model.train(was_training)
    return total / max(1, count)


def train_sft(cfg: SFTConfig, log=print) -> SFTResult:
    """Run supervised fine-tuning as configured; see the module docstring."""
    import torch

    if cfg.out is None:
        raise TrainingError("--out is required")
    if cfg.max_steps <= 0 or cfg.batch_size <= 0:
        raise TrainingError("--max-steps and --batch-size must be positive")
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    cfg.bf16 = resolve_bf16(cfg.bf16)
    started = time.perf_counter()
    out = Path(cfg.out)
    train_path, valid_path = _resolve_files(cfg)
    train_examples = read_examples(train_path, cfg.limit_train)
    valid_examples = read_examples(valid_path)[: cfg.eval_max_examples] if valid_path else []

    resuming = cfg.resume and (out / "config.json").is_file()
    if resuming:
        model, tokenizer, prev_meta = load_checkpoint(out)
        provenance = prev_meta.get("provenance", {})
        start_step = int(prev_meta.get("step", 0))
        log(f"sft: resuming {out} at step {start_step}")
    else:
        from .modeling import build_model_and_tokenizer

        texts = [t for ex in train_examples for t in (ex.slow, ex.fast)]
        model, tokenizer, provenance = build_model_and_tokenizer(
            base=cfg.base, from_config=cfg.from_config, tokenizer_texts=texts,
            max_stdlib_files=cfg.max_stdlib_files, cache_dir=cfg.cache_dir, seed=cfg.seed,
            log=log)
        start_step = 0
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"sft: {n_params / 1e6:.1f}M parameters, {len(train_examples)} train / "
        f"{len(valid_examples)} valid pairs")

    sources, targets = encode_examples(tokenizer, train_examples, cfg.max_source_length,
                                       cfg.max_target_length)
    v_sources, v_targets = encode_examples(tokenizer, valid_examples, cfg.max_source_length,
                                           cfg.max_target_length)
    lengths = [len(s) + len(t) for s, t in zip(sources, targets, strict=True)]

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    if resuming and not load_training_state(out, optimizer, scheduler):
        log("sft: no training_state.pt in the checkpoint; optimizer restarts")
    metrics = MetricsLog(out / "metrics.jsonl")
    rng = random.Random(cfg.seed + start_step)

    def meta(step: int, extra: dict) -> dict:
        return {"trainer": "sft", "step": step, "config": config_to_json(cfg),
                "provenance": {**provenance, "train_file": str(train_path),
                               "train_pairs": len(train_examples)},
                "metrics": extra, "parameters": n_params}

    try:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_steps, initial=start_step, disable=not cfg.progress,
                   desc="sft", dynamic_ncols=True)
    except ImportError:  # tqdm comes with transformers; keep working without it anyway
        bar = None
    batches: list[list[int]] = []
    step = start_step
    last_loss, valid_loss, tokens_seen = math.nan, None, 0
    window_tokens, window_start = 0, time.perf_counter()
    while step < cfg.max_steps:
        if not batches:
            batches = length_grouped_batches(lengths, cfg.batch_size, rng)
        idx = batches.pop()
        batch = make_batch([sources[i] for i in idx], [targets[i] for i in idx],
                           tokenizer.pad_token_id)
        loss = token_loss(model, batch, cfg.bf16)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {float(loss)} at step {step}; lower --lr")
        loss.backward()
        grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                     if cfg.grad_clip > 0 else None)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last_loss = float(loss.detach())
        n_tok = int(batch["attention_mask"].sum() + (batch["labels"] != LABEL_PAD).sum())
        tokens_seen += n_tok
        window_tokens += n_tok
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            elapsed = time.perf_counter() - window_start
            metrics.write(kind="train", step=step, loss=last_loss,
                          lr=scheduler.get_last_lr()[0],
                          grad_norm=None if grad_norm is None else float(grad_norm),
                          tokens_per_s=round(window_tokens / max(elapsed, 1e-9), 1))
            window_tokens, window_start = 0, time.perf_counter()
        if v_sources and ((cfg.eval_every and step % cfg.eval_every == 0)
                          or step == cfg.max_steps):
            valid_loss = evaluate_loss(model, tokenizer, v_sources, v_targets, cfg.batch_size,
                                       cfg.bf16)
            metrics.write(kind="eval", step=step, valid_loss=valid_loss)
            log(f"sft: step {step} train loss {last_loss:.4f} valid loss {valid_loss:.4f}")
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.max_steps:
            save_checkpoint(out, model, tokenizer,
                            meta(step, {"train_loss": last_loss, "valid_loss": valid_loss}),
                            optimizer, scheduler)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    final = {"train_loss": last_loss, "valid_loss": valid_loss, "seconds": round(seconds, 1),
             "tokens_seen": tokens_seen}
    written = save_checkpoint(out, model, tokenizer, meta(step, final), optimizer, scheduler)
    written["metrics"] = metrics.path
    log(f"sft: wrote {out} after {step} steps in {seconds:.0f}s")
    return SFTResult(out=out, steps=step, final_train_loss=last_loss,
                     final_valid_loss=valid_loss, seconds=seconds, written=written)


__all__ = ["SFTConfig", "SFTResult", "TrainingError", "evaluate_loss", "make_batch",
           "read_meta", "train_sft"]
