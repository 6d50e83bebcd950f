"""A copy bias for decoding: favour the token that continues the text being copied.

A rewrite is mostly its input written out again with a few changes, and a small encoder-decoder
copies badly: T5's cross-attention has no position signal, so after ``v3 = v1[`` it has no
sure way to know which ``v1[`` of the input it is at (the fourth session measured it: given the
right lines to rewrite, the model wrote lines of its training targets, not the input's). Where
the model is unsure, the input itself knows what comes next. :class:`CopySource` indexes the
token sequence the output copies from (the function as the model reads it); at every step,
the longest run of a row's last tokens that also occurs in that sequence (up to
``max_match`` tokens) names the tokens that followed it there, and their scores get
``bonus`` added. The model keeps the last word: a change it is confident of (``set(`` where
the input has ``[``) outweighs the bonus, and after it the row picks up copying again as
soon as its tail matches the input once more. This is prompt lookup, used as a bias rather
than as a draft to verify.

A caller may rely on:

- :meth:`CopySource.wrap` returning a :class:`~perfrl.inference.decoding.Stepper` that gives
  the wrapped one's scores plus the bias (log-probabilities renormalised when the wrapped
  stepper gives log-probabilities; its ``top_k`` shortcut kept, the best tokens chosen under
  the bias), so each decoding strategy draws from, and scores against, the biased
  distribution;
- the bias being a pure function of each row's tokens so far (forced prefix included) and
  the source: the same seed gives the same sequences;
- rows with no matching tail (or a tail shorter than ``min_match``) getting their scores
  unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from perfrl.inference.decoding import Stepper, gives_log_probs


class CopySource:
    """The token sequence an output copies from, indexed by every run of ``min_match`` ..
    ``max_match`` tokens: run -> the distinct tokens that follow it. With ``end_token`` (the
    end of sequence), the source's last run is followed by it: a row that has copied the
    whole source is pushed to stop, not to start copying again from an earlier line."""

    def __init__(
        self,
        source_ids: Sequence[int],
        bonus: float,
        max_match: int = 8,
        min_match: int = 1,
        end_token: int | None = None,
    ) -> None:
        if max_match < min_match or min_match < 1:
            raise ValueError(f"need 1 <= min_match <= max_match, got {min_match}, {max_match}")
        self.bonus = np.float32(bonus)
        self.max_match = max_match
        self.min_match = min_match
        follow: dict[tuple[int, ...], set[int]] = {}
        ids = [int(token) for token in source_ids]
        #: The tokens copied from (without ``end_token``).
        self.source_ids = tuple(ids)
        if end_token is not None:  # where the source ends, so does a copy of it
            ids.append(int(end_token))
        for end in range(1, len(ids)):
            for length in range(min_match, min(max_match, end) + 1):
                follow.setdefault(tuple(ids[end - length : end]), set()).add(ids[end])
        self._follow = {
            run: np.array(sorted(nexts), dtype=np.intp) for run, nexts in follow.items()
        }

    def next_tokens(self, tail: Sequence[int]) -> np.ndarray | None:
        """The tokens that follow the longest run of ``tail``'s last tokens found in the
        source, or None when none of ``min_match`` tokens or more is found."""
        for length in range(min(self.max_match, len(tail)), self.min_match - 1, -1):
            found = self._follow.get(tuple(tail[len(tail) - length :]))
            if found is not None:
                return found
        return None

    def wrap(self, stepper: Stepper) -> Stepper:
        """``stepper`` with this bias added to its scores (see the module doc)."""
        return _CopyBiasedStepper(stepper, self)


class _CopyBiasedStepper:
    """Tracks each row's tokens through the strategy's reorderings and biases its scores.

    Keeps what makes the wrapped stepper cheap: log-probabilities stay normalised (the bias
    moves a row's mass by a factor computed from the favoured tokens alone, so no pass over
    the vocabulary renormalises it), and a stepper that computes its best tokens itself
    (``top_k``) still does: the best of those and of the favoured tokens, rescored, are the
    row's best under the bias."""

    def __init__(self, inner: Stepper, source: CopySource) -> None:
        self._inner = inner
        self._source = source
        self._rows: list[list[int]] = []
        self.log_probs = gives_log_probs(inner)
        if hasattr(inner, "top_k"):  # only then is this a top-k stepper too (see Stepper)
            self.top_k = 0
            self.last_top: tuple[np.ndarray, np.ndarray] | None = None

    def start(self, n: int) -> np.ndarray:
        self._rows = [[] for _ in range(n)]
        self._pass_top_k()
        return self._biased(self._inner.start(n))

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if rows is not None:
            self._rows = [list(self._rows[int(row)]) for row in rows]
        for history, token in zip(self._rows, tokens):
            history.append(int(token))
        self._pass_top_k()
        return self._biased(self._inner.advance(tokens, rows))

    def _pass_top_k(self) -> None:
        # The strategy sets top_k on this wrapper; the wrapped stepper computes it.
        if hasattr(self, "top_k"):
            cast(Any, self._inner).top_k = self.top_k

    def _biased(self, scores: np.ndarray) -> np.ndarray:
        scores = np.array(scores, dtype=np.float32)  # a copy: the inner stepper's stays intact
        bonus = float(self._source.bonus)
        inner_top = getattr(self._inner, "last_top", None) if hasattr(self, "top_k") else None
        top = None if inner_top is None else (inner_top[0].copy(), inner_top[1].copy())
        for position, history in enumerate(self._rows):
            following = self._source.next_tokens(history)
            if following is None:
                continue
            row = scores[position]
            shift = 0.0
            if self.log_probs:
                # sum(exp(row + bias)) = 1 + (e^bonus - 1) * (mass of the favoured tokens)
                mass = float(np.exp(row[following].astype(np.float64)).sum())
                shift = math.log1p(math.expm1(bonus) * mass)
            row[following] += np.float32(bonus)
            if shift:
                row -= np.float32(shift)
            if top is not None:
                candidates = np.union1d(top[1][position], following)
                candidate_scores = row[candidates]
                best = np.argsort(-candidate_scores, kind="stable")[: top[1].shape[1]]
                top[0][position] = candidate_scores[best]
                top[1][position] = candidates[best]
        if hasattr(self, "top_k"):
            self.last_top = top
        return scores
