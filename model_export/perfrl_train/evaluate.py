"""Evaluation: held-out synthetic pairs through the verification engine, and PIE programs.

``perfrl-train eval --model sft=MODEL_DIR --model rrhf=MODEL_DIR2 --test-file DATA/test.jsonl
--out REPORT_DIR [--pie-dir ../shared/data/pie-python --pie-limit 10]``

A model is an exported directory or a training checkpoint. An exported model generates through
the server's own model source (:mod:`.eval_generation`: forced signature, vocabulary mask,
repetition steering, re-sampling of unusable outputs, names restored), so the figures are
those of what the editor shows; the report says how many outputs the guards dropped and why. A
checkpoint samples with PyTorch ``generate``, unguarded. Per prompt: the greedy candidate and
``samples - 1`` samples (a slot whose output the guards dropped counts as a miss).

Synthetic (function level, the same engine as the editor): best@1 is the greedy candidate,
best@k the best of all k by reward. Reported: % that compile to a function, % keeping the
target's exact signature, % passing the tests (and equivalence), % verified faster (CI lower
bound >= threshold), mean / median speedup of the verified-faster ones.

PIE (program level), by default only the evaluation third of the problem-disjoint split
(``data/pie_split.json``; ``--pie-problems all`` for every problem; PIE is never trained on):
every candidate program runs on the problem's public tests inside the
sandbox (a tiny project; stdin from the test file), in ``pie_repeats`` interleaved rounds with
the original (:mod:`.pie_timing`). %correct = all trusted tests' outputs match (and stay the
same from run to run); %optimized = correct and the 95% lower bound of the median per-round
speedup >= ``pie_min_speedup``, on problems whose original works long enough to time. Honest
about the data: the 2to3 artefacts are repaired (the PIE loader), suspect tests are skipped,
pairs whose speed-up is numpy import time are counted and excluded, and the tests are small
(timings are dominated by interpreter start-up, which is subtracted as the time of an empty
program).

A caller may rely on :func:`evaluate` writing ``eval.json`` and ``eval.md`` into ``out`` and
returning their paths with the figures.
"""

from __future__ import annotations

import ast
import json
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PerfRLError
from .eval_generation import Generator
from .pie_inputs import ScaledInput, SolutionRun, choose_scaled_input
from .pie_timing import (
    MIN_MEASURABLE_S,
    PIE_DRIVER,
    SECRET_VARIABLE,
    compare,
    driver_results,
    measurable,
    startups,
)
from .train_common import help_field, set_threads

#: A solution's time limit on a scaled input while its size is chosen.
SCALE_TIMEOUT_S = 5.0


class EvalError(PerfRLError):
    """Evaluation cannot run (no model, no test data)."""


@dataclass
class EvalConfig:
    model: list[str] = help_field([], "NAME=PATH (exported model dir or checkpoint); repeat "  # noqa: RUF009
                                      "for a side-by-side table")
    out: Path = help_field(None, "directory for eval.json and eval.md")  # noqa: RUF009
    test_file: Path | None = help_field(None, "held-out CodePair JSONL (synthetic test split)")  # noqa: RUF009
    limit: int = help_field(20, "synthetic pairs evaluated")
    restore_names: bool = help_field(
        False, "score outputs as the server serves them (function and parameter names "
        "restored) instead of raw")
    pie_dir: Path | None = help_field(None, "PIE directory (e.g. ../shared/data/pie-python)")  # noqa: RUF009
    pie_limit: int = help_field(10, "PIE problems evaluated")
    pie_problems: str = help_field("eval", "which PIE problems: 'eval' (the evaluation third "
                                           "of data/pie_split.json) or 'all'")
    pie_tests: int = help_field(3, "trusted public tests run per PIE program")
    pie_repeats: int = help_field(5, "interleaved timing rounds (every program once on every "
                                     "test per round; see perfrl_train.pie_timing)")
    pie_min_speedup: float = help_field(1.10, "PIE 'optimized' = correct and this much faster")
    pie_scale: bool = help_field(True, "time PIE programs on a larger input made from the first "
                                       "public test that scales, where the problem's two "
                                       "accepted solutions agree on it (perfrl_train.pie_inputs)")
    samples: int = help_field(8, "candidates per prompt (greedy + samples-1): best@k")
    temperature: float = help_field(0.8, "sampling temperature")
    top_k: int = help_field(50, "sampling top-k")
    max_new_tokens: int = help_field(256, "generated tokens per candidate")
    max_engine_calls: int = help_field(400, "verification-engine calls at most (per model)")
    bench_budget_s: float = help_field(0.6, "benchmark seconds per engine call")
    seed: int = help_field(0, "sampling seed")
    threads: int = help_field(1, "inference threads")


@dataclass
class EvalResult:
    json_path: Path
    markdown_path: Path
    figures: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- generators


def load_generator(path: Path, cfg: EvalConfig) -> tuple[Generator, str]:
    """``(generate, kind)`` for a model directory (the server's guarded model source) or a
    checkpoint (PyTorch ``generate``); see :mod:`.eval_generation`."""
    from .eval_generation import GenerationError
    from .eval_generation import load_generator as load

    try:
        return load(Path(path), threads=cfg.threads, temperature=cfg.temperature,
                    top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    except GenerationError as exc:
        raise EvalError(str(exc)) from exc


# ----------------------------------------------------------------------------- synthetic


def _summarise(outcomes: list) -> dict:
    n = len(outcomes)
    faster = [o for o in outcomes if o.verdict == "faster"]
    speedups = [o.speedup for o in faster if o.speedup]
    return {
        "n": n,
        "parse_pct": 100.0 * sum(o.parses for o in outcomes) / n if n else 0.0,
        "signature_pct": 100.0 * sum(o.keeps_signature for o in outcomes) / n if n else 0.0,
        "pass_pct": 100.0 * sum(o.verdict in ("faster", "not_faster") for o in outcomes) / n
        if n else 0.0,
        "faster_pct": 100.0 * len(faster) / n if n else 0.0,
        "mean_speedup_verified": statistics.fmean(speedups) if speedups else None,
        "median_speedup_verified": statistics.median(speedups) if speedups else None,
    }


@dataclass
class _Scored:
    verdict: str
    reward: float
    parses: bool
    speedup: float | None
    keeps_signature: bool = False


def keeps_signature(candidate: str, original: str, name: str) -> bool:
    """True when ``candidate`` defines ``name`` with exactly the parameters of ``original``'s
    (their kinds, names, defaults and annotations), as the held-out report card counts it."""
    from perfrl.engine.candidate_check import normalize_candidate

    def signature(code: str) -> str | None:
        try:
            tree = ast.parse(normalize_candidate(code))
        except (SyntaxError, ValueError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return ast.dump(node.args)
        return None

    wanted = signature(original)
    return wanted is not None and signature(candidate) == wanted


def _as_served(text: str, pair) -> str:
    """The output as the server's model source passes it on: dedented, with the target's
    function and parameter names restored (``perfrl.sources.model``)."""
    from perfrl.engine.candidate_check import normalize_candidate
    from perfrl.sources.model import restore_signature_names

    return restore_signature_names(normalize_candidate(text), pair.entry, pair.slow)


def evaluate_synthetic(generate: Generator, pairs: list, cfg: EvalConfig, work: Path,
                       log=print) -> dict:
    """best@1 / best@k figures over ``pairs`` through the verification engine."""
    from perfrl.engine.settings import EngineSettings

    from .reward import EngineReward, RewardBudgetExhausted, code_compiles

    engine = EngineReward(work, EngineSettings(bench_budget_s=cfg.bench_budget_s,
                                               cache_dir=work / "baselines"),
                          max_engine_calls=cfg.max_engine_calls)
    at1: list[_Scored] = []
    atk: list[_Scored] = []
    skipped = 0
    started = time.perf_counter()
    for index, pair in enumerate(pairs):
        if not engine.usable(pair):
            skipped += 1
            continue
        try:
            texts = generate(pair.slow, cfg.samples)
            if cfg.restore_names:
                texts = [_as_served(text, pair) for text in texts]
            scored = []
            for text in texts:
                o = engine.reward(pair, text)
                scored.append(_Scored(o.verdict, o.reward, code_compiles(text), o.speedup,
                                      keeps_signature(text, pair.slow, pair.entry)))
        except RewardBudgetExhausted:
            log("eval: engine budget exhausted; stopping the synthetic part early")
            break
        at1.append(scored[0])
        best = max(scored, key=lambda s: (s.reward, s.keeps_signature, s.parses))
        atk.append(best)
        log(f"eval: {index + 1}/{len(pairs)} {pair.id}: greedy {scored[0].verdict}, "
            f"best {best.verdict}")
    return {"best@1": _summarise(at1), f"best@{cfg.samples}": _summarise(atk),
            "pairs_skipped": skipped, "engine_calls": engine.stats.engine_calls,
            "seconds": round(time.perf_counter() - started, 1)}


# ----------------------------------------------------------------------------- PIE

def _run_programs(programs: dict[str, str], tests: list[str], cfg: EvalConfig, work: Path,
                  timeout_s: float = 10.0, repeats: int | None = None) -> dict[str, list[dict]]:
    """Run named programs on stdin tests inside the sandbox, in ``repeats`` rounds
    (default ``cfg.pie_repeats``); per program, per test results (as the driver reports them:
    :mod:`perfrl_train.pie_timing`).

    Each round is a sandbox of its own, in a fresh workspace (and with bubblewrap a fresh
    private ``/tmp``): nothing a program writes in one round is there in the next, so a
    program caching its answer on disk cannot make its later rounds look fast. A program
    that prints something else in a later round is not correct."""
    repeats = cfg.pie_repeats if repeats is None else repeats
    import shutil

    from perfrl.engine.interpreter import resolve_interpreter
    from perfrl.engine.sandbox import Sandbox
    from perfrl.engine.settings import EngineSettings

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name, code in programs.items():
        (work / name).write_text(code)
    test_names = []
    for i, text in enumerate(tests):
        (work / f"in{i}.txt").write_text(text)
        test_names.append(f"in{i}.txt")
    (work / "driver.py").write_text(PIE_DRIVER)
    sandbox = Sandbox(work, resolve_interpreter(work, None), EngineSettings())
    budget = (timeout_s + 5) * len(tests) * len(programs)
    merged: dict[str, list[dict]] | None = None
    for round_ in range(repeats):
        spec = {"programs": list(programs), "tests": test_names, "repeats": 1,
                "rotation": round_, "timeout_s": timeout_s}
        secret = secrets.token_hex(16)
        with sandbox.workspace({"spec.json": json.dumps(spec)}) as ws:
            run = ws.run_python(["driver.py", "spec.json"], timeout_s=min(budget, 600),
                                env={SECRET_VARIABLE: secret})
        results = None if run.returncode != 0 or run.timed_out else driver_results(
            run.stdout, secret)
        if results is None:
            return {name: [{"ok": False, "stdout": "", "wall": None, "walls": [],
                            "error": f"sandbox run failed: {run.stderr[-300:]}"}]
                    for name in programs}
        merged = results if merged is None else _merge_round(merged, results)
    return merged or {}


def _merge_round(merged: dict[str, list[dict]], results: dict[str, list[dict]]
                 ) -> dict[str, list[dict]]:
    """``merged`` (the rounds so far) with one more round's results: its walls added where
    the program is still correct, and the program not correct where this round failed or
    printed something else than the first round did."""
    for name, rows in merged.items():
        for row, new in zip(rows, results[name], strict=True):
            if not row["ok"]:
                continue
            if not new["ok"]:
                row["ok"], row["error"] = False, new["error"]
            elif new["stdout"] != row["stdout"]:
                row["ok"], row["error"] = False, "its output changes from run to run"
            else:
                row["walls"] += new["walls"]
                row["wall"] = min(row["walls"])
    return merged


def _scaled_input(pair, public_input: str, cfg: EvalConfig, work: Path) -> ScaledInput | None:
    """A larger input for ``pair``'s problem made from ``public_input``, on which its two
    accepted solutions agree (:mod:`.pie_inputs`), each run once in the sandbox."""
    from perfrl_train.data.pie import outputs_match

    solutions = {"slow.py": pair.program("slow"), "fast.py": pair.program("fast"),
                 "empty.py": "pass\n"}

    def run(inputs: list[str]) -> list[tuple[SolutionRun, SolutionRun]]:
        runs = _run_programs(solutions, inputs, cfg, work, timeout_s=SCALE_TIMEOUT_S, repeats=1)
        start = startups(runs["empty.py"])

        def solution(name: str, i: int) -> SolutionRun:
            rows = runs[name]
            if i >= len(rows) or not rows[i]["ok"] or not rows[i]["walls"]:
                return SolutionRun(None, 0.0)
            return SolutionRun(rows[i]["stdout"], rows[i]["wall"] - start[i])

        return [(solution("slow.py", i), solution("fast.py", i)) for i in range(len(inputs))]

    return choose_scaled_input(public_input, run, outputs_match)


def _timed_candidate(rows: list[dict], orig_rows: list[dict], expected: list[str],
                     timed: list[int], startup: list[float], seed: int, cfg: EvalConfig) -> dict:
    """One program's PIE figures: correct on every test (public and scaled), and its speedup
    over the original on the ``timed`` tests."""
    from perfrl_train.data.pie import outputs_match

    correct = len(rows) == len(expected) and all(
        r["ok"] and outputs_match(r["stdout"], exp) for r, exp in zip(rows, expected, strict=True))
    timing = compare([orig_rows[i] for i in timed], [rows[i] for i in timed],
                     [startup[i] for i in timed], seed=seed) if correct else None
    return {
        "correct": correct,
        "speedup": timing.speedup if timing else None,
        "speedup_low": timing.low if timing else None,
        "measurable": bool(timing and timing.measurable),
        "optimized": bool(timing and timing.low is not None
                          and timing.low >= cfg.pie_min_speedup),
    }


def evaluate_pie(generate: Generator, cfg: EvalConfig, work: Path, log=print) -> dict:
    """Program-level %correct / %optimized / mean speedup on PIE; see the module docstring."""
    from perfrl_train.data.pie import load_pie_pairs, outputs_match

    if cfg.pie_dir is None:
        raise EvalError("the PIE evaluation needs --pie-dir")
    pairs = load_pie_pairs(Path(cfg.pie_dir))
    pairs, split_note = _pie_problems(pairs, cfg.pie_problems)
    excluded_numpy = [p for p in pairs if p.numpy_asymmetry]
    candidates_pairs = [p for p in pairs if not p.numpy_asymmetry and p.slow_pass is not False]
    seen_problems: set[str] = set()
    chosen = []
    for p in candidates_pairs:  # one pair per problem, so the figure is per problem
        if p.problem_id not in seen_problems:
            seen_problems.add(p.problem_id)
            chosen.append(p)
        if len(chosen) >= cfg.pie_limit:
            break
    per_problem = []
    started = time.perf_counter()
    for index, pair in enumerate(chosen):
        tests = pair.trusted_tests()[: cfg.pie_tests]
        if not tests:
            continue
        original = pair.program("slow")
        texts = generate(original, cfg.samples)
        inputs, expected = [t for t, _ in tests], [exp for _, exp in tests]
        scaled = _scaled_input(pair, inputs[0], cfg, work / f"pie{index}-scale") \
            if cfg.pie_scale else None
        if scaled is not None:
            inputs.append(scaled.text)
            expected.append(scaled.expected)
        # The pair's own fast program, judged like a candidate: what the harness can tell.
        programs = {"original.py": original, "empty.py": "pass\n",
                    "reference.py": pair.program("fast")}
        programs.update({f"cand{i}.py": t for i, t in enumerate(texts)})
        runs = _run_programs(programs, inputs, cfg, work / f"pie{index}")
        orig_rows = runs.get("original.py", [])
        if len(orig_rows) != len(inputs) or not all(
                r["ok"] and outputs_match(r["stdout"], exp)
                for r, exp in zip(orig_rows, expected, strict=True)):
            log(f"eval: PIE {pair.problem_id}: the original fails its trusted tests; skipped")
            continue
        startup = startups(runs["empty.py"])
        # Timed on the scaled input when there is one: the public ones are mostly too small.
        timed = [len(inputs) - 1] if scaled is not None else list(range(len(inputs)))
        cands = [_timed_candidate(runs.get(f"cand{i}.py", []), orig_rows, expected, timed,
                                  startup, index, cfg) for i in range(len(texts))]
        reference = _timed_candidate(runs.get("reference.py", []), orig_rows, expected, timed,
                                     startup, index, cfg)
        best = max(cands, key=lambda c: (c["correct"], c["optimized"], c["speedup"] or 0.0))
        timed_rows = [orig_rows[i] for i in timed]
        timed_startup = [startup[i] for i in timed]
        per_problem.append({"problem": pair.problem_id, "greedy": cands[0], "best": best,
                            "reference": reference,
                            "scaled_factor": scaled.factor if scaled else None,
                            "original_s": sum(min(r["walls"]) for r in timed_rows)
                            - sum(timed_startup), "startup_s": sum(timed_startup),
                            "measurable": measurable(timed_rows, timed_startup)})
        log(f"eval: PIE {index + 1}/{len(chosen)} {pair.problem_id}: greedy correct "
            f"{cands[0]['correct']}, best {best}")

    def figures(key: str) -> dict:
        rows = [p[key] for p in per_problem]
        n = len(rows)
        optimized = [r for r in rows if r["optimized"]]
        sp = [r["speedup"] for r in rows if r["correct"] and r["measurable"]]
        return {"n": n,
                "correct_pct": 100.0 * sum(r["correct"] for r in rows) / n if n else 0.0,
                "optimized_pct": 100.0 * len(optimized) / n if n else 0.0,
                "mean_speedup_correct": statistics.fmean(sp) if sp else None}

    scaled_count = sum(p["scaled_factor"] is not None for p in per_problem)
    return {"best@1": figures("greedy"), f"best@{cfg.samples}": figures("best"),
            "reference": figures("reference"),
            "problems": per_problem, "excluded_numpy_import_asymmetry": len(excluded_numpy),
            "problems_evaluated": cfg.pie_problems,
            "notes": [split_note, "2to3 artefacts repaired by the loader", "suspect tests skipped",
                      (f"{cfg.pie_tests} public tests per problem, small inputs: interpreter "
                       "start-up (time of an empty program) subtracted"),
                      (f"{scaled_count} of {len(per_problem)} problems timed on a larger "
                       "input made from their first public test, on which the problem's two "
                       "accepted solutions agree (a candidate must print what they do); the "
                       "others on their public tests" if cfg.pie_scale else
                       "timed on the public tests only (--no-pie-scale)"),
                      ("'reference' = the PIE pair's own fast program judged like a candidate: "
                       "what this harness can tell"),
                      (f"'optimized' = correct and the 95% lower bound of the median "
                       f"per-round speedup (over {cfg.pie_repeats} interleaved rounds) >= "
                       f"{cfg.pie_min_speedup}x; "
                       f"{sum(not p['measurable'] for p in per_problem)} of "
                       f"{len(per_problem)} problems' originals work under "
                       f"{MIN_MEASURABLE_S * 1000:.0f} ms on their timed tests: too fast to time, "
                       "so never 'optimized'")],
            "seconds": round(time.perf_counter() - started, 1)}


def _pie_problems(pairs: list, which: str) -> tuple[list, str]:
    """The PIE pairs of the problems ``which`` names ("eval": the evaluation third of
    ``pie_split.json``; "all") and the note the report carries about it."""
    from perfrl_train.data.pie_split import PIE_SPLIT_FILE, load_pie_split

    if which == "all":
        return pairs, ("PIE problems: all of them (both parts of the problem split; nothing of "
                       "PIE is trained on)")
    if which != "eval":
        raise EvalError(f"--pie-problems must be 'eval' or 'all', not {which!r}")
    split = load_pie_split()
    chosen = [p for p in pairs if p.problem_id in split.eval]
    unknown = {p.problem_id for p in pairs} - split.eval - split.train
    note = (f"PIE problems: the evaluation third only ({len(split.eval)} of "
            f"{len(split.eval) + len(split.train)} problems, {PIE_SPLIT_FILE.name}, split by "
            "problem id; the other two thirds are reserved and unused: PIE is never trained on)")
    if unknown:
        note += f"; {len(unknown)} problems of this PIE copy are in neither part and were skipped"
    return chosen, note


# ----------------------------------------------------------------------------- driver


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}%" if pct else f"{value:.2f}x"


def _cell(section: str, k: str, metric: str, pct: bool = False) -> Callable[[dict], str]:
    """The table cell of one model's report: ``report[section][k][metric]`` formatted."""
    return lambda model: _fmt(model[section][k][metric], pct)


def render_markdown(report: dict, samples: int) -> str:
    """The side-by-side table (one column per model)."""
    names = list(report["models"])
    lines = ["# PerfRL model evaluation", ""]
    header = "| metric | " + " | ".join(names) + " |"
    sep = "|---|" + "---|" * len(names)
    rows: list[tuple[str, Callable[[dict], str]]] = []
    for k in ("best@1", f"best@{samples}"):
        rows += [
            (f"synthetic {k}: compiles", _cell("synthetic", k, "parse_pct", pct=True)),
            (f"synthetic {k}: keeps signature",
             _cell("synthetic", k, "signature_pct", pct=True)),
            (f"synthetic {k}: passes tests", _cell("synthetic", k, "pass_pct", pct=True)),
            (f"synthetic {k}: verified faster",
             _cell("synthetic", k, "faster_pct", pct=True)),
            (f"synthetic {k}: mean speedup (verified)",
             _cell("synthetic", k, "mean_speedup_verified")),
        ]
    has_pie = any("pie" in report["models"][n] for n in names)
    if has_pie:
        pies = [report["models"][n]["pie"] for n in names if "pie" in report["models"][n]]
        # Say on every PIE row which problems it counts: the evaluation third by default.
        pie = ("PIE eval third" if all(p.get("problems_evaluated", "eval") == "eval"
                                       for p in pies) else "PIE all problems")
        for k in ("best@1", f"best@{samples}", "reference"):
            rows += [
                (f"{pie} {k}: correct", _cell("pie", k, "correct_pct", pct=True)),
                (f"{pie} {k}: optimized (>=1.10x)",
                 _cell("pie", k, "optimized_pct", pct=True)),
                (f"{pie} {k}: mean speedup (correct)",
                 _cell("pie", k, "mean_speedup_correct")),
            ]
    lines += [header, sep]
    for label, getter in rows:
        cells = []
        for n in names:
            try:
                cells.append(getter(report["models"][n]))
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    first = report["models"][names[0]] if names else {}
    n_synth = first.get("synthetic", {}).get("best@1", {}).get("n", 0)
    lines += ["", (f"Synthetic pairs: {n_synth} (engine verdicts; 'faster' = CI lower bound "
                   ">= threshold).")]
    if has_pie:
        pie = first["pie"]
        lines.append(f"PIE problems: {pie['best@1']['n']}; excluded for numpy-import asymmetry: "
                     f"{pie['excluded_numpy_import_asymmetry']}. " + "; ".join(pie["notes"]) + ".")
    lines += ["", "Generation:"]
    for n in names:
        model = report["models"][n]
        line = f"- {n}: {model.get('kind', '?')}"
        for part in ("synthetic", "pie"):
            figures = model.get(part) or {}
            if "outputs_drawn" in figures:
                dropped = ", ".join(f"{why}: {count}" for why, count
                                    in sorted(figures["outputs_dropped"].items(),
                                              key=lambda item: -item[1]))
                line += (f"; {part}: {figures['outputs_drawn']} outputs drawn, dropped "
                         f"{sum(figures['outputs_dropped'].values())}"
                         + (f" ({dropped})" if dropped else ""))
        lines.append(line)
    return "\n".join(lines) + "\n"


def _guard_account(generate: Generator) -> dict:
    """What the guarded decoding drew and dropped since the last call (empty for an unguarded
    generator), then the count starts again for the next part of the evaluation."""
    from .eval_generation import GuardedGenerator

    if not isinstance(generate, GuardedGenerator):
        return {}
    account = {"outputs_drawn": generate.drawn, "outputs_dropped": dict(generate.dropped)}
    generate.drawn = 0
    generate.dropped.clear()
    return account


def evaluate(cfg: EvalConfig, log=print) -> EvalResult:
    """Evaluate every ``NAME=PATH`` model; write eval.json and eval.md into ``cfg.out``."""
    if not cfg.model:
        raise EvalError("give at least one --model NAME=PATH")
    if cfg.out is None:
        raise EvalError("--out is required")
    if cfg.test_file is None and cfg.pie_dir is None:
        raise EvalError("give --test-file (synthetic test split) and/or --pie-dir")
    if cfg.pie_problems not in ("eval", "all"):  # before any model is loaded
        raise EvalError(f"--pie-problems must be 'eval' or 'all', not {cfg.pie_problems!r}")
    set_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = []
    if cfg.test_file is not None:
        from perfrl_train.data import read_jsonl

        pairs = read_jsonl(Path(cfg.test_file))[: cfg.limit]
    report: dict = {"config": {k: str(v) for k, v in vars(cfg).items()}, "models": {}}
    for entry in cfg.model:
        name, sep, path = entry.partition("=")
        if not sep:
            name, path = Path(entry).name, entry
        generate, kind = load_generator(Path(path), cfg)
        model_report: dict = {"path": path, "kind": kind}
        if pairs:
            model_report["synthetic"] = evaluate_synthetic(generate, pairs, cfg,
                                                           out / "work" / name / "synthetic", log)
            model_report["synthetic"].update(_guard_account(generate))
        if cfg.pie_dir is not None:
            model_report["pie"] = evaluate_pie(generate, cfg, out / "work" / name / "pie", log)
            model_report["pie"].update(_guard_account(generate))
        report["models"][name] = model_report
    json_path = out / "eval.json"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path = out / "eval.md"
    md_path.write_text(render_markdown(report, cfg.samples))
    return EvalResult(json_path=json_path, markdown_path=md_path, figures=report)
