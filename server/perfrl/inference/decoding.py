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
- :class:`OutputConstraints`, when given: every row starts with ``forced_prefix`` (decoded
  once on one row, then the cache is copied to every row), picks only tokens that
  ``allowed`` marks true (the end of sequence must be one of them; sampled through a top-k
  stepper: the k best allowed among its k + 16 best, the whole masked row only when none of
  those is allowed; otherwise exactly top-k of the masked distribution), and ends as soon as its
  tail repeats a short run of tokens (:class:`RepetitionStop`; ``Decoded.looped`` says so);
  with a ``guard`` (:class:`~perfrl.inference.bracket_guard.BracketGuard`,
  :class:`~perfrl.inference.word_guard.WordGuard` or both; greedy and
  sampling only), a row whose chosen token the guard refuses (a bracket closing none that is
  open, a string left unterminated, an end with a bracket open; a word no allowed word is or
  starts with) takes instead the best (greedy) or a newly drawn (sampling) token among those
  the guard accepts from its top candidates;
  with ``copy`` the stepper's scores are copy-biased first (:mod:`perfrl.inference.copy_bias`:
  the strategies then draw from and score against the biased distribution);
  without constraints every strategy behaves exactly as before;
- every result's ``tokens`` being the generated ids without the decoder start token,
  ending with ``eos_id`` when ``finished`` is true, and ``score`` being the length-normalised
  log-likelihood of those tokens under the model's unmodified distribution (for beam search:
  Hugging Face's sequence score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

if TYPE_CHECKING:  # copy_bias builds on this module's Stepper
    from perfrl.inference.copy_bias import CopySource
    from perfrl.inference.word_guard import RowGuard

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


class TopKStepper(Stepper, Protocol):
    """A :class:`Stepper` with the ``top_k`` attribute: it computes the best tokens itself."""

    top_k: int
    last_top: tuple[np.ndarray, np.ndarray] | None


def gives_log_probs(stepper: Stepper) -> bool:
    """True when ``stepper``'s scores are log-probabilities (see :class:`Stepper`)."""
    return bool(getattr(stepper, "log_probs", False))


@dataclass(frozen=True)
class Decoded:
    tokens: list[int]
    score: float
    finished: bool
    #: True when the row was ended by :class:`RepetitionStop` (then ``finished`` is false).
    looped: bool = False


@dataclass(frozen=True)
class RepetitionStop:
    """Ends a row whose last tokens are one run of ``period`` tokens repeated, for any period
    up to ``max_period``: at least ``min_repeats`` times and over at least ``min_span`` tokens
    (``v4 = v4 = v4 = ...``). Real code rarely repeats itself token for token that long;
    a model that does has entered a loop it will not leave."""

    max_period: int = 16
    min_repeats: int = 4
    min_span: int = 20
    #: Instead of ending the row at once, replace the token that completes the loop by the
    #: best (greedy) or a newly drawn (sampling) one that does not; the row ends only when
    #: none of its best candidates avoids the loop.
    steer: bool = False

    def looping(self, tokens: Sequence[int]) -> bool:
        """True when ``tokens`` ends in such a repetition."""
        length = len(tokens)
        if length < self.min_span:
            return False
        last = tokens[-1]
        for period in range(1, min(self.max_period, length // self.min_repeats) + 1):
            if tokens[-1 - period] != last:  # cheap test first: most periods fail here
                continue
            span = max(period * self.min_repeats, self.min_span)
            if span <= length and tokens[-span:-period] == tokens[-span + period :]:
                return True
        return False


@dataclass(frozen=True)
class OutputConstraints:
    """What every row of one decode must respect (see the module doc).

    ``forced_prefix``: token ids each row starts with (scored like chosen tokens);
    ``allowed``: a boolean mask over the vocabulary, or None for every token;
    ``repetition``: the loop detector, or None; ``copy``: a bias towards continuing the text
    the output copies (:mod:`perfrl.inference.copy_bias`), or None."""

    forced_prefix: tuple[int, ...] = ()
    allowed: np.ndarray | None = None
    repetition: RepetitionStop | None = None
    guard: RowGuard | None = None
    copy: CopySource | None = None


#: Extra candidates a top-k stepper is asked for when a mask may remove some of its best.
_ALLOWED_MARGIN = 16
#: How many of a row's best tokens the guard looks at when its first choice is refused.
_GUARD_CANDIDATES = 64
#: ... and when none of those is accepted either.
_GUARD_FALLBACK_CANDIDATES = 2048


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
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """One sampled token id per row from each row's best candidates ``top = (scores, ids)``
    (best first, at least ``top_k`` of them, one more when ``forbidden`` is given): the same
    distribution :func:`sample_tokens` draws from, without a pass over the vocabulary.

    Tokens that are ``forbidden`` or outside the ``allowed`` mask drop out wherever they are;
    the best ``top_k`` of the rest remain (fewer when fewer are left; the caller makes sure
    at least one is, see :func:`_enough_allowed`)."""
    scores, ids = top
    ok = ids != forbidden if forbidden is not None else None
    if allowed is not None:
        ok = allowed[ids] if ok is None else ok & allowed[ids]
    if ok is not None and not ok.all():
        keep = np.argsort(~ok, axis=-1, kind="stable")
        scores = np.where(np.take_along_axis(ok, keep, axis=-1),
                          np.take_along_axis(scores, keep, axis=-1), -np.inf)
        ids = np.take_along_axis(ids, keep, axis=-1)
    scores, ids = scores[:, : params.top_k], ids[:, : params.top_k]
    probs = _nucleus(scores.astype(np.float64) / params.temperature, params)
    return ids[np.arange(len(ids)), _draw(probs, rng)]


def _enough_allowed(ids: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Per row: whether at least ``k`` of the stepper's candidates ``ids`` are allowed."""
    return allowed[ids].sum(axis=-1) >= k


def _masked(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``scores`` with the tokens outside ``allowed`` made impossible (a new array)."""
    return np.where(allowed, scores, np.float32(-np.inf))


def _forced_prefix(
    stepper: Stepper, prefix: Sequence[int], n: int, normalised: bool
) -> tuple[np.ndarray, float]:
    """Feed ``prefix`` on one row, then copy that row's cache to ``n`` rows.

    Returns the scores of the step after the prefix, ``(n, V)``, and the prefix's summed
    log-probability. Every row would compute the same thing: one row costs less."""
    logits = stepper.start(1)
    total = 0.0
    for index, token in enumerate(prefix):
        row = logits[0]
        if normalised:
            total += float(row[token])
        else:
            total += float(log_softmax(row[None, :])[0, token])
        if index == len(prefix) - 1:
            logits = stepper.advance(np.full(n, token, dtype=np.int64), np.zeros(n, dtype=np.intp))
        else:
            logits = stepper.advance(np.array([token], dtype=np.int64), None)
    return logits, total


def _guarded_choice(
    row_scores: np.ndarray,
    accepts,
    greedy: bool,
    params: SamplingParams,
    rng: np.random.Generator,
) -> int | None:
    """The token a row takes when its first choice was not accepted: among the row's
    :data:`_GUARD_CANDIDATES` best (``row_scores``: masked and eos-forbidden as the row's
    choice was), the best one ``accepts`` takes (greedy), or one drawn from those it takes
    (the first ``top_k`` of them, then temperature and top-p); when none of them is accepted,
    the best accepted token among the row's :data:`_GUARD_FALLBACK_CANDIDATES` best; None
    when none of those is either (the row is past saving: see :func:`sample_or_greedy`)."""
    count = min(_GUARD_CANDIDATES, row_scores.shape[-1])
    best = np.argpartition(-row_scores, count - 1)[:count]
    best = best[np.argsort(-row_scores[best], kind="stable")]
    accepted = []
    limit = 1 if greedy else (params.top_k if params.top_k > 0 else count)
    for token in best:
        if np.isfinite(row_scores[token]) and accepts(int(token)):
            accepted.append(int(token))
            if len(accepted) >= limit:
                break
    if not accepted:
        # A row can corner itself (a word only one rare token completes): the best accepted
        # token among many more of the row's best then (a bounded cost, paid rarely).
        wider = min(_GUARD_FALLBACK_CANDIDATES, row_scores.shape[-1])
        more = np.argpartition(-row_scores, wider - 1)[:wider]
        for token in more[np.argsort(-row_scores[more], kind="stable")][count:]:
            if not np.isfinite(row_scores[token]):
                break
            if accepts(int(token)):
                return int(token)
        return None
    if greedy:
        return accepted[0]
    scores = row_scores[accepted].astype(np.float64)[None, :] / params.temperature
    return accepted[int(_draw(_nucleus(scores, params), rng)[0])]


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
    constraints: OutputConstraints | None = None,
) -> list[Decoded]:
    """Decode ``len(greedy)`` rows in one batch; each stops at ``eos_id``, at the length cap,
    (with ``constraints.repetition``) when it loops, or (with ``constraints.guard``) when the
    guard accepts none of its likely next tokens: it then ends as if it had chosen
    ``eos_id``."""
    n = len(greedy)
    if n == 0 or max_new_tokens <= 0:
        return [Decoded([], 0.0, False) for _ in range(n)]
    constraints = constraints or OutputConstraints()
    if constraints.copy is not None:
        stepper = constraints.copy.wrap(stepper)
    allowed = constraints.allowed
    repetition = constraints.repetition
    guard = constraints.guard
    # At least one token is left to choose freely.
    prefix = list(constraints.forced_prefix[: max_new_tokens - 1])
    greedy_mask = np.asarray(greedy, dtype=bool)
    tokens: list[list[int]] = [list(prefix) for _ in range(n)]
    states = [guard.start(prefix) for _ in range(n)] if guard is not None else []
    logprob_sums = np.zeros(n, dtype=np.float64)
    finished = np.zeros(n, dtype=bool)
    looped = np.zeros(n, dtype=bool)
    active = np.arange(n)  # original row index of each row in the current batch
    normalised_scores = gives_log_probs(stepper)
    # A stepper that offers it computes the top-k candidates (one more while the end of
    # sequence is forbidden, which then drops out; some more when a mask may drop some).
    stepper_top_k = 0
    top_stepper: TopKStepper | None = None
    if hasattr(stepper, "top_k") and params.top_k > 0 and not greedy_mask.all():
        top_stepper = cast("TopKStepper", stepper)
        stepper_top_k = params.top_k + (1 if min_new_tokens > 0 else 0)
        stepper_top_k += _ALLOWED_MARGIN if allowed is not None else 0
        top_stepper.top_k = stepper_top_k
    if prefix:
        logits, prefix_logprob = _forced_prefix(stepper, prefix, n, normalised_scores)
        logprob_sums += prefix_logprob
    else:
        logits = stepper.start(n)
    if top_stepper is not None and stepper_top_k >= logits.shape[-1]:
        stepper_top_k = top_stepper.top_k = 0  # top-k keeps the whole vocabulary: nothing to gain
    for step in range(len(prefix), max_new_tokens):
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
        if allowed is not None:
            # Greedy rows whose best token is not allowed take the best allowed one (rare
            # for a model that reads its input: the mask is applied only to those rows).
            bad = np.flatnonzero(~sampled_rows & ~allowed[chosen])
            if bad.size:
                chosen[bad] = np.argmax(_masked(logits[bad], allowed), axis=-1)
        if by_stepper:
            last_top = top_stepper.last_top if top_stepper is not None else None
            assert last_top is not None  # a top-k stepper fills it at every step
            scores, ids = last_top
            rows = np.flatnonzero(sampled_rows)
            forbidden = eos_id if step < min_new_tokens else None
            if allowed is not None:
                # The k best allowed among the stepper's k + margin candidates: top-k of the
                # masked distribution unless more than the margin of the best are masked.
                # Only rows with no allowed candidate at all read the whole (masked) row: a
                # pass over the vocabulary per row and step would double a step's cost.
                enough = _enough_allowed(ids[rows], allowed, 1)
                short = rows[~enough]
                rows = rows[enough]
                if short.size:
                    short_logits = _masked(logits[short], allowed)
                    if forbidden is not None:
                        short_logits[:, eos_id] = -np.inf
                    chosen[short] = sample_tokens(short_logits, params, rng)
            if rows.size:
                chosen[rows] = sample_from_top(
                    (scores[rows], ids[rows]), params, rng, forbidden=forbidden, allowed=allowed
                )
        elif sampled_rows.any():
            sampled_logits = logits[sampled_rows]
            if allowed is not None:
                sampled_logits = _masked(sampled_logits, allowed)
            chosen[sampled_rows] = sample_tokens(sampled_logits, params, rng)
        steer = repetition is not None and repetition.steer and step >= min_new_tokens
        looping = repetition.looping if repetition is not None and steer else None
        if guard is not None or steer:
            for position, row in enumerate(active):
                token = int(chosen[position])
                state = states[row] if guard is not None else None

                def accepts(
                    candidate: int, state=state, row_tokens=tokens[row], looping=looping
                ) -> bool:
                    if guard is not None and not guard.accepts(state, candidate):
                        return False
                    if looping is None:  # not steering
                        return True
                    row_tokens.append(candidate)  # no copy of the row: append, look, undo
                    loops = looping(row_tokens)
                    row_tokens.pop()
                    return not loops

                if not accepts(token):
                    row_scores = logits[position]
                    if allowed is not None:
                        row_scores = _masked(row_scores, allowed)
                    if step < min_new_tokens:
                        row_scores = _forbid(row_scores[None, :], eos_id)[0]
                    choice = _guarded_choice(
                        row_scores, accepts, not sampled_rows[position], params, rng
                    )
                    # A row none of whose likely tokens the guard accepts has gone where no
                    # text that the guard accepts continues it (it could only write on to the
                    # length cap, paying this search at every step): it ends here, as if it
                    # had written the end of sequence; its text so far is judged as any other.
                    token = eos_id if choice is None else choice
                    chosen[position] = token
                if guard is not None:
                    guard.advance(states[row], token)
        logprob_sums[active] += raw[np.arange(len(active)), chosen] - log_norm
        done_now = chosen == eos_id
        for position, (row, token) in enumerate(zip(active, chosen)):
            row_tokens = tokens[row]
            row_tokens.append(int(token))
            # The check runs at every step (its cost is part of every guarded decode); only
            # the stop waits for min_new_tokens.
            if repetition is not None and repetition.looping(row_tokens) and (
                step >= min_new_tokens
            ):
                looped[row] = True
                done_now[position] = True
        finished[active[done_now & (chosen == eos_id)]] = True
        if done_now.all() or step == max_new_tokens - 1:
            break
        keep = np.flatnonzero(~done_now)
        # Shrinking the batch costs one copy of the cache; skipping it when nothing finished
        # keeps the common step copy-free.
        kept_rows = None if keep.size == len(active) else keep
        active = active[keep]
        logits = stepper.advance(chosen[keep].astype(np.int64), kept_rows)
    return [
        Decoded(
            tokens[i],
            float(logprob_sums[i] / max(len(tokens[i]), 1)),
            bool(finished[i]),
            bool(looped[i]),
        )
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
    constraints: OutputConstraints | None = None,
) -> list[Decoded]:
    """Hugging Face's beam search (``early_stopping=False``), one input, best first.

    With ``constraints``: every beam starts with the forced prefix (counted in the length),
    expands only allowed tokens, and a hypothesis that loops is dropped."""
    if num_beams < 1 or not 1 <= num_return <= num_beams:
        raise ValueError(f"need 1 <= num_return ({num_return}) <= num_beams ({num_beams})")
    if max_new_tokens <= 0:
        return [Decoded([], 0.0, False) for _ in range(num_return)]
    constraints = constraints or OutputConstraints()
    if constraints.copy is not None:
        stepper = constraints.copy.wrap(stepper)
    prefix = list(constraints.forced_prefix[: max_new_tokens - 1])
    keep_k = 2 * num_beams  # enough that num_beams can go on even if num_beams pick eos
    running_scores = np.full(num_beams, _MASKED, dtype=np.float32)
    running_scores[0] = 0.0  # all beams start identical: expand only the first
    running_seqs: list[list[int]] = [list(prefix) for _ in range(num_beams)]
    done_scores = np.full(num_beams, _MASKED, dtype=np.float32)
    done_seqs: list[list[int]] = [[] for _ in range(num_beams)]
    done_flags = np.zeros(num_beams, dtype=bool)
    improvable = True
    normalised_scores = gives_log_probs(stepper)
    if prefix:
        logits, prefix_logprob = _forced_prefix(stepper, prefix, num_beams, normalised_scores)
        running_scores[0] = prefix_logprob
    else:
        logits = stepper.start(num_beams)
    vocab = logits.shape[-1]
    # length = generated tokens after this step
    for length in range(len(prefix) + 1, max_new_tokens + 1):
        logp = logits if normalised_scores else log_softmax(logits)
        if length <= min_new_tokens:
            logp = _forbid(logp, eos_id)  # after the softmax, as Hugging Face's processor runs
        if constraints.allowed is not None:
            logp = _masked(logp, constraints.allowed)
        totals = (logp + running_scores[:, None]).reshape(-1)
        top = np.argpartition(-totals, keep_k - 1)[:keep_k]
        top = top[np.argsort(-totals[top], kind="stable")]
        top_scores = totals[top].astype(np.float32)
        top_beams, top_tokens = np.divmod(top, vocab)
        top_seqs = [running_seqs[b] + [int(t)] for b, t in zip(top_beams, top_tokens)]
        hits = (top_tokens == eos_id) | (length >= max_new_tokens)
        dead = np.zeros(len(top_seqs), dtype=bool)
        if constraints.repetition is not None and length > min_new_tokens:
            dead = np.array([constraints.repetition.looping(seq) for seq in top_seqs])
            hits &= ~dead

        # The best num_beams candidates that did not stop go on.
        go_on_scores = top_scores + (hits | dead).astype(np.float32) * _MASKED
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
