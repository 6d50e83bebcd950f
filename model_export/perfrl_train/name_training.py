"""Two ways of making supervised training about the names a rewrite copies.

The twelfth session found that the models do not read which name a line is about: they write
the placeholder number that usually sits there (``model_export/README.md``). A fixed renaming
of 71% of the rows did not teach reading in 1,300 steps; the model learnt each renamed row's
output like any other row's. Here:

- **renamed afresh at every draw** (``perfrl-train sft --shuffle-names SHARE``): each training
  row has ``variants`` renamings (its input's placeholders renumbered by a random permutation
  among themselves, on both sides: :func:`perfrl_train.data.shuffle_placeholders.shuffled_row`),
  and each time the row is drawn, with probability ``SHARE`` one of them is trained on instead,
  so no fixed numbering of a row can be learnt as its output;
- **the names weigh more** (``--name-loss-weight W``): the target tokens that say which
  placeholder a name is (the digits after ``v``: the tokenizer writes ``v12`` as ``v`` + ``12``)
  count ``W`` times in the cross-entropy, so that getting a name wrong costs more than a
  bracket.

A caller may rely on: :func:`renamed_variants` keeping every example's id and row fields but
``slow``/``fast`` (an example it cannot rename stays as it was), reproducibly for a seed;
:func:`name_token_weights` giving one weight per target id, ``weight`` exactly on the digit
tokens that follow a ``v`` token and 1 elsewhere; :func:`weighted_token_loss` equal to the
plain mean cross-entropy when every weight is 1.
"""

from __future__ import annotations

import random
import re

from .data.shuffle_placeholders import shuffled_row
from .examples import Example

_DIGITS = re.compile(r"[0-9]+")
#: The tokens that open a placeholder name (``v`` after a bracket, ``Ġv`` after a space).
_PLACEHOLDER_OPENERS = ("v", "\u0120v")


def renamed_variants(examples: list[Example], variants: int, seed: int) -> list[list[Example]]:
    """``variants`` renamed copies of ``examples`` (one list per variant, aligned with
    ``examples``), each example renumbered by a permutation of its own."""
    rng = random.Random(seed)
    out = []
    for _ in range(variants):
        renamed = []
        for example in examples:
            row = shuffled_row({**example.row, "slow": example.slow, "fast": example.fast}, rng)
            renamed.append(example if row is None else
                           Example(id=example.id, slow=row["slow"], fast=row["fast"], row=row))
        out.append(renamed)
    return out


def name_token_ids(tokenizer) -> tuple[frozenset[int], frozenset[int]]:
    """(ids of the tokens that open a placeholder, ids of the all-digit tokens)."""
    vocabulary = tokenizer.get_vocab()
    openers = frozenset(vocabulary[t] for t in _PLACEHOLDER_OPENERS if t in vocabulary)
    digits = frozenset(i for token, i in vocabulary.items() if _DIGITS.fullmatch(token))
    return openers, digits


def name_token_weights(target: list[int], openers: frozenset[int], digits: frozenset[int],
                       weight: float) -> list[float]:
    """One loss weight per id of ``target``: ``weight`` on a digit token right after a
    placeholder opener, 1.0 elsewhere."""
    return [weight if i > 0 and token in digits and target[i - 1] in openers else 1.0
            for i, token in enumerate(target)]


def weighted_token_loss(logits, labels, weights):
    """The cross-entropy of ``logits`` against ``labels`` (-100: ignored), each token's term
    times its weight, divided by the weights' sum over the tokens that count."""
    import torch.nn.functional as F

    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                labels.reshape(-1), ignore_index=-100, reduction="none")
    counted = (labels.reshape(-1) != -100).float()
    w = weights.reshape(-1) * counted
    return (per_token * w).sum() / w.sum().clamp_min(1e-9)
