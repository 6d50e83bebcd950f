"""A T5 that can copy from its input: a pointer-generator head (See et al., 2017).

Why: the edit model names the right idea and writes the wrong words (``v5.extend(v6)`` for
``v5.extend(_set_one_sided_diff("s0", v1, v2, v3))``): an 11M-parameter decoder trained for an
hour on CPU learns the rows' language far better than it learns to read them (the sessions'
``bench_edit_reading.py`` gap). A copy distribution makes reading a first-class move: at each
step a gate ``g = sigmoid(w . h + b)`` over the decoder's final hidden state ``h`` mixes the
vocabulary distribution with the last decoder layer's cross-attention (mean over heads)
scattered onto the input's token ids::

    p(t) = g * softmax(lm_logits)[t] + (1 - g) * sum(attention[i] for i where input[i] == t)

A caller may rely on:

- :class:`T5WithCopy` being a ``T5ForConditionalGeneration`` whose ``logits`` are the mixed
  distribution's log-probabilities (so ``softmax(logits)`` is that distribution and
  ``generate`` and RRHF's scoring see it); given ``labels`` it returns only the ``loss``, the
  mean negative log-likelihood of the labels under that distribution (``logits`` None: the
  loss needs the labels' probabilities only); its config says ``perfrl_copy_head: true``
  (``save_pretrained`` writes it; :func:`load_t5` reads it back as this class);
- :func:`with_copy_head` turning a plain T5 into one whose outputs start close to the plain
  model's (the gate's bias starts at :data:`INITIAL_GATE_BIAS`: ~95% vocabulary);
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

#: The config attribute that marks a checkpoint with the copy head.
CONFIG_FLAG = "perfrl_copy_head"
#: State-dict names of the gate (the step graph reads them).
GATE_WEIGHT = "copy_gate.weight"
GATE_BIAS = "copy_gate.bias"
#: sigmoid(3) ~ 0.95: a new head starts as (almost) the plain model, and learns to copy.
INITIAL_GATE_BIAS = 3.0
#: The floor of a copied token's probability before its log (float32 can underflow to 0);
#: the step graph uses the same floor, so both give the same log-probabilities.
PROBABILITY_FLOOR = 1e-30
_LABEL_PAD = -100


def mix_distributions(lm_logits: torch.Tensor, gate: torch.Tensor, attention: torch.Tensor,
                      source_ids: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the mixed distribution.

    ``lm_logits`` ``(B, T, V)``; ``gate`` ``(B, T, 1)`` in (0, 1); ``attention`` ``(B, T, L)``
    (each row sums to 1 over the input); ``source_ids`` ``(B, L)``. A token the input lacks
    gets ``log g + log_softmax``; one it has, the log of both terms' sum (what the step graph
    computes the same way: only the input's tokens need the sum)."""
    vocabulary = torch.log_softmax(lm_logits.float(), -1) + torch.log(gate)
    index = source_ids.unsqueeze(1).expand(-1, attention.size(1), -1)
    copied = torch.zeros_like(vocabulary).scatter_add(2, index, attention.float())
    both = torch.log((vocabulary.exp() + (1 - gate) * copied).clamp_min(PROBABILITY_FLOOR))
    return torch.where(copied > 0, both, vocabulary)


class T5WithCopy(T5ForConditionalGeneration):
    """T5 plus the copy head (see the module docstring)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.copy_gate = torch.nn.Linear(config.d_model, 1)
        setattr(self.config, CONFIG_FLAG, True)
        # Inputs of the last generate() call: generation passes the encoder's outputs, not
        # the input ids, to forward after the first step, and the copy needs the ids.
        self._generation_source: torch.Tensor | None = None

    def _init_weights(self, module) -> None:
        # T5's own initialiser leaves a bare Linear alone: a head missing from a checkpoint
        # would keep whatever memory it was built in.
        gate = getattr(self, "copy_gate", None)
        if gate is not None and module is gate:
            module.weight.data.zero_()
            module.bias.data.fill_(INITIAL_GATE_BIAS)
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
        attention = out.cross_attentions[-1].mean(1)  # (rows, target, source)
        if source.size(0) != attention.size(0):
            # generate() repeats each prompt for its samples / beams, row by row.
            source = source.repeat_interleave(attention.size(0) // source.size(0), 0)
        gate = torch.sigmoid(self.copy_gate(out.decoder_hidden_states[-1].float()))
        if labels is not None:
            loss = label_nll(out.logits, gate, attention, source, labels)
            return Seq2SeqLMOutput(loss=cast(torch.FloatTensor, loss),
                                   past_key_values=out.past_key_values,
                                   encoder_last_hidden_state=out.encoder_last_hidden_state)
        return Seq2SeqLMOutput(
            logits=cast(torch.FloatTensor,
                        mix_distributions(out.logits, gate, attention, source)),
            past_key_values=out.past_key_values,
            encoder_last_hidden_state=out.encoder_last_hidden_state,
        )


def label_nll(lm_logits: torch.Tensor, gate: torch.Tensor, attention: torch.Tensor,
              source_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``labels`` ``(B, T)`` (``-100``: ignored) under the
    mixed distribution, from the labels' own probabilities: no tensor over the vocabulary
    besides the log-sum-exp the plain cross-entropy needs too (training ran at less than half
    the plain model's speed when it built the whole mixture)."""
    logits = lm_logits.float()
    known = labels != _LABEL_PAD
    safe = labels.clamp(min=0)
    generated = torch.exp(logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
                          - torch.logsumexp(logits, -1))
    same = safe.unsqueeze(-1) == source_ids.unsqueeze(1)  # (B, T, L)
    copied = (attention.float() * same).sum(-1)
    gate = gate.squeeze(-1)
    mixed = gate * generated + (1 - gate) * copied
    nll = -torch.log(mixed.clamp_min(PROBABILITY_FLOOR))
    return (nll * known).sum() / known.sum().clamp(min=1)


def has_copy_head(config) -> bool:
    return bool(getattr(config, CONFIG_FLAG, False))


def with_copy_head(model: T5ForConditionalGeneration) -> T5WithCopy:
    """``model`` with a new copy head (its weights shared, not copied); a model that has one
    is returned as it is."""
    if isinstance(model, T5WithCopy):
        return model
    copied = T5WithCopy(copy.deepcopy(model.config))
    missing, unexpected = copied.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) - {GATE_WEIGHT, GATE_BIAS}:
        raise ValueError(f"cannot add a copy head: missing {missing}, unexpected {unexpected}")
    copied.copy_gate.weight.data.zero_()
    copied.copy_gate.bias.data.fill_(INITIAL_GATE_BIAS)
    copied.generation_config = model.generation_config
    return copied


def load_t5(path: Path | str):
    """A saved T5 as the class its config names: :class:`T5WithCopy` for a checkpoint with the
    copy head, ``T5ForConditionalGeneration`` otherwise."""
    config = T5Config.from_pretrained(path)
    cls = T5WithCopy if has_copy_head(config) else T5ForConditionalGeneration
    return cls.from_pretrained(path)
