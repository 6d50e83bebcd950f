"""The model-directory contract between training (``model_export``) and inference (``server``).

This module is the only thing both sides share, so it imports nothing heavy (no torch, no
transformers, no onnxruntime). A model directory holds:

- ``perfrl_model.json``: a :class:`ModelSpec` (this file's format, prompt format, token ids,
  generation defaults, file names, provenance);
- the ONNX files named by the spec, int8-quantized when ``quantization`` says so: an encoder,
  and a decoder in the spec's ``decoder_format``:

  - ``perfrl-step-v1`` (what ``perfrl-train export`` writes): ``cross_kv_file`` (encoder
    output -> cross-attention keys and values) and ``step_decoder_file`` (one token over a
    self-attention cache), built by :mod:`perfrl_train.step_decoder`;
  - ``optimum-with-past`` (earlier exports): ``decoder_file`` (first step) and
    ``decoder_with_past_file`` (later steps), as optimum's exporter writes them for
    ``text2text-generation-with-past``;
- ``tokenizer.json``: a ``tokenizers`` byte-level BPE (CodeT5 special tokens).

A caller may rely on :func:`load_model_spec` either returning a spec whose files all exist or
raising :class:`ModelContractError` with a message that names the missing or bad piece.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from perfrl.edit_script import number_lines

SPEC_FILE = "perfrl_model.json"
FORMAT_VERSION = 1
PROMPT_PREFIX = "Write faster version:\n"
#: How a model expects the function in its prompt: as written ("none"), or with its
#: identifiers and string literals replaced by placeholders ("identifiers-v1",
#: :mod:`perfrl.sources.abstraction`), its outputs then written with the same placeholders;
#: "identifiers-v2" keeps every name the function reads from its module as written (imports,
#: module constants, other functions and classes), v1 only the imported ones.
INPUT_ABSTRACTIONS = ("none", "identifiers-v1", "identifiers-v2")
DECODER_FORMAT_STEP = "perfrl-step-v1"
DECODER_FORMAT_OPTIMUM = "optimum-with-past"
DECODER_FORMATS = (DECODER_FORMAT_STEP, DECODER_FORMAT_OPTIMUM)
#: What a model's first-round prompt holds: the target alone ("plain", every model before the
#: field existed), or one retrieved example pair before it ("retrieval-v1",
#: :mod:`perfrl.memory.retrieval`; with no example it is the plain prompt).
PROMPT_FORMATS = ("plain", "retrieval-v1")
#: Whether a model was trained for a second round that shows it a failed candidate and its
#: verdict ("feedback-v1") or not ("none").
FEEDBACK_FORMATS = ("none", "feedback-v1")
#: What a model writes: the whole faster function ("function", every model before the field
#: existed), or an edit script against its input's numbered lines ("edit-v1",
#: :mod:`perfrl.edit_script`; "edit-v2": the same with line references, ``    =N``); an edit
#: model reads only the plain prompt format.
OUTPUT_FORMATS = ("function", "edit-v1", "edit-v2")
#: The output formats that are edit scripts (they read numbered lines and the edit prefix).
EDIT_FORMATS = ("edit-v1", "edit-v2")
#: Whether an abstracting model reads the function's docstring (ModelSpec.docstrings).
DOCSTRING_MODES = ("read", "omitted")
#: The task prefix of an edit model (its function follows with numbered lines).
EDIT_PROMPT_PREFIX = "Write faster edits:\n"


def task_prefix(output_format: str) -> str:
    """The prompt prefix a model of ``output_format`` is trained and exported with."""
    return EDIT_PROMPT_PREFIX if output_format in EDIT_FORMATS else PROMPT_PREFIX

#: Line headers of the prompt formats. Each starts a line; the code between them is kept
#: exactly (stripped of blank lines at both ends), so :func:`split_prompt` gives it back.
EXAMPLE_SLOW_HEADER = "Example slow version:\n"
EXAMPLE_FAST_HEADER = "Example faster version:\n"
FAILED_HEADER = "Failed attempt:\n"
VERDICT_HEADER = "Why it failed: "
RETRY_HEADER = "Write another faster version:\n"
#: A verdict's text in a feedback prompt is cut to this many characters (a test's message can
#: be long; the model reads at most ``max_source_length`` tokens).
MAX_FEEDBACK_CHARS = 240


class ModelContractError(Exception):
    """The model directory is missing, incomplete or of an unknown format."""


@dataclass
class GenerationDefaults:
    num_candidates: int = 8
    do_sample: bool = True
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    num_beams: int = 1
    max_new_tokens: int = 256
    # Guarded decoding refuses any word that no allowed word is or starts with
    # (:mod:`perfrl.inference.word_guard`). Off in specs written before the field existed;
    # a model measured with it says so here, so that it is served as it was measured.
    whole_words: bool = False


@dataclass
class ModelSpec:
    format_version: int = FORMAT_VERSION
    prompt_prefix: str = PROMPT_PREFIX
    encoder_file: str = "encoder_model.onnx"
    # One of DECODER_FORMATS; which of the four decoder file names below are used. The
    # default is the format of specs written before the field existed.
    decoder_format: str = DECODER_FORMAT_OPTIMUM
    decoder_file: str = "decoder_model.onnx"
    decoder_with_past_file: str = "decoder_with_past_model.onnx"
    cross_kv_file: str = "decoder_cross_kv.onnx"
    step_decoder_file: str = "decoder_step.onnx"
    tokenizer_file: str = "tokenizer.json"
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2
    unk_token_id: int = 3
    decoder_start_token_id: int = 0
    max_source_length: int = 512
    max_target_length: int = 256
    # Decoder shape, needed to read past key values: layers, heads, per-head size.
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_kv: int = 64
    vocab_size: int = 16000
    # "none" or "int8-dynamic-per-channel".
    quantization: str = "none"
    # One of INPUT_ABSTRACTIONS.
    input_abstraction: str = "none"
    # One of PROMPT_FORMATS and FEEDBACK_FORMATS; the defaults are what every model trained
    # before these fields existed reads, so their specs load unchanged.
    prompt_format: str = "plain"
    feedback_format: str = "none"
    # One of OUTPUT_FORMATS; the default is what every model before the field writes.
    output_format: str = "function"
    # One of DOCSTRING_MODES: whether an abstracting model reads the function's docstring
    # ("read": as its first string placeholder, the form of every training pair) or the
    # function without it ("omitted"). Either way every rewrite gets the original docstring.
    docstrings: str = "read"
    # Optional JSON lines file in the model directory with example pairs ({"slow", "fast"},
    # the model's training pairs) that a "retrieval-v1" model may be shown besides the
    # project's own verified rewrites; "" for none.
    retrieval_index_file: str = ""
    # A function longer than this many lines is also rewritten one loop region at a time
    # (:mod:`perfrl.sources.regions`: each region read as a function of its own, its rewrite
    # spliced back). 15 suits a model trained on whole functions only; a model trained on
    # region pairs (``perfrl_train.data.region_pairs``) says 0: every loop region, any length.
    region_min_lines: int = 15
    generation: GenerationDefaults = field(default_factory=GenerationDefaults)
    # Free-form provenance: base model, data, steps, metrics, date. Never read by inference.
    training: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def model_files(self) -> list[str]:
        """The files the spec's format needs (ONNX files, then the tokenizer)."""
        if self.decoder_format == DECODER_FORMAT_STEP:
            decoder = [self.cross_kv_file, self.step_decoder_file]
        else:
            decoder = [self.decoder_file, self.decoder_with_past_file]
        return [self.encoder_file, *decoder, self.tokenizer_file]

    @classmethod
    def from_json(cls, data: dict) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ModelContractError(f"unknown keys in {SPEC_FILE}: {sorted(unknown)}")
        data = dict(data)
        gen = data.pop("generation", {}) or {}
        try:
            spec = cls(generation=GenerationDefaults(**gen), **data)
        except TypeError as exc:
            raise ModelContractError(f"bad {SPEC_FILE}: {exc}") from exc
        if spec.input_abstraction not in INPUT_ABSTRACTIONS:
            raise ModelContractError(
                f"{SPEC_FILE} asks for input_abstraction {spec.input_abstraction!r}; this "
                f"version knows {', '.join(INPUT_ABSTRACTIONS)} (update PerfRL)"
            )
        for key, value, known_values in (
            ("prompt_format", spec.prompt_format, PROMPT_FORMATS),
            ("feedback_format", spec.feedback_format, FEEDBACK_FORMATS),
            ("output_format", spec.output_format, OUTPUT_FORMATS),
            ("docstrings", spec.docstrings, DOCSTRING_MODES),
        ):
            if value not in known_values:
                raise ModelContractError(
                    f"{SPEC_FILE} asks for {key} {value!r}; this version knows "
                    f"{', '.join(known_values)} (update PerfRL)"
                )
        if spec.output_format in EDIT_FORMATS and (spec.prompt_format, spec.feedback_format) \
                != ("plain", "none"):
            raise ModelContractError(
                f"{SPEC_FILE}: an {spec.output_format!r} model reads only the plain prompt "
                "(prompt_format 'plain', feedback_format 'none')"
            )
        if not isinstance(spec.region_min_lines, int) or spec.region_min_lines < 0:
            raise ModelContractError(
                f"{SPEC_FILE}: region_min_lines must be a whole number of lines (0 or more), "
                f"not {spec.region_min_lines!r}"
            )
        if spec.decoder_format not in DECODER_FORMATS:
            raise ModelContractError(
                f"{SPEC_FILE} asks for decoder_format {spec.decoder_format!r}; this version "
                f"knows {', '.join(DECODER_FORMATS)} (update PerfRL)"
            )
        return spec


@dataclass(frozen=True)
class ExamplePair:
    """A slow function and its faster rewrite shown to a "retrieval-v1" model before the
    target (both in the model's input abstraction)."""

    slow: str
    fast: str


@dataclass(frozen=True)
class FailedAttempt:
    """A candidate of the first round and, short, why the verifier rejected it (verdict and
    the failing test's message or the differing input): what a "feedback-v1" prompt shows."""

    code: str
    verdict: str
    reason: str


def _block(text: str) -> str:
    return text.strip("\n") + "\n"


def feedback_reason(verdict: str, reason: str) -> str:
    """``verdict: reason`` on one line, at most :data:`MAX_FEEDBACK_CHARS` characters."""
    text = " ".join(f"{verdict}: {reason}".split())
    return text if len(text) <= MAX_FEEDBACK_CHARS else text[: MAX_FEEDBACK_CHARS - 3] + "..."


def build_prompt(function_source: str, spec: ModelSpec | None = None,
                 example: ExamplePair | None = None,
                 failed: FailedAttempt | None = None,
                 output_format: str | None = None) -> str:
    """The model's input for one function: the prefix, then the dedented source.

    For an edit model (``output_format``, else the spec's) the source's lines are
    numbered (:func:`perfrl.edit_script.number_lines`) and the prefix without a spec is
    :data:`EDIT_PROMPT_PREFIX`; such a model takes no example and no failed attempt.

    With ``example`` (the "retrieval-v1" format) the example pair comes first, each side under
    its header; with ``failed`` (the "feedback-v1" format) the failed attempt and its verdict
    (:func:`feedback_reason`) follow the target, then the request to try again. Without
    either the prompt is exactly the plain one every model reads."""
    if output_format is None:
        output_format = spec.output_format if spec is not None else "function"
    if output_format in EDIT_FORMATS:
        if example is not None or failed is not None:
            raise ValueError(f"an {output_format!r} prompt holds the function alone")
        prefix = spec.prompt_prefix if spec is not None else task_prefix(output_format)
        return prefix + number_lines(function_source)
    prefix = spec.prompt_prefix if spec is not None else PROMPT_PREFIX
    prompt = prefix + _block(function_source)
    if example is not None:
        prompt = (EXAMPLE_SLOW_HEADER + _block(example.slow) + EXAMPLE_FAST_HEADER
                  + _block(example.fast) + prompt)
    if failed is not None:
        prompt += (FAILED_HEADER + _block(failed.code) + VERDICT_HEADER
                   + feedback_reason(failed.verdict, failed.reason) + "\n" + RETRY_HEADER)
    return prompt


@dataclass(frozen=True)
class PromptParts:
    """What :func:`split_prompt` reads back from a prompt."""

    function_source: str
    example: ExamplePair | None = None
    failed: FailedAttempt | None = None


def split_prompt(prompt: str, spec: ModelSpec | None = None) -> PromptParts:
    """The parts :func:`build_prompt` put into ``prompt`` (sources with one final newline;
    a verdict as its one line, ``verdict`` and ``reason`` split at the first ``": "``).
    Assumes no line of the code starts with a header. Raises ValueError for a prompt that is
    not in one of the formats."""
    prefix = spec.prompt_prefix if spec is not None else PROMPT_PREFIX
    example = failed = None
    rest = prompt
    if rest.startswith(EXAMPLE_SLOW_HEADER):
        slow, sep, rest = rest[len(EXAMPLE_SLOW_HEADER):].partition("\n" + EXAMPLE_FAST_HEADER)
        fast, sep2, rest = rest.partition("\n" + prefix)
        if not (sep and sep2):
            raise ValueError("an example without its faster version or the target")
        example, rest = ExamplePair(_block(slow), _block(fast)), prefix + rest
    if not rest.startswith(prefix):
        raise ValueError("the prompt does not start with the model's prefix")
    target, sep, tail = rest[len(prefix):].partition("\n" + FAILED_HEADER)
    if sep:
        code, sep, verdict_text = tail.partition("\n" + VERDICT_HEADER)
        line, _, retry = verdict_text.partition("\n")
        if not sep or retry != RETRY_HEADER:
            raise ValueError("a failed attempt without its verdict or the request to retry")
        verdict, _, reason = line.partition(": ")
        failed = FailedAttempt(_block(code), verdict, reason)
    return PromptParts(_block(target), example, failed)


def write_model_spec(model_dir: Path, spec: ModelSpec) -> Path:
    """Write ``perfrl_model.json`` into ``model_dir`` and return its path."""
    path = Path(model_dir) / SPEC_FILE
    path.write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def load_model_spec(model_dir: Path) -> ModelSpec:
    """Read and check a model directory. Raises ModelContractError with a clear reason."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelContractError(f"model directory {model_dir} does not exist")
    spec_path = model_dir / SPEC_FILE
    if not spec_path.is_file():
        raise ModelContractError(
            f"{model_dir} is not a PerfRL model directory: {SPEC_FILE} is missing "
            "(export one with `perfrl-train export`)"
        )
    try:
        data = json.loads(spec_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelContractError(f"cannot read {spec_path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelContractError(f"{spec_path} must hold a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelContractError(
            f"{spec_path} has format_version {version!r}; this PerfRL reads {FORMAT_VERSION}"
        )
    spec = ModelSpec.from_json(data)
    for name in spec.model_files():
        if not (model_dir / name).is_file():
            raise ModelContractError(f"{model_dir} is incomplete: {name} is missing")
    return spec


def default_model_dir() -> Path:
    """The model shipped inside the package (``server/perfrl/models/default``)."""
    return Path(__file__).resolve().parent / "models" / "default"
