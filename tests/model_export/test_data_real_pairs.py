"""The real-code pair pipeline: split by package, de-duplication, one abstraction table per
pair, slow text laid over the real lines, and the sandboxed behaviour check."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from perfrl.sources.abstraction import model_input
from perfrl_train.data.corpus import package_split
from perfrl_train.data.deopt import deoptimize_source
from perfrl_train.data.deopt.behaviour import check_pairs, drop_transforms, module_name
from perfrl_train.data.real_pairs import abstract_pair, build, main, pair_split, signature

FUNCTION = '''def collect(items, limit):
    """Items under the limit, doubled."""
    # a comment the slow side keeps
    result = [x * 2 for x in items if x < limit]
    label = f"{len(result)} items"   # trailing comment kept too
    return label, ", ".join(str(r) for r in result)
'''


def _row(package: str, code: str, name: str = "collect") -> dict:
    return {"id": f"{package}:m.py:{name}:1", "package": package, "licence": "MIT",
            "path": "m.py", "qualname": name, "code": code, "abstract": "", "kept": []}


def _packages(split: str, count: int) -> list[str]:
    found = [f"pypi:pkg{i}" for i in range(400) if package_split(f"pypi:pkg{i}") == split]
    return found[:count]


def _write_corpus(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read(out: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_slow_side_keeps_every_unchanged_line_and_comment():
    slow, fast = deoptimize_source(FUNCTION, ["listcomp_to_loop"])
    assert fast == FUNCTION
    unchanged = [line for line in FUNCTION.splitlines() if "result = [" not in line]
    assert all(line in slow.splitlines() for line in unchanged), slow
    assert ".append(x * 2)" in slow and "for x in items:" in slow


def test_pairs_parse_keep_the_signature_and_share_one_table(tmp_path):
    corpus = _write_corpus(tmp_path / "c.jsonl", [_row(_packages("train", 1)[0], FUNCTION)])
    build(corpus, tmp_path / "out", log=lambda m: None)
    rows = [r for split in ("train", "valid", "eval") for r in _read(tmp_path / "out", split)]
    assert len(rows) >= 4
    for row in rows:
        for side in ("slow", "fast", "slow_code", "fast_code"):
            ast.parse(row[side])
        assert signature(row["slow_code"]) == signature(row["fast_code"])
        assert row["fast_code"] == FUNCTION
        # One table: the slow side is numbered first, the fast side reuses its placeholders.
        assert (row["slow"], row["fast"]) == abstract_pair(row["slow_code"], row["fast_code"], [])
        assert row["slow"].startswith("def v0(v1, v2):") and row["fast"].startswith(
            "def v0(v1, v2):")
        assert 1 <= len(row["transforms"]) <= 3


def test_pairs_show_the_docstring_as_the_server_does(tmp_path):
    corpus = _write_corpus(tmp_path / "c.jsonl", [_row(_packages("train", 1)[0], FUNCTION)])
    build(corpus, tmp_path / "out", log=lambda m: None)
    for row in _read(tmp_path / "out", "train") + _read(tmp_path / "out", "valid"):
        assert "Items under the limit" in row["slow_code"] and "Items under" in row["fast_code"]
        # The model reads the docstring as its first string placeholder, as served.
        assert row["slow"].splitlines()[1].strip() == '"s0"'
        assert row["slow"] == model_input(row["slow_code"], "identifiers-v2")[0]


def test_more_compositions_give_more_distinct_pairs_of_the_same_function(tmp_path):
    corpus = _write_corpus(tmp_path / "c.jsonl", [_row(_packages("train", 1)[0], FUNCTION)])
    none = build(corpus, tmp_path / "none", max_composed=0, log=lambda m: None)
    more = build(corpus, tmp_path / "more", max_composed=12, log=lambda m: None)
    assert none["pairs_by_transform_count"][2] == none["pairs_by_transform_count"][3] == 0
    assert more["pairs_by_transform_count"][2] > 0
    assert more["pairs"] > none["pairs"]


def test_only_keeps_the_pairs_of_the_named_transforms(tmp_path):
    corpus = _write_corpus(tmp_path / "c.jsonl", [_row(_packages("train", 1)[0], FUNCTION)])
    every = build(corpus, tmp_path / "every", max_composed=12, log=lambda m: None)
    some = build(corpus, tmp_path / "some", max_composed=12, log=lambda m: None,
                 only=frozenset({"listcomp_to_loop"}))
    rows = _read(tmp_path / "some", "train") + _read(tmp_path / "some", "valid")
    assert rows and all("listcomp_to_loop" in row["transforms"] for row in rows)
    assert every["pairs_using_transform"]["listcomp_to_loop"] == len(rows) == some["pairs"]
    assert some["pairs"] < every["pairs"]
    assert main(["--corpus", str(corpus), "--out", str(tmp_path / "x"),
                 "--only", "listcomp_to_loop,no_such_transform"]) == 2


def test_renamed_copies_give_one_pair_each(tmp_path):
    package = _packages("train", 1)[0]
    renamed = FUNCTION.replace("collect", "gather").replace("items", "things")
    corpus = _write_corpus(tmp_path / "c.jsonl",
                           [_row(package, FUNCTION), _row(package, renamed, "gather")])
    report = build(corpus, tmp_path / "out", log=lambda m: None)
    rows = _read(tmp_path / "out", pair_split(package))
    assert report["duplicates_dropped"] == len(rows) > 0
    keys = {(r["slow"], r["fast"]) for r in rows}
    assert len(keys) == len(rows)


def test_split_never_puts_a_package_on_two_sides(tmp_path):
    packages = _packages("train", 40) + _packages("eval", 3)
    # Different constants: renamed copies alone would be de-duplicated to one package.
    rows = [_row(p, FUNCTION.replace("x * 2", f"x * {i + 3}"), "collect")
            for i, p in enumerate(packages)]
    build(_write_corpus(tmp_path / "c.jsonl", rows), tmp_path / "out", log=lambda m: None)
    sides: dict[str, set[str]] = {}
    for split in ("train", "valid", "eval"):
        for row in _read(tmp_path / "out", split):
            sides.setdefault(row["package"], set()).add(split)
    assert all(len(s) == 1 for s in sides.values()), sides
    assert {p for p, s in sides.items() if s == {"eval"}} == set(_packages("eval", 3))
    assert {"train", "valid"} <= {next(iter(s)) for s in sides.values()}


def test_module_names_resolve_to_importable_modules():
    assert module_name("json/decoder.py", "stdlib:json") == "json.decoder"
    assert module_name("json/__init__.py", "stdlib:json") == "json"
    assert module_name("colorsys.py", "stdlib:colorsys") == "colorsys"


def _pair(transform: str, slow: str, fast: str, qualname: str, path: str, package: str,
          ident: str) -> dict:
    return {"id": ident, "slow": "", "fast": "", "slow_code": slow, "fast_code": fast,
            "package": package, "licence": "PSF", "transforms": [transform],
            "variant": transform, "qualname": qualname, "path": path, "kept": []}


def test_behaviour_check_runs_real_module_functions_and_catches_a_wrong_slow_side(tmp_path):
    """Real stdlib functions run in their own module's namespace (sandboxed): a faithful
    de-optimisation agrees, a slow side that computes something else is caught."""
    import colorsys
    import inspect
    import textwrap

    fast = textwrap.dedent(inspect.getsource(colorsys.rgb_to_hsv))
    wrong = fast.replace("return h, s, v", "return h, s, v + 1", 1)
    assert wrong != fast
    rows = [
        _pair("fake_wrong", wrong, fast, "rgb_to_hsv", "colorsys.py", "stdlib:colorsys", "w"),
        _pair("fake_same", fast, fast, "rgb_to_hsv", "colorsys.py", "stdlib:colorsys", "s"),
    ]
    out = tmp_path / "pairs"
    out.mkdir()
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rates = check_pairs(out, per_transform=5, log=lambda m: None)["by_transform"]
    assert rates["fake_wrong"]["checked"] == 1 and rates["fake_wrong"]["agreement"] == 0.0
    assert rates["fake_same"]["checked"] == 1 and rates["fake_same"]["agreement"] == 1.0
    assert drop_transforms(out, ["fake_wrong"]) == {"train": 1}
    assert [json.loads(x)["id"] for x in (out / "train.jsonl").read_text().splitlines()] == ["s"]


def test_behaviour_check_cannot_touch_the_host(tmp_path):
    """A pair whose code writes a file runs in a read-only sandbox: the file never appears."""
    target = tmp_path / "written.txt"
    code = (f"def dedent(text):\n    open({str(target)!r}, 'w').write('x')\n"
            "    return text\n")
    out = tmp_path / "pairs"
    out.mkdir()
    row = _pair("fake_io", code, code, "dedent", "textwrap.py", "stdlib:textwrap", "io")
    (out / "train.jsonl").write_text(json.dumps(row) + "\n")
    check_pairs(out, per_transform=1, log=lambda m: None)
    assert not target.exists()


@pytest.mark.parametrize("package", ["stdlib:json", "pypi:numpy", "pypi:x"])
def test_pair_split_agrees_with_the_corpus_split(package):
    assert (pair_split(package) == "eval") == (package_split(package) == "eval")


def test_valid_packages_are_a_small_slice_of_train_packages():
    from perfrl_train.data.real_pairs import valid_packages

    rows = {p: 10 for p in _packages("train", 60)} | {p: 10 for p in _packages("eval", 5)}
    rows["pypi:huge"] = 5000 if package_split("pypi:huge") == "train" else 0
    chosen = valid_packages(rows, share=0.05)
    assert chosen and all(package_split(p) == "train" for p in chosen)
    assert "pypi:huge" not in chosen  # one library would be the whole validation split
    target = 0.05 * sum(n for p, n in rows.items() if package_split(p) == "train")
    assert target <= sum(rows[p] for p in chosen) < target + 10
    assert valid_packages(rows, share=0.05) == chosen  # the same on every run
