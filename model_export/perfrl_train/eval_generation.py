"""How ``perfrl-train eval`` draws candidates from a model: the way users get them.

An exported model directory (``perfrl_model.json``) is evaluated through the server's own model
source, :class:`perfrl.sources.model.ModelCandidateSource`: the same forced signature,
vocabulary mask, repetition steering, re-sampling of unusable outputs, output cleaning and
name restoring, so the report card measures what the editor shows. A PIE program is not a
function: it is read as the body of one (:func:`program_as_function`, ``def main():`` around
it) and served the same way, each rewrite's body given back as the program; one that cannot
be a function body gets the guards without a signature
(:meth:`GuardedGenerator.for_program`). A training checkpoint (``config.json``) is sampled with
PyTorch ``generate``, unguarded (for comparing checkpoints during training).

A caller may rely on every generator returning exactly ``n`` texts for a request of ``n``:
index 0 is the model's greedy output, or ``""`` when the guards dropped it (so best@1 counts
it as a miss), then the other usable outputs, then ``""`` for the slots nothing usable
filled; ``""`` never reaches the engine (it does not parse). :attr:`GuardedGenerator.dropped`
counts the outputs dropped and why, over the whole evaluation.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from perfrl.model_contract import EDIT_FORMATS

from .errors import PerfRLError

if TYPE_CHECKING:
    from perfrl.engine.types import FunctionTarget

#: ``(source, n) -> n texts``; see the module docstring.
Generator = Callable[[str, int], list[str]]


class GenerationError(PerfRLError):
    """The model cannot be loaded or is not a model directory or checkpoint."""


def _padded(texts: list[str], n: int) -> list[str]:
    return (texts + [""] * n)[:n]


#: Why a usable output is not evaluated: the first of the ``n`` slots is the greedy output's,
#: and the samples fill the others.
BEYOND_THE_SLOTS = "usable, beyond the outputs asked for"


class GuardedGenerator:
    """An exported model, drawn from as the server draws from it."""

    kind = "onnx, guarded decoding (perfrl.sources.model, as the server serves it)"

    def __init__(self, model_dir: Path, *, threads: int, temperature: float, top_k: int,
                 max_new_tokens: int, seed: int, load_timeout_s: float = 300.0) -> None:
        from perfrl.inference.background import ModelHandle, ModelNotReady
        from perfrl.inference.onnx_seq2seq import ModelLoadError, OnnxSeq2SeqModel
        from perfrl.sources.model import ModelCandidateSource

        handle = ModelHandle(Path(model_dir),
                             loader=lambda path: OnnxSeq2SeqModel.load(path, threads=threads))
        try:
            self.model = handle.wait(load_timeout_s)
        except (ModelLoadError, ModelNotReady) as exc:
            raise GenerationError(f"cannot load the model {model_dir}: {exc}") from exc
        self.source = ModelCandidateSource(handle, temperature=temperature, top_k=top_k,
                                           seed=seed, max_new_tokens=max_new_tokens)
        self.dropped: Counter[str] = Counter()
        self.drawn = 0

    # -- functions ------------------------------------------------------------------------

    def for_target(self, target: FunctionTarget, n: int) -> list[str]:
        """``n`` texts for one function of a real file (the engine's target), through the
        server's :class:`ModelCandidateSource` (whole-function and loop-region rewrites)."""
        from perfrl.engine.candidate_source import CandidateSourceError

        self.source.num_candidates = n
        candidates = []
        generator = self.source.generate(target, n)
        try:
            while True:
                candidates.append(next(generator))
        except StopIteration as stop:
            self._count(str(stop.value or ""), n)
        except CandidateSourceError as exc:
            # No usable output (or a function the model cannot read): a miss, with a reason.
            self._count(str(exc).replace(target.qualname, "the function"), n)
            return [""] * n
        greedy = [c.code for c in candidates if c.label == "greedy"]
        others = [c.code for c in candidates if c.label != "greedy"]
        # The first slot is the greedy output's (best@1), empty when it was dropped; a usable
        # sample that then finds no slot is accounted for, so that drawn = served + dropped.
        texts = [greedy[0] if greedy else "", *others]
        if len(texts) > n:
            self.dropped[BEYOND_THE_SLOTS] += len(texts) - n
        return _padded(texts, n)

    def _count(self, message: str, n: int) -> None:
        """Add the source's own account (its note or error: "N outputs drawn ..., dropped:
        why: count; ..." / "none of the model's N outputs ... (why: count; ...)")."""
        drawn, dropped = _parse_account(message)
        self.drawn += drawn if drawn is not None else n
        if dropped:
            self.dropped.update(dropped)
        elif drawn is None and message:
            self.dropped[message.split(":")[0].split(" for ")[0]] += n

    def __call__(self, source: str, n: int) -> list[str]:
        """``n`` texts for ``source``: a lone function is served as a file holding just it;
        a program (PIE) as the body of a function (:func:`program_as_function`: the models
        read and write functions), each rewrite's body becoming the program again; a program
        that cannot be a function body through :meth:`for_program`."""
        target = target_for_source(source)
        if target is not None:
            return self.for_target(target, n)
        wrapped = program_as_function(source)
        target = None if wrapped is None else target_for_source(wrapped)
        if target is None:
            return self.for_program(source, n)
        return [function_body(text) for text in self.for_target(target, n)]

    # -- programs -------------------------------------------------------------------------

    def for_program(self, program: str, n: int) -> list[str]:
        """``n`` rewrites of a whole program with the server's guards except the forced
        signature: vocabulary mask, repetition steering, and outputs that do not parse (or
        looped) drawn again, at most ``resample_rounds`` more times."""
        from perfrl.edit_script import SCRIPT_START
        from perfrl.inference.decoding import RepetitionStop
        from perfrl.sources.abstraction import model_input, names_kept_for
        from perfrl.sources.model import output_words, outputs_as_code

        model = self.model
        mode = model.spec.input_abstraction
        try:
            text, table = model_input(program, mode, names_kept_for(mode, program, program),
                                      model.spec.docstrings)
        except ValueError:
            self.dropped["the model cannot read the program"] += n
            return [""] * n
        prompt = model.prompt_for(text)
        constraints = model.output_constraints(
            forced_start=SCRIPT_START if model.spec.output_format in EDIT_FORMATS else "",
            words=None if table is None else output_words(text, table),
            repetition=RepetitionStop(steer=True), allow_non_ascii=not text.isascii())
        defaults = model.spec.generation
        slots: list[str] = [""] * n
        todo = list(range(n))
        seen: set[str] = set()
        for round_ in range(1 + max(0, self.source.resample_rounds)):
            if not todo:
                break
            seed = self.source.seed
            if seed is not None and round_ > 0:
                seed += 7919 * round_  # as the server's re-draws
            outputs = model.generate(
                prompt, num_return=len(todo), do_sample=len(todo) > 1 or round_ > 0,
                greedy_first=round_ == 0, seed=seed, constraints=constraints,
                temperature=(defaults.temperature if self.source.temperature is None
                             else self.source.temperature),
                top_k=defaults.top_k if self.source.top_k is None else self.source.top_k,
                top_p=defaults.top_p, max_new_tokens=self.source.max_new_tokens)
            self.drawn += len(outputs)
            outputs, unusable = outputs_as_code(outputs, text, table, model.spec.output_format)
            retry = []
            for position, (slot, output) in enumerate(zip(todo, outputs, strict=True)):
                why = unusable.get(position) or _program_problem(output, program, seen)
                if why:
                    self.dropped[why] += 1
                    if why not in ("duplicate", "same as the original"):
                        retry.append(slot)
                    continue
                slots[slot] = output.text
            # The greedy slot is not drawn again: a re-drawn sample is not the greedy output.
            todo = [slot for slot in retry if slot != 0]
        return slots


def _program_problem(output, original: str, seen: set[str]) -> str:
    from perfrl.sources.model import LOOPED

    if output.looped:
        return LOOPED
    try:
        key = ast.dump(ast.parse(output.text))
    except (SyntaxError, ValueError):
        return "does not parse" + ("" if output.finished else " (cut at the length limit)")
    if not output.text.strip():
        return "empty"
    if key == ast.dump(ast.parse(original)):
        return "same as the original"
    if key in seen:
        return "duplicate"
    seen.add(key)
    return ""


def _parse_account(message: str) -> tuple[int | None, Counter[str]]:
    """``(outputs drawn, dropped by reason)`` from a ModelCandidateSource note or error."""
    drawn = None
    words = message.split()
    for i, word in enumerate(words):
        if word.isdigit() and i + 1 < len(words) and words[i + 1] == "outputs":
            drawn = int(word)
            break
    summary = ""
    # What follows "; mended: " counts outputs kept (their slips mended), not dropped ones.
    message = message.split("; mended: ", 1)[0]
    if "; dropped: " in message:
        summary = message.split("; dropped: ", 1)[1]
    elif message.endswith(")") and "(" in message and message.startswith("none of"):
        summary = message[message.index("(") + 1:-1]
    dropped: Counter[str] = Counter()
    for item in filter(None, summary.split("; ")):
        why, _, count = item.rpartition(": ")
        if why and count.isdigit():
            dropped[why] += int(count)
    return drawn, dropped


#: The function a program is read as: its name is a placeholder to the model either way.
PROGRAM_FUNCTION = "main"


def program_as_function(program: str) -> str | None:
    """``program`` as the body of ``def main():`` (each line indented by four spaces), or
    None when it cannot be one: it does not parse, or holds what a function body may not
    (``from m import *``, ``from __future__ import``, ``yield`` or ``return`` at its top
    level, ``nonlocal``). Only the model's view changes: its rewrite is judged as the program
    :func:`function_body` gives back."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
                node.module == "__future__" or any(a.name == "*" for a in node.names)):
            return None
        if isinstance(node, ast.Nonlocal):
            return None
    if any(isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom))
           for statement in tree.body if not isinstance(
               statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
           for node in ast.walk(statement)):
        return None
    body = "".join("    " + line if line.strip() else line
                   for line in program.splitlines(keepends=True))
    wrapped = f"def {PROGRAM_FUNCTION}():\n" + (body if body.strip() else "    pass\n")
    try:
        ast.parse(wrapped)
    except SyntaxError:  # a line continued inside a string, say
        return None
    return wrapped


def function_body(text: str) -> str:
    """The program a rewrite of :func:`program_as_function`'s function stands for: its body
    dedented by the four spaces it was given (``""`` for an empty slot or a text that is not
    that one function)."""
    if not text.strip():
        return ""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return ""
    function = tree.body[0]
    lines = text.splitlines(keepends=True)
    body = lines[function.body[0].lineno - 1:]
    return "".join(line[4:] if line.startswith("    ") else line for line in body)


def target_for_source(source: str) -> FunctionTarget | None:
    """A :class:`FunctionTarget` for a text that holds one top-level function (imports and
    constants around it allowed), as if it were a file of its own; None for anything else."""
    from perfrl.engine.locate import TargetNotFound, locate_function_at

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    functions = [node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(functions) != 1:
        return None
    others = [node for node in tree.body if node is not functions[0]]
    if any(not (isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign))
                or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)))
           for node in others):
        return None  # a program around the function: not what the server is asked for
    try:
        return locate_function_at(Path("/perfrl-eval/candidate_input.py"),
                                  functions[0].lineno, Path("/perfrl-eval"), text=source)
    except (TargetNotFound, OSError, ValueError):
        return None


def load_generator(path: Path, *, threads: int, temperature: float, top_k: int,
                   max_new_tokens: int, seed: int) -> tuple[Generator, str]:
    """The generator for a model directory (guarded, as served) or a checkpoint, and its kind."""
    path = Path(path)
    if (path / "perfrl_model.json").is_file():
        generator = GuardedGenerator(path, threads=threads, temperature=temperature,
                                     top_k=top_k, max_new_tokens=max_new_tokens, seed=seed)
        return generator, generator.kind
    if (path / "config.json").is_file():
        return torch_generator(path, temperature=temperature, top_k=top_k,
                               max_new_tokens=max_new_tokens, seed=seed), "pytorch checkpoint"
    raise GenerationError(f"{path} is neither an exported model (perfrl_model.json) nor a "
                          "checkpoint (config.json)")


def torch_generator(path: Path, *, temperature: float, top_k: int, max_new_tokens: int,
                    seed: int) -> Generator:
    """Greedy + samples from a training checkpoint with PyTorch ``generate`` (no guards). An
    edit model's (``output_format`` "edit-v1" or "edit-v2") scripts are applied to the
    source, as the server applies them; a script that cannot be applied gives an empty output
    (it cannot pass)."""
    import torch

    from perfrl.edit_script import EditScriptError, apply_edit_script

    from .checkpoint import load_checkpoint
    from .examples import encode_source
    from .export import checkpoint_output_format
    from .rrhf import generate_candidates

    model, tok, meta = load_checkpoint(path)
    max_src = int(meta.get("config", {}).get("max_source_length", 512))
    output_format = checkpoint_output_format(meta)
    torch.manual_seed(seed)

    def as_code(source: str, text: str) -> str:
        if output_format not in EDIT_FORMATS:
            return text
        try:
            return apply_edit_script(source, text, output_format == "edit-v2")
        except EditScriptError:
            return ""

    def generate(source: str, n: int) -> list[str]:
        ids = encode_source(tok, source, max_src, output_format=output_format)
        texts = generate_candidates(model, tok, ids, n - 1, temperature, top_k, max_new_tokens)
        return _padded([as_code(source, text) for text in texts], n)

    return generate
