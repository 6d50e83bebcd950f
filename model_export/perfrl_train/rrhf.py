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

A caller may rely on :func:`rrhf_loss` being exactly that (no hidden scaling; ties in reward
contribute nothing; the best is the first candidate with the highest reward, and the reference
comes first) and on :func:`train_rrhf` writing a checkpoint like SFT's plus ``rewards.jsonl``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.sources.abstraction import model_output

from .checkpoint import load_checkpoint, save_checkpoint
from .data.abstract import concrete_view
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


@dataclass
class RRHFResult:
    out: Path
    steps: int
    mean_reward: float
    engine_calls: int
    seconds: float
    stopped_because: str
    written: dict[str, Path] = field(default_factory=dict)


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


def sequence_scores(model, source_ids: list[int], targets: list[list[int]], bf16: bool = False):
    """``(scores, token_nll)``: per candidate the length-normalised log-prob and mean NLL.

    ``scores[i] = sum_t log p(y_t | y_<t, x) / len(y)`` with gradients; ``token_nll = -scores``.
    """
    import torch

    n = len(targets)
    input_ids = torch.tensor([source_ids] * n)
    labels, mask = pad_batch(targets, 0, label_pad=LABEL_PAD)
    with autocast_context(bf16):
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                       labels=labels).logits
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
    input_ids = torch.tensor([source_ids])
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
    return (pairs[: cfg.limit_train] if cfg.limit_train else pairs), Path(path)


def train_rrhf(cfg: RRHFConfig, log=print) -> RRHFResult:
    """Run RRHF from an SFT checkpoint; see the module docstring."""
    import torch

    from .reward import EngineReward, RewardBudgetExhausted

    if cfg.checkpoint is None or cfg.out is None:
        raise TrainingError("--checkpoint and --out are required")
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    started = time.perf_counter()
    out = Path(cfg.out)
    model, tokenizer, base_meta = load_checkpoint(Path(cfg.checkpoint))
    model.train()
    pairs, train_path = _load_pairs(cfg)
    max_target = int(base_meta.get("config", {}).get("max_target_length", cfg.max_new_tokens))
    from perfrl.engine.settings import EngineSettings

    reward_dir = Path(cfg.reward_dir) if cfg.reward_dir else out / "reward_work"
    engine = EngineReward(reward_dir, EngineSettings(bench_budget_s=cfg.bench_budget_s,
                                                     test_timeout_s=60.0,
                                                     cache_dir=reward_dir / "baselines"),
                          max_engine_calls=cfg.max_engine_calls)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    scheduler = linear_schedule(optimizer, cfg.warmup_steps, cfg.max_steps)
    metrics = MetricsLog(out / "metrics.jsonl")
    rewards_log = MetricsLog(out / "rewards.jsonl")
    rng = random.Random(cfg.seed)
    order: list[int] = []
    step, stopped = 0, "max_steps"
    all_rewards: list[float] = []
    try:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_steps, disable=not cfg.progress, desc="rrhf", dynamic_ncols=True)
    except ImportError:
        bar = None
    attempts = 0
    while step < cfg.max_steps:
        if not order:
            order = list(range(len(pairs)))
            rng.shuffle(order)
        attempts += 1
        if attempts > cfg.max_steps + len(pairs):
            stopped = "no usable pairs left"
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
            sampled = generate_candidates(model, tokenizer, source_ids, cfg.samples,
                                          cfg.temperature, cfg.top_k, cfg.max_new_tokens)
            texts = [pair.fast, *sampled]
            outcomes = [engine.reward(concrete, model_output(text, table)) for text in texts]
        except RewardBudgetExhausted as exc:
            stopped = f"engine budget: {exc}"
            break
        rewards = [o.reward for o in outcomes]
        all_rewards += rewards[1:]
        targets = [encode_target(tokenizer, t, max_target) for t in texts]
        scores, nll = sequence_scores(model, source_ids, targets, cfg.bf16)
        best = best_index(rewards)
        loss, rank, ce = rrhf_loss(scores, torch.tensor(rewards), nll[best], cfg.ce_weight)
        if not torch.isfinite(loss):
            raise TrainingError(f"RRHF loss became {float(loss)} at step {step}; lower --lr")
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        rewards_log.write(step=step, pair=pair.id, rewards=rewards,
                          verdicts=[o.verdict for o in outcomes],
                          speedups=[o.speedup for o in outcomes],
                          scores=[round(float(s), 4) for s in scores.detach()])
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            metrics.write(kind="train", step=step, loss=float(loss.detach()),
                          rank=float(rank.detach()), ce=float(ce.detach()),
                          mean_reward_generated=sum(rewards[1:]) / max(1, len(rewards) - 1),
                          best_reward=max(rewards), engine_calls=engine.stats.engine_calls,
                          cache_hits=engine.stats.cache_hits, lr=scheduler.get_last_lr()[0])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{sum(rewards[1:]) / max(1, len(rewards) - 1):.2f}",
                            calls=engine.stats.engine_calls)
        if cfg.save_every and step % cfg.save_every == 0 and step < cfg.max_steps:
            save_checkpoint(out, model, tokenizer, _meta(cfg, base_meta, step, engine, all_rewards,
                                                         train_path), optimizer, scheduler)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    meta = _meta(cfg, base_meta, step, engine, all_rewards, train_path)
    meta["metrics"]["stopped_because"] = stopped
    meta["metrics"]["seconds"] = round(seconds, 1)
    written = save_checkpoint(out, model, tokenizer, meta, optimizer, scheduler)
    written["metrics"] = metrics.path
    written["rewards"] = rewards_log.path
    mean = sum(all_rewards) / len(all_rewards) if all_rewards else math.nan
    log(f"rrhf: {step} steps, mean generated reward {mean:.3f}, "
        f"{engine.stats.engine_calls} engine calls, stopped: {stopped}")
    return RRHFResult(out=out, steps=step, mean_reward=mean,
                      engine_calls=engine.stats.engine_calls, seconds=seconds,
                      stopped_because=stopped, written=written)


def _meta(cfg, base_meta, step, engine, all_rewards, train_path) -> dict:
    return {
        "trainer": "rrhf",
        "step": step,
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
