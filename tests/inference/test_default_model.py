"""The model shipped in server/perfrl/models/default loads and generates with the server's
runtime."""

from __future__ import annotations

from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.model_contract import default_model_dir, load_model_spec

MAX_SHIPPED_MB = 50
FUNCTION = (
    "def active(products):\n    result = []\n    for p in products:\n        if p['active']:\n"
    "            result.append(p['sku'])\n    return result\n"
)


def test_shipped_model_directory_is_complete_small_and_int8():
    model_dir = default_model_dir()
    spec = load_model_spec(model_dir)
    assert spec.quantization == "int8-dynamic-per-channel"
    files = spec.model_files()
    total_mb = sum((model_dir / name).stat().st_size for name in files) / 1e6
    assert total_mb < MAX_SHIPPED_MB, f"{total_mb:.1f} MB"


def test_shipped_model_generates():
    model = OnnxSeq2SeqModel.load(default_model_dir())
    prompt = model.prompt_for(FUNCTION)
    [greedy] = model.generate(prompt, max_new_tokens=64)
    assert greedy.token_ids and greedy.text.strip()
    samples = model.generate(
        prompt,
        num_return=3,
        do_sample=True,
        temperature=0.8,
        top_k=50,
        top_p=0.95,
        max_new_tokens=64,
        seed=0,
    )
    assert len(samples) == 3 and all(s.token_ids for s in samples)
