"""Candidate cleaning: each output normalised and parsed once, de-duplicated in one place.

The end-to-end test runs the real engine (real sandbox, real pytest) with two sources: the
model source's own selection (:func:`perfrl.sources.model.select_clean`, fed scripted outputs
instead of a model's) and a source that yields raw text the engine cleans. While the job runs,
every ``ast.parse`` and ``compile`` of the server process is recorded.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections import Counter
from pathlib import Path

import pytest

from perfrl.engine.candidate_check import candidate_diff, check_candidate, splice
from perfrl.engine.candidate_text import (
    DUPLICATE,
    SAME_AS_ORIGINAL,
    CleanCandidate,
    DistinctCandidates,
    clean_candidate,
    normalize_candidate,
    original_candidate,
)
from perfrl.engine.locate import locate_function
from perfrl.engine.optimize import collect_candidates, optimize_function
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Candidate, FunctionTarget, Verdict
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.model import select_clean
from tests.conftest import write_tree

LOOP = "def scale(xs):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n    return out\n"
REWRITE = "def scale(xs):\n    return [x * 3 for x in xs]\n"
MAP = "def scale(xs):\n    return list(map((3).__mul__, xs))\n"

#: What the scripted "model" answers: a rewrite, the same rewrite laid out otherwise, and the
#: original function in a Markdown block with a comment.
MODEL_OUTPUTS = [
    REWRITE,
    "def scale(xs):\n    return [x*3  for x in xs]  # faster\n",
    "```python\ndef scale(xs):\n    out = []\n    for x in xs:  # the loop\n"
    "        out.append(x * 3)\n    return out\n```\n",
]
#: What the raw source yields (label, text): the model's rewrite in yet another layout, the
#: original indented and commented, and a rewrite of its own.
PASTED = [
    ("relayout", "def scale(xs):\n    return [x  *  3 for x in xs]\n\n\n"),
    ("original reindented",
     "    def scale(xs):\n        out = []\n        for x in xs:\n"
     "            out.append(x * 3)  # same\n        return out\n"),
    ("map", MAP),
]


class ScriptedModel:
    """The model source's cleaning and selection, on outputs given here."""

    name = "model"

    def generate(self, target: FunctionTarget, limit: int):
        original = original_candidate(target)
        outputs = [GeneratedSequence(text, [], -0.1) for text in MODEL_OUTPUTS]
        kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
        yield from kept
        return f"{len(outputs)} outputs drawn, {len(kept)} kept; dropped: {dict(dropped)}"


class Pasted:
    """Raw candidates, as a source that leaves all cleaning to the engine yields them."""

    name = "pasted"

    def generate(self, target: FunctionTarget, limit: int):
        for label, text in PASTED[:limit]:
            yield Candidate(source="pasted", label=label, code=text)


@pytest.fixture
def scale_target(tmp_path: Path) -> FunctionTarget:
    root = write_tree(tmp_path / "shop", {
        "pyproject.toml": "[project]\nname = 'shop'\n",
        "shop/__init__.py": "",
        "shop/calc.py": "import math\n\n\n" + LOOP,
        "tests/test_calc.py": """
            from shop.calc import scale


            def test_scale():
                assert scale([1, 2]) == [3, 6]


            def test_scale_longer():
                assert scale(list(range(40)))[-1] == 117
        """,
    })
    return locate_function("shop/calc.py::scale", root)


class ParseRecorder:
    """Counts ``ast.parse`` calls of this process by the text they got, and ``compile`` calls
    of a text other than the one ``ast.parse`` makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed: Counter[str] = Counter()
        self.compiled: Counter[str] = Counter()
        real_parse, real_compile = ast.parse, builtins.compile
        inside_parse = []

        def parse(source, *args, **kwargs):
            if isinstance(source, str):
                self.parsed[source] += 1
            inside_parse.append(True)
            try:
                return real_parse(source, *args, **kwargs)
            finally:
                inside_parse.pop()

        def compile_(source, *args, **kwargs):
            if isinstance(source, str) and not inside_parse:
                self.compiled[source] += 1
            return real_compile(source, *args, **kwargs)

        monkeypatch.setattr(ast, "parse", parse)
        monkeypatch.setattr(builtins, "compile", compile_)


# --- the whole job ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_job_parses_each_output_once_verifies_duplicates_once_and_says_what_it_dropped(
    scale_target: FunctionTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = EngineSettings(
        interpreter=sys.executable,
        cache_dir=tmp_path / "cache",
        test_timeout_s=120,
        bench_timeout_s=60,
        bench_budget_s=0.5,
        memory="off",
    )
    recorder = ParseRecorder(monkeypatch)
    report = optimize_function(scale_target, [ScriptedModel(), Pasted()], settings)
    monkeypatch.undo()

    # Verified once each: the model's rewrite (its two other layouts were dropped, one by the
    # model's selection and one by the engine) and the raw source's own rewrite.
    assert [(r.candidate.source, r.candidate.label) for r in report.candidates] == [
        ("model", "greedy"), ("pasted", "map")
    ]
    assert [r.candidate.code for r in report.candidates] == [REWRITE, MAP]
    assert all(r.verdict is not Verdict.INVALID for r in report.candidates), report.candidates
    # What was dropped, why, and which, in the report.
    assert (
        "dropped 1 duplicate candidate(s) (pasted relayout) and "
        "1 identical to the original (pasted original reindented)"
    ) in report.warnings
    assert report.notes == [
        "model: 3 outputs drawn, 1 kept; dropped: "
        "{'duplicate': 1, 'same as the original': 1}"
    ]
    # Each output's text was parsed once in this process, and never compiled from text.
    outputs = MODEL_OUTPUTS + [text for _, text in PASTED]
    cleaned = {normalize_candidate(text) for text in outputs}
    assert len(cleaned) == len(outputs)
    assert {text: recorder.parsed[text] for text in cleaned} == {text: 1 for text in cleaned}
    assert not any(recorder.parsed[text] for text in outputs if text not in cleaned)
    assert not any(recorder.compiled[text] for text in cleaned | set(outputs))


# --- cleaning ---------------------------------------------------------------------------------


def test_cleaning_parses_once_and_checking_splicing_diffing_parse_no_more(
    scale_target: FunctionTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = "Here you go:\n```python\n    " + REWRITE.replace("\n", "\n    ") + "```\n"
    recorder = ParseRecorder(monkeypatch)
    clean = clean_candidate(Candidate("model", "greedy", raw), scale_target, 1)
    assert clean.code == REWRITE and clean.flaw == "" and clean.number == 1
    assert sum(recorder.parsed.values()) == 1
    assert check_candidate(scale_target, clean) is None
    assert "+    return [x * 3 for x in xs]" in candidate_diff(scale_target, clean)
    assert splice(scale_target, clean).endswith(REWRITE)
    assert recorder.parsed[REWRITE] == 1 and recorder.compiled[REWRITE] == 0


def test_the_same_function_in_another_layout_has_the_same_key(
    scale_target: FunctionTarget,
) -> None:
    layouts = [REWRITE, "def scale(xs):   # comment\n    return [x*3 for x in xs]\n",
               "\r\n\r\n  def scale(xs):\r\n      return [\r\n  x * 3 for x in xs]\r\n"]
    keys = {clean_candidate(Candidate("t", str(i), text), scale_target, i + 1).key
            for i, text in enumerate(layouts)}
    assert len(keys) == 1
    other = clean_candidate(Candidate("t", "other", MAP), scale_target, 9)
    assert other.key not in keys


def test_a_def_taken_out_of_a_module_keeps_true_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "box.py").write_text("class Box:\n    def scale(self, xs):\n        return xs\n")
    target = locate_function(f"{tmp_path / 'box.py'}::Box.scale")
    module = (
        "import os\n\n\nclass Box:\n    # comment\n    @staticmethod\n    def helper():\n"
        "        pass\n\n    def scale(self, xs):\n        for x in xs:\n            pass\n"
        "        break\n"
    )
    clean = clean_candidate(Candidate("file", "box", module), target, 1, extract_definition=True)
    assert clean.code == "def scale(self, xs):\n    for x in xs:\n        pass\n    break\n"
    assert clean.function is not None and clean.function.lineno == 1
    # The tree was moved, not parsed again: the compile error names the cut text's line.
    assert check_candidate(target, clean) == "does not compile: line 4: 'break' outside loop"
    assert clean.key == clean_candidate(Candidate("f", "", clean.code), target, 2).key


@pytest.mark.parametrize("module", [
    "class Box:\n    @staticmethod\n    def scale(xs):  # é\n        return [\n"
    "            x for x in xs]  # é\n",
    "class Outer:\n  class Box:\n\tdef scale(self, xs): return xs; y = 'é'\n",
    "class Box:\n    def scale(self, xs):\n        s = '''\nat column 0\n'''\n        return s\n",
])
def test_a_def_cut_out_of_a_module_has_the_tree_of_its_text(tmp_path: Path, module: str) -> None:
    (tmp_path / "box.py").write_text("class Box:\n    def scale(self, xs):\n        return xs\n")
    target = locate_function(f"{tmp_path / 'box.py'}::Box.scale")
    clean = clean_candidate(Candidate("f", "", "import os\n" + module), target, 1,
                            extract_definition=True)
    if "at column 0" in module:
        # The string's line keeps the def from being dedented: the cut text is parsed again,
        # and does not parse, as before (the verifier calls it invalid).
        assert clean.module is None and clean.parse_error == "line 1: unexpected indent"
        return
    assert clean.code.startswith(("@staticmethod\ndef scale", "def scale")), clean.code
    assert clean.module is not None
    assert ast.dump(clean.module, include_attributes=True) == ast.dump(
        ast.parse(clean.code), include_attributes=True)


def test_a_def_taken_out_of_a_module_is_described_by_its_tree(scale_target) -> None:
    # What shares the def's last line is in its body: in the cut text and in the tree.
    module = "import os\n\ndef scale(xs):\n    return xs; CACHE = {}  # é\n\nprint(1)\n"
    clean = clean_candidate(Candidate("f", "", module), scale_target, 1, extract_definition=True)
    assert clean.code == "def scale(xs):\n    return xs; CACHE = {}  # é\n"
    assert clean.key == clean_candidate(Candidate("f", "", clean.code), scale_target, 2).key
    assert check_candidate(scale_target, clean) is None
    # A comment after the end is kept in the text.
    module = "import os\n\ndef scale(xs):\n    return [x * 3 for x in xs]  # é\n"
    clean = clean_candidate(Candidate("f", "", module), scale_target, 1, extract_definition=True)
    assert clean.code.endswith("# é\n") and clean.key == clean_candidate(
        Candidate("f", "", REWRITE), scale_target, 2).key


def test_a_module_without_the_function_is_flawed(scale_target: FunctionTarget) -> None:
    text = "import os\n\ndef other(x):\n    return x\n"
    clean = clean_candidate(Candidate("file", "f", text), scale_target, 1, extract_definition=True)
    assert clean.flaw == "defines no function scale"
    assert clean_candidate(Candidate("x", "", "def scale(:\n"), scale_target, 1).flaw == (
        "does not parse")


# --- de-duplication ---------------------------------------------------------------------------


def test_duplicates_of_the_original_are_dropped_with_a_reason(scale_target: FunctionTarget) -> None:
    class Raw:
        name = "raw"

        def generate(self, target, limit):
            yield Candidate("raw", "original again", "def scale(xs):\n" + LOOP.split("\n", 1)[1]
                            .replace("out.append(x * 3)", "out.append(x * 3)  # unchanged"))
            yield Candidate("raw", "rewrite", REWRITE)
            yield Candidate("raw", "rewrite again",
                            "def scale(xs):  \n  return [x*3 for x in xs]\n")
            yield Candidate("raw", "broken", "def scale(xs):\n    return [\n")

    collected = collect_candidates(scale_target, [Raw()], 8)
    assert [c.label for c in collected.candidates] == ["rewrite", "broken"]
    assert all(isinstance(c, CleanCandidate) for c in collected.candidates)
    assert [c.number for c in collected.candidates] == [2, 4]
    assert collected.dropped == {SAME_AS_ORIGINAL: ["raw original again"],
                                 DUPLICATE: ["raw rewrite again"]}
    assert collected.dropped_summary() == (
        "dropped 1 duplicate candidate(s) (raw rewrite again) and "
        "1 identical to the original (raw original again)"
    )


def test_distinct_candidates_is_the_one_rule(scale_target: FunctionTarget) -> None:
    distinct = DistinctCandidates(original_candidate(scale_target))

    def admit(text: str) -> str | None:
        return distinct.admit(clean_candidate(Candidate("t", "", text), scale_target, 1))

    assert admit(LOOP.replace("    return out", "    return out  # same")) == SAME_AS_ORIGINAL
    assert admit(REWRITE) is None
    assert admit("```\n" + REWRITE + "```") == DUPLICATE
    assert admit("def scale(xs):\n    return [\n") is None  # kept: the verifier says invalid
    assert admit("def scale(xs):\n    return [\n\n") == DUPLICATE  # the same broken text


# --- by design --------------------------------------------------------------------------------

#: Every ``ast.parse`` of the server's job path, and what it parses. Candidate text is parsed
#: in one place only; a new call must say here what it parses (and not be candidate text).
PARSE_CALLS = {
    ("engine/candidate_text.py", "_parse"): "candidate text: the one place",
    ("engine/candidate_check.py", "_function_of"): "the original function (once per job)",
    ("engine/locate.py", "parse_module"): "a user's source file",
    ("engine/impacted_tests.py", "_parse"): "the project's test files",
    ("sources/regions.py", "extract_regions"): "the original function",
    ("sources/rules.py", "_extract_function"): "ruff's fixed scratch module",
    ("sources/abstraction.py", "_parameters_and_imports"): "the model's input (the original)",
    ("sources/abstraction.py", "_module_scope_names_read"): "the target's module and function",
    ("engine/tampering.py", "static_signs"): "the original (a clean candidate's tree is reused)",
}


def _parse_calls(package: Path) -> set[tuple[str, str]]:
    """(file, enclosing function) of every ``ast.parse(...)`` call under the job's folders
    (``engine/runtime`` runs inside the sandbox, not in the server)."""
    found = set()
    for folder in ("engine", "sources", "lsp", "cli", "sweep"):
        for path in sorted((package / folder).rglob("*.py")):
            if "runtime" in path.relative_to(package).parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(function):
                    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "parse"
                            and isinstance(node.func.value, ast.Name)
                            and node.func.value.id == "ast"):
                        found.add((path.relative_to(package).as_posix(), function.name))
    return found


def test_candidate_text_is_parsed_only_by_the_cleaning_function() -> None:
    import perfrl

    package = Path(perfrl.__file__).parent
    assert _parse_calls(package) == set(PARSE_CALLS)
