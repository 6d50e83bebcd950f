"""The SFT mixing command: weights, per-transform caps, the length limit, ids seen twice."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from perfrl_train.data.mix import main, mix, transforms_of

TOKENIZER = Path(__file__).resolve().parents[2] / "server/perfrl/models/default/tokenizer.json"


def _pair(ident: str, body: str = "return v1") -> dict:
    code = f"def v0(v1):\n    {body}\n"
    return {"id": ident, "slow": code, "fast": code}


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_transforms_are_read_from_the_id_with_variants_folded():
    assert transforms_of({"id": "pypi:x:a.py:f:3:join_to_concat+fstring_to_format@2"}) == [
        "join_to_concat", "fstring_to_format"]
    assert transforms_of({"id": "syn-1", "origin": "synthetic"}) == []


def test_caps_weights_duplicates_and_length(tmp_path):
    real = [_pair(f"p:m.py:f{i}:1:fstring_to_format") for i in range(10)]
    real += [_pair("p:m.py:g:1:fstring_to_format+join_to_concat")]  # not capped: one is free
    real += [_pair("p:m.py:long:1:sum_to_loop", " + ".join(["v1"] * 400))]
    again = [_pair("p:m.py:f0:1:fstring_to_format"), _pair("p:m.py:h:1:sum_to_loop")]
    synth = [{**_pair("syn-a"), "origin": "synthetic"}]
    report = mix(
        tmp_path / "out",
        [_write(tmp_path / "real.jsonl", real), _write(tmp_path / "again.jsonl", again),
         _write(tmp_path / "synth.jsonl", synth) + ":3"],
        [_write(tmp_path / "valid.jsonl", real[-1:] + real[:1])],
        Tokenizer.from_file(str(TOKENIZER)),
        {"fstring_to_format": 4},
        max_source=64,
        max_target=64,
    )
    ids = _ids(tmp_path / "out/train.jsonl")
    assert sum(1 for i in ids if i.endswith(":1:fstring_to_format")) <= 4
    assert "p:m.py:g:1:fstring_to_format+join_to_concat" in ids
    assert "p:m.py:long:1:sum_to_loop" not in ids
    assert ids.count("syn-a") == 3 and ids.count("p:m.py:h:1:sum_to_loop") == 1
    assert len(ids) == len(set(ids)) + 2  # only the weighted synthetic row repeats
    assert _ids(tmp_path / "out/valid.jsonl") == ["p:m.py:f0:1:fstring_to_format"]
    assert report["dropped"]["too long"] == 1
    assert report["dropped"]["same id as an earlier row"] == 1
    assert report["dropped"]["cap fstring_to_format"] == 10 - 4
    assert json.loads((tmp_path / "out/report.json").read_text())["out"]["train"] == len(ids)


def test_command_line(tmp_path, capsys):
    rows = [_pair(f"p:m.py:f{i}:1:listcomp_to_loop") for i in range(3)]
    train = _write(tmp_path / "t.jsonl", rows)
    assert main(["--out", str(tmp_path / "o"), "--tokenizer", str(TOKENIZER), "--train", train,
                 "--valid", train]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == {"train": 3, "valid": 3}


def test_rows_that_invent_a_string_are_dropped_and_edit_lengths_count(tmp_path):
    long_body = "\n    ".join(f"v{i} = v1 + {i}" for i in range(2, 60))
    invented = {"id": "p:m.py:s:1:fstring_to_format", "slow": 'def v0(v1):\n    return "s0"\n',
                "fast": 'def v0(v1):\n    return "s1"\n'}
    # A long function whose rewrite changes one line: too long for a whole-function target,
    # short as an edit script.
    long_pair = {"id": "p:m.py:l:1:sum_to_loop",
                 "slow": f"def v0(v1):\n    {long_body}\n    return v2\n",
                 "fast": f"def v0(v1):\n    {long_body}\n    return v3\n"}
    rows = _write(tmp_path / "t.jsonl", [invented, long_pair])
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    report = mix(tmp_path / "f", [rows], [rows], tokenizer, {}, max_source=1000, max_target=64)
    assert report["dropped"] == {"fast side invents a string": 1, "too long": 1}
    report = mix(tmp_path / "e", [rows], [rows], tokenizer, {}, max_source=1000, max_target=64,
                 output_format="edit-v1")
    assert report["out"] == {"train": 1, "valid": 1}
    assert _ids(tmp_path / "e/train.jsonl") == ["p:m.py:l:1:sum_to_loop"]


def test_edit_rows_marked_for_sites_learn_the_whole_loop_region(tmp_path):
    from perfrl_train.examples import Example, example_target_text

    slow = ("def v0(v1, v2):\n    v3 = []\n    for v4 in v1:\n        if v4 not in v2:\n"
            "            v3.append(v4)\n    return v3\n")
    fast = slow.replace("    v3 = []\n", "    v3 = []\n    v5 = set(v2)\n").replace(
        "not in v2", "not in v5")
    rows = [{"id": f"p:m.py:f{i}:1:set_to_list", "slow": slow, "fast": fast} for i in range(40)]
    train = _write(tmp_path / "t.jsonl", rows)
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    report = mix(tmp_path / "s", [train], [train], tokenizer, {}, max_source=1000,
                 max_target=200, output_format="edit-v1", edit_sites=0.5)
    marked = [json.loads(line) for line in (tmp_path / "s/train.jsonl").read_text().splitlines()]
    widened = [row for row in marked if row.get("edit_sites")]
    assert report["edit scripts grown to sites"] == len(widened) and 5 < len(widened) < 35
    # A marked row's target is the whole region (lines 2-6), a plain one the changed lines.
    assert example_target_text(Example("", slow, fast, widened[0]), "edit-v1").startswith(
        "@2-6\n")
    plain = next(row for row in marked if not row.get("edit_sites"))
    assert example_target_text(Example("", slow, fast, plain), "edit-v1").startswith("@2-2\n")
    # Too long grown (40 tokens: the plain script has 35, the grown one 51): the row keeps
    # its plain script instead of being lost.
    report = mix(tmp_path / "l", [train], [train], tokenizer, {}, max_source=1000,
                 max_target=40, output_format="edit-v1", edit_sites=1.0)
    assert report["edit scripts grown to sites"] == 0 and report["out"]["train"] == 40


def test_an_edit_v2_target_names_the_lines_it_keeps_and_fits_where_edit_v1_does_not(tmp_path):
    from perfrl_train.examples import Example, example_target_text

    slow = ("def v0(v1, v2):\n    v3 = []\n    for v4 in v1:\n        v5 = v2.strip().lower()\n"
            "        v3.append(v4 + v5)\n    return v3\n")
    fast = slow.replace("        v5 = v2.strip().lower()\n", "").replace(
        "    v3 = []\n", "    v3 = []\n    v5 = v2.strip().lower()\n")
    row = {"id": "p:m.py:f:1:invariant_into_loop", "slow": slow, "fast": fast,
           "edit_sites": True}
    v2 = example_target_text(Example("", slow, fast, row), "edit-v2")
    assert v2 == "@2-6\n    =2\n    =4\n    =3\n        =5\n    =6\n"
    assert "strip" in example_target_text(Example("", slow, fast, row), "edit-v1")
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    train = _write(tmp_path / "t.jsonl", [row])
    limits = {"max_source": 1000, "max_target": 30}
    assert mix(tmp_path / "v1", [train], [], tokenizer, {}, output_format="edit-v1",
               **limits)["out"]["train"] == 0
    assert mix(tmp_path / "v2", [train], [], tokenizer, {}, output_format="edit-v2",
               **limits)["out"]["train"] == 1


def test_rows_whose_fast_side_writes_a_comment_of_its_own_are_dropped(tmp_path):
    moved = {"id": "p:m.py:c:1:sum_to_loop",
             "slow": "def v0(v1):\n    v2 = 0\n    # s0\n    return v2\n",
             "fast": "def v0(v1):\n    # s0\n    v2 = 0\n    return v2\n"}
    written = {"id": "p:m.py:w:1:sum_to_loop", "slow": "def v0(v1):\n    return v1\n",
               "fast": "def v0(v1):\n    # the sum\n    return v1\n"}
    rows = _write(tmp_path / "t.jsonl", [moved, written])
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    report = mix(tmp_path / "o", [rows], [], tokenizer, {}, max_source=1000, max_target=64)
    assert report["dropped"] == {"fast side writes a comment of its own": 1}
    assert _ids(tmp_path / "o/train.jsonl") == ["p:m.py:c:1:sum_to_loop"]
