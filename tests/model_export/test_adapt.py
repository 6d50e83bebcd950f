"""``perfrl-train adapt``: a tiny trained checkpoint fine-tuned on a project's verified
rewrites (its real SQLite memory) plus a replay of the training pairs, exported, and loaded
and run by the server's own runtime (:mod:`perfrl.inference`)."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from perfrl.memory import store
from perfrl_train.cli import main
from tests.conftest import require_module

VERIFIED = {
    "function": "app/lists.py::doubled",
    "original_source": textwrap.dedent('''\
        def doubled(values):
            out = []
            for v in values:
                out = out + [v * 2]
            return out
    '''),
    "candidates": [{"source": "file", "label": "hand.py", "verdict": "faster", "reason": "ok",
                    "code": "def doubled(values):\n    return [v * 2 for v in values]\n",
                    "speedup": {"median": 40.0, "low": 35.0, "high": 44.0}},
                   {"source": "rules", "label": "x", "verdict": "failed_tests", "reason": "no",
                    "code": "def doubled(values):\n    return values\n", "speedup": None}],
}


def test_adapt_without_verified_rewrites_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    project = tmp_path / "proj"
    project.mkdir()
    code = main(["adapt", "--checkpoint", str(ckpt), "--project", str(project), "--out",
                 str(tmp_path / "model")])
    assert code == 2
    assert "run `perfrl optimize` on the project first" in capsys.readouterr().err
    failed_only = {**VERIFIED, "candidates": VERIFIED["candidates"][1:]}
    assert store.record_report(failed_only, project) == 1
    assert main(["adapt", "--checkpoint", str(ckpt), "--project", str(project), "--out",
                 str(tmp_path / "model")]) == 2
    assert "holds 0 verified rewrite(s)" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.train
def test_adapt_writes_a_model_the_server_loads_and_runs(tmp_path, monkeypatch, capsys):
    require_module("optimum.exporters.onnx")
    from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
    from perfrl.model_contract import build_prompt, load_model_spec
    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    assert store.record_report(VERIFIED, project) == 2
    ckpt = tiny_checkpoint(tmp_path / "work")
    replay = tiny_pairs_dir(tmp_path / "work" / "tiny-data") / "train.jsonl"
    out = tmp_path / "adapted"
    code = main(["adapt", "--checkpoint", str(ckpt), "--project", str(project),
                 "--replay-data", str(replay), "--replay-per-pair", "3", "--out", str(out),
                 "--max-steps", "3", "--batch-size", "4", "--max-source-length", "192",
                 "--max-target-length", "128", "--parity-prompts", "2", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"model directory: {out} (1 verified pair(s), 3 replayed)" in printed
    assert f"perfrl optimize --model {out}" in printed
    # What it trained on: the project's one verified pair and three replayed training pairs.
    rows = [json.loads(line) for line in
            (tmp_path / "adapted-checkpoint" / "adapt_train.jsonl").read_text().splitlines()]
    assert [r["origin"] for r in rows] == ["memory", "replay", "replay", "replay"]
    assert rows[0]["fast"] == VERIFIED["candidates"][0]["code"]
    spec = load_model_spec(out)
    assert spec.training["provenance"]["base"] == str(ckpt)
    model = OnnxSeq2SeqModel.load(out)
    (generated,) = model.generate(build_prompt(VERIFIED["original_source"], spec),
                                  max_new_tokens=24)
    assert generated.token_ids and generated.text.strip()


MODULE = textwrap.dedent('''\
    import re

    SEPARATOR = re.compile(",")


    def parts(texts):
        out = []
        for text in texts:
            out = out + SEPARATOR.split(text)
        return out
''')
PARTS = {
    "function": "app/text.py::parts",
    "original_source": MODULE[MODULE.index("def parts"):],
    "candidates": [{"source": "rules", "label": "x", "verdict": "faster", "reason": "ok",
                    "code": "def parts(texts):\n    return [p for text in texts"
                            " for p in SEPARATOR.split(text)]\n",
                    "speedup": {"median": 3.0, "low": 2.5, "high": 3.5}}],
}


@pytest.mark.parametrize("mode, module_on_disk, kept", [
    ("identifiers-v2", True, {"SEPARATOR"}),     # read from the module, as the server does
    ("identifiers-v2", False, {"SEPARATOR"}),    # the function's free names without it
    ("identifiers-v1", True, set()),             # v1 keeps imported names only
    ("none", True, {"SEPARATOR", "parts", "texts", "out"}),
])
def test_memory_rows_read_the_pairs_as_the_model_reads_its_input(tmp_path, monkeypatch, mode,
                                                                 module_on_disk, kept):
    from perfrl.sources.abstraction import model_input, names_kept_for
    from perfrl_train.adapt import memory_rows

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    if module_on_disk:
        (project / "app").mkdir(parents=True)
        (project / "app" / "text.py").write_text(MODULE)
    else:
        project.mkdir()
    assert store.record_report(PARTS, project) == 1
    (row,) = memory_rows(store.project_db(project), mode, project)
    words = set(re.findall(r"\w+", row["slow"]))
    assert words & {"SEPARATOR", "parts", "texts", "out"} == kept
    if mode != "none":
        # Exactly the prompt the server builds for this function (same kept names, same table).
        served, table = model_input(PARTS["original_source"], mode,
                                    names_kept_for(mode, MODULE, PARTS["original_source"]))
        assert row["slow"] == served
        assert row["fast"] == table.extend(PARTS["candidates"][0]["code"])


def test_a_method_keeps_the_module_names_it_reads(tmp_path, monkeypatch):
    """The engine stores a method as it stands in its class (indented); its module names are
    still read from the module, as the server reads them for the dedented method."""
    from perfrl.sources.abstraction import model_input, names_kept_for
    from perfrl_train.adapt import memory_rows

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    module = ("import re\n\nLIMIT = 3\n\n\nclass Splitter:\n"
              "    def parts(self, text):\n        out = []\n"
              "        for p in re.split(',', text)[:LIMIT]:\n            out = out + [p]\n"
              "        return out\n")
    method = module[module.index("    def parts"):]
    (tmp_path / "proj" / "app").mkdir(parents=True)
    (tmp_path / "proj" / "app" / "split.py").write_text(module)
    rewrite = ("    def parts(self, text):\n"
               "        return list(re.split(',', text)[:LIMIT])\n")
    assert store.record_report({
        "function": "app/split.py::Splitter.parts", "original_source": method,
        "candidates": [{"source": "file", "label": "x", "verdict": "faster", "reason": "ok",
                        "code": rewrite, "speedup": {"median": 2.0, "low": 1.5, "high": 2.5}}],
    }, tmp_path / "proj") == 1
    (row,) = memory_rows(store.project_db(tmp_path / "proj"), "identifiers-v2", tmp_path / "proj")
    dedented = textwrap.dedent(method)
    served, _ = model_input(dedented, "identifiers-v2",
                            names_kept_for("identifiers-v2", module, dedented))
    assert row["slow"] == served
    assert {"re", "LIMIT"} <= set(re.findall(r"\w+", row["slow"]))
