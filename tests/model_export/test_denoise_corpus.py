"""The mined corpus and the denoising rows built from it (no torch needed)."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl_train.data import corpus, denoise

MODULE = '''import re
RATE = 2

def scale(values, factor):
    """Doc."""
    out = []
    for v in values:
        out.append(v * factor * RATE)
    return out

class Box:
    def grow(self, n):
        total = 0
        for i in range(n):
            total += re.escape(str(i)).count("1")
        return total

def tiny(x):
    return x
'''


def test_mine_file_keeps_functions_and_methods_in_the_v2_form(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(MODULE)
    rows = {r.qualname: r for r in corpus.mine_file(path, "pypi:demo", "MIT", "demo/mod.py")}
    assert set(rows) == {"scale", "Box.grow"}  # tiny() has 2 lines: below MIN_LINES
    assert "RATE" in rows["scale"].abstract and "values" not in rows["scale"].abstract
    assert rows["Box.grow"].kept == ["re"] and rows["Box.grow"].code.startswith("def grow")


def test_renamed_and_relaid_copies_share_one_normalised_key(tmp_path):
    a = "def f(a, b):\n    '''doc'''\n    return [x + b for x in a]\n"
    b = "def g(p, q):\n    return [y + q\n            for y in p]  # same\n"
    key = corpus.normalised_key
    from perfrl.sources.abstraction import model_input
    assert key(model_input(a, "identifiers-v2")[0]) == key(model_input(b, "identifiers-v2")[0])
    assert corpus.normalised_key("def broken(:") is None


def test_package_split_is_fixed_and_puts_some_packages_on_each_side():
    names = [f"pypi:pkg{i}" for i in range(200)]
    sides = [corpus.package_split(n) for n in names]
    assert sides == [corpus.package_split(n) for n in names]
    assert 5 < sides.count("eval") < 60


def test_held_out_code_is_never_mined(tmp_path):
    held = tmp_path / "held"
    held.mkdir()
    (held / "h.py").write_text(MODULE)
    src = tmp_path / "src.py"
    src.write_text(MODULE.replace("values", "items").replace("factor", "k"))
    keys = corpus.held_out_keys([held])
    mined = [r for r in corpus.mine_file(src, "p", "MIT", "src.py")
             if corpus.normalised_key(r.abstract) not in keys]
    assert mined == []


def test_licence_filter_keeps_permissive_and_drops_copyleft():
    from email.message import Message

    class Dist:
        def __init__(self, **fields):
            self.metadata = Message()
            for k, v in fields.items():
                self.metadata[k.replace("_", "-")] = v

    assert corpus.licence_of(Dist(License="MIT License")) == "MIT"
    assert corpus.licence_of(Dist(License_Expression="Apache-2.0")) == "Apache"
    assert corpus.licence_of(Dist(License="GPLv3")) is None
    assert corpus.licence_of(Dist(License="BSD or GPL")) is None
    assert corpus.licence_of(Dist()) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc01 _()+=:\n\t[]'\"", max_size=300), st.integers(0, 10_000))
def test_masked_spans_put_back_give_the_text(text, seed):
    masked, target = denoise.mask_spans(text, random.Random(seed))
    if target:
        assert denoise.unmask(masked, target) == text
        assert masked.count(denoise.MASK) == target.count(denoise.MASK) >= 1
    else:
        assert masked == text


def test_build_writes_train_and_valid_by_package(tmp_path):
    path = tmp_path / "corpus.jsonl"
    names = [f"pypi:p{i}" for i in range(1000)]
    eval_pkg = next(n for n in names if corpus.package_split(n) == "eval")
    train_pkg = next(n for n in names if corpus.package_split(n) == "train")
    rows = [{"id": f"{pkg}:{i}", "package": pkg,
             "abstract": f"def v0(v1):\n    return [v2 * {i} for v2 in v1]\n"}
            for pkg in (eval_pkg, train_pkg) for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = denoise.build(path, tmp_path / "out", seed=0, copies=2, max_chars=1000,
                           mask_rate=0.15, mean_span=3)
    assert counts == {"train": 10, "eval": 5}
    for name, pkg in (("train.jsonl", train_pkg), ("valid.jsonl", eval_pkg)):
        for line in (tmp_path / "out" / name).read_text().splitlines():
            row = json.loads(line)
            assert row["package"] == pkg and row["prompt_prefix"] == denoise.DENOISE_PREFIX
            assert denoise.unmask(row["slow"], row["fast"]).startswith("def v0(v1):")
