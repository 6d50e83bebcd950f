"""Export a training checkpoint to a PerfRL model directory, then prove it matches PyTorch.

``perfrl-train export --checkpoint CKPT --out MODEL_DIR [--no-quantize]``

Steps: optimum's ``main_export(task="text2text-generation-with-past")`` into a scratch
directory (the encoder; with ``--decoder-format optimum-with-past`` also the two decoders);
by default the decoder as step graphs (:mod:`.step_decoder`, format ``perfrl-step-v1``,
about twice as fast per token); a float32 parity check there, through the server's runtime;
int8 dynamic per-channel quantization of the format's files (the merged decoder is never
shipped: the server does not use it and ``quantize_dynamic`` silently leaves it unquantized);
a second parity check on the files actually shipped; ``tokenizer.json``;
``perfrl_model.json`` via :func:`perfrl.model_contract.write_model_spec`.

A caller may rely on:

- :func:`export_model` returning an :class:`ExportResult` naming every file it wrote, only
  after the shipped files passed their parity check;
- :class:`ParityError` (with the figures) when they do not: no silent fallback. Tolerances:
  float32: greedy tokens identical on every prompt and max |log-prob diff| <= ``FP32_ATOL``
  (log-probabilities, what decoding works on: the step graphs output them);
  int8: top-1 agreement (teacher-forced on PyTorch's greedy tokens) >= ``INT8_MIN_TOP1`` on
  the decisive steps (where PyTorch's top-1 logit leads the runner-up by >= ``INT8_TIE_MARGIN``;
  quantization noise may legitimately flip near-ties) and max |log-prob diff| <=
  ``INT8_REL_TOL`` (15%) x the largest |logit| (or an absolute ``int8_atol`` when given);
  the raw top-1 agreement and greedy-sequence equality are reported, not required;
- the written directory passing :func:`perfrl.model_contract.load_model_spec`.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from perfrl.model_contract import (
    DECODER_FORMAT_STEP,
    DECODER_FORMATS,
    DOCSTRING_MODES,
    INPUT_ABSTRACTIONS,
    GenerationDefaults,
    ModelSpec,
    load_model_spec,
    task_prefix,
    write_model_spec,
)

from .errors import PerfRLError
from .step_decoder import (
    BIAS_LOOKUP_NODE,
    CROSS_KV_FILE,
    STEP_FILE,
    StepDecoderUnsupported,
    write_step_decoder,
)
from .train_common import help_field

FP32_ATOL = 1e-4
#: int8 log-probability tolerance, relative to the largest |logit| PyTorch produced on the
#: prompts (logit scales differ a lot between models). It catches gross breakage (wrong weights, a
#: broken graph: errors near 100%); the decisions themselves are checked by the top-1 gate.
#: Measured: 8-10% on the 0.8M-parameter tiny model (its int8 activations are coarse).
INT8_REL_TOL = 0.15
INT8_MIN_TOP1 = 0.99
#: int8 may flip the argmax only where PyTorch's own top-1 margin is below this (near-ties).
INT8_TIE_MARGIN = 0.5
QUANTIZATION_INT8 = "int8-dynamic-per-channel"

#: Used as parity prompts when the caller gives none: varied, realistic functions.
DEFAULT_PARITY_FUNCTIONS = (
    "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
    ("def uniq(items):\n    out = []\n    for it in items:\n        if it not in out:\n"
    "            out.append(it)\n    return out\n"),
    ("def join_words(words):\n    text = ''\n    for w in words:\n        text += w + ' '\n"
    "    return text.strip()\n"),
    "def count_evens(n):\n    return len([i for i in range(n) if i % 2 == 0])\n",
    ("def squares(n):\n    result = []\n    for i in range(n):\n        result.append(i * i)\n"
    "    return result\n"),
    ("def has_dup(a):\n    for i in range(len(a)):\n        for j in range(i + 1, len(a)):\n"
    "            if a[i] == a[j]:\n                return True\n    return False\n"),
    ("def index_of(xs, v):\n    i = 0\n    while i < len(xs):\n        if xs[i] == v:\n"
    "            return i\n        i += 1\n    return -1\n"),
    ("def word_counts(text):\n    d = {}\n    for w in text.split():\n        if w in d:\n"
    "            d[w] += 1\n        else:\n            d[w] = 1\n    return d\n"),
)


class ExportError(PerfRLError):
    """The checkpoint cannot be exported (missing, wrong architecture, exporter failure)."""


class ParityError(ExportError):
    """The exported ONNX files do not reproduce PyTorch's outputs within tolerance."""

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ExportConfig:
    checkpoint: Path = help_field(None, "training checkpoint directory (from sft / rrhf)")  # noqa: RUF009
    out: Path = help_field(None, "model directory to write (must be empty or absent)")  # noqa: RUF009
    quantize: bool = help_field(True, "int8 dynamic per-channel quantization (what ships)")
    parity_prompts: int = help_field(8, "functions used for the parity check")
    parity_file: Path | None = help_field(None, "JSONL with 'slow' fields for parity prompts "  # noqa: RUF009
                                                "(default: built-in functions)")
    parity_max_new_tokens: int = help_field(64, "tokens generated per parity prompt")
    opset: int | None = help_field(None, "ONNX opset (default: optimum's choice)")
    keep_fp32: bool = help_field(False, "also write the float32 model directory OUT/fp32/")
    input_abstraction: str = help_field("none", "what the model was trained on: 'none', or "
                                        "'identifiers-v1' (placeholder names, see "
                                        "server/perfrl/sources/abstraction.py)")
    docstrings: str = help_field("read", "with an abstraction: 'read' (the model was trained "
                                 "on functions with their docstring) or 'omitted' (without)")
    decoder_format: str = help_field(DECODER_FORMAT_STEP, "decoder files to write: "
                                     "'perfrl-step-v1' (step graphs, fastest) or "
                                     "'optimum-with-past' (optimum's decoders)")
    region_min_lines: int = help_field(15, "the server also rewrites each loop region of a "
                                       "function longer than this many lines; 0 (every "
                                       "function with a loop) for a model trained on region "
                                       "pairs (perfrl_train.data.region_pairs)")
    temperature: float = help_field(0.8, "the sampling temperature the server uses by default "
                                    "(the spec's generation.temperature; serve a model as it "
                                    "was measured)")
    whole_words: bool = help_field(False, "the server's guarded decoding refuses words no "
                                   "allowed word is or starts with (the spec's "
                                   "generation.whole_words; perfrl.inference.word_guard)")
    threads: int = help_field(2, "torch / onnxruntime threads")
    int8_atol: float | None = help_field(None, "int8 parity: absolute max |log-prob diff| "
                                               "(default: 15%% of the largest |logit|)")
    int8_min_top1: float = help_field(INT8_MIN_TOP1, "int8 parity: min top-1 agreement on "
                                                     "steps that are not near-ties")


@dataclass
class ParityReport:
    """What the parity check measured over its prompts."""

    precision: str  # "fp32" or "int8"
    prompts: int
    tokens_compared: int
    greedy_sequences_equal: int
    top1_agreement: float
    decisive_steps: int
    decisive_top1_agreement: float
    max_abs_logprob_diff: float
    max_abs_logit: float
    atol: float
    min_top1: float
    passed: bool
    first_mismatch: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ExportResult:
    out: Path
    spec_path: Path
    files: dict[str, Path]
    parity: list[ParityReport] = field(default_factory=list)


def _parity_sources(cfg: ExportConfig) -> list[str]:
    if cfg.parity_file is None:
        return list(DEFAULT_PARITY_FUNCTIONS[: cfg.parity_prompts])
    from .examples import read_examples

    return [ex.slow for ex in read_examples(Path(cfg.parity_file), cfg.parity_prompts)]


def check_parity(model, tokenizer, onnx_dir: Path, sources: list[str], precision: str,
                 max_new_tokens: int = 64, max_source_length: int = 512,
                 threads: int = 1, int8_atol: float | None = None,
                 int8_min_top1: float = INT8_MIN_TOP1,
                 output_format: str = "function") -> ParityReport:
    """Compare PyTorch's greedy ``generate`` with the ONNX files in ``onnx_dir``.

    Raises :class:`ParityError` when the figures are outside the tolerance of ``precision``.
    Logits are compared teacher-forced on PyTorch's greedy tokens, so one early argmax flip
    does not hide (or inflate) the differences at later steps.
    """
    import numpy as np
    import torch

    from .examples import encode_source
    from .onnx_loop import OnnxSeq2SeqLoop

    config = model.config
    loop = OnnxSeq2SeqLoop(onnx_dir, threads=threads)
    model.eval()
    min_top1 = 1.0 if precision == "fp32" else int8_min_top1
    compared = agree = equal = decisive = decisive_agree = 0
    max_diff = max_logit = 0.0
    first_mismatch = None
    for index, source in enumerate(sources):
        ids = encode_source(tokenizer, source, max_source_length, output_format=output_format)
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            generated = model.generate(input_ids=input_ids,
                                       attention_mask=torch.ones_like(input_ids),
                                       max_new_tokens=max_new_tokens, do_sample=False,
                                       num_beams=1, min_length=0)
            torch_tokens = generated[0, 1:].tolist()  # drop the decoder-start id
            while torch_tokens and torch_tokens[-1] == config.pad_token_id:
                torch_tokens.pop()  # generate pads finished sequences; ours stops at eos
            decoder_in = torch.tensor([[config.decoder_start_token_id, *torch_tokens[:-1]]]) \
                if torch_tokens else None
            torch_logits = (model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                  decoder_input_ids=decoder_in).logits[0].float().numpy()
                            if decoder_in is not None else np.zeros((0, 1)))
        onnx_greedy = loop.decode(ids, max_new_tokens).tokens
        if onnx_greedy == torch_tokens:
            equal += 1
        elif first_mismatch is None:
            step = next((k for k, (a, b) in enumerate(zip(onnx_greedy, torch_tokens))
                         if a != b), min(len(onnx_greedy), len(torch_tokens)))
            first_mismatch = {"prompt": index, "step": step,
                              "torch": torch_tokens[max(0, step - 2):step + 3],
                              "onnx": onnx_greedy[max(0, step - 2):step + 3]}
        if not torch_tokens:
            continue
        forced = loop.decode(ids, len(torch_tokens), forced_tokens=torch_tokens,
                             return_log_probs=True)
        torch_log_probs = torch.log_softmax(torch.from_numpy(torch_logits), dim=-1).numpy()
        assert forced.log_probs is not None  # asked for with return_log_probs=True
        diff = float(np.max(np.abs(forced.log_probs - torch_log_probs)))
        max_diff = max(max_diff, diff)
        max_logit = max(max_logit, float(np.max(np.abs(torch_logits))))
        hits = np.argmax(forced.log_probs, axis=-1) == np.asarray(torch_tokens)
        top2 = np.sort(torch_logits, axis=-1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) >= INT8_TIE_MARGIN
        agree += int(hits.sum())
        compared += len(torch_tokens)
        decisive += int(clear.sum())
        decisive_agree += int((hits & clear).sum())
    if precision == "fp32":
        atol = FP32_ATOL
    else:
        atol = int8_atol if int8_atol is not None else INT8_REL_TOL * max_logit
    top1 = agree / compared if compared else 0.0
    decisive_top1 = decisive_agree / decisive if decisive else 1.0
    gate = top1 if precision == "fp32" else decisive_top1
    passed = compared > 0 and max_diff <= atol and gate >= min_top1 and (
        precision != "fp32" or equal == len(sources))
    report = ParityReport(precision=precision, prompts=len(sources), tokens_compared=compared,
                          greedy_sequences_equal=equal, top1_agreement=round(top1, 6),
                          decisive_steps=decisive,
                          decisive_top1_agreement=round(decisive_top1, 6),
                          max_abs_logprob_diff=max_diff, max_abs_logit=max_logit, atol=atol,
                          min_top1=min_top1,
                          passed=passed, first_mismatch=first_mismatch)
    if not passed:
        why = ("no tokens were generated (an untrained model emits only pad/eos: train it "
               "first)" if compared == 0 else
               f"greedy sequences equal {equal}/{len(sources)}, top-1 agreement {top1:.4f}, "
               f"on decisive steps {decisive_top1:.4f} of {decisive} (need >= {min_top1}), "
               f"max |log-prob diff| {max_diff:.3g} (tolerance {atol})")
        raise ParityError(f"{precision} ONNX export of {onnx_dir} does not match PyTorch: {why}",
                          report)
    return report


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization, per-channel weights (per-tensor diverged in ML.md's test);
    the step graph's relative-position bias lookup stays float32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_exclude=[BIAS_LOOKUP_NODE])


def checkpoint_output_format(meta: dict) -> str:
    """What the checkpoint was trained to write (its SFT config's ``output_format``;
    "function" for checkpoints from before the option)."""
    return str(meta.get("config", {}).get("output_format", "function"))


def build_spec(model, tokenizer, meta: dict, quantization: str,
               parity: list[ParityReport], input_abstraction: str = "none",
               decoder_format: str = DECODER_FORMAT_STEP, docstrings: str = "read",
               region_min_lines: int = 15, temperature: float = 0.8,
               whole_words: bool = False) -> ModelSpec:
    """The contract's ModelSpec for this model (shape, ids, lengths, provenance, the
    decoding the server uses by default); the file names of the other decoder format are
    left empty, since no such file is shipped."""
    config = model.config
    train_cfg = meta.get("config", {})
    step = decoder_format == DECODER_FORMAT_STEP
    output_format = checkpoint_output_format(meta)
    return ModelSpec(
        prompt_prefix=task_prefix(output_format),
        output_format=output_format,
        decoder_format=decoder_format,
        decoder_file="" if step else "decoder_model.onnx",
        decoder_with_past_file="" if step else "decoder_with_past_model.onnx",
        cross_kv_file=CROSS_KV_FILE if step else "",
        step_decoder_file=STEP_FILE if step else "",
        pad_token_id=config.pad_token_id,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 1,
        eos_token_id=config.eos_token_id,
        unk_token_id=tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 3,
        decoder_start_token_id=config.decoder_start_token_id,
        max_source_length=int(train_cfg.get("max_source_length", 512)),
        max_target_length=int(train_cfg.get("max_target_length", 256)),
        num_decoder_layers=config.num_decoder_layers,
        num_heads=config.num_heads,
        d_kv=config.d_kv,
        vocab_size=config.vocab_size,
        quantization=quantization,
        input_abstraction=input_abstraction,
        docstrings=docstrings,
        region_min_lines=region_min_lines,
        generation=GenerationDefaults(
            max_new_tokens=int(train_cfg.get("max_target_length", 256)),
            temperature=temperature, whole_words=whole_words),
        training={
            "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "architecture": "T5ForConditionalGeneration",
            "parameters": sum(p.numel() for p in model.parameters()),
            "d_model": config.d_model,
            "num_encoder_layers": config.num_layers,
            "trainer": meta.get("trainer"),
            "step": meta.get("step"),
            "metrics": meta.get("metrics", {}),
            "provenance": meta.get("provenance", {}),
            "config": train_cfg,
            "target_format": "tokens then </s>, no <s>; decoding starts from "
                             "decoder_start_token_id",
            "parity": [p.to_json() for p in parity],
        },
    )


def export_model(cfg: ExportConfig, log=print) -> ExportResult:
    """Export, quantize, check parity and write the model directory; see the module docstring."""
    import torch
    from optimum.exporters.onnx import main_export

    from .checkpoint import CheckpointError, load_checkpoint
    from .copy_head import has_copy_head

    if cfg.checkpoint is None or cfg.out is None:
        raise ExportError("--checkpoint and --out are required")
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; export into a new directory")
    torch.set_num_threads(max(1, cfg.threads))
    try:
        model, tokenizer, meta = load_checkpoint(Path(cfg.checkpoint))
    except CheckpointError as exc:
        raise ExportError(str(exc)) from exc
    if model.config.model_type != "t5":
        raise ExportError(f"{cfg.checkpoint} holds a {model.config.model_type!r} model; "
                          "PerfRL exports T5 encoder-decoders only")
    if cfg.region_min_lines < 0:
        raise ExportError("--region-min-lines is a number of lines, 0 or more")
    if not cfg.temperature > 0:
        raise ExportError("--temperature must be positive (e.g. 0.8)")
    if cfg.input_abstraction not in INPUT_ABSTRACTIONS:
        raise ExportError(f"--input-abstraction must be one of {', '.join(INPUT_ABSTRACTIONS)}")
    if cfg.docstrings not in DOCSTRING_MODES:
        raise ExportError(f"--docstrings must be one of {', '.join(DOCSTRING_MODES)}")
    if cfg.decoder_format not in DECODER_FORMATS:
        raise ExportError(f"--decoder-format must be one of {', '.join(DECODER_FORMATS)}")
    if has_copy_head(model.config) and cfg.decoder_format != DECODER_FORMAT_STEP:
        raise ExportError(f"{cfg.checkpoint} has a copy head, which only the step decoder "
                          f"graphs carry: export with --decoder-format {DECODER_FORMAT_STEP}")
    sources = _parity_sources(cfg)

    def spec_for(quantization: str, parity: list[ParityReport]) -> ModelSpec:
        """The spec with how the server reads and decodes the model (the same in all)."""
        return build_spec(model, tokenizer, meta, quantization, parity, cfg.input_abstraction,
                          cfg.decoder_format, cfg.docstrings, cfg.region_min_lines,
                          cfg.temperature, cfg.whole_words)

    max_src = int(meta.get("config", {}).get("max_source_length", 512))
    output_format = checkpoint_output_format(meta)
    parity: list[ParityReport] = []
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="perfrl-export-") as scratch:
        raw = Path(scratch) / "onnx"
        log(f"export: optimum main_export {cfg.checkpoint} -> {raw}")
        # do_validation=False: optimum only logs its validation at INFO; ours below fails loudly.
        main_export(str(cfg.checkpoint), output=raw, task="text2text-generation-with-past",
                    opset=cfg.opset, do_validation=False)
        if cfg.decoder_format == DECODER_FORMAT_STEP:
            try:
                write_step_decoder(model, raw)
            except StepDecoderUnsupported as exc:
                raise ExportError(f"{exc}; export with --decoder-format optimum-with-past") \
                    from exc
        # The scratch directory becomes a complete float32 model directory, so that parity
        # is checked through the server's own runtime.
        shutil.copy2(Path(cfg.checkpoint) / "tokenizer.json", raw / "tokenizer.json")
        raw_spec = spec_for("none", [])
        write_model_spec(raw, raw_spec)
        onnx_files = [name for name in raw_spec.model_files() if name != raw_spec.tokenizer_file]
        missing = [name for name in onnx_files if not (raw / name).is_file()]
        if missing:
            raise ExportError(f"the export did not write {missing} (wrote "
                              f"{sorted(p.name for p in raw.iterdir())})")
        report = check_parity(model, tokenizer, raw, sources, "fp32",
                              cfg.parity_max_new_tokens, max_src, cfg.threads,
                              output_format=output_format)
        log(f"export: fp32 parity ok ({report.tokens_compared} tokens, max |diff| "
            f"{report.max_abs_logprob_diff:.2e})")
        parity.append(report)
        if cfg.keep_fp32:  # a complete model directory of its own
            (out / "fp32").mkdir()
            for name in [*raw_spec.model_files(), "perfrl_model.json"]:
                shutil.copy2(raw / name, out / "fp32" / name)
                files[f"fp32/{name}"] = out / "fp32" / name
        for name in onnx_files:
            if cfg.quantize:
                quantize_int8(raw / name, out / name)
            else:
                shutil.copy2(raw / name, out / name)
            files[name] = out / name
    shutil.copy2(Path(cfg.checkpoint) / "tokenizer.json", out / "tokenizer.json")
    files["tokenizer.json"] = out / "tokenizer.json"
    if cfg.quantize:
        # The parity check loads the directory, so it needs a spec; the final one (with the
        # parity figures) replaces it below. A failed check removes it: a directory that
        # failed parity must not load as a model.
        spec_path = write_model_spec(out, spec_for(QUANTIZATION_INT8, parity))
        try:
            report = check_parity(model, tokenizer, out, sources, "int8",
                                  cfg.parity_max_new_tokens, max_src, cfg.threads,
                                  cfg.int8_atol, cfg.int8_min_top1, output_format)
        except ParityError:
            spec_path.unlink()
            raise
        log(f"export: int8 parity ok (top-1 {report.top1_agreement:.4f}, decisive "
            f"{report.decisive_top1_agreement:.4f} of {report.decisive_steps}, greedy equal "
            f"{report.greedy_sequences_equal}/{report.prompts}, max |diff| "
            f"{report.max_abs_logprob_diff:.3f})")
        parity.append(report)
    spec = spec_for(QUANTIZATION_INT8 if cfg.quantize else "none", parity)
    spec_path = write_model_spec(out, spec)
    files["perfrl_model.json"] = spec_path
    parity_path = out / "parity.json"
    parity_path.write_text(json.dumps([p.to_json() for p in parity], indent=2) + "\n")
    files["parity.json"] = parity_path
    load_model_spec(out)  # the contract's own check: raises if anything is missing
    total_mb = sum(p.stat().st_size for p in files.values()) / 1e6
    log(f"export: wrote {out} ({total_mb:.1f} MB)")
    return ExportResult(out=out, spec_path=spec_path, files=files, parity=parity)
