"""A model shipped inside the package: its files, checked against ``meta.json`` when loaded.

The reader and the entailment judge each ship as a folder of ``model.onnx``,
``tokenizer.json`` and ``meta.json`` (the figures, the threshold and every file's sha256).
A missing or damaged file is a one-line error naming the model, not a wrong answer.
:class:`ShippedModel` loads one on ONNX Runtime (no torch on the query path) and runs
text pairs through it; the reader and the judge say what their outputs mean.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before any onnxruntime session (see rag.embeddings)
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"


def verify(folder: Path, what: str, error: type[Exception]) -> dict:
    """``meta.json`` of the model in ``folder``, after checking every file's checksum; ``error``
    (with ``what``, e.g. "the reader model", in its message) when one is missing or damaged."""
    from rag.files import sha256

    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        expected = meta["sha256"]
        if not isinstance(expected, dict):
            raise TypeError("sha256 is not a table of files")
    except FileNotFoundError:
        raise error(f"{what} is missing: no {META_FILE} in {folder}; reinstall rag") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise error(f"{what}'s {META_FILE} in {folder} is damaged ({e}); reinstall rag") from None
    for name in (MODEL_FILE, TOKENIZER_FILE):
        try:
            actual = sha256(folder / name)
        except OSError:
            raise error(f"{what} is missing: {folder / name}; reinstall rag") from None
        if actual != expected.get(name):
            raise error(f"{what} file {folder / name} is damaged (checksum mismatch); reinstall rag")
    return meta


class ShippedModel:
    """A cross-encoder shipped in the package, loaded once and shared between threads (ONNX
    Runtime sessions are). Subclasses name it (``what``, ``error``) and cut its pairs
    (``prepare_tokenizer``)."""

    what = "the model"
    error: type[Exception] = RuntimeError

    @staticmethod
    def prepare_tokenizer(tokenizer):
        return tokenizer

    def __init__(self, folder: Path, threads: int = 0, checked: bool = True) -> None:
        """``checked=False`` skips the checksums: for the training scripts, which score the model
        they have just exported before they write the ``meta.json`` that holds them."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.meta = verify(folder, self.what, self.error) if checked else {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(folder / MODEL_FILE), options,
                                                providers=["CPUExecutionProvider"])
            self.tokenizer = self.prepare_tokenizer(Tokenizer.from_file(str(folder / TOKENIZER_FILE)))
        except Exception as e:  # onnxruntime raises its own exception types
            raise self.error(f"cannot load {self.what} in {folder}: {e}") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._lock = threading.Lock()  # the tokenizer's padding/truncation state is shared

    def logits(self, pairs: list[tuple[str, str]]) -> "np.ndarray":
        """The model's raw outputs for each (first, second) text pair, one row a pair."""
        import numpy as np

        with self._lock:
            encoded = self.tokenizer.encode_batch(pairs)
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        out = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return out.astype(np.float64)


_shared: dict[tuple[type, Path], ShippedModel] = {}
_shared_lock = threading.Lock()


def shared(kind: type[ShippedModel], folder: Path) -> ShippedModel:
    """One loaded model per kind and folder per process: every store version uses the same one."""
    with _shared_lock:
        if (kind, folder) not in _shared:
            _shared[kind, folder] = kind(folder)
        return _shared[kind, folder]
