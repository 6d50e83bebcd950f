"""Training about names (model_export/perfrl_train/name_training.py): rows renamed afresh at
each draw, and a heavier loss on the tokens that say which placeholder a name is."""

from __future__ import annotations

import pytest

from perfrl.model_contract import default_model_dir
from perfrl_train.data.shuffle_placeholders import placeholders
from perfrl_train.examples import Example
from perfrl_train.name_training import name_token_ids, name_token_weights, renamed_variants

SLOW = ("def v0(v1, v2):\n    v3 = []\n    for v4 in v1:\n        if v4 not in v2:\n"
        "            v3.append(v4)\n    return v3\n")
FAST = "def v0(v1, v2):\n    v5 = set(v2)\n    return [v4 for v4 in v1 if v4 not in v5]\n"


def test_every_variant_renames_both_sides_alike_and_keeps_the_row() -> None:
    example = Example(id="r1", slow=SLOW, fast=FAST, row={"id": "r1", "transform": "t"})
    variants = renamed_variants([example], 6, seed=3)
    assert len(variants) == 6 and all(len(v) == 1 for v in variants)
    numberings = set()
    for [renamed] in variants:
        assert renamed.id == "r1" and renamed.row["transform"] == "t"
        assert renamed.slow.startswith("def v0(") and set(placeholders(renamed.slow)) == {
            "v1", "v2", "v3", "v4"}
        # One mapping for both sides: the fast side still filters the slow side's list by
        # its second parameter's set, whatever their numbers now are.
        first, second = renamed.slow.split("(")[1].split(")")[0].split(", ")
        assert f"set({second})" in renamed.fast and f"in {first} if" in renamed.fast
        numberings.add(renamed.slow)
    assert len(numberings) > 1  # afresh: not one renaming repeated
    assert renamed_variants([example], 6, seed=3)[2][0].slow == variants[2][0].slow


def test_an_example_that_cannot_be_renamed_stays_as_it_was() -> None:
    broken = Example(id="b", slow="def v0(v1:\n", fast="x", row={})
    assert renamed_variants([broken], 2, seed=0) == [[broken], [broken]]


def test_the_digits_of_placeholders_weigh_more_and_nothing_else_does() -> None:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(default_model_dir() / "tokenizer.json"))
    openers, digits = name_token_ids(tokenizer)
    ids = tokenizer("v3 = [v12 + 5 for v4 in range(10)]", add_special_tokens=False)["input_ids"]
    weights = name_token_weights(ids, openers, digits, 3.0)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    heavy = [token for token, weight in zip(tokens, weights, strict=True) if weight == 3.0]
    assert heavy == ["3", "12", "4"]  # not the literal 5 nor the 10 of range(10)
    assert all(w == 1.0 for w in name_token_weights(ids, openers, digits, 1.0))


def test_weighted_loss_with_unit_weights_is_the_models_own_loss() -> None:
    torch = pytest.importorskip("torch")
    from perfrl_train.name_training import weighted_token_loss

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=generator)
    labels = torch.tensor([[1, 2, 3, -100, -100], [4, 5, 6, 7, 8]])
    plain = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1),
                                              ignore_index=-100)
    ones = torch.ones(2, 5)
    assert torch.allclose(weighted_token_loss(logits, labels, ones), plain)
    # Weighting one token up moves the loss towards that token's own term.
    heavy = ones.clone()
    heavy[1, 0] = 50.0
    term = torch.nn.functional.cross_entropy(logits[1, 0:1], labels[1, 0:1])
    weighted = weighted_token_loss(logits, labels, heavy)
    assert abs(weighted - term) < abs(plain - term)
