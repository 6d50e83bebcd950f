"""Running the exported rewrite model: onnxruntime plus a numpy decoding loop.

Never imports torch or transformers (a test checks it). ``onnx_seq2seq`` holds the model,
``decoding`` the strategies, ``background`` the handle that loads it off the main thread.
"""

from perfrl.inference.background import ModelHandle, ModelNotReady
from perfrl.inference.onnx_seq2seq import GeneratedSequence, ModelLoadError, OnnxSeq2SeqModel

__all__ = [
    "GeneratedSequence",
    "ModelHandle",
    "ModelLoadError",
    "ModelNotReady",
    "OnnxSeq2SeqModel",
]
