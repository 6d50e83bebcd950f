"""Model construction: a CodeT5-style T5 from a base checkpoint or from a named size.

A caller may rely on:

- :data:`MODEL_SIZES` holding ``tiny`` (tests, seconds) and ``small`` (the shipped model:
  d_model 256, d_ff 1024, 4+4 layers, 4 heads, 16k vocab, about 11M parameters);
- :func:`build_model_and_tokenizer` returning a T5ForConditionalGeneration whose
  ``config.vocab_size`` equals the tokenizer's length and whose pad / eos / decoder-start ids
  are CodeT5's (0 / 2 / 0);
- ``--base`` accepting a local directory written by ``save_pretrained`` (offline) or a hub
  name such as ``Salesforce/codet5-small`` (online users only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import PerfRLError
from .tokenizer import (
    EOS_ID,
    PAD_ID,
    TokenizerRecipe,
    load_pretrained_tokenizer,
    train_code_tokenizer,
)


class ModelBuildError(PerfRLError):
    """The requested base model or size cannot be built."""


@dataclass(frozen=True)
class ModelSize:
    d_model: int
    d_ff: int
    num_layers: int
    num_decoder_layers: int
    num_heads: int
    vocab_size: int
    dropout_rate: float = 0.1

    @property
    def d_kv(self) -> int:
        return self.d_model // self.num_heads


MODEL_SIZES: dict[str, ModelSize] = {
    "tiny": ModelSize(d_model=96, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
                      vocab_size=4000, dropout_rate=0.0),
    "small": ModelSize(d_model=256, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=4,
                       vocab_size=16000),
    # For an accelerator (scripts/device_train.sh): about 27M parameters, so that its weights
    # in fp16 (about 54 MB) come back within the 64 MiB a device run may return.
    "medium": ModelSize(d_model=384, d_ff=1536, num_layers=5, num_decoder_layers=5,
                        num_heads=6, vocab_size=16000),
}


def t5_config_for(size: ModelSize, vocab_size: int):
    """A T5 v1.0 config (ReLU FFN, tied embeddings, like CodeT5) with CodeT5's special ids."""
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size,
        d_model=size.d_model,
        d_kv=size.d_kv,
        d_ff=size.d_ff,
        num_layers=size.num_layers,
        num_decoder_layers=size.num_decoder_layers,
        num_heads=size.num_heads,
        dropout_rate=size.dropout_rate,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=PAD_ID,
    )


def build_model_and_tokenizer(base: str | None = None, from_config: str | None = None,
                              tokenizer_texts: Sequence[str] = (),
                              stdlib_dir: Path | None = None,
                              max_stdlib_files: int | None = None,
                              cache_dir: Path | None = None, seed: int = 0,
                              tokenizer: str | None = None, log=print):
    """Return ``(model, tokenizer, provenance)``; exactly one of ``base`` / ``from_config``.
    With ``from_config``, ``tokenizer`` (a directory or hub name) is used as it is instead of
    training one (the shipped model's, say: the same tokens, and no minutes spent training a
    tokenizer on a lent accelerator).

    ``provenance`` is a JSON-able dict saying where the weights and tokenizer came from.
    """
    import torch
    from transformers import T5ForConditionalGeneration

    from .copy_head import load_t5

    if (base is None) == (from_config is None):
        raise ModelBuildError("give exactly one of --base (checkpoint dir or hub name) and "
                              f"--from-config ({' | '.join(MODEL_SIZES)})")
    if base is not None and tokenizer is not None:
        raise ModelBuildError("--tokenizer goes with --from-config: a --base checkpoint brings "
                              "its own tokenizer")
    if base is not None:
        tok = load_pretrained_tokenizer(base)
        try:
            model = load_t5(base)
        except (OSError, ValueError) as exc:
            raise ModelBuildError(f"cannot load a T5 model from {base!r}: {exc}") from exc
        if model.config.vocab_size < len(tok):
            model.resize_token_embeddings(len(tok))
        return model, tok, {"base": str(base)}
    if from_config not in MODEL_SIZES:
        raise ModelBuildError(f"unknown size {from_config!r}; choose one of {sorted(MODEL_SIZES)}")
    size = MODEL_SIZES[from_config]
    made: dict[str, Any]
    if tokenizer is not None:
        tok = load_pretrained_tokenizer(tokenizer)
        made = {"from": str(tokenizer)}
    else:
        recipe = TokenizerRecipe(vocab_size=size.vocab_size, stdlib_dir=stdlib_dir,
                                 max_stdlib_files=max_stdlib_files)
        tok = train_code_tokenizer(recipe, list(tokenizer_texts), cache_dir=cache_dir, log=log)
        made = {**asdict(recipe), "stdlib_dir": str(recipe.stdlib_dir)}
    torch.manual_seed(seed)  # the initial weights are part of what the seed reproduces
    model = T5ForConditionalGeneration(t5_config_for(size, len(tok)))
    provenance = {"from_config": from_config, "size": asdict(size), "tokenizer": made}
    return model, tok, provenance


def count_parameters(model) -> int:
    """Unique parameters (the tied embedding counted once)."""
    return sum(p.numel() for p in model.parameters())
