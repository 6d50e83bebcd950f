"""The server's inference path must stay free of torch and transformers."""

from __future__ import annotations

import subprocess
import sys


def test_inference_and_model_source_import_without_torch_or_transformers():
    code = (
        "import sys\n"
        "import perfrl.inference, perfrl.inference.onnx_seq2seq, perfrl.inference.background\n"
        "import perfrl.inference.decoding, perfrl.sources.model\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers',"
        " 'optimum'))\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"heavy modules imported: {result.stdout.strip()}"
