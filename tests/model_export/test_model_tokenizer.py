"""The trained byte-level BPE: CodeT5 ids, AutoTokenizer == tokenizer.json, cache, model sizes."""

from __future__ import annotations

import time

import pytest

from tests.conftest import require_module

require_module("transformers")

from perfrl_train.modeling import MODEL_SIZES, build_model_and_tokenizer, t5_config_for
from perfrl_train.tokenizer import (
    SPECIAL_TOKENS,
    TokenizerError,
    TokenizerRecipe,
    check_special_ids,
    check_tokenizer_dir,
    train_code_tokenizer,
)

RECIPE = TokenizerRecipe(vocab_size=600, max_stdlib_files=20)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tok-cache")


def test_special_ids_and_plain_tokenizer_agree(cache):
    tok = train_code_tokenizer(RECIPE, ["def f(x):\n    return x\n"], cache_dir=cache,
                               log=lambda *_: None)
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert len(tok) == 600
    ids = tok("def g(a, b):\n    return a + b\n")["input_ids"]
    assert ids[0] == 1 and ids[-1] == 2
    entry = next((cache / "tokenizers").iterdir())
    check_tokenizer_dir(entry)  # AutoTokenizer and tokenizers.Tokenizer give the same ids

    from tokenizers import Tokenizer

    plain = Tokenizer.from_file(str(entry / "tokenizer.json"))
    text = "for i in range(10):\n\tprint(i, 'é')\n"
    assert plain.encode(text).ids == tok(text)["input_ids"]
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_cache_hit_is_fast_and_key_depends_on_corpus(cache):
    train_code_tokenizer(RECIPE, ["x = 1\n"], cache_dir=cache, log=lambda *_: None)
    started = time.perf_counter()
    train_code_tokenizer(RECIPE, ["x = 1\n"], cache_dir=cache, log=lambda *_: None)
    assert time.perf_counter() - started < 3.0
    before = {p.name for p in (cache / "tokenizers").iterdir()}
    train_code_tokenizer(RECIPE, ["y = 2\n"], cache_dir=cache, log=lambda *_: None)
    after = {p.name for p in (cache / "tokenizers").iterdir()}
    assert len(after - before) == 1


def test_wrong_special_ids_are_rejected():
    class Fake:
        pad_token_id, bos_token_id, eos_token_id, unk_token_id = 1, 0, 2, 3

    with pytest.raises(TokenizerError, match="pad_token_id"):
        check_special_ids(Fake())


def test_small_size_matches_the_documented_shape():
    size = MODEL_SIZES["small"]
    config = t5_config_for(size, 16000)
    assert (config.d_model, config.d_ff, config.num_layers, config.num_decoder_layers,
            config.num_heads, config.d_kv) == (256, 1024, 4, 4, 4, 64)
    assert (config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (0, 2, 0)
    from transformers import T5ForConditionalGeneration

    n = sum(p.numel() for p in T5ForConditionalGeneration(config).parameters())
    assert 11.0e6 < n < 11.8e6  # ML.md: 11.4M


def test_base_directory_round_trip(cache, tmp_path):
    model, tok, prov = build_model_and_tokenizer(from_config="tiny", max_stdlib_files=20,
                                                 cache_dir=cache, log=lambda *_: None)
    assert model.config.vocab_size == len(tok) and prov["from_config"] == "tiny"
    model.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    _, tok2, prov2 = build_model_and_tokenizer(base=str(tmp_path / "base"))
    assert prov2 == {"base": str(tmp_path / "base")}
    assert tok2("def f(): pass")["input_ids"] == tok("def f(): pass")["input_ids"]


def test_exactly_one_source_of_weights():
    from perfrl_train.modeling import ModelBuildError

    with pytest.raises(ModelBuildError, match="exactly one"):
        build_model_and_tokenizer()
    with pytest.raises(ModelBuildError, match="unknown size"):
        build_model_and_tokenizer(from_config="huge")
