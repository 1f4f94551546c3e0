"""Exporting the model's transformer for the document encoder: ONNX, int8 done carefully, cached.

The transformer alone is exported (token embeddings out; :mod:`rag.embeddings.onnx_document`
pools them), then for ``onnx-int8`` its weight matrices are quantized per output channel
(dynamic int8: activations are quantized per batch at run time, which the CPU's VNNI
kernels run about twice as fast as fp32). Per-tensor int8 drifted to cosine 0.955 from fp32
on real chunks; per-channel gave 0.9941; leaving the three most sensitive matrices in fp32
(measured one at a time: the feed-forward outputs of layers 0-2) gives the figure the
export records. The result is checked against sentence-transformers on probe texts and
installed in the cache atomically, keyed by the model's files and the runtime versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from rag.embeddings.onnx_document import DocumentEncoder
from rag.embeddings.onnx_query import PROBES, SELF_CHECK, Unavailable, fingerprint
from rag.errors import first_line
from rag.paths import default_cache_dir

log = logging.getLogger("rag")

#: Bump when what is written to an entry, or how it is quantized, changes.
FORMAT = 1
#: Weight matrices left in fp32: the most sensitive to int8, measured one at a time on real
#: chunks (1 - cosine to fp32: 0.0012, 0.0007, 0.0005; the next is 0.0004).
KEEP_FP32 = ("layer.0/output/dense/MatMul", "layer.2/output/dense/MatMul", "layer.1/output/dense/MatMul")
#: Worst cosine to sentence-transformers' fp32 vectors a probe may have, by encoder.
FLOOR = {"onnx": 1 - 1e-5, "onnx-int8": 0.97}
#: Largest ``1 - cosine`` between a load's self-check vector and the export's.
SELF_TOLERANCE = 1e-3


def entry_dir(model_path: Path, kind: str, cache_dir: Path | None = None) -> Path:
    """The cache folder of this model's ``kind`` encoder with the installed runtime versions."""
    import onnxruntime
    import tokenizers

    ident = {"format": FORMAT, "kind": kind, "model": str(model_path.resolve()), "files": fingerprint(model_path),
             "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / "document-encoders" / f"{model_path.name}-{kind}-{key}"


def load(model_path: Path, kind: str, cache_dir: Path | None = None) -> DocumentEncoder:
    """The cached encoder, checked on a fixed sentence; :class:`Unavailable` when there is none."""
    import numpy as np

    folder = entry_dir(model_path, kind, cache_dir)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise Unavailable("not exported yet") from None
    try:
        encoder = DocumentEncoder.open(folder, meta)
        cosine = float(encoder.encode([SELF_CHECK])[0] @ np.asarray(meta["self_check_vector"], dtype=np.float32))
    except Exception as e:  # onnxruntime and tokenizers raise many kinds; all mean "damaged"
        raise Unavailable(f"cannot load {folder}: {type(e).__name__}: {first_line(e)}") from None
    if not cosine >= 1 - SELF_TOLERANCE:
        raise Unavailable(f"self-check failed (cosine {cosine:.6f}); the cache entry is damaged")
    return encoder


def export(model: Any, model_path: Path, kind: str, cache_dir: Path | None = None) -> DocumentEncoder:
    """Export ``model`` (a loaded SentenceTransformer) as a ``kind`` encoder, verify, install."""
    folder = entry_dir(model_path, kind, cache_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        meta = _export_into(model, kind, tmp)
        meta.update(format=FORMAT, model=str(model_path.resolve()), export_seconds=round(time.perf_counter() - t0, 2),
                    created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:  # another process installed it first, or an old entry is in the way
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(tmp, folder)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, Unavailable):
            raise
        if isinstance(e, Exception):
            raise Unavailable(f"{type(e).__name__}: {first_line(e)}") from None
        raise
    log.info("%s document encoder ready in %s (%.1fs, worst probe cosine to fp32 %.5f)",
             kind, folder, time.perf_counter() - t0, meta["worst_probe_cosine"])
    return DocumentEncoder.open(folder, meta)


def _export_into(model: Any, kind: str, folder: Path) -> dict[str, Any]:
    import numpy as np

    modules = [type(m).__name__ for m in model]
    pooling = model[1] if len(model) > 1 else None
    if modules[:2] != ["Transformer", "Pooling"] or getattr(pooling, "pooling_mode", "mean") != "mean" \
            or set(modules[2:]) - {"Normalize"} or getattr(model, "default_prompt_name", None):
        raise Unavailable(f"only mean-pooled models without prompts are supported (modules {modules})")
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise Unavailable("the model has no fast tokenizer")
    (folder / "tokenizer.json").write_text(backend.to_str(), encoding="utf-8")
    raw = folder / "raw.onnx"
    _export_transformer(model, raw)
    if kind == "onnx-int8":
        _quantize(raw, folder / "model.onnx")
        raw.unlink()
    else:
        raw.rename(folder / "model.onnx")
    meta: dict[str, Any] = {"kind": kind, "max_length": int(model.max_seq_length),
                            "lower_case": bool(getattr(model[0], "do_lower_case", False)),
                            "dim": int((getattr(model, "get_embedding_dimension", None)
                                        or model.get_sentence_embedding_dimension)())}
    encoder = DocumentEncoder.open(folder, meta)
    want = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    got = encoder.encode(list(PROBES))
    cosines = (np.asarray(want, dtype=np.float32) * got).sum(axis=1)
    worst = float(cosines.min())
    if not worst >= FLOOR[kind]:
        raise Unavailable(f"{kind} vectors drift from the model's (worst probe cosine {worst:.5f})")
    meta.update(worst_probe_cosine=worst, mean_probe_cosine=float(cosines.mean()),
                self_check_vector=[float(x) for x in encoder.encode([SELF_CHECK])[0]])
    return meta


def _export_transformer(model: Any, path: Path) -> None:
    """The transformer with eager attention (the graph ONNX Runtime's kernels fuse best)."""
    import torch

    bert = model[0].auto_model
    before = getattr(bert.config, "_attn_implementation", None)
    features = model.preprocess([PROBES[0]])
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]

    class Tokens(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *tensors):
            return self.bert(**dict(zip(names, tensors))).last_hidden_state

    try:
        if before not in (None, "eager") and hasattr(bert, "set_attn_implementation"):
            bert.set_attn_implementation("eager")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Tokens().eval(), tuple(features[n] for n in names), str(path), input_names=names,
                              output_names=["token_embeddings"],
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]},
                              opset_version=17, dynamo=False)
    finally:
        if before not in (None, "eager") and hasattr(bert, "set_attn_implementation"):
            bert.set_attn_implementation(before)


def _quantize(raw: Path, out: Path) -> None:
    """Per-channel dynamic int8 of every weight matrix but the sensitive ones."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(raw)).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith(KEEP_FP32)]
    if len(keep) != len(KEEP_FP32):
        log.info("int8 export: %d of the %d fp32 layers found by name", len(keep), len(KEEP_FP32))
    logging.disable(logging.WARNING)  # the quantizer logs advice on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(raw), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=keep, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(logging.NOTSET)
