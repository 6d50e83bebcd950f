"""A tiny, really trained T5 exported to ONNX, for the inference tests.

The fixture builds everything itself (no hub, no network): a byte-level BPE tokenizer with
CodeT5's special ids, a T5 from a config, trained a few hundred steps on a repetitive toy
mapping (loop -> list comprehension) so that it emits real tokens and an end of sequence (a
fresh T5 emits only pad), then exported in both decoder formats of the contract: optimum's
``text2text-generation-with-past`` task, and the step graphs of
``perfrl_train.step_decoder`` (the one piece of ``model_export`` used: it is what writes that
format), each described by ``perfrl_model.json``.

Building takes tens of seconds, so the result is cached in the system temp dir under a key
made of this file's text and the library versions; a rebuild happens when either changes.
Tests that need it are marked ``slow`` and ``train`` and skip when the [train] extra is absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from perfrl.edit_script import make_edit_script
from perfrl.model_contract import (
    DECODER_FORMAT_OPTIMUM,
    DECODER_FORMAT_STEP,
    ModelSpec,
    build_prompt,
    task_prefix,
    write_model_spec,
)
from tests.conftest import require_module

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in CodeT5
TOKENIZER_VOCAB = 600
MAX_SOURCE_LENGTH = 128
MAX_TARGET_LENGTH = 64
TRAIN_STEPS = 200


def _loop_version(name: str, op: str, k: int) -> str:
    return (
        f"def {name}(xs):\n"
        "    out = []\n"
        "    for x in xs:\n"
        f"        out.append(x {op} {k})\n"
        "    return out\n"
    )


def _fast_version(name: str, op: str, k: int) -> str:
    return f"def {name}(xs):\n    return [x {op} {k} for x in xs]\n"


def toy_pairs() -> list[tuple[str, str]]:
    """(function source, rewrite) pairs of one repetitive pattern the tiny model memorizes."""
    pairs = []
    for name in ("scale", "shift", "grow", "bump"):
        for op in ("*", "+"):
            for k in (2, 3, 5):
                pairs.append((_loop_version(name, op, k), _fast_version(name, op, k)))
    return pairs


def _corpus_texts() -> list[str]:
    """Some real Python for the tokenizer: a few stdlib modules plus the toy pairs."""
    stdlib = Path(os.__file__).parent
    texts = []
    for name in ("ast.py", "textwrap.py", "heapq.py", "bisect.py", "functools.py"):
        path = stdlib / name
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
    for source, target in toy_pairs():
        texts.append(build_prompt(source) + target)
    return texts


def build_tokenizer(out_file: Path) -> None:
    """A byte-level BPE with CodeT5's special ids and ``<s> ... </s>`` around every input."""
    from tokenizers import ByteLevelBPETokenizer, processors

    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(
        _corpus_texts(),
        vocab_size=TOKENIZER_VOCAB,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(token) == i, (token, tok.token_to_id(token))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 1))
    tok.save(str(out_file))


@dataclass(frozen=True)
class TinyModel:
    """Paths of one built tiny model: ``onnx_dir`` is a PerfRL model directory (fp32,
    optimum's decoders), ``int8_dir`` the same quantized, ``step_dir`` and ``step_int8_dir``
    the same model with the step-graph decoder, ``torch_dir`` the Hugging Face checkpoint;
    ``edit_dir`` a second model, trained on the same pairs to write "edit-v1" scripts
    (:mod:`perfrl.edit_script`), with the step-graph decoder, float32."""

    onnx_dir: Path
    int8_dir: Path
    step_dir: Path
    step_int8_dir: Path
    torch_dir: Path
    edit_dir: Path

    def model_dir(self, decoder_format: str, int8: bool = False) -> Path:
        if decoder_format == DECODER_FORMAT_STEP:
            return self.step_int8_dir if int8 else self.step_dir
        return self.int8_dir if int8 else self.onnx_dir


def _train(torch_dir: Path, tokenizer_file: Path, output_format: str = "function") -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the model is tiny; more threads only add contention
    tok = Tokenizer.from_file(str(tokenizer_file))
    config = T5Config(
        vocab_size=tok.get_vocab_size(),
        d_model=64,
        d_ff=128,
        d_kv=16,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=True,
    )
    model = T5ForConditionalGeneration(config)
    sources, targets = [], []
    for source, target in toy_pairs():
        sources.append(tok.encode(build_prompt(source, output_format=output_format)).ids)
        if output_format == "edit-v1":
            target = make_edit_script(source, target)
        # Targets: the rewrite followed by </s> (no <s>: T5 starts decoding from pad).
        targets.append([*tok.encode(target, add_special_tokens=False).ids, 2])

    def batch(rows: list[list[int]], pad: int) -> torch.Tensor:
        width = max(len(r) for r in rows)
        return torch.tensor([r + [pad] * (width - len(r)) for r in rows])

    input_ids = batch(sources, 0)
    attention_mask = (input_ids != 0).long()
    labels = batch(targets, -100)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(TRAIN_STEPS):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    model.save_pretrained(torch_dir)
    (torch_dir / "final_loss.txt").write_text(f"{loss.item():.4f}\n")


def _spec_for(
    torch_dir: Path, quantization: str, decoder_format: str = DECODER_FORMAT_OPTIMUM,
    output_format: str = "function",
) -> ModelSpec:
    from transformers import T5Config

    config = T5Config.from_pretrained(torch_dir)
    return ModelSpec(
        decoder_format=decoder_format,
        output_format=output_format,
        prompt_prefix=task_prefix(output_format),
        max_source_length=MAX_SOURCE_LENGTH,
        max_target_length=MAX_TARGET_LENGTH,
        num_decoder_layers=config.num_decoder_layers,
        num_heads=config.num_heads,
        d_kv=config.d_kv,
        vocab_size=config.vocab_size,
        quantization=quantization,
        training={"note": "tiny test model (tests/inference/conftest.py)"},
    )


def _export(torch_dir: Path, onnx_dir: Path, tokenizer_file: Path) -> None:
    from optimum.exporters.onnx import main_export

    raw = onnx_dir.parent / "raw_export"
    main_export(
        str(torch_dir),
        output=raw,
        task="text2text-generation-with-past",
        do_validation=False,
        no_post_process=True,
    )  # parity is what the tests check
    onnx_dir.mkdir()
    for name in ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"):
        shutil.copy(raw / name, onnx_dir / name)
    shutil.copy(tokenizer_file, onnx_dir / "tokenizer.json")
    write_model_spec(onnx_dir, _spec_for(torch_dir, "none"))


def _export_steps(torch_dir: Path, onnx_dir: Path, step_dir: Path,
                  output_format: str = "function") -> None:
    from transformers import T5ForConditionalGeneration

    from perfrl_train.step_decoder import write_step_decoder

    step_dir.mkdir()
    write_step_decoder(T5ForConditionalGeneration.from_pretrained(torch_dir).eval(), step_dir)
    for name in ("encoder_model.onnx", "tokenizer.json"):
        shutil.copy(onnx_dir / name, step_dir / name)
    write_model_spec(step_dir, _spec_for(torch_dir, "none", DECODER_FORMAT_STEP, output_format))


def _build_edit_model(work: Path, tokenizer_file: Path) -> None:
    """``work/edit``: the "edit-v1" model (its encoder exported by optimum as the other's)."""
    from optimum.exporters.onnx import main_export

    torch_dir, raw = work / "edit_torch", work / "edit_raw"
    _train(torch_dir, tokenizer_file, "edit-v1")
    main_export(str(torch_dir), output=raw, task="text2text-generation-with-past",
                do_validation=False, no_post_process=True)
    shutil.copy(tokenizer_file, raw / "tokenizer.json")
    _export_steps(torch_dir, raw, work / "edit", "edit-v1")
    shutil.rmtree(raw)


def _quantize(fp32_dir: Path, int8_dir: Path, torch_dir: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from perfrl.model_contract import load_model_spec

    spec = load_model_spec(fp32_dir)
    int8_dir.mkdir()
    for name in spec.model_files()[:-1]:
        quantize_dynamic(
            fp32_dir / name, int8_dir / name, weight_type=QuantType.QInt8, per_channel=True
        )
    shutil.copy(fp32_dir / "tokenizer.json", int8_dir / "tokenizer.json")
    write_model_spec(
        int8_dir, _spec_for(torch_dir, "int8-dynamic-per-channel", spec.decoder_format)
    )


def _cache_key() -> str:
    import onnxruntime
    import optimum
    import tokenizers
    import torch
    import transformers

    h = hashlib.sha256(Path(__file__).read_bytes())
    # The step graphs are written by model_export: a change there is a new model too.
    step_decoder = Path(__file__).resolve().parents[2] / "model_export" / "perfrl_train"
    h.update((step_decoder / "step_decoder.py").read_bytes())
    for mod in (torch, transformers, optimum, onnxruntime, tokenizers):
        h.update(f"{mod.__name__}={getattr(mod, '__version__', '?')};".encode())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def build_tiny_model(cache_root: Path) -> TinyModel:
    """Build (or reuse from ``cache_root``) the tiny model; safe against concurrent runs."""
    final = cache_root / f"perfrl-tiny-t5-{_cache_key()}"
    model = TinyModel(
        final / "onnx", final / "int8", final / "step", final / "step_int8", final / "torch",
        final / "edit",
    )
    if (final / "complete").is_file():
        return model
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="building-", dir=cache_root))
    try:
        tokenizer_file = work / "tokenizer.json"
        build_tokenizer(tokenizer_file)
        _train(work / "torch", tokenizer_file)
        _export(work / "torch", work / "onnx", tokenizer_file)
        _quantize(work / "onnx", work / "int8", work / "torch")
        _export_steps(work / "torch", work / "onnx", work / "step")
        _quantize(work / "step", work / "step_int8", work / "torch")
        _build_edit_model(work, tokenizer_file)
        shutil.rmtree(work / "raw_export")
        (work / "complete").write_text("ok\n")
        try:
            work.rename(final)
        except OSError:  # another run finished first: use its copy
            if not (final / "complete").is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return model


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    for module in ("torch", "transformers", "optimum.exporters.onnx"):
        require_module(module, "needs the [train] extra to build the test model")
    cache_root = Path(
        os.environ.get("PERFRL_TEST_CACHE", Path(tempfile.gettempdir()) / "perfrl-test-cache")
    )
    return build_tiny_model(cache_root)


@pytest.fixture(scope="session")
def torch_model(tiny_model: TinyModel):
    """The PyTorch original of the tiny model, for parity checks."""
    from transformers import T5ForConditionalGeneration

    model = T5ForConditionalGeneration.from_pretrained(tiny_model.torch_dir)
    model.eval()
    return model
