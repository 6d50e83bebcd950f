"""RRHF (Rank Responses to align with Human Feedback), as PerfRL applies it to code speed.

``perfrl-train rrhf --checkpoint SFT_CKPT --data DIR --out CKPT``

Per training prompt (the slow side of a pair): one greedy candidate, ``k`` samples
(temperature 1, top-k 50) and the reference fast side. Each gets a reward from the
verification engine (:mod:`.reward`). The model scores each candidate by its length-normalised
log-probability ``s = sum(log p(token)) / len``. The loss is

    rank = sum over pairs (i, j) with r_i < r_j of max(0, s_i - s_j)
    ce   = mean token cross-entropy of the best-reward candidate
    loss = rank + ce_weight * ce

Pairs written by ``python -m perfrl_train.data.abstract`` (placeholders for names and
strings) train on their abstracted text, as the model reads and writes it, while the reward
runs the pair's original code: each candidate is mapped back through the pair's table first
(:func:`perfrl_train.data.abstract.concrete_view`), as the server maps its outputs back.

Data-parallel (``accelerate launch``, :mod:`.distributed`): each process takes its own prompt
per step, so one optimizer step averages the gradients of N prompts; the main process writes
the checkpoint, ``metrics.jsonl`` (its own figures) and ``rewards.jsonl`` (every process's rows,
with their ``rank``). ``--resume`` continues from OUT's optimizer, scheduler, RNG states and each
process's place in its prompt order.

A caller may rely on :func:`rrhf_loss` being exactly that (no hidden scaling; ties in reward
contribute nothing; the best is the first candidate with the highest reward, and the reference
comes first) and on :func:`train_rrhf` writing a checkpoint like SFT's plus ``rewards.jsonl``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.sources.abstraction import model_output
from perfrl.sources.prompts import abstract_reason

from .checkpoint import load_checkpoint, load_training_state, save_checkpoint
from .data.abstract import concrete_view
from .data.pie_split import refuse_pie_rows
from .distributed import (
    StopSignals,
    any_process,
    gather_from_all,
    gather_rng_states,
    make_accelerator,
)
from .examples import decode_output, encode_source, encode_target, pad_batch
from .sft import LABEL_PAD, TrainingError
from .train_common import (
    MetricsLog,
    autocast_context,
    config_to_json,
    help_field,
    linear_schedule,
    seed_everything,
    set_threads,
)


@dataclass
class RRHFConfig:
    checkpoint: Path = help_field(None, "SFT checkpoint to start from")  # noqa: RUF009
    out: Path = help_field(None, "checkpoint directory to write")  # noqa: RUF009
    data: Path | None = help_field(None, "directory holding train.jsonl (CodePair rows)")  # noqa: RUF009
    train_file: Path | None = help_field(None, "training pairs JSONL (default: DATA/train.jsonl)")  # noqa: RUF009
    samples: int = help_field(4, "sampled candidates per prompt (plus greedy and reference)")
    temperature: float = help_field(1.0, "sampling temperature")
    top_k: int = help_field(50, "sampling top-k")
    max_new_tokens: int = help_field(256, "generated tokens per candidate")
    max_source_length: int = help_field(512, "prompt tokens kept")
    max_steps: int = help_field(100, "optimizer steps (one prompt each)")
    lr: float = help_field(2e-5, "peak learning rate (AdamW)")
    warmup_steps: int = help_field(10, "linear warm-up steps, then linear decay")
    ce_weight: float = help_field(1.0, "weight of the cross-entropy on the best candidate")
    grad_clip: float = help_field(1.0, "clip the gradient norm (0: off)")
    bf16: bool = help_field(False, "bf16 autocast for scoring")
    max_engine_calls: int = help_field(400, "stop after this many verification-engine calls "
                                            "(each takes ~1-3 s)")
    bench_budget_s: float = help_field(0.6, "benchmark seconds per engine call")
    reward_dir: Path | None = help_field(None, "scratch dir for pair projects "  # noqa: RUF009
                                               "(default OUT/reward_work)")
    limit_train: int | None = help_field(None, "use only the first N training pairs")
    save_every: int = help_field(0, "also write the checkpoint every N steps (0: end only)")
    log_every: int = help_field(1, "log every N steps")
    seed: int = help_field(0, "seed for sampling and prompt order")
    threads: int = help_field(2, "torch intra-op threads")
    progress: bool = help_field(True, "show a tqdm progress bar")
    resume: bool = help_field(False, "continue from the checkpoint and training state in OUT "
                                     "(the engine budget starts afresh)")
    cpu: bool = help_field(False, "train on the CPU even when a GPU is visible (and for "
                                  "several CPU processes under a launcher)")


@dataclass
class RRHFResult:
    out: Path
    steps: int
    mean_reward: float
    engine_calls: int
    seconds: float
    stopped_because: str
    written: dict[str, Path] = field(default_factory=dict)
    #: The signal that stopped the run before ``max_steps`` (its checkpoint is written).
    interrupted_by: str | None = None


def rrhf_loss(scores, rewards, best_nll, ce_weight: float = 1.0):
    """``(loss, rank, ce)`` for one prompt; see the module docstring for the formula.

    ``scores`` and ``rewards`` are 1-D tensors over the candidates; ``best_nll`` is the mean
    token cross-entropy of the best-reward candidate (a scalar tensor).
    """
    import torch

    diff = scores.unsqueeze(1) - scores.unsqueeze(0)  # diff[i, j] = s_i - s_j
    lower = rewards.unsqueeze(1) < rewards.unsqueeze(0)  # r_i < r_j
    rank = torch.where(lower, torch.relu(diff), torch.zeros_like(diff)).sum()
    ce = best_nll
    return rank + ce_weight * ce, rank, ce


def best_index(rewards: list[float]) -> int:
    """The first candidate with the highest reward (the reference wins ties: it comes first)."""
    return max(range(len(rewards)), key=lambda i: (rewards[i], -i))


def decoder_inputs(labels, model):
    """Teacher forcing's decoder inputs for ``labels`` (padded with ``LABEL_PAD``): the
    decoder start, then the labels shifted right, padding as the pad id (what T5 builds
    from ``labels`` itself)."""
    config = getattr(model, "module", model).config  # under DDP, the wrapped model's
    shifted = labels.new_full(labels.shape, config.decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == LABEL_PAD, config.pad_token_id)


def sequence_scores(model, source_ids: list[int], targets: list[list[int]], bf16: bool = False):
    """``(scores, token_nll)``: per candidate the length-normalised log-prob and mean NLL.

    ``scores[i] = sum_t log p(y_t | y_<t, x) / len(y)`` with gradients; ``token_nll = -scores``.
    """
    import torch

    n = len(targets)
    device = next(model.parameters()).device
    input_ids = torch.tensor([source_ids] * n, device=device)
    labels, mask = pad_batch(targets, 0, label_pad=LABEL_PAD)
    labels, mask = labels.to(device), mask.to(device)
    with autocast_context(bf16, device.type):
        # Decoder inputs, not labels: only the distribution is needed (a copy-head model
        # returns no logits with labels, and a plain one would compute an unused loss).
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                       decoder_input_ids=decoder_inputs(labels, model)).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    safe = labels.clamp(min=0)
    token_logp = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1) * mask
    lengths = mask.sum(dim=1).clamp(min=1)
    scores = token_logp.sum(dim=1) / lengths
    return scores, -scores


def generate_candidates(model, tokenizer, source_ids: list[int], samples: int,
                        temperature: float, top_k: int, max_new_tokens: int) -> list[str]:
    """One greedy candidate then ``samples`` sampled ones, as code text."""
    import torch

    was_training = model.training
    model.eval()
    input_ids = torch.tensor([source_ids], device=next(model.parameters()).device)
    attention = torch.ones_like(input_ids)
    with torch.no_grad():
        greedy = model.generate(input_ids=input_ids, attention_mask=attention, do_sample=False,
                                num_beams=1, max_new_tokens=max_new_tokens)
        out = [decode_output(tokenizer, greedy[0])]
        if samples > 0:
            sampled = model.generate(input_ids=input_ids, attention_mask=attention,
                                     do_sample=True, temperature=temperature, top_k=top_k,
                                     top_p=1.0, num_return_sequences=samples,
                                     max_new_tokens=max_new_tokens)
            out += [decode_output(tokenizer, row) for row in sampled]
    model.train(was_training)
    return out


def _load_pairs(cfg: RRHFConfig):
    from perfrl_train.data import read_jsonl

    path = cfg.train_file or (Path(cfg.data) / "train.jsonl" if cfg.data else None)
    if path is None:
        raise TrainingError("give --data DIR (with train.jsonl) or --train-file FILE")
    if not Path(path).is_file():
        raise TrainingError(f"pairs file {path} does not exist")
    pairs = read_jsonl(Path(path))
    refuse_pie_rows((pair.to_json() for pair in pairs), str(path))
    return (pairs[: cfg.limit_train] if cfg.limit_train else pairs), Path(path)


def train_rrhf(cfg: RRHFConfig, log=print, *,
               on_step: Callable[[int], None] | None = None) -> RRHFResult:
    """Run RRHF from an SFT checkpoint; see the module docstring.

    Under a launcher with N processes (:mod:`.distributed`), each process draws its own
    prompts (its own shuffle, sampling stream and engine scratch directory ``REWARD_DIR/rankR``)
    and an optimizer step averages the N prompts' gradients; all stop together when one runs
    out of engine budget or usable pairs. ``on_step(step)`` is called after every step (and
    its checkpoint); an exception it raises ends the run as an interruption would."""
    import torch

    from .reward import EngineReward, RewardBudgetExhausted

    if cfg.checkpoint is None or cfg.out is None:
        raise TrainingError("--checkpoint and --out are required")
    accelerator = make_accelerator(cfg.cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    if not accelerator.is_main_process:
        log = _silent
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    out = Path(cfg.out)
    resuming = cfg.resume and (out / "config.json").is_file()
    model, tokenizer, loaded_meta = load_checkpoint(out if resuming else Path(cfg.checkpoint))
    base_meta = loaded_meta
    start_step = 0
    if resuming:
        start_step = int(loaded_meta.get("step", 0))
        log(f"rrhf: resuming {out} at step {start_step}")
    if world > 1:
        torch.manual_seed(cfg.seed + 1_000_003 * rank)  # each process its own samples
    model.train()
    pairs, train_path = _load_pairs(cfg)
    from perfrl.engine.settings import EngineSettings

    reward_dir = Path(cfg.reward_dir) if cfg.reward_dir else out / "reward_work"
    if world > 1:
        reward_dir = reward_dir / f"rank{rank}"
    engine = EngineReward(reward_dir, EngineSettings(bench_budget_s=cfg.bench_budget_s,
                                                     test_timeout_s=60.0,
                                                     cache_dir=reward_dir / "baselines"),
                          max_engine_calls=cfg.max_engine_calls)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    rng = random.Random(cfg.seed + rank)
    order: list[int] = []
    all_rewards: list[float] = []
    attempts = 0
    if resuming:
        extra = load_training_state(out, optimizer, scheduler, rank)
        if extra is None:
            log("rrhf: no training_state.pt in the checkpoint; optimizer restarts")
        else:
            base_meta = extra.get("base_meta", base_meta)
            all_rewards = list(extra.get("all_rewards", []))
            mine = (extra.get("data_order_by_rank") or [])[rank:rank + 1]
            if mine:  # the prompts this process had not drawn yet, in the same order
                rng.setstate(mine[0]["rng"])
                order = list(mine[0]["order"])
                attempts = int(mine[0]["attempts"])
    model, optimizer = accelerator.prepare(model, optimizer)
    plain_model = accelerator.unwrap_model(model)
    max_target = int(base_meta.get("config", {}).get("max_target_length", cfg.max_new_tokens))
    is_main = accelerator.is_main_process
    metrics = MetricsLog(out / "metrics.jsonl") if is_main else None
    rewards_log = MetricsLog(out / "rewards.jsonl") if is_main else None

    def save(step: int, meta: dict) -> dict[str, Path]:
        # Collectives first: every process hands over its RNG and its place in the data.
        rng_by_rank = gather_rng_states(accelerator)
        data_order = gather_from_all({"rng": rng.getstate(), "order": list(order),
                                      "attempts": attempts})
        written: dict[str, Path] = {}
        if is_main:
            written = save_checkpoint(
                out, plain_model, tokenizer, meta, optimizer, scheduler,
                rng_by_rank=rng_by_rank if world > 1 else None,
                extra_state={"base_meta": base_meta, "all_rewards": all_rewards,
                             "data_order_by_rank": list(data_order)})
        accelerator.wait_for_everyone()
        return written

    step, stopped = start_step, "max_steps"
    try:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_steps, initial=start_step, disable=not (cfg.progress and is_main),
                   desc="rrhf", dynamic_ncols=True)
    except ImportError:
        bar = None
    interrupted: str | None = None
    with StopSignals() as stop:
        while step < cfg.max_steps:
            why_stop: str | None = None
            while True:  # this process's next usable prompt
                if not order:
                    order = list(range(len(pairs)))
                    rng.shuffle(order)
                attempts += 1
                if attempts > cfg.max_steps + len(pairs):
                    why_stop = "no usable pairs left"
                    break
                pair = pairs[order.pop()]
                try:
                    # Abstracted pairs (perfrl_model.json's identifiers-v1): the model writes
                    # placeholders, the engine runs real names: each text is mapped back first.
                    concrete, table = concrete_view(pair)
                    if not engine.usable(concrete):
                        log(f"rrhf: skipping {pair.id}: {engine.stats.skipped_pairs[pair.id]}")
                        continue
                    source_ids = encode_source(tokenizer, pair.slow, cfg.max_source_length)
                    sampled = generate_candidates(plain_model, tokenizer, source_ids, cfg.samples,
                                                  cfg.temperature, cfg.top_k, cfg.max_new_tokens)
                    texts = [pair.fast, *sampled]
                    outcomes = [engine.reward(concrete, model_output(text, table))
                                for text in texts]
                except RewardBudgetExhausted as exc:
                    why_stop = f"engine budget: {exc}"
                break
            # Every process takes a step or none does (DDP would wait forever for a missing one).
            if any_process(accelerator, why_stop is not None):
                stopped = why_stop or "another process stopped (no budget or usable pairs left)"
                break
            rewards = [o.reward for o in outcomes]
            all_rewards += rewards[1:]
            targets = [encode_target(tokenizer, t, max_target) for t in texts]
            scores, nll = sequence_scores(model, source_ids, targets, cfg.bf16)
            best = best_index(rewards)
            loss, rank_loss, ce = rrhf_loss(scores, torch.tensor(rewards, device=scores.device),
                                            nll[best], cfg.ce_weight)
            if any_process(accelerator, not torch.isfinite(loss)):
                raise TrainingError(f"RRHF loss became {float(loss)} at step {step}; lower --lr")
            accelerator.backward(loss)
            if cfg.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            record = {"step": step, "pair": pair.id, "rewards": rewards,
                      "verdicts": [o.verdict for o in outcomes],
                      "speedups": [o.speedup for o in outcomes],
                      # What the model wrote and why each was judged so, in the model's own
                      # names: data.feedback_pairs turns the failures into feedback-v1 rows.
                      "texts": texts,
                      "reasons": [abstract_reason(o.reason, table) for o in outcomes],
                      "scores": [round(float(s), 4) for s in scores.detach()]}
            records = gather_from_all(record) if world > 1 else [record]
            if rewards_log is not None:
                for number, row in enumerate(records):
                    rewards_log.write(**row, **({"rank": number} if world > 1 else {}))
            if metrics is not None and (step % cfg.log_every == 0 or step == cfg.max_steps):
                metrics.write(kind="train", step=step, loss=float(loss.detach()),
                              rank=float(rank_loss.detach()), ce=float(ce.detach()),
                              mean_reward_generated=sum(rewards[1:]) / max(1, len(rewards) - 1),
                              best_reward=max(rewards), engine_calls=engine.stats.engine_calls,
                              cache_hits=engine.stats.cache_hits, lr=scheduler.get_last_lr()[0])
            if bar is not None:
                bar.update(1)
                bar.set_postfix(reward=f"{sum(rewards[1:]) / max(1, len(rewards) - 1):.2f}",
                                calls=engine.stats.engine_calls)
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.max_steps:
                save(step, _meta(cfg, base_meta, step, engine, all_rewards, train_path, world))
            if on_step is not None:
                on_step(step)
            # A signal (kill, Ctrl-C, a preempted node) ends the run here, after a whole step,
            # and the checkpoint below is written: --resume continues from it.
            if any_process(accelerator, stop.requested is not None):
                interrupted = stop.requested or "a signal to another process"
                break
    if bar is not None:
        bar.close()
    if interrupted:
        stopped = f"interrupted by {interrupted} (--resume continues)"
    seconds = time.perf_counter() - started
    meta = _meta(cfg, base_meta, step, engine, all_rewards, train_path, world)
    meta["metrics"]["stopped_because"] = stopped
    meta["metrics"]["seconds"] = round(seconds, 1)
    written = save(step, meta)
    if metrics is not None and rewards_log is not None:
        written["metrics"] = metrics.path
        written["rewards"] = rewards_log.path
    mean = sum(all_rewards) / len(all_rewards) if all_rewards else math.nan
    log(f"rrhf: {step} steps, mean generated reward {mean:.3f}, "
        f"{engine.stats.engine_calls} engine calls, stopped: {stopped}")
    return RRHFResult(out=out, steps=step, mean_reward=mean,
                      engine_calls=engine.stats.engine_calls, seconds=seconds,
                      stopped_because=stopped, written=written, interrupted_by=interrupted)


def _silent(*_args, **_kwargs) -> None:
    """The log of every process but the main one."""


def _meta(cfg, base_meta, step, engine, all_rewards, train_path, world: int = 1) -> dict:
    return {
        "trainer": "rrhf",
        "step": step,
        "num_processes": world,
        "config": {**base_meta.get("config", {}), **config_to_json(cfg)},
        "provenance": {**base_meta.get("provenance", {}),
                       "sft": {"checkpoint": str(cfg.checkpoint), "step": base_meta.get("step"),
                               "metrics": base_meta.get("metrics", {})},
                       "rrhf_train_file": str(train_path)},
        "metrics": {"mean_generated_reward": (sum(all_rewards) / len(all_rewards)
                                              if all_rewards else None),
                    "engine_calls": engine.stats.engine_calls,
                    "engine_seconds": round(engine.stats.engine_seconds, 1),
                    "cache_hits": engine.stats.cache_hits,
                    "shortcuts": engine.stats.shortcuts,
                    "skipped_pairs": len(engine.stats.skipped_pairs)},
    }
