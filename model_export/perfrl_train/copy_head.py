"""A T5 that can copy from its input: a pointer-generator head (after See et al., 2017).

Why: the edit model names the right idea and writes the wrong words (``v5.extend(v6)`` for
``v5.extend(_set_one_sided_diff("s0", v1, v2, v3))``): an 11M-parameter decoder trained for an
hour on CPU learns the rows' language far better than it learns to read them (the sessions'
``bench_edit_reading.py`` gap). A copy distribution makes reading a first-class move.

At each step a softmax over ``1 + 2H`` choices, from the decoder's final hidden state ``h``
(``H``: the last decoder layer's cross-attention heads), weighs the vocabulary distribution
and, for each head ``k``, two ways of copying by that head's attention ``a_k`` over the input:
the token *at* the attended position, and the token *after* it::

    p(t) = w_0 softmax(lm_logits)[t] + sum_k w_at,k  sum(a_k[i] for i where input[i] == t)
                                     + sum_k w_next,k sum(a_k[i] for i where input[i+1] == t)

The "after" choice is there because a T5's cross-attention has no position of its own: a
head finds the token just written far more easily (its content) than the one to write next,
and copying what follows it walks along the input (the mean-over-heads, "at"-only head of the
first try looped on one position: ``v1._re_re_re...``). The last position's follower is the
end of sequence.

A caller may rely on:

- :class:`T5WithCopy` being a ``T5ForConditionalGeneration`` whose ``logits`` are the mixed
  distribution's log-probabilities (so ``softmax(logits)`` is that distribution and
  ``generate`` and RRHF's scoring see it); given ``labels`` it returns only the ``loss``, the
  mean negative log-likelihood of the labels under that distribution (``logits`` None: the
  loss needs the labels' probabilities only); its config says ``perfrl_copy_head`` (the
  head's version, :data:`HEAD_VERSION`; ``save_pretrained`` writes it, :func:`load_t5` reads
  it back as this class and refuses another version);
- :func:`with_copy_head` turning a plain T5 into one whose outputs start close to the plain
  model's (:data:`INITIAL_VOCABULARY_BIAS`: ~87% vocabulary);
- the ONNX step graph reproducing the head (``step_decoder.py``: it reads
  :data:`GATE_WEIGHT` / :data:`GATE_BIAS` and the input ids as ``source_ids``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import cast

import torch
from transformers import T5Config, T5ForConditionalGeneration
from transformers.modeling_outputs import Seq2SeqLMOutput

from .sft import LABEL_PAD

#: The config attribute that marks a checkpoint with the copy head; its value the version.
CONFIG_FLAG = "perfrl_copy_head"
HEAD_VERSION = "heads-at-next-v1"
#: State-dict names of the gate (the step graph reads them).
GATE_WEIGHT = "copy_gate.weight"
GATE_BIAS = "copy_gate.bias"
#: The vocabulary's starting logit against 0 for each copy choice: e^4 / (e^4 + 8) ~ 0.87
#: with 4 heads, so a new head starts near the plain model, and learns to copy.
INITIAL_VOCABULARY_BIAS = 4.0
#: The floor of a copied token's probability before its log (float32 can underflow to 0);
#: the step graph uses the same floor, so both give the same log-probabilities.
PROBABILITY_FLOOR = 1e-30


def following_ids(source_ids: torch.Tensor, end_id: int) -> torch.Tensor:
    """``(B, L)``: the token after each position (the last one's: ``end_id``)."""
    end = source_ids.new_full((source_ids.size(0), 1), end_id)
    return torch.cat([source_ids[:, 1:], end], 1)


def copy_masses(choices: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """``(B, T, 2L)``: each input position's copy probability as the token at it (first L) and
    as the token after it (last L). ``choices`` ``(B, T, 1 + 2H)`` (softmaxed),
    ``attention`` ``(B, H, T, L)``."""
    heads = attention.size(1)
    attention = attention.float().transpose(1, 2)  # (B, T, H, L)
    at = torch.einsum("bth,bthl->btl", choices[..., 1:1 + heads], attention)
    after = torch.einsum("bth,bthl->btl", choices[..., 1 + heads:], attention)
    return torch.cat([at, after], -1)


def mix_distributions(lm_logits: torch.Tensor, choices: torch.Tensor, masses: torch.Tensor,
                      copy_ids: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the mixed distribution.

    ``lm_logits`` ``(B, T, V)``; ``choices`` ``(B, T, 1 + 2H)``; ``masses`` ``(B, T, 2L)``
    (:func:`copy_masses`); ``copy_ids`` ``(B, 2L)``: the input's ids, then their followers. A
    token the input lacks gets ``log w_0 + log_softmax``; one it has, the log of the sum (what
    the step graph computes the same way: only the input's tokens need the sum)."""
    vocabulary = torch.log_softmax(lm_logits.float(), -1) + torch.log(choices[..., :1])
    index = copy_ids.unsqueeze(1).expand(-1, masses.size(1), -1)
    copied = torch.zeros_like(vocabulary).scatter_add(2, index, masses)
    both = torch.log((vocabulary.exp() + copied).clamp_min(PROBABILITY_FLOOR))
    return torch.where(copied > 0, both, vocabulary)


def label_nll(lm_logits: torch.Tensor, choices: torch.Tensor, masses: torch.Tensor,
              copy_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``labels`` ``(B, T)`` (``-100``: ignored) under the
    mixed distribution, from the labels' own probabilities: no tensor over the vocabulary
    besides the log-sum-exp the plain cross-entropy needs too (training ran at less than half
    the plain model's speed when it built the whole mixture)."""
    logits = lm_logits.float()
    known = labels != LABEL_PAD
    safe = labels.clamp(min=0)
    generated = torch.exp(logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
                          - torch.logsumexp(logits, -1))
    same = safe.unsqueeze(-1) == copy_ids.unsqueeze(1)  # (B, T, 2L)
    copied = (masses * same).sum(-1)
    mixed = choices[..., 0] * generated + copied
    nll = -torch.log(mixed.clamp_min(PROBABILITY_FLOOR))
    return (nll * known).sum() / known.sum().clamp(min=1)


class T5WithCopy(T5ForConditionalGeneration):
    """T5 plus the copy head (see the module docstring)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        if config.eos_token_id is None:
            raise ValueError("a copy head needs the model's eos_token_id: the last input "
                             "position's follower is the end of sequence")
        self._end_id: int = config.eos_token_id
        self.copy_gate = torch.nn.Linear(config.d_model, 1 + 2 * config.num_heads)
        setattr(self.config, CONFIG_FLAG, HEAD_VERSION)
        # Inputs of the last generate() call: generation passes the encoder's outputs, not
        # the input ids, to forward after the first step, and the copy needs the ids.
        self._generation_source: torch.Tensor | None = None

    def _init_weights(self, module) -> None:
        # T5's own initialiser leaves a bare Linear alone: a head missing from a checkpoint
        # would keep whatever memory it was built in.
        gate = getattr(self, "copy_gate", None)
        if gate is not None and module is gate:
            _initialise_gate(module)
            return
        super()._init_weights(module)

    def generate(self, input_ids=None, **kwargs):  # type: ignore[override]
        self._generation_source = input_ids
        try:
            return super().generate(input_ids=input_ids, **kwargs)
        finally:
            self._generation_source = None

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                labels=None, return_dict=None, **kwargs):
        source = input_ids if input_ids is not None else self._generation_source
        if source is None:
            raise ValueError("the copy head needs the input ids: pass input_ids (or call "
                             "generate with them)")
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self._shift_right(labels)
        kwargs.pop("output_attentions", None)
        kwargs.pop("output_hidden_states", None)
        out = super().forward(
            input_ids=input_ids, attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids, output_attentions=True,
            output_hidden_states=True, return_dict=True, **kwargs,
        )
        attention = out.cross_attentions[-1]  # (rows, heads, target, source)
        if source.size(0) != attention.size(0):
            # generate() repeats each prompt for its samples / beams, row by row.
            source = source.repeat_interleave(attention.size(0) // source.size(0), 0)
        copy_ids = torch.cat([source, following_ids(source, self._end_id)], 1)
        choices = torch.softmax(self.copy_gate(out.decoder_hidden_states[-1].float()), -1)
        masses = copy_masses(choices, attention)
        if labels is not None:
            loss = label_nll(out.logits, choices, masses, copy_ids, labels)
            return Seq2SeqLMOutput(loss=cast(torch.FloatTensor, loss),
                                   past_key_values=out.past_key_values,
                                   encoder_last_hidden_state=out.encoder_last_hidden_state)
        return Seq2SeqLMOutput(
            logits=cast(torch.FloatTensor,
                        mix_distributions(out.logits, choices, masses, copy_ids)),
            past_key_values=out.past_key_values,
            encoder_last_hidden_state=out.encoder_last_hidden_state,
        )


def _initialise_gate(gate: torch.nn.Linear) -> None:
    gate.weight.data.zero_()
    gate.bias.data.zero_()
    gate.bias.data[0] = INITIAL_VOCABULARY_BIAS


def has_copy_head(config) -> bool:
    return bool(getattr(config, CONFIG_FLAG, False))


def _check_version(config, path) -> None:
    version = getattr(config, CONFIG_FLAG, None)
    if version and version != HEAD_VERSION:
        raise ValueError(f"{path} has a copy head of another version ({version!r}; this code "
                         f"runs {HEAD_VERSION!r}): train it again with --copy-head")


def with_copy_head(model: T5ForConditionalGeneration) -> T5WithCopy:
    """``model`` with a new copy head (its weights shared, not copied); a model that has one
    is returned as it is."""
    if isinstance(model, T5WithCopy):
        return model
    copied = T5WithCopy(copy.deepcopy(model.config))
    missing, unexpected = copied.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) - {GATE_WEIGHT, GATE_BIAS}:
        raise ValueError(f"cannot add a copy head: missing {missing}, unexpected {unexpected}")
    _initialise_gate(copied.copy_gate)
    copied.generation_config = model.generation_config
    return copied


def load_t5(path: Path | str):
    """A saved T5 as the class its config names: :class:`T5WithCopy` for a checkpoint with the
    copy head, ``T5ForConditionalGeneration`` otherwise."""
    config = T5Config.from_pretrained(path)
    _check_version(config, path)
    cls = T5WithCopy if has_copy_head(config) else T5ForConditionalGeneration
    return cls.from_pretrained(path)
