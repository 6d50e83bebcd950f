"""Candidates written by the rewrite model: one greedy output plus samples.

The target's source (dedented) goes into the trained prompt format
(:func:`perfrl.model_contract.build_prompt`); the model decodes the greedy sequence and
``n - 1`` samples as one batch after one encoder pass. Each output is cleaned before it
becomes a candidate:

- Markdown fences and prose around the code are removed and the code dedented;
- when the output holds more than the function (imports, other statements, a second def),
  only the ``def`` with the target's name is kept;
- when the output is a single function whose name or parameter names differ from the
  target's (a small model often invents them), it gets the target's names back: the function
  is renamed (recursive calls included) and its parameters position by position when their
  number and kinds match; the verifier then judges its body like any other candidate's (a
  signature of another shape stays invalid);
- outputs that do not parse, that define no function of the target's name, that repeat an
  earlier output (same AST) or that are the original function (same AST) are dropped.

Decoding is guarded (:class:`~perfrl.inference.decoding.OutputConstraints`, unless
``guarded=False``): every output starts with the target's own ``def`` line (as the model reads
it), so the signature is the target's; brackets and quotes must balance
(:mod:`perfrl.inference.bracket_guard`); with an abstracting model, only tokens whose words
the input, a few fresh placeholders and Python's common vocabulary hold may appear
(:mod:`perfrl.inference.output_vocabulary`); a row about to repeat itself a fourth time
takes its best token that does not (``RepetitionStop(steer=True)``), and ends, dropped as a
"repetition loop", only when none of its best tokens avoids the loop. Outputs dropped for
anything but being a duplicate are drawn again, at most ``resample_rounds`` more times.

A caller may rely on: candidates labelled ``"greedy"`` and ``"sample k"`` (k counts the
samples from 1, so a label names the same draw for the same seed), each a parseable
function dedented to column 0, distinct by AST and different from the original; a model that
cannot be loaded, a function too long for the model, or a model whose outputs were all
unusable raising :class:`CandidateSourceError` with the reason; when some are usable, the
generator's return value (``StopIteration.value``, which the engine reports) saying how many
outputs were drawn, kept and dropped, and why.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import replace
from itertools import zip_longest
from pathlib import Path

from perfrl.engine.candidate_check import normalize_candidate
from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.types import Candidate, FunctionTarget
from perfrl.inference.background import ModelHandle, ModelNotReady
from perfrl.inference.decoding import RepetitionStop
from perfrl.inference.onnx_seq2seq import GeneratedSequence, ModelLoadError, OnnxSeq2SeqModel
from perfrl.inference.output_vocabulary import python_words, words_of
from perfrl.model_contract import FailedAttempt
from perfrl.sources.abstraction import (
    Abstraction,
    model_input,
    model_output,
    names_kept_for,
)
from perfrl.sources.files import extract_candidate
from perfrl.sources.identifiers import rename_identifiers
from perfrl.sources.prompts import model_prompt
from perfrl.sources.regions import (
    Region,
    extract_regions,
    region_function,
    region_statements,
    splice_region,
)

DEFAULT_LOAD_TIMEOUT_S = 120.0
#: Extra draws for outputs that were unusable (not for duplicates): rounds at most.
DEFAULT_RESAMPLE_ROUNDS = 2
#: Placeholders (``vN``, ``"sN"``) an abstracted output may introduce beyond the input's.
FRESH_PLACEHOLDERS = 8
#: Why an output was dropped when it was not worth drawing again.
_NOT_RESAMPLED = ("duplicate", "same as the original")
LOOPED = "repetition loop"
#: Functions longer than this (lines, dedented) are also rewritten loop region by region.
REGION_MIN_LINES = 15
#: Regions of one function given to the model, at most (the first ones in the function).
MAX_REGIONS = 3


class _TooLong(Exception):
    """The prompt does not fit the model's input."""


def signature_header(code: str) -> str:
    """The start of ``code`` up to the ``:`` that ends its first ``def`` line (decorators
    and a signature over several lines included), or ``""`` when it has no such line."""
    depth = 0
    seen_def = False
    lines = code.splitlines(keepends=True)
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.NAME and token.string == "def" and depth == 0:
                seen_def = True
            elif token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
            elif seen_def and depth == 0 and token.type == tokenize.OP and token.string == ":":
                row, column = token.end
                return "".join(lines[: row - 1]) + lines[row - 1][:column]
    except (tokenize.TokenError, SyntaxError):
        return ""
    return ""


def _ast_key(code: str) -> str | None:
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        return None


def _parameter_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[list[str]]:
    a = function.args
    groups = [a.posonlyargs + a.args, [a.vararg] if a.vararg else [], a.kwonlyargs,
              [a.kwarg] if a.kwarg else []]
    return [[arg.arg for arg in group] for group in groups]


def _lone_function(code: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    return tree.body[0]


def restore_signature_names(code: str, name: str, original_source: str) -> str:
    """``code`` with the function name ``name`` and the parameter names of the function in
    ``original_source`` when it is a single function that uses other names for them.

    The function is renamed (recursive calls included). Parameters are renamed position by
    position, only when every kind (positional, ``*args``, keyword-only, ``**kwargs``) has
    as many parameters as the target's and no target name is already used in the output for
    something else. Attribute names (``obj.old``) are never touched. Anything else (code that
    does not parse, several statements) is returned as it is."""
    function = _lone_function(code)
    original = _lone_function(normalize_candidate(original_source))
    if function is None:
        return code
    own_parameters = {name for group in _parameter_names(function) for name in group}
    # A function named like one of its own parameters cannot be renamed token by token.
    renamable = function.name != name and function.name not in own_parameters
    mapping = {function.name: name} if renamable else {}
    if original is not None:
        got, want = _parameter_names(function), _parameter_names(original)
        if [len(g) for g in got] == [len(w) for w in want]:
            renames = {
                old: new
                for group_got, group_want in zip(got, want)
                for old, new in zip(group_got, group_want)
                if old != new
            }
            used = {
                t.string
                for t in tokenize.generate_tokens(io.StringIO(code).readline)
                if t.type == tokenize.NAME
            }
            if not (set(renames.values()) - set(renames)) & used:
                mapping.update(renames)
    return rename_identifiers(code, mapping) if mapping else code


def clean_model_output(text: str, target: FunctionTarget) -> tuple[str | None, str]:
    """The function in one model output, or ``None`` and why it was dropped."""
    code = extract_candidate(text, target)
    if code is not None:
        code = restore_signature_names(code, target.name, target.source)
    if code is None:
        return None, f"defines no function {target.name}"
    if not code.strip():
        return None, "empty"
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None, "does not parse"
    if not any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for s in tree.body):
        return None, "defines no function"
    return code, ""


def select_usable(
    outputs: Sequence[GeneratedSequence],
    target: FunctionTarget,
    original: str,
    seen: set[str | None] | None = None,
) -> tuple[list[tuple[int, str]], Counter[str]]:
    """(index, cleaned code) of the outputs worth verifying, in order, and a count of the
    reasons the others were dropped. ``original`` is the target's dedented source; ``seen``
    (AST keys of outputs kept so far, updated here) carries duplicates across calls."""
    original_key = _ast_key(original)
    if seen is None:
        seen = set()
    seen.add(original_key)
    kept: list[tuple[int, str]] = []
    dropped: Counter[str] = Counter()
    for index, output in enumerate(outputs):
        if output.looped:
            dropped[LOOPED] += 1
            continue
        code, why = clean_model_output(output.text, target)
        if code is None:
            dropped[why if output.finished else why + " (cut at the length limit)"] += 1
            continue
        key = _ast_key(code)
        if key in seen:
            dropped["same as the original" if key == original_key else "duplicate"] += 1
            continue
        seen.add(key)
        kept.append((index, code))
    return kept, dropped


def _summary(dropped: Counter[str]) -> str:
    return "; ".join(f"{why}: {count}" for why, count in dropped.most_common())


def output_words(model_text: str, table: Abstraction) -> frozenset[str]:
    """The words an abstracted model's output may use: the input's own, fresh placeholders,
    and Python's common vocabulary (:func:`perfrl.inference.output_vocabulary.python_words`)."""
    fresh_names = {f"v{i}" for i in range(len(table.names) + FRESH_PLACEHOLDERS)}
    fresh_strings = {f"s{i}" for i in range(len(table.strings) + FRESH_PLACEHOLDERS)}
    return python_words() | words_of(model_text) | fresh_names | fresh_strings


class ModelCandidateSource:
    """Rewrites proposed by the model behind ``model`` (a :class:`ModelHandle` or a model
    directory). Unset generation parameters come from the model's ``perfrl_model.json``.
    ``guarded=False`` decodes without constraints and ``resample_rounds=0`` draws once (how it
    was before: for comparisons)."""

    name = "model"

    def __init__(
        self,
        model: ModelHandle | Path | str,
        num_candidates: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        max_new_tokens: int | None = None,
        load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S,
        guarded: bool = True,
        resample_rounds: int = DEFAULT_RESAMPLE_ROUNDS,
    ) -> None:
        self.handle = model if isinstance(model, ModelHandle) else ModelHandle(Path(model))
        self.num_candidates = num_candidates
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.load_timeout_s = load_timeout_s
        self.guarded = guarded
        self.resample_rounds = resample_rounds

    def generate(
        self, target: FunctionTarget, limit: int
    ) -> Generator[Candidate, None, str | None]:
        if limit <= 0:
            return None
        try:
            model = self.handle.wait(self.load_timeout_s)
        except (ModelLoadError, ModelNotReady) as exc:
            raise CandidateSourceError(f"the model is unavailable: {exc}") from exc
        n = max(1, min(limit, self.num_candidates or model.spec.generation.num_candidates))
        original = normalize_candidate(target.source)
        regions = []
        if len(original.splitlines()) > REGION_MIN_LINES:
            regions = extract_regions(original)[:MAX_REGIONS]
        seen: set[str | None] = set()
        dropped: Counter[str] = Counter()
        whole: list[Candidate] = []
        drawn = 0
        try:
            kept, whole_dropped, drawn = self._rewrites(model, target, original, n, seen)
        except _TooLong:
            if not regions:
                raise CandidateSourceError(
                    f"{target.qualname} is too long for the model: it reads at most "
                    f"{model.spec.max_source_length} tokens (prompt included) and holds no "
                    "loop it could rewrite on its own; split the function or use a model "
                    "trained on longer inputs"
                ) from None
        else:
            dropped += whole_dropped
            whole = [
                Candidate(source="model", label="greedy" if i == 0 else f"sample {i}", code=code)
                for i, code in kept
            ]
        by_region: list[Candidate] = []
        for region in regions:
            candidates, region_dropped, region_drawn = self._region_rewrites(
                model, target, original, region, max(2, n // len(regions)), seen
            )
            by_region += candidates
            dropped += region_dropped
            drawn += region_drawn
        # Whole-function and region rewrites alternate, so that both kinds survive the limit.
        merged = [c for pair in zip_longest(whole, by_region) for c in pair if c is not None]
        merged = merged[:limit]
        yield from merged
        if not merged:
            raise CandidateSourceError(
                f"none of the model's {drawn} outputs for {target.qualname} was a usable "
                f"rewrite ({_summary(dropped)})"
            )
        note = f"{drawn} outputs drawn for {target.qualname}, {len(merged)} kept"
        regional = sum(1 for c in merged if c.label.startswith("lines "))
        if regional:
            note += f" ({regional} of them rewrite a loop region)"
        return note + (f"; dropped: {_summary(dropped)}" if dropped else "")

    def _rewrites(
        self,
        model: OnnxSeq2SeqModel,
        target: FunctionTarget,
        function_text: str,
        n: int,
        seen: set[str | None],
        failed: FailedAttempt | None = None,
    ) -> tuple[list[tuple[int, str]], Counter[str], int]:
        """(index, cleaned code) of the usable rewrites of ``function_text`` (the target's
        dedented function, or a region's function), why the others were dropped, and how
        many outputs were drawn: ``n`` first (greedy + samples), then again for the
        unusable ones, at most ``resample_rounds`` times. With ``failed``, the prompt is the
        second round's (:func:`perfrl.sources.prompts.model_prompt`). Raises
        :class:`_TooLong`."""
        defaults = model.spec.generation
        keep = names_kept_for(model.spec.input_abstraction, target.file_text, function_text)
        try:
            model_text, table = model_input(function_text, model.spec.input_abstraction, keep)
        except ValueError as exc:
            raise CandidateSourceError(f"the model cannot read {target.qualname}: {exc}") from exc
        prompt = model_prompt(model, target, model_text, table, failed)
        if model.encode_prompt(prompt).truncated:
            raise _TooLong()
        constraints = None
        if self.guarded:
            constraints = model.output_constraints(
                forced_start=signature_header(model_text),
                words=None if table is None else output_words(model_text, table),
                repetition=RepetitionStop(steer=True),
                allow_non_ascii=not model_text.isascii(),
            )
        sampling = {
            "temperature": defaults.temperature if self.temperature is None else self.temperature,
            "top_k": defaults.top_k if self.top_k is None else self.top_k,
            "top_p": defaults.top_p if self.top_p is None else self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "constraints": constraints,
        }
        kept: list[tuple[int, str]] = []
        dropped: Counter[str] = Counter()
        drawn = 0
        rows = n
        for round_ in range(1 + max(0, self.resample_rounds)):
            seed = self.seed if self.seed is None or round_ == 0 else self.seed + 7919 * round_
            outputs = self._draw(model, prompt, rows, greedy_first=round_ == 0, seed=seed,
                                 sampling=sampling)
            if table is not None:
                outputs = [replace(o, text=model_output(o.text, table)) for o in outputs]
            round_kept, round_dropped = select_usable(outputs, target, function_text, seen)
            kept += [(drawn + index, code) for index, code in round_kept]
            dropped += round_dropped
            drawn += len(outputs)
            # Draw again for the outputs that could not be used, not for duplicates: a
            # duplicate says the model has nothing else likely to offer.
            rows = sum(c for why, c in round_dropped.items() if why not in _NOT_RESAMPLED)
            rows = min(rows, n - len(kept))
            if rows <= 0:
                break
        return kept, dropped, drawn

    def supports_retry(self) -> bool:
        """Whether the loaded model was trained for a second round (``feedback-v1``)."""
        try:
            model = self.handle.wait(self.load_timeout_s)
        except (ModelLoadError, ModelNotReady):
            return False
        return model.spec.feedback_format == "feedback-v1"

    def retry(
        self, target: FunctionTarget, failed: FailedAttempt, limit: int
    ) -> Generator[Candidate, None, str | None]:
        """The second round: rewrites of the whole function from a prompt that shows the
        model ``failed`` (the best failed candidate and its verdict), labelled ``"round 2
        greedy"`` / ``"round 2 sample k"``; never the failed candidate again."""
        if limit <= 0:
            return None
        try:
            model = self.handle.wait(self.load_timeout_s)
        except (ModelLoadError, ModelNotReady) as exc:
            raise CandidateSourceError(f"the model is unavailable: {exc}") from exc
        n = max(1, min(limit, self.num_candidates or model.spec.generation.num_candidates))
        original = normalize_candidate(target.source)
        seen: set[str | None] = {_ast_key(normalize_candidate(failed.code))}
        try:
            kept, dropped, drawn = self._rewrites(model, target, original, n, seen, failed)
        except _TooLong:
            raise CandidateSourceError(
                f"{target.qualname} and the failed candidate are too long for the model's "
                "second round") from None
        for index, code in kept:
            kind = "greedy" if index == 0 else f"sample {index}"
            yield Candidate(source="model", label=f"round 2 {kind}", code=code)
        if not kept:
            raise CandidateSourceError(
                f"none of the model's {drawn} second-round outputs for {target.qualname} was a "
                f"usable rewrite ({_summary(dropped)})")
        note = f"second round: {drawn} outputs drawn for {target.qualname}, {len(kept)} kept"
        return note + (f"; dropped: {_summary(dropped)}" if dropped else "")

    def _region_rewrites(
        self,
        model: OnnxSeq2SeqModel,
        target: FunctionTarget,
        original: str,
        region: Region,
        n: int,
        seen: set[str | None],
    ) -> tuple[list[Candidate], Counter[str], int]:
        """Whole-function candidates made of the model's rewrites of one loop region
        (:mod:`perfrl.sources.regions`), spliced back into ``original``."""
        wrapper = region_function(region, target.name)
        region_target = replace(target, source=wrapper)
        try:
            kept, dropped, drawn = self._rewrites(model, region_target, wrapper, n, set())
        except _TooLong:
            return [], Counter({"region too long for the model": 1}), 0
        first = target.start_line + region.start_line - 1  # lines of the file
        last = first + region.end_line - region.start_line
        candidates = []
        for index, code in kept:
            statements = region_statements(region, code)
            spliced = None if statements is None else splice_region(original, region, statements)
            key = None if spliced is None else _ast_key(spliced)
            if spliced is None or key is None:
                dropped["region rewrite does not fit the function"] += 1
                continue
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            kind = "greedy" if index == 0 else f"sample {index}"
            candidates.append(
                Candidate(source="model", label=f"lines {first}-{last} {kind}", code=spliced)
            )
        return candidates, dropped, drawn

    def _draw(
        self,
        model: OnnxSeq2SeqModel,
        prompt: str,
        rows: int,
        greedy_first: bool,
        seed: int | None,
        sampling: dict,
    ) -> list[GeneratedSequence]:
        try:
            return model.generate(
                prompt,
                num_return=rows,
                do_sample=rows > 1 or not greedy_first,
                greedy_first=greedy_first,
                seed=seed,
                **sampling,
            )
        except Exception as exc:  # onnxruntime's errors have no common base class
            raise CandidateSourceError(
                f"the model failed while generating: {type(exc).__name__}: {exc}"
            ) from exc
