"""Candidates written by the rewrite model: one greedy output plus samples.

The target's source (dedented) goes into the trained prompt format
(:func:`perfrl.model_contract.build_prompt`); the model decodes the greedy sequence and
``n - 1`` samples as one batch after one encoder pass. Each output is cleaned by the engine
(:func:`~perfrl.engine.candidate_text.clean_candidate`, which parses it once) before it becomes
a candidate, and the candidate goes to the engine in that clean form, never parsed again:

- Markdown fences and prose around the code are removed and the code dedented;
- when the output holds more than the function (imports, other statements, a second def),
  only the ``def`` with the target's name is kept;
- when the output is a single function whose name or parameter names differ from the
  target's (a small model often invents them), it gets the target's names back: the function
  is renamed (recursive calls included) and its parameters position by position when their
  number and kinds match (the renamed text is new, and cleaned in turn); the verifier then
  judges its body like any other candidate's (a signature of another shape stays invalid);
- outputs that do not parse or that define no function of the target's name are dropped, and
  so are those the engine's one de-duplication rule
  (:class:`~perfrl.engine.candidate_text.DistinctCandidates`) refuses: a repeat of an earlier
  output or the original function (same normalised AST). The source applies that rule to its
  own draws because what it draws next depends on it (a duplicate is not drawn again).

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

import io
import tokenize
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest
from pathlib import Path

from perfrl.edit_script import SCRIPT_START, EditScriptError, apply_edit_script, code_lines
from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.candidate_text import (
    DUPLICATE,
    SAME_AS_ORIGINAL,
    CleanCandidate,
    DistinctCandidates,
    FunctionNode,
    clean_candidate,
    original_candidate,
    parse_candidate_text,
)
from perfrl.engine.feedback_round import SECOND_ROUND_LABEL
from perfrl.engine.types import Candidate, FunctionTarget
from perfrl.inference.attribute_guard import receiver_types
from perfrl.inference.background import ModelHandle, ModelNotReady
from perfrl.inference.decoding import OutputConstraints, RepetitionStop
from perfrl.inference.onnx_seq2seq import GeneratedSequence, ModelLoadError, OnnxSeq2SeqModel
from perfrl.inference.output_vocabulary import python_words, words_of
from perfrl.model_contract import EDIT_FORMATS, FailedAttempt
from perfrl.sources.abstraction import (
    Abstraction,
    invented_strings,
    model_input,
    model_output,
    names_kept_for,
    string_placeholders,
)
from perfrl.sources.class_attributes import (
    MISSING_CLASS_ATTRIBUTE,
    KnownClass,
    missing_class_attributes,
    own_class,
    project_classes,
)
from perfrl.sources.edit_sites import site_header, site_spans, site_text
from perfrl.sources.endless_loops import ENDLESS_LOOP, endless_loop
from perfrl.sources.fresh_names import name_fresh_variables
from perfrl.sources.identifiers import rename_identifiers
from perfrl.sources.lost_result import LOST_RESULT, loses_result
from perfrl.sources.missing_attributes import MISSING_ATTRIBUTE, missing_attributes
from perfrl.sources.prompts import model_prompt
from perfrl.sources.regions import (
    Region,
    extract_regions,
    region_function,
    region_statements,
    splice_region,
)
from perfrl.sources.slip_repairs import repair_slips
from perfrl.sources.unbound_names import function_names, module_names, unbound_names
from perfrl.sources.unhashable_keys import UNHASHABLE_KEY, unhashable_uses

DEFAULT_LOAD_TIMEOUT_S = 120.0
#: Extra draws for outputs that were unusable (not for duplicates): rounds at most.
DEFAULT_RESAMPLE_ROUNDS = 6
#: Name placeholders (``vN``) an abstracted output may introduce beyond the input's.
FRESH_PLACEHOLDERS = 8
#: Why an output was dropped when it was not worth drawing again.
_NOT_RESAMPLED = (DUPLICATE, SAME_AS_ORIGINAL)
NOT_FITTING = "region rewrite does not fit the function"
LOOPED = "repetition loop"
INVENTED_STRING = "uses a string placeholder the function does not have"
UNBOUND = "reads a name nothing defines"
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


def _parameter_names(function: FunctionNode) -> list[list[str]]:
    a = function.args
    groups = [a.posonlyargs + a.args, [a.vararg] if a.vararg else [], a.kwonlyargs,
              [a.kwarg] if a.kwarg else []]
    return [[arg.arg for arg in group] for group in groups]


def _signature_renames(
    code: str, function: FunctionNode, name: str, original: FunctionNode | None
) -> dict[str, str]:
    """Old name -> new name for :func:`restore_signature_names` (empty: nothing to rename)."""
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
    return mapping


def restore_signature_names(code: str, name: str, original_source: str) -> str:
    """``code`` with the function name ``name`` and the parameter names of the function in
    ``original_source`` when it is a single function that uses other names for them.

    The function is renamed (recursive calls included). Parameters are renamed position by
    position, only when every kind (positional, ``*args``, keyword-only, ``**kwargs``) has
    as many parameters as the target's and no target name is already used in the output for
    something else. Attribute names (``obj.old``) are never touched. Anything else (code that
    does not parse, several statements) is returned as it is."""
    function = parse_candidate_text(code).function
    if function is None:
        return code
    original = parse_candidate_text(original_source).function
    mapping = _signature_renames(code, function, name, original)
    return rename_identifiers(code, mapping) if mapping else code


def _with_named_variables(candidate: CleanCandidate, target: FunctionTarget,
                          original: CleanCandidate) -> CleanCandidate:
    """``candidate`` with the variables the model introduced named after what they hold
    (:mod:`perfrl.sources.fresh_names`), cleaned again; as it is when nothing was renamed.
    Named only here, on the whole function as it will be verified, so that a name is checked
    against every name of the function (a region's rewrite alone does not see them)."""
    if candidate.module is None:
        return candidate
    code = name_fresh_variables(candidate.code, candidate.module, original.module)
    if code == candidate.code:
        return candidate
    return clean_candidate(Candidate(source=candidate.source, label=candidate.label, code=code),
                           target, candidate.number)


def _draw_label(index: int) -> str:
    """The label of the model's ``index``-th output (0: the greedy one)."""
    return "greedy" if index == 0 else f"sample {index}"


def clean_output(
    text: str, target: FunctionTarget, original: CleanCandidate, index: int
) -> CleanCandidate:
    """The model's ``index``-th output for ``target`` (``original``: the target's own clean
    form), cleaned by the engine: the ``def`` of the target's name taken out of a module, and
    the target's names given back (a renamed output is a new text, cleaned in turn). Its
    ``flaw`` says why it cannot be used ("" when it can)."""
    raw = Candidate(source="model", label=_draw_label(index), code=text)
    clean = clean_candidate(raw, target, index + 1, extract_definition=True)
    function = clean.function
    if function is None:
        return clean
    mapping = _signature_renames(clean.code, function, target.name, original.function)
    if not mapping:
        return clean
    renamed = replace(raw, code=rename_identifiers(clean.code, mapping))
    return clean_candidate(renamed, target, index + 1)


def clean_model_output(text: str, target: FunctionTarget) -> tuple[str | None, str]:
    """The function in one model output, or ``None`` and why it was dropped."""
    clean = clean_output(text, target, original_candidate(target), 0)
    return (None, clean.flaw) if clean.flaw else (clean.code, "")


def apply_edits(
    outputs: Sequence[GeneratedSequence], model_text: str, line_refs: bool = False
) -> tuple[list[GeneratedSequence], dict[int, str]]:
    """The outputs of an edit model as the functions their edit scripts make of
    ``model_text`` (:func:`perfrl.edit_script.apply_edit_script`; ``line_refs``: an
    "edit-v2" model's), and why, by position, the scripts that cannot be applied were not
    (their outputs are left as they were)."""
    applied: list[GeneratedSequence] = []
    unusable: dict[int, str] = {}
    for position, output in enumerate(outputs):
        if output.looped:
            applied.append(output)
            continue
        try:
            applied.append(replace(output, text=apply_edit_script(model_text, output.text,
                                                                  line_refs)))
        except EditScriptError as exc:
            unusable[position] = str(exc)
            applied.append(output)
    return applied, unusable


def outputs_as_code(
    outputs: Sequence[GeneratedSequence],
    model_text: str,
    table: Abstraction | None,
    output_format: str,
) -> tuple[list[GeneratedSequence], dict[int, str]]:
    """The outputs as the code they stand for: an edit model's scripts applied to
    ``model_text`` (:func:`apply_edits`), then placeholders mapped back through ``table``;
    and, by position, why the unusable ones cannot be used: scripts that cannot be applied,
    and outputs that write a string placeholder the input does not have
    (:func:`~perfrl.sources.abstraction.invented_strings`), which no mapping can turn into the
    string the model meant."""
    unusable: dict[int, str] = {}
    if output_format in EDIT_FORMATS:
        outputs, unusable = apply_edits(outputs, model_text, output_format == "edit-v2")
    if table is not None:
        for position, output in enumerate(outputs):
            if position not in unusable and invented_strings(output.text, table):
                unusable[position] = INVENTED_STRING
        outputs = [replace(o, text=model_output(o.text, table)) for o in outputs]
    return list(outputs), unusable


def select_clean(
    outputs: Sequence[GeneratedSequence],
    target: FunctionTarget,
    original: CleanCandidate,
    distinct: DistinctCandidates,
    first_index: int = 0,
    unusable: dict[int, str] | None = None,
    known_names: frozenset[str] | None = None,
    repaired: Counter[str] | None = None,
    classes: ClassContext | None = None,
) -> tuple[list[CleanCandidate], Counter[str]]:
    """The outputs worth verifying, cleaned, in order (the ``k``-th output counts as draw
    ``first_index + k``), and a count of the reasons the others were dropped. ``distinct``
    (the one de-duplication rule, see :class:`DistinctCandidates`) carries what was kept so
    far across calls; ``unusable`` gives, by position in ``outputs``, those already known to
    be unusable and why (edit scripts that cannot be applied); with ``known_names`` (what the
    target's module and function make visible, :mod:`perfrl.sources.unbound_names`), an
    output reading a name nothing defines is dropped as :data:`UNBOUND`; one returning
    nothing where the function returns a value, as
    :data:`~perfrl.sources.lost_result.LOST_RESULT`; one reading an attribute its annotated
    parameter's type does not have, as
    :data:`~perfrl.sources.missing_attributes.MISSING_ATTRIBUTE`, or one the project's own
    class does not have, as :data:`~perfrl.sources.class_attributes.MISSING_CLASS_ATTRIBUTE`;
    one putting an object of an unhashable class into a set or a dict, as
    :data:`~perfrl.sources.unhashable_keys.UNHASHABLE_KEY`; one with a ``while`` loop
    nothing in it can end, as :data:`~perfrl.sources.endless_loops.ENDLESS_LOOP`. With ``repaired``,
    each usable output first has the model's copying slips mended
    (:func:`~perfrl.sources.slip_repairs.repair_slips`) and ``repaired`` counts the repairs.
    ``classes`` is the target's :class:`ClassContext` when the caller already read it."""
    kept: list[CleanCandidate] = []
    dropped: Counter[str] = Counter()
    unusable = unusable or {}
    if classes is None:
        classes = ClassContext.of(target)
    for position, output in enumerate(outputs):
        if output.looped:
            dropped[LOOPED] += 1
            continue
        why = unusable.get(position)
        if why is None:
            clean = clean_output(output.text, target, original, first_index + position)
            why = clean.flaw
            if not why and repaired is not None:
                clean = _mended(clean, target, original, repaired)
        if not why and clean.function is not None:
            why = _certain_failure(clean.function, original.function, known_names, classes)
        if why:
            dropped[why + ("" if output.finished else " (cut at the length limit)")] += 1
            continue
        why = distinct.admit(clean)
        if why is not None:
            dropped[why] += 1
            continue
        kept.append(clean)
    return kept, dropped


@dataclass(frozen=True)
class ClassContext:
    """The project's known classes the target's module names, and the target's own class
    (read once per round of draws: the imported modules are files)."""

    known: dict[str, KnownClass]
    own: str | None

    @classmethod
    def of(cls, target: FunctionTarget) -> ClassContext:
        return cls(project_classes(target), own_class(target))


def _certain_failure(function: FunctionNode, original: FunctionNode | None,
                     known_names: frozenset[str] | None, classes: ClassContext) -> str:
    """Why ``function`` (a usable output) is certain to fail the verifier, or "": each check
    is narrow (its module says exactly what it covers), so a rewrite that could pass is kept."""
    if unbound_names(function, original, known_names):
        return UNBOUND
    if loses_result(function, original):
        return LOST_RESULT
    if missing_attributes(function, original):
        return MISSING_ATTRIBUTE
    if missing_class_attributes(function, original, classes.known, classes.own):
        return MISSING_CLASS_ATTRIBUTE
    if unhashable_uses(function, original, classes.known, classes.own):
        return UNHASHABLE_KEY
    if endless_loop(function) is not None:
        return ENDLESS_LOOP
    return ""


def _mended(clean: CleanCandidate, target: FunctionTarget, original: CleanCandidate,
            repaired: Counter[str]) -> CleanCandidate:
    """``clean`` with its copying slips mended (counted in ``repaired``), cleaned again; as
    it was when there was nothing to mend or the mended text is not a usable function."""
    if clean.function is None or original.function is None:
        return clean
    code, repairs = repair_slips(clean.code, clean.function, original.function)
    if not repairs:
        return clean
    # A plain Candidate: clean_candidate hands a CleanCandidate back as it is.
    mended = clean_candidate(Candidate(source=clean.source, label=clean.label, code=code),
                             target, clean.number)
    if mended.flaw:
        return clean
    repaired.update(repairs)
    return mended


def select_usable(
    outputs: Sequence[GeneratedSequence],
    target: FunctionTarget,
    original: str,
    distinct: DistinctCandidates | None = None,
) -> tuple[list[tuple[int, str]], Counter[str]]:
    """(index, cleaned code) of the outputs worth verifying, in order, and a count of the
    reasons the others were dropped (see :func:`select_clean`). ``original`` is the target's
    dedented source."""
    original_clean = original_candidate(replace(target, source=original))
    if distinct is None:
        distinct = DistinctCandidates(original_clean)
    kept, dropped = select_clean(outputs, target, original_clean, distinct)
    return [(clean.number - 1, clean.code) for clean in kept], dropped


def split_rows(rows: int, groups: int) -> list[int]:
    """``rows`` outputs shared among ``groups`` groups as evenly as can be, the first groups
    taking the remainder (the first group is the model's own choice: it keeps the greedy
    output when there is one row)."""
    share, extra = divmod(rows, groups)
    return [share + (1 if group < extra else 0) for group in range(groups)]


def _summary(dropped: Counter[str]) -> str:
    return "; ".join(f"{why}: {count}" for why, count in dropped.most_common())


def _accounts(dropped: Counter[str], repaired: Counter[str]) -> str:
    """The end of a job's note: why outputs were dropped, and which slips were mended."""
    text = f"; dropped: {_summary(dropped)}" if dropped else ""
    return text + (f"; mended: {_summary(repaired)}" if repaired else "")


def _fresh_names(table: Abstraction) -> frozenset[str]:
    """The name placeholders a rewrite may introduce: the next ``FRESH_PLACEHOLDERS``."""
    first = len(table.names)
    return frozenset(f"v{i}" for i in range(first, first + FRESH_PLACEHOLDERS))


def output_words(model_text: str, table: Abstraction) -> frozenset[str]:
    """The words an abstracted model's output may use: the input's own, fresh name
    placeholders (new locals), and Python's common vocabulary
    (:func:`perfrl.inference.output_vocabulary.python_words`). No fresh string placeholder:
    it would stand for no string of the input (see :data:`INVENTED_STRING`)."""
    own_names = {f"v{i}" for i in range(len(table.names))}
    return python_words() | words_of(model_text) | own_names | _fresh_names(table)


def site_words(model_text: str, span: tuple[int, int], table: Abstraction) -> frozenset[str]:
    """The words an edit at a forced site may use: those of the lines it replaces, fresh
    name placeholders and Python's common vocabulary, not the rest of the input's names.

    A one-line fix writes the names of the line it fixes: asked for
    ``if v7 not in v1:`` in place of ``if v7 not in list(v1.keys()):``, a model that only
    has the fix's shape writes ``if v6 not in v3:`` with every name of the input open to it."""
    return python_words() | words_of(site_text(model_text, span)) | _fresh_names(table)


class ModelCandidateSource:
    """Rewrites proposed by the model behind ``model`` (a :class:`ModelHandle` or a model
    directory). Unset generation parameters (sampling, ``whole_words``) come from the model's
    ``perfrl_model.json``.
    ``guarded=False`` decodes without constraints and ``resample_rounds=0`` draws once (how it
    was before: for comparisons). With an edit model, the outputs are shared among the
    model's own choice of lines and a header forced at each loop region
    (:mod:`perfrl.sources.edit_sites`; ``propose_sites=False``: the model's choice only).
    Unguarded decoding forces nothing, so it proposes no site either. A function longer than
    ``region_min_lines`` (default: the model's spec) is also rewritten one loop region at a
    time (:mod:`perfrl.sources.regions`). ``mend_slips`` (on by default) mends two copying
    slips of index-loop rewrites before the verifier sees them
    (:mod:`perfrl.sources.slip_repairs`); off, the outputs are verified as the model wrote
    them (for measuring the model alone). ``indent_guard`` (on by default) keeps an edit
    model's hunk lines at indentations Python's blocks allow where they land, as statements
    that parse (:mod:`perfrl.inference.indent_guard`); ``string_guard`` (on by default) lets
    an abstracting model write strings only as its input's placeholders
    (:mod:`perfrl.inference.string_guard`)."""

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
        propose_sites: bool = True,
        copy_bonus: float = 0.0,
        whole_words: bool | None = None,
        region_min_lines: int | None = None,
        site_words: bool = False,
        attribute_guard: bool = False,
        mend_slips: bool = True,
        indent_guard: bool = True,
        string_guard: bool = True,
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
        self.propose_sites = propose_sites
        self.copy_bonus = copy_bonus
        self.whole_words = whole_words
        self.region_min_lines = region_min_lines
        self.site_words = site_words
        self.attribute_guard = attribute_guard
        self.mend_slips = mend_slips
        self.indent_guard = indent_guard
        self.string_guard = string_guard

    def generate(
        self, target: FunctionTarget, limit: int
    ) -> Generator[CleanCandidate, None, str | None]:
        if limit <= 0:
            return None
        model, n = self._model_and_count(limit)
        original = original_candidate(target)
        regions = []
        # Functions longer than this (lines, dedented) are also rewritten region by region.
        region_min_lines = (model.spec.region_min_lines if self.region_min_lines is None
                            else self.region_min_lines)
        if len(original.code.splitlines()) > region_min_lines:
            regions = extract_regions(original.code)[:MAX_REGIONS]
        # One rule for what counts as new, across the whole function's and the regions' rewrites.
        distinct = DistinctCandidates(original)
        dropped: Counter[str] = Counter()
        repaired: Counter[str] = Counter()
        whole: list[CleanCandidate] = []
        drawn = 0
        try:
            whole, whole_dropped, drawn = self._rewrites(model, target, original, n, distinct,
                                                         repaired=repaired)
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
        by_region: list[CleanCandidate] = []
        for region in regions:
            candidates, region_dropped, region_drawn = self._region_rewrites(
                model, target, original, region, max(2, n // len(regions)), distinct, repaired
            )
            by_region += candidates
            dropped += region_dropped
            drawn += region_drawn
        # Whole-function and region rewrites alternate, so that both kinds survive the limit.
        merged = [c for pair in zip_longest(whole, by_region) for c in pair if c is not None]
        if len(merged) > limit:
            # Whole-function and region draws together can give more than was asked; the note
            # accounts for every output drawn, these included.
            dropped[f"usable, beyond the {limit} asked"] += len(merged) - limit
            merged = merged[:limit]
        yield from (_with_named_variables(c, target, original) for c in merged)
        if not merged:
            raise CandidateSourceError(
                f"none of the model's {drawn} outputs for {target.qualname} was a usable "
                f"rewrite ({_summary(dropped)})"
            )
        note = f"{drawn} outputs drawn for {target.qualname}, {len(merged)} kept"
        regional = sum(1 for c in merged if c.label.startswith("lines "))
        if regional:
            note += f" ({regional} of them rewrite a loop region)"
        return note + _accounts(dropped, repaired)

    def _rewrites(
        self,
        model: OnnxSeq2SeqModel,
        target: FunctionTarget,
        original: CleanCandidate,
        n: int,
        distinct: DistinctCandidates,
        failed: FailedAttempt | None = None,
        visible: frozenset[str] = frozenset(),
        repaired: Counter[str] | None = None,
    ) -> tuple[list[CleanCandidate], Counter[str], int]:
        """The usable rewrites of ``original`` (the target's function, or a region's
        function), cleaned, why the others were dropped, and how many outputs were drawn:
        ``n`` first (greedy + samples), then again for the unusable ones, at most
        ``resample_rounds`` times. With ``failed``, the prompt is the second round's
        (:func:`perfrl.sources.prompts.model_prompt`); ``visible``: names the rewrite may read
        beyond the module's and ``original``'s (a region's: the whole function's); the slips
        mended are counted in ``repaired`` (when :attr:`mend_slips`). Raises
        :class:`_TooLong`."""
        function_text = original.code
        defaults = model.spec.generation
        keep = names_kept_for(model.spec.input_abstraction, target.file_text, function_text)
        try:
            model_text, table = model_input(function_text, model.spec.input_abstraction, keep,
                                            model.spec.docstrings)
        except ValueError as exc:
            raise CandidateSourceError(f"the model cannot read {target.qualname}: {exc}") from exc
        prompt = model_prompt(model, target, model_text, table, failed)
        if model.encode_prompt(prompt).truncated:
            raise _TooLong()
        output_format = model.spec.output_format
        # What each group of outputs is forced to start with: an edit script with its first
        # hunk's header (the model's own choice of lines, then each proposed site's), a
        # function with the target's own signature.
        # And what each group copies from, with a copy bias: a function the whole input (its
        # forced signature is the input's start); an edit at a proposed site that site's
        # unchanged script; none for an edit whose lines the model chooses (its header's
        # digits would match the input's placeholders: `@3-6` copying on from `v6`).
        starts = [signature_header(model_text)]
        copied = [model_text]
        spans: list[tuple[int, int]] = []
        if output_format in EDIT_FORMATS:
            starts = [SCRIPT_START]
            copied = [""]
            if self.propose_sites:
                spans = site_spans(model_text)  # the loop regions, found once
                starts += [site_header(span) for span in spans]
                copied += [site_text(model_text, span) for span in spans]
        groups: list[OutputConstraints | None] = [None]
        input_lines = code_lines(model_text)  # what an edit-v2 reference may name
        if self.guarded:
            words = None if table is None else output_words(model_text, table)
            # Parameters annotated as builtin containers get only their type's attributes.
            receivers = receiver_types(model_text) if self.attribute_guard else None
            whole_words = (defaults.whole_words if self.whole_words is None
                           else self.whole_words)
            # Each group's words: the whole input's, or (site_words) a forced site's own.
            vocabularies = [words] + [
                site_words(model_text, span, table)
                if self.site_words and table is not None else words for span in spans]
            groups = [
                model.output_constraints(
                    forced_start=start,
                    words=group_words,
                    repetition=RepetitionStop(steer=True),
                    allow_non_ascii=not model_text.isascii(),
                    copy_from=copy_from,
                    copy_bonus=self.copy_bonus,
                    whole_words=whole_words,
                    line_refs=len(input_lines) if output_format == "edit-v2" else 0,
                    receivers=receivers,
                    edited_lines=(input_lines
                                  if self.indent_guard and output_format in EDIT_FORMATS
                                  else None),
                    string_placeholders=(string_placeholders(table)
                                         if self.string_guard and table is not None else None),
                )
                for start, copy_from, group_words in zip(starts, copied, vocabularies, strict=True)
            ]
        sampling = {
            "temperature": defaults.temperature if self.temperature is None else self.temperature,
            "top_k": defaults.top_k if self.top_k is None else self.top_k,
            "top_p": defaults.top_p if self.top_p is None else self.top_p,
            "max_new_tokens": self.max_new_tokens,
        }
        known = module_names(target.file_text)
        if known is not None:
            known |= visible
        classes = ClassContext.of(target)
        kept: list[CleanCandidate] = []
        dropped: Counter[str] = Counter()
        drawn = 0
        rows = n
        for round_ in range(1 + max(0, self.resample_rounds)):
            seed = self.seed if self.seed is None or round_ == 0 else self.seed + 7919 * round_
            outputs = []
            for group, (constraints, group_rows) in enumerate(
                zip(groups, split_rows(rows, len(groups)))
            ):
                if group_rows == 0:
                    continue
                group_seed = None if seed is None else seed + 104729 * group
                outputs += self._draw(model, prompt, group_rows, greedy_first=round_ == 0,
                                      seed=group_seed,
                                      sampling={**sampling, "constraints": constraints})
            outputs, unusable = outputs_as_code(outputs, model_text, table, output_format)
            round_kept, round_dropped = select_clean(
                outputs, target, original, distinct, drawn, unusable, known,
                repaired if self.mend_slips else None, classes)
            kept += round_kept
            dropped += round_dropped
            drawn += len(outputs)
            # Draw again for the outputs that could not be used, not for duplicates: a
            # duplicate says the model has nothing else likely to offer.
            rows = sum(c for why, c in round_dropped.items() if why not in _NOT_RESAMPLED)
            rows = min(rows, n - len(kept))
            if rows <= 0:
                break
        return kept, dropped, drawn

    def _model_and_count(self, limit: int) -> tuple[OnnxSeq2SeqModel, int]:
        """The loaded model (waiting for it) and how many outputs to ask for within ``limit``.
        Raises CandidateSourceError when the model cannot be had."""
        try:
            model = self.handle.wait(self.load_timeout_s)
        except (ModelLoadError, ModelNotReady) as exc:
            raise CandidateSourceError(f"the model is unavailable: {exc}") from exc
        wanted = self.num_candidates or model.spec.generation.num_candidates
        return model, max(1, min(limit, wanted))

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
        model, n = self._model_and_count(limit)
        original = original_candidate(target)
        distinct = DistinctCandidates(original)
        # Never the failed candidate again: it is admitted first, so a copy is a duplicate.
        distinct.admit(clean_candidate(
            Candidate(source="model", label="failed", code=failed.code), target, 0))
        repaired: Counter[str] = Counter()
        try:
            kept, dropped, drawn = self._rewrites(model, target, original, n, distinct, failed,
                                                  repaired=repaired)
        except _TooLong:
            raise CandidateSourceError(
                f"{target.qualname} and the failed candidate are too long for the model's "
                "second round") from None
        for candidate in kept:
            yield replace(_with_named_variables(candidate, target, original),
                          label=SECOND_ROUND_LABEL + candidate.label)
        if not kept:
            raise CandidateSourceError(
                f"none of the model's {drawn} second-round outputs for {target.qualname} was a "
                f"usable rewrite ({_summary(dropped)})")
        note = f"second round: {drawn} outputs drawn for {target.qualname}, {len(kept)} kept"
        return note + _accounts(dropped, repaired)

    def _region_rewrites(
        self,
        model: OnnxSeq2SeqModel,
        target: FunctionTarget,
        original: CleanCandidate,
        region: Region,
        n: int,
        distinct: DistinctCandidates,
        repaired: Counter[str],
    ) -> tuple[list[CleanCandidate], Counter[str], int]:
        """Whole-function candidates made of the model's rewrites of one loop region
        (:mod:`perfrl.sources.regions`), spliced back into ``original``; ``distinct`` is the
        whole function's rule (the region's own draws are told apart among themselves)."""
        region_target = replace(target, source=region_function(region, target.name))
        wrapper = original_candidate(region_target)
        try:
            kept, dropped, drawn = self._rewrites(
                model, region_target, wrapper, n, DistinctCandidates(wrapper),
                visible=function_names(original.function, (region.start_line, region.end_line)),
                repaired=repaired,
            )
        except _TooLong:
            return [], Counter({"region too long for the model": 1}), 0
        first = target.start_line + region.start_line - 1  # lines of the file
        last = first + region.end_line - region.start_line
        candidates = []
        for rewrite in kept:
            statements = region_statements(region, rewrite.function)
            if statements is None:
                dropped[NOT_FITTING] += 1
                continue
            spliced = Candidate(
                source="model",
                label=f"lines {first}-{last} {rewrite.label}",
                code=splice_region(original.code, region, statements),
            )
            # The whole function is a new text: cleaned (parsed) once, here.
            clean = clean_candidate(spliced, target, rewrite.number)
            why = NOT_FITTING if clean.flaw else distinct.admit(clean)
            if why is not None:
                dropped[why] += 1
                continue
            candidates.append(clean)
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
