"""Exporting a sentence-transformers model to ONNX for the light query path, checked and cached.

When the full model is loaded anyway (at index time), its whole pipeline (transformer, then
the pooling and normalisation modules its ``modules.json`` lists) is exported with the
tokenizer it uses, checked against sentence-transformers on probe sentences (same token
ids, cosine at least ``1 - TOLERANCE``), and installed in the cache atomically
(:mod:`rag.embeddings.onnx_query` loads it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from rag.embeddings.onnx_query import (
    DATA_FILE,
    FAILED_FILE,
    FORMAT,
    META_FILE,
    ONNX_FILE,
    PROBES,
    SELF_CHECK,
    TOKENIZER_FILE,
    TOLERANCE,
    QueryEncoder,
    Unavailable,
    _Checksums,
    _stat,
    entry_dir,
    fingerprint,
)
from rag.errors import first_line
from rag.files import fsync
from rag.paths import default_cache_dir

log = logging.getLogger("rag")


def export(model: Any, model_path: Path, cache_dir: Path | None = None) -> QueryEncoder:
    """Export ``model`` (a loaded SentenceTransformer), verify it, and install it in the cache.

    Raises :class:`Unavailable` when the model cannot be exported or does not match; that
    outcome is recorded too, so queries do not try again (``rag index`` does).
    """
    folder = entry_dir(model_path, cache_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        meta = _export_into(model, tmp)
        meta.update(format=FORMAT, model=str(model_path.resolve()), files=fingerprint(model_path),
                    created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    export_seconds=round(time.perf_counter() - t0, 2))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        _install(tmp, folder)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, Exception):
            reason = str(e) if isinstance(e, Unavailable) else f"{type(e).__name__}: {first_line(e)}"
            _record_failure(folder, reason)
            raise Unavailable(reason) from None
        raise
    _prune(folder)
    log.info("light query encoder ready in %s (%.1fs, worst probe cosine %.8f)",
             folder, time.perf_counter() - t0, meta["worst_probe_cosine"])
    return QueryEncoder.open(folder, meta)


def _export_into(model: Any, folder: Path) -> dict[str, Any]:
    """Write the ONNX graph, its weights and the tokenizer into ``folder``; verify; return meta."""
    import numpy as np
    import onnxruntime as ort
    import torch

    if getattr(model, "default_prompt_name", None):
        raise Unavailable("the model adds a default prompt, which the light encoder does not reproduce")
    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        raise Unavailable("the model has no fast tokenizer")
    # A tokenizer that cannot be serialised fails here, not at query time.
    (folder / TOKENIZER_FILE).write_text(backend.to_str(), encoding="utf-8")
    first = model[0]
    lower_case = bool(getattr(first, "do_lower_case", False))
    max_length = int(model.max_seq_length)

    features = model.preprocess([PROBES[0]])
    names = tuple(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features)
    constants = {k: v for k, v in features.items() if not torch.is_tensor(v)}  # e.g. modality="text"
    if "input_ids" not in names or any(
            torch.is_tensor(v) and k not in names for k, v in features.items()):
        raise Unavailable(f"the model takes inputs the light encoder does not give ({sorted(features)})")

    class Pipeline(torch.nn.Module):
        """The whole sentence-transformers model as one function of the token tensors."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors), **constants))["sentence_embedding"]

    raw = folder / "raw.onnx"
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pipeline().eval(), tuple(features[n] for n in names), str(raw),
                          input_names=list(names), output_names=["sentence_embedding"],
                          dynamic_axes=dict(axes, sentence_embedding={0: "batch"}),
                          opset_version=17, dynamo=False)
    # Optimise once here, weights in a separate file: loading then maps them instead of
    # parsing 90 MB of protobuf, which roughly halves the session start.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / ONNX_FILE)
    options.log_severity_level = 3
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", DATA_FILE)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
    raw.unlink()

    meta: dict[str, Any] = {"max_length": max_length, "lower_case": lower_case, "inputs": list(names)}
    encoder = QueryEncoder.open(folder, meta)
    worst = 1.0
    for text in PROBES:
        want_ids = model.preprocess([text])["input_ids"][0].tolist()
        if encoder.token_ids(text) != want_ids:
            raise Unavailable(f"the tokenizer does not reproduce the model's token ids for {text[:40]!r}")
        want = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        cosine = float(encoder.encode(text) @ np.asarray(want, dtype=np.float32))
        worst = min(worst, cosine)
        if not cosine >= 1 - TOLERANCE:
            raise Unavailable(f"vectors differ from sentence-transformers (cosine {cosine:.7f} "
                              f"for {text[:40]!r})")
    check = model.encode([SELF_CHECK], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
    import sentence_transformers
    import tokenizers

    meta.update(dim=int(len(check)), worst_probe_cosine=worst, probes=len(PROBES),
                self_check_vector=[float(x) for x in check],
                entry_files={name: [*_stat(folder / name), crc] for name, crc in
                             _Checksums(folder, [ONNX_FILE, DATA_FILE, TOKENIZER_FILE]).result().items()},
                versions={"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                          "onnxruntime": ort.__version__, "tokenizers": tokenizers.__version__})
    return meta


def reclaim(cache_dir: Path | None = None) -> list[str]:
    """Remove half-written exports whose process is gone (killed mid-export: 60-90 MB each);
    return their names. An export in progress in a live process is left alone."""
    root = (cache_dir or default_cache_dir()) / "query-encoders"
    removed = []
    for p in root.glob(".*-*-*-*") if root.is_dir() else []:
        if not p.name.startswith((".tmp-", ".old-")):
            continue
        try:
            pid = int(p.name.rsplit("-", 2)[1])
        except ValueError:
            continue
        if not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _install(tmp: Path, folder: Path) -> None:
    """Move a finished entry into place atomically; a concurrent exporter's entry wins."""
    for name in os.listdir(tmp):
        fsync(tmp / name)
    if folder.exists():  # a failure record, or an entry being replaced by ``rag index``
        old = folder.parent / f".old-{folder.name}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        try:
            os.rename(folder, old)
        except OSError:
            pass
        else:
            shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:  # another process installed it first
        shutil.rmtree(tmp, ignore_errors=True)


def _record_failure(folder: Path, reason: str) -> None:
    try:
        if not (folder / META_FILE).exists():
            folder.mkdir(parents=True, exist_ok=True)
            record = {"reason": reason, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (folder / FAILED_FILE).write_text(json.dumps(record),
                                              encoding="utf-8")
    except OSError:
        pass


def _prune(keep: Path) -> None:
    """Drop entries for this model's older files or runtimes, and stale half-written exports."""
    same_model = keep.name.rsplit("-", 1)[0] + "-"  # folder name and path hash
    for p in keep.parent.iterdir():
        if p == keep:
            continue
        try:
            stale_tmp = p.name.startswith((".tmp-", ".old-")) and time.time() - p.stat().st_mtime > 3600
        except OSError:
            continue
        if stale_tmp or (p.name.startswith(same_model) and len(p.name) == len(keep.name)):
            shutil.rmtree(p, ignore_errors=True)


