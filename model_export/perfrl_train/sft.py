"""Supervised fine-tuning: the model learns ``build_prompt(slow) -> fast`` with cross-entropy.

``perfrl-train sft --data DIR --out CKPT (--from-config small | --base DIR_OR_HUB_NAME)``.

A caller may rely on:

- :func:`train_sft` writing a checkpoint (see :mod:`.checkpoint`) to ``cfg.out`` at the end
  (and every ``save_every`` steps), ``metrics.jsonl`` beside it (one record per logged step and
  per evaluation), and returning an :class:`SFTResult` with the final figures;
- the same seed, data and config giving the same weights (single process, fixed thread count);
- ``--resume`` continuing from the optimizer / scheduler / RNG state and the data order saved
  in ``cfg.out``: a run interrupted after a ``--save-every`` checkpoint and resumed ends with
  the weights of the run that was never interrupted;
- data parallelism through ``accelerate`` (:mod:`.distributed`): under ``accelerate launch``
  / ``torchrun`` with N processes, ``--batch-size`` is the global batch, split across the
  processes, and one step's update is the one a single process makes on the whole batch
  (within float rounding); only the main process logs, writes ``metrics.jsonl`` and the
  checkpoint; the validation loss is computed over all the pairs, shared out and reduced.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.model_contract import OUTPUT_FORMATS

from .checkpoint import load_checkpoint, load_training_state, read_meta, save_checkpoint
from .data.pie_split import refuse_pie_rows
from .distributed import (
    StopSignals,
    any_process,
    check_batch_fits,
    data_parallel_loss,
    gather_rng_states,
    make_accelerator,
    rank_share,
    reduce_sum,
)
from .errors import PerfRLError
from .examples import (
    Example,
    encode_example_source,
    encode_target,
    example_target_text,
    pad_batch,
    read_examples,
)
from .name_training import (
    name_token_ids,
    name_token_weights,
    renamed_variants,
    weighted_token_loss,
)
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
                                               "| small | medium (trains a BPE tokenizer on "
                                               "local code, unless --tokenizer is given)")
    tokenizer: str | None = help_field(None, "with --from-config: use this tokenizer (a "
                                             "checkpoint or model directory) instead of "
                                             "training one")
    max_source_length: int = help_field(512, "prompt tokens kept (truncated beyond)")
    max_target_length: int = help_field(256, "target tokens kept (truncated beyond)")
    output_format: str = help_field("function", "what the model learns to write: 'function' "
                                                "(the faster function), 'edit-v1' (an edit "
                                                "script against the numbered input lines) or "
                                                "'edit-v2' (edit-v1 with line references)")
    copy_head: bool = help_field(False, "add a copy head (a pointer-generator over the "
                                        "input's tokens: copy_head.py) unless the base has one")
    shuffle_names: float = help_field(0.0, "share of training draws made on a renaming of "
                                           "the row (its placeholders renumbered afresh: "
                                           "name_training.py), so that names must be read")
    shuffle_variants: int = help_field(4, "renamings kept per row for --shuffle-names")
    name_loss_weight: float = help_field(1.0, "cross-entropy weight of the tokens that say "
                                              "which placeholder a name is (name_training.py)")
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
    cpu: bool = help_field(False, "train on the CPU even when a GPU is visible (and for "
                                  "several CPU processes under a launcher)")


@dataclass
class SFTResult:
    out: Path
    steps: int
    final_train_loss: float
    final_valid_loss: float | None
    seconds: float
    written: dict[str, Path] = field(default_factory=dict)
    #: The signal that stopped the run before ``max_steps`` (its checkpoint is written).
    interrupted_by: str | None = None


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


def encode_examples(tokenizer, examples: list[Example], max_source: int, max_target: int,
                    output_format: str = "function"):
    sources = [encode_example_source(tokenizer, ex, max_source, output_format)
               for ex in examples]
    targets = [encode_target(tokenizer, example_target_text(ex, output_format), max_target)
               for ex in examples]
    return sources, targets


def token_loss(model, batch: dict, bf16: bool = False):
    """Mean cross-entropy per target token (what ``model(..., labels=...)`` computes); with
    ``batch["weights"]``, each token's term weighted
    (:func:`.name_training.weighted_token_loss`)."""
    weights = batch.get("weights")
    inputs = {key: value for key, value in batch.items() if key != "weights"}
    with autocast_context(bf16, batch["input_ids"].device.type):
        output = model(**inputs)
    if weights is None:
        return output.loss
    return weighted_token_loss(output.logits, inputs["labels"], weights)


def _to_device(batch: dict, device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


def evaluate_loss(model, tokenizer, sources, targets, batch_size: int, bf16: bool,
                  accelerator=None) -> float:
    """Token-weighted mean cross-entropy over the given pairs, no gradient, eval mode.

    With an ``accelerator`` of several processes, each process scores every
    ``num_processes``-th batch and the sums are reduced, so every process returns the
    figure over all the pairs (a collective: all processes call it)."""
    import torch

    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for number, start in enumerate(range(0, len(sources), batch_size)):
            if number % world != rank:
                continue
            batch = _to_device(make_batch(sources[start:start + batch_size],
                                          targets[start:start + batch_size],
                                          tokenizer.pad_token_id), device)
            n = int((batch["labels"] != LABEL_PAD).sum())
            total += float(token_loss(model, batch, bf16)) * n
            count += n
    model.train(was_training)
    if world > 1:
        total, count = reduce_sum(accelerator, total), int(reduce_sum(accelerator, count))
    return total / max(1, count)


def train_sft(cfg: SFTConfig, log=print, *,
              on_step: Callable[[int], None] | None = None) -> SFTResult:
    """Run supervised fine-tuning as configured; see the module docstring.

    ``on_step(step)`` is called after every optimizer step (and after that step's
    checkpoint, if one is due); an exception it raises ends the run as an interruption
    would, which is how the tests interrupt a run."""
    import torch

    if cfg.out is None:
        raise TrainingError("--out is required")
    if cfg.max_steps <= 0 or cfg.batch_size <= 0:
        raise TrainingError("--max-steps and --batch-size must be positive")
    if not 0.0 <= cfg.shuffle_names <= 1.0 or cfg.shuffle_variants <= 0:
        raise TrainingError("--shuffle-names must be between 0 and 1 and --shuffle-variants "
                            "positive")
    if cfg.name_loss_weight <= 0 or (cfg.name_loss_weight != 1.0 and cfg.copy_head):
        raise TrainingError("--name-loss-weight must be positive, and 1 with a copy head "
                            "(whose loss is its own)")
    if cfg.output_format not in OUTPUT_FORMATS:
        raise TrainingError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}, "
                            f"not {cfg.output_format!r}")
    accelerator = make_accelerator(cfg.cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    check_batch_fits(cfg.batch_size, world)
    if not accelerator.is_main_process:
        log = _silent  # one voice: the main process reports, writes metrics and checkpoints
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    cfg.bf16 = resolve_bf16(cfg.bf16, accelerator.device.type)
    started = time.perf_counter()
    out = Path(cfg.out)
    train_path, valid_path = _resolve_files(cfg)
    train_examples = read_examples(train_path, cfg.limit_train)
    valid_examples = read_examples(valid_path)[: cfg.eval_max_examples] if valid_path else []
    refuse_pie_rows((ex.row for ex in train_examples), str(train_path))
    refuse_pie_rows((ex.row for ex in valid_examples), str(valid_path))

    resuming = cfg.resume and (out / "config.json").is_file()
    # The main process first: it alone trains (and caches) a tokenizer the others then read.
    with accelerator.main_process_first():
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
                tokenizer=cfg.tokenizer, log=log)
            if cfg.copy_head:
                from .copy_head import with_copy_head

                model = with_copy_head(model)
            start_step = 0
    if world > 1:
        # Same initial weights everywhere (DDP also broadcasts rank 0's), then each process
        # its own dropout stream.
        torch.manual_seed(cfg.seed + 1_000_003 * rank)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"sft: {n_params / 1e6:.1f}M parameters, {len(train_examples)} train / "
        f"{len(valid_examples)} valid pairs" + (f", {world} processes" if world > 1 else ""))

    sources, targets = encode_examples(tokenizer, train_examples, cfg.max_source_length,
                                       cfg.max_target_length, cfg.output_format)
    v_sources, v_targets = encode_examples(tokenizer, valid_examples, cfg.max_source_length,
                                           cfg.max_target_length, cfg.output_format)
    lengths = [len(s) + len(t) for s, t in zip(sources, targets, strict=True)]
    # Renamings of every row, one drawn instead of the row for a --shuffle-names share of
    # draws (validation rows stay as the server numbers names).
    renamed = [encode_examples(tokenizer, variant, cfg.max_source_length,
                               cfg.max_target_length, cfg.output_format)
               for variant in renamed_variants(train_examples, cfg.shuffle_variants,
                                               cfg.seed)] if cfg.shuffle_names > 0 else []
    openers, digits = name_token_ids(tokenizer)

    def draw_batch(indices: list[int], step: int) -> dict:
        # Seeded by the step: a resumed run draws the renamings the whole run would have.
        choose = random.Random(cfg.seed * 1_000_003 + step)
        picked = []
        for i in indices:
            if renamed and choose.random() < cfg.shuffle_names:
                variant = renamed[choose.randrange(len(renamed))]
                picked.append((variant[0][i], variant[1][i]))
            else:
                picked.append((sources[i], targets[i]))
        batch = make_batch([p[0] for p in picked], [p[1] for p in picked],
                           tokenizer.pad_token_id)
        if cfg.name_loss_weight != 1.0:
            import torch

            weights = torch.zeros(batch["labels"].shape, dtype=torch.float32)
            for row, (_, target) in enumerate(picked):
                weights[row, :len(target)] = torch.tensor(
                    name_token_weights(target, openers, digits, cfg.name_loss_weight))
            batch["weights"] = weights
        return batch

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    # Not given to accelerate: it would step the schedule once per process. One optimizer
    # step of the global batch is one schedule step, however many processes share it.
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    rng = random.Random(cfg.seed + start_step)
    batches: list[list[int]] = []
    if resuming:
        extra = load_training_state(out, optimizer, scheduler, rank)
        if extra is None:
            log("sft: no training_state.pt in the checkpoint; optimizer restarts")
        elif "data_order" in extra:
            # The batches the interrupted run had not reached yet, and the shuffler after
            # them: the resumed run sees the data in the order the whole run would have.
            rng.setstate(extra["data_order"]["rng"])
            batches = [list(b) for b in extra["data_order"]["batches"]]
    model, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    plain_model = accelerator.unwrap_model(model)
    metrics = MetricsLog(out / "metrics.jsonl") if accelerator.is_main_process else None

    def meta(step: int, extra: dict) -> dict:
        return {"trainer": "sft", "step": step, "config": config_to_json(cfg),
                "provenance": {**provenance, "train_file": str(train_path),
                               "train_pairs": len(train_examples)},
                "metrics": extra, "parameters": n_params, "num_processes": world}

    def save(step: int, extra: dict) -> dict[str, Path]:
        rng_by_rank = gather_rng_states(accelerator)  # every process takes part
        written: dict[str, Path] = {}
        if accelerator.is_main_process:
            written = save_checkpoint(
                out, plain_model, tokenizer, meta(step, extra), optimizer, scheduler,
                rng_by_rank=rng_by_rank if world > 1 else None,
                extra_state={"data_order": {"rng": rng.getstate(), "batches": batches}})
        accelerator.wait_for_everyone()
        return written

    try:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_steps, initial=start_step,
                   disable=not (cfg.progress and accelerator.is_main_process),
                   desc="sft", dynamic_ncols=True)
    except ImportError:  # tqdm comes with transformers; keep working without it anyway
        bar = None
    step = start_step
    last_loss, valid_loss, tokens_seen = math.nan, None, 0
    window_tokens, window_start = 0, time.perf_counter()
    interrupted: str | None = None
    with StopSignals() as stop:
        while step < cfg.max_steps:
            if not batches:
                batches = length_grouped_batches(lengths, cfg.batch_size, rng)
            idx = batches.pop()
            mine = rank_share(idx, rank, world)
            batch = _to_device(draw_batch(mine, step), device)
            local_tokens = int((batch["labels"] != LABEL_PAD).sum())
            loss = token_loss(model, batch, cfg.bf16)
            if world > 1:
                global_tokens = reduce_sum(accelerator, local_tokens)
                global_loss = reduce_sum(accelerator, float(loss.detach()) * local_tokens)
                global_loss /= global_tokens
                loss = data_parallel_loss(loss, local_tokens, global_tokens, world)
            else:
                global_loss = float(loss.detach())
            if not math.isfinite(global_loss):  # the same figure on every process
                raise TrainingError(f"loss became {global_loss} at step {step}; lower --lr")
            accelerator.backward(loss)
            grad_norm = (accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                         if cfg.grad_clip > 0 else None)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            last_loss = global_loss
            n_tok = int(reduce_sum(accelerator, int(batch["attention_mask"].sum()) + local_tokens))
            tokens_seen += n_tok
            window_tokens += n_tok
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.3f}")
            if metrics is not None and (step % cfg.log_every == 0 or step == cfg.max_steps):
                elapsed = time.perf_counter() - window_start
                metrics.write(kind="train", step=step, loss=last_loss,
                              lr=scheduler.get_last_lr()[0],
                              grad_norm=None if grad_norm is None else float(grad_norm),
                              tokens_per_s=round(window_tokens / max(elapsed, 1e-9), 1))
                window_tokens, window_start = 0, time.perf_counter()
            if v_sources and ((cfg.eval_every and step % cfg.eval_every == 0)
                              or step == cfg.max_steps):
                valid_loss = evaluate_loss(plain_model, tokenizer, v_sources, v_targets,
                                           cfg.batch_size, cfg.bf16, accelerator)
                if metrics is not None:
                    metrics.write(kind="eval", step=step, valid_loss=valid_loss)
                log(f"sft: step {step} train loss {last_loss:.4f} valid loss {valid_loss:.4f}")
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.max_steps:
                save(step, {"train_loss": last_loss, "valid_loss": valid_loss})
            if on_step is not None:
                on_step(step)
            # A signal (kill, Ctrl-C, a preempted node) ends the run here, after a whole step,
            # and the checkpoint below is written: --resume continues from it.
            if any_process(accelerator, stop.requested is not None):
                interrupted = stop.requested or "a signal to another process"
                break
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    final = {"train_loss": last_loss, "valid_loss": valid_loss, "seconds": round(seconds, 1),
             "tokens_seen": tokens_seen}
    written = save(step, final)
    if metrics is not None:
        written["metrics"] = metrics.path
    log(f"sft: wrote {out} after {step} steps in {seconds:.0f}s")
    if interrupted:
        log(f"sft: stopped by {interrupted} at step {step} of {cfg.max_steps}; the same "
            "command with --resume continues")
    return SFTResult(out=out, steps=step, final_train_loss=last_loss,
                     final_valid_loss=valid_loss, seconds=seconds, written=written,
                     interrupted_by=interrupted)


def _silent(*_args, **_kwargs) -> None:
    """The log of every process but the main one."""


__all__ = ["SFTConfig", "SFTResult", "TrainingError", "evaluate_loss", "make_batch",
           "read_meta", "train_sft"]
