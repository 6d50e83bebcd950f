"""Training with retrieval: a row that :mod:`perfrl_train.data.retrieval_pairs` gave a
neighbour is encoded in the "retrieval-v1" prompt (the server's own format), and in the plain
one when the example would not fit, exactly as the server falls back."""

from __future__ import annotations

import pytest

from perfrl.model_contract import default_model_dir, split_prompt
from perfrl_train.data.retrieval_pairs import attach_neighbours
from perfrl_train.examples import Example, encode_example_source, encode_source
from tests.conftest import require_module

ROWS = [
    {"id": "a", "slow": "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n"
                        "    return out\n",
     "fast": "def f(xs):\n    return [x * 2 for x in xs]\n"},
    {"id": "b", "slow": "def g(items):\n    names = []\n    for item in items:\n"
                        "        names.append(str(item))\n    return names\n",
     "fast": "def g(items):\n    return [str(item) for item in items]\n"},
]


@pytest.fixture(scope="module")
def tokenizer():
    transformers = require_module("transformers")
    return transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(default_model_dir() / "tokenizer.json"), bos_token="<s>",
        eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


@pytest.mark.train
def test_rows_train_in_the_retrieval_prompt_and_fall_back_when_it_does_not_fit(tokenizer):
    rows = attach_neighbours(ROWS)
    example = Example(id="a", slow=rows[0]["slow"], fast=rows[0]["fast"], row=rows[0])
    ids = encode_example_source(tokenizer, example, 512)
    parts = split_prompt(tokenizer.decode(ids, skip_special_tokens=True))
    assert parts.example is not None and parts.example.slow == ROWS[1]["slow"]
    assert parts.function_source == ROWS[0]["slow"]
    plain = encode_source(tokenizer, example.slow, 512)
    assert len(plain) < len(ids)
    # Too long with the example: the plain prompt, whole, as the server would send it.
    assert encode_example_source(tokenizer, example, len(ids) - 1) == plain
    # A row without a neighbour trains exactly as before.
    bare = Example(id="c", slow=ROWS[0]["slow"], fast=ROWS[0]["fast"], row=dict(ROWS[0]))
    assert encode_example_source(tokenizer, bare, 512) == plain


@pytest.mark.train
def test_rows_with_a_failed_attempt_train_in_the_feedback_prompt(tokenizer):
    from perfrl.model_contract import FailedAttempt

    failed = {"code": "def f(xs):\n    return [x * 3 for x in xs]\n", "verdict": "failed_tests",
              "reason": "tests/test_f.py::test_f failed: assert [3] == [2]"}
    row = {**ROWS[0], "meta": {"feedback": failed}}
    example = Example(id="a", slow=row["slow"], fast=row["fast"], row=row)
    ids = encode_example_source(tokenizer, example, 512)
    parts = split_prompt(tokenizer.decode(ids, skip_special_tokens=True))
    assert parts.function_source == ROWS[0]["slow"]
    assert parts.failed == FailedAttempt(failed["code"], "failed_tests", failed["reason"])
    assert encode_example_source(tokenizer, example, 20) == encode_source(tokenizer, row["slow"],
                                                                          20)
