"""How many times does one job parse each candidate's text?

Runs the real engine (:func:`perfrl.engine.optimize.optimize_function`: sandbox, tests,
equivalence, benchmark) on a small project with two sources: the model source's selection fed
scripted outputs (no model needed) and a source yielding raw text. Every ``ast.parse`` and
``compile`` of a text in the server process is counted (the ``compile`` audit event, which
both raise) by the text it got; a candidate's count sums its raw and its normalised text.

Run: PYTHONPATH=server:model_export python benchmarks/bench_candidate_parses.py
It works on code from before ``perfrl.engine.candidate_text`` too (the model's selection was
``select_usable`` then), to compare: point PYTHONPATH at an older ``server`` folder.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from perfrl.engine.candidate_check import normalize_candidate
from perfrl.engine.locate import locate_function
from perfrl.engine.optimize import optimize_function
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Candidate
from perfrl.inference.onnx_seq2seq import GeneratedSequence

LOOP = "def scale(xs):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n    return out\n"
REWRITE = "def scale(xs):\n    return [x * 3 for x in xs]\n"
MODEL_OUTPUTS = [
    REWRITE,
    "def scale(xs):\n    return [x*3  for x in xs]  # faster\n",
    "```python\n" + LOOP.replace("xs:\n", "xs:  # the loop\n", 1) + "```\n",
    "def scale(xs):\n    return [3 * x for x in xs]\n",
]
PASTED = [
    ("relayout", "def scale(xs):\n    return [x  *  3 for x in xs]\n\n\n"),
    ("map", "def scale(xs):\n    return list(map((3).__mul__, xs))\n"),
]


class ScriptedModel:
    name = "model"

    def generate(self, target, limit):
        import perfrl.sources.model as model_source

        outputs = [GeneratedSequence(text, [], -0.1) for text in MODEL_OUTPUTS]
        if hasattr(model_source, "select_clean"):
            from perfrl.engine.candidate_text import DistinctCandidates, original_candidate

            original = original_candidate(target)
            kept, _ = model_source.select_clean(
                outputs, target, original, DistinctCandidates(original)
            )
            yield from kept
        else:  # before candidate_text
            usable, _ = model_source.select_usable(
                outputs, target, normalize_candidate(target.source)
            )
            for index, code in usable:
                yield Candidate("model", "greedy" if index == 0 else f"sample {index}", code)


class Pasted:
    name = "pasted"

    def generate(self, target, limit):
        for label, text in PASTED:
            yield Candidate("pasted", label, text)


def main() -> None:
    root = Path(tempfile.mkdtemp()) / "shop"
    files = {
        "pyproject.toml": "[project]\nname = 'shop'\n",
        "shop/__init__.py": "",
        "shop/calc.py": "import math\n\n\n" + LOOP,
        "tests/test_calc.py": "from shop.calc import scale\n\n\n"
                              "def test_scale():\n    assert scale([1, 2]) == [3, 6]\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    target = locate_function("shop/calc.py::scale", root)
    texts = MODEL_OUTPUTS + [text for _, text in PASTED]
    forms = {text: {text, normalize_candidate(text)} for text in texts}
    compiled: Counter[str] = Counter()

    def count(event: str, args: tuple) -> None:
        # ``compile`` is audited for ast.parse too (it compiles to an AST); the event carries
        # a text as UTF-8 bytes.
        if event == "compile" and isinstance(args[0], bytes):
            compiled[args[0].decode("utf-8", "replace")] += 1

    settings = EngineSettings(interpreter=sys.executable, cache_dir=root.parent / "cache",
                              bench_budget_s=0.3, memory="off")
    sys.addaudithook(count)  # for good: this process ends with the job
    report = optimize_function(target, [ScriptedModel(), Pasted()], settings)
    verified = {(r.candidate.source, r.candidate.label) for r in report.candidates}
    print(f"verified: {sorted(verified)}")
    for text, variants in forms.items():
        print(f"{sum(compiled[v] for v in variants):3d} parse(s): {text[:48]!r}")


if __name__ == "__main__":
    main()
