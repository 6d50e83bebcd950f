"""Decoding strategies in numpy over a step function: greedy, sampling and beam search.

The strategies know nothing about ONNX: they drive a :class:`Stepper`, which owns the
decoder and its cache of past keys and values. That keeps each strategy small and lets the
same loop serve any encoder-decoder that can run one step at a time.

A caller may rely on:

- :func:`sample_or_greedy` decoding ``n`` rows as one batch (rows that finish leave the batch,
  so the rest run faster); row ``i`` is greedy when ``greedy[i]`` is true, otherwise sampled
  with temperature, then top-k, then top-p, in that order (Hugging Face's order);
  reproducible for a given ``numpy.random.Generator`` state;
- :func:`beam_search` returning the same sequences and scores as Hugging Face transformers'
  beam search (4.57) with its defaults ``length_penalty=1.0`` and ``early_stopping=False``:
  a finished hypothesis scores ``sum of log-probabilities / generated length`` (the length
  counts the end-of-sequence token), and the search stops when no running beam can beat the
  worst of the ``num_beams`` finished ones by that measure;
- ``min_new_tokens`` forbidding the end-of-sequence token before that many tokens, like
  Hugging Face's ``min_new_tokens`` (benchmarks use it to force a fixed length);
- every result's ``tokens`` being the generated ids without the decoder start token,
  ending with ``eos_id`` when ``finished`` is true, and ``score`` being the length-normalised
  log-likelihood of those tokens under the model's unmodified distribution (for beam search:
  Hugging Face's sequence score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Hugging Face marks impossible beams with this additive penalty; we use the same constant so
# that the arithmetic (float32) and therefore the ranking match theirs.
_MASKED = np.float32(-1.0e9)


class Stepper(Protocol):
    """One decoder run at a time, with the cache of past keys and values kept inside.

    The scores a step returns are logits, or log-probabilities (each row's log-sum-exp 0)
    when the stepper has a true ``log_probs`` attribute: the strategies then skip their own
    normalisation. A stepper with a ``top_k`` attribute computes the best tokens itself:
    sampling sets ``top_k`` before :meth:`start`, and after every step ``last_top`` holds
    ``(scores, ids)`` of shape ``(rows, top_k)``, best first, for the rows just returned.
    Either way the tokens are drawn from the same distribution and scored alike; only the
    cost differs (a seed gives one sequence per kind of stepper).
    """

    def start(self, n: int) -> np.ndarray:
        """Run the first decoder step (the start token) for ``n`` rows; scores ``(n, V)``."""
        ...

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """Keep the cache rows ``rows`` (indices into the current batch, in the new order;
        ``None`` keeps all) and feed one token per kept row; scores ``(len(tokens), V)``."""
        ...


def gives_log_probs(stepper: Stepper) -> bool:
    """True when ``stepper``'s scores are log-probabilities (see :class:`Stepper`)."""
    return bool(getattr(stepper, "log_probs", False))


@dataclass(frozen=True)
class Decoded:
    tokens: list[int]
    score: float
    finished: bool


@dataclass(frozen=True)
class SamplingParams:
    """Temperature > 0; ``top_k`` <= 0 means no top-k; ``top_p`` >= 1 means no top-p."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float32 (what the scores are accumulated in)."""
    logits = logits.astype(np.float32, copy=False)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _nucleus(scores: np.ndarray, params: SamplingParams) -> np.ndarray:
    """Probabilities of ``scores`` (float64, already divided by the temperature), then top-p."""
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if params.top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
        keep_sorted = mass_before < params.top_p  # the first token always has mass_before 0
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    return probs


def candidate_distribution(
    logits: np.ndarray, params: SamplingParams
) -> tuple[np.ndarray | None, np.ndarray]:
    """The tokens each row may sample and their probabilities: logits / temperature, top-k,
    then top-p (nucleus), Hugging Face's order.

    Returns ``(ids, probs)``: with top-k, ``ids`` is ``(n, k)`` token ids and ``probs`` their
    probabilities; without, ``ids`` is ``None`` and ``probs`` covers the whole vocabulary.
    Working on the k survivors only keeps a step cheap (no sort over the vocabulary).
    Top-p keeps the smallest set of most likely tokens whose probability reaches ``top_p``
    (always at least one token), as Hugging Face's TopPLogitsWarper does.
    """
    vocab = logits.shape[-1]
    ids = None
    if 0 < params.top_k < vocab:
        # Temperature does not change the order: pick the k best on the raw float32 logits,
        # then work in float64 on those k only. (Partitioning at vocab - k, rather than at k
        # of the negated logits, saves a copy of the whole row.)
        ids = np.argpartition(logits, vocab - params.top_k, axis=-1)[:, vocab - params.top_k :]
        scores = np.take_along_axis(logits, ids, axis=-1).astype(np.float64) / params.temperature
    else:
        scores = logits.astype(np.float64) / params.temperature
    return ids, _nucleus(scores, params)


def filtered_probabilities(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """The sampling distribution over the whole vocabulary (see :func:`candidate_distribution`)."""
    ids, probs = candidate_distribution(logits, params)
    if ids is None:
        return probs
    full = np.zeros(logits.shape, dtype=np.float64)
    np.put_along_axis(full, ids, probs, axis=-1)
    return full


def sample_tokens(
    logits: np.ndarray, params: SamplingParams, rng: np.random.Generator
) -> np.ndarray:
    """One sampled token id per row of ``logits``."""
    ids, probs = candidate_distribution(logits, params)
    picks = _draw(probs, rng)
    return picks if ids is None else ids[np.arange(len(picks)), picks]


def sample_from_top(
    top: tuple[np.ndarray, np.ndarray],
    params: SamplingParams,
    rng: np.random.Generator,
    forbidden: int | None = None,
) -> np.ndarray:
    """One sampled token id per row from each row's best candidates ``top = (scores, ids)``
    (best first, at least ``top_k`` of them, one more when ``forbidden`` is given): the same
    distribution :func:`sample_tokens` draws from, without a pass over the vocabulary."""
    scores, ids = top
    hits = ids == forbidden if forbidden is not None else None
    if hits is not None and hits.any():
        # The forbidden token drops out wherever it is; the best top_k of the rest remain.
        keep = np.argsort(hits, axis=-1, kind="stable")
        scores = np.take_along_axis(scores, keep, axis=-1)
        ids = np.take_along_axis(ids, keep, axis=-1)
    scores, ids = scores[:, : params.top_k], ids[:, : params.top_k]
    probs = _nucleus(scores.astype(np.float64) / params.temperature, params)
    return ids[np.arange(len(ids)), _draw(probs, rng)]


def _forbid(scores: np.ndarray, token: int) -> np.ndarray:
    """``scores`` with ``token`` made impossible (a copy; the caller's array is kept)."""
    scores = scores.copy()
    scores[:, token] = -np.inf
    return scores


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row by inverse-CDF sampling (one uniform number per row)."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    picks = (cdf <= u[:, None]).sum(axis=-1)
    return np.minimum(picks, probs.shape[-1] - 1)


def sample_or_greedy(
    stepper: Stepper,
    greedy: Sequence[bool],
    max_new_tokens: int,
    eos_id: int,
    params: SamplingParams,
    rng: np.random.Generator,
    min_new_tokens: int = 0,
) -> list[Decoded]:
    """Decode ``len(greedy)`` rows in one batch; each stops at ``eos_id`` or the length cap."""
    n = len(greedy)
    if n == 0 or max_new_tokens <= 0:
        return [Decoded([], 0.0, False) for _ in range(n)]
    greedy_mask = np.asarray(greedy, dtype=bool)
    tokens: list[list[int]] = [[] for _ in range(n)]
    logprob_sums = np.zeros(n, dtype=np.float64)
    finished = np.zeros(n, dtype=bool)
    active = np.arange(n)  # original row index of each row in the current batch
    normalised_scores = gives_log_probs(stepper)
    # A stepper that offers it computes the top-k candidates (one more while the end of
    # sequence is forbidden, which then drops out).
    stepper_top_k = 0
    if hasattr(stepper, "top_k") and params.top_k > 0 and not greedy_mask.all():
        stepper_top_k = params.top_k + (1 if min_new_tokens > 0 else 0)
        stepper.top_k = stepper_top_k
    logits = stepper.start(n)
    if stepper_top_k >= logits.shape[-1]:
        stepper_top_k = stepper.top_k = 0  # top-k keeps the whole vocabulary: nothing to gain
    for step in range(max_new_tokens):
        # The score needs only the chosen tokens' log-probabilities: logit - logsumexp.
        raw = logits
        if normalised_scores:
            log_norm = 0.0
        else:
            top = logits.max(axis=-1)
            log_norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=-1))
        sampled_rows = ~greedy_mask[active]
        by_stepper = stepper_top_k and sampled_rows.any()
        if step < min_new_tokens and not (by_stepper and sampled_rows.all()):
            logits = _forbid(logits, eos_id)  # a copy: only when some row reads the logits
        chosen = np.argmax(logits, axis=-1)
        if by_stepper:
            scores, ids = stepper.last_top
            chosen[sampled_rows] = sample_from_top(
                (scores[sampled_rows], ids[sampled_rows]), params, rng,
                forbidden=eos_id if step < min_new_tokens else None,
            )
        elif sampled_rows.any():
            chosen[sampled_rows] = sample_tokens(logits[sampled_rows], params, rng)
        logprob_sums[active] += raw[np.arange(len(active)), chosen] - log_norm
        for row, token in zip(active, chosen):
            tokens[row].append(int(token))
        done_now = chosen == eos_id
        finished[active[done_now]] = True
        if done_now.all() or step == max_new_tokens - 1:
            break
        keep = np.flatnonzero(~done_now)
        # Shrinking the batch costs one copy of the cache; skipping it when nothing finished
        # keeps the common step copy-free.
        rows = None if keep.size == len(active) else keep
        active = active[keep]
        logits = stepper.advance(chosen[keep].astype(np.int64), rows)
    return [
        Decoded(tokens[i], float(logprob_sums[i] / max(len(tokens[i]), 1)), bool(finished[i]))
        for i in range(n)
    ]


def beam_search(
    stepper: Stepper,
    num_beams: int,
    num_return: int,
    max_new_tokens: int,
    eos_id: int,
    length_penalty: float = 1.0,
    min_new_tokens: int = 0,
) -> list[Decoded]:
    """Hugging Face's beam search (``early_stopping=False``), one input, best first."""
    if num_beams < 1 or not 1 <= num_return <= num_beams:
        raise ValueError(f"need 1 <= num_return ({num_return}) <= num_beams ({num_beams})")
    if max_new_tokens <= 0:
        return [Decoded([], 0.0, False) for _ in range(num_return)]
    keep_k = 2 * num_beams  # enough that num_beams can go on even if num_beams pick eos
    running_scores = np.full(num_beams, _MASKED, dtype=np.float32)
    running_scores[0] = 0.0  # all beams start identical: expand only the first
    running_seqs: list[list[int]] = [[] for _ in range(num_beams)]
    done_scores = np.full(num_beams, _MASKED, dtype=np.float32)
    done_seqs: list[list[int]] = [[] for _ in range(num_beams)]
    done_flags = np.zeros(num_beams, dtype=bool)
    improvable = True
    normalised_scores = gives_log_probs(stepper)
    logits = stepper.start(num_beams)
    vocab = logits.shape[-1]
    for length in range(1, max_new_tokens + 1):  # length = generated tokens after this step
        logp = logits if normalised_scores else log_softmax(logits)
        if length <= min_new_tokens:
            logp = _forbid(logp, eos_id)  # after the softmax, as Hugging Face's processor runs
        totals = (logp + running_scores[:, None]).reshape(-1)
        top = np.argpartition(-totals, keep_k - 1)[:keep_k]
        top = top[np.argsort(-totals[top], kind="stable")]
        top_scores = totals[top].astype(np.float32)
        top_beams, top_tokens = np.divmod(top, vocab)
        top_seqs = [running_seqs[b] + [int(t)] for b, t in zip(top_beams, top_tokens)]
        hits = (top_tokens == eos_id) | (length >= max_new_tokens)

        # The best num_beams candidates that did not stop go on.
        go_on_scores = top_scores + hits.astype(np.float32) * _MASKED
        go_on = np.argsort(-go_on_scores, kind="stable")[:num_beams]

        # Stopped candidates among the first num_beams compete for the finished slots.
        new_done = hits.copy()
        new_done[num_beams:] = False
        normalised = top_scores / np.float32(length**length_penalty)
        if not improvable:
            normalised = normalised + _MASKED
        normalised = normalised + (~new_done).astype(np.float32) * _MASKED
        merged_scores = np.concatenate([done_scores, normalised])
        merged_seqs = done_seqs + top_seqs
        merged_flags = np.concatenate([done_flags, new_done])
        best = np.argsort(-merged_scores, kind="stable")[:num_beams]
        done_scores = merged_scores[best]
        done_seqs = [merged_seqs[i] for i in best]
        done_flags = merged_flags[best]

        running_scores = go_on_scores[go_on]
        running_seqs = [top_seqs[i] for i in go_on]
        if done_flags.all():
            best_possible = running_scores[0] / np.float32(length**length_penalty)
            improvable = improvable and bool(best_possible > done_scores.min())
        if not improvable or hits.all():
            break
        logits = stepper.advance(top_tokens[go_on].astype(np.int64), top_beams[go_on])
    return [
        Decoded(done_seqs[i], float(done_scores[i]), bool(done_seqs[i][-1:] == [eos_id]))
        for i in range(num_return)
    ]
