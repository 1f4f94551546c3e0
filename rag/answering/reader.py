"""The reader: a small cross-encoder that says how likely a sentence answers a question.

It reads the question together with one candidate sentence and the sentence before it
(what "he" or "this" refers to) and gives the probability that the sentence holds the
answer. The best probability over the candidates is the chance that the passages answer
at all: below the calibrated threshold the answer abstains.

The model was fine-tuned by this project from all-MiniLM-L6-v2 on open SQuAD articles
(training/reader.py; model card in the README) and ships inside the package as int8 ONNX
with its tokenizer. It runs on ONNX Runtime: no torch on the query path. Its files are
checked against the checksums in ``meta.json`` when loaded; a missing or damaged model is a
clear :class:`ReaderUnavailable`, not a wrong answer.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before any onnxruntime session (see rag.embeddings)
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")

#: The shipped model's folder.
MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
#: Question, sentence and the sentence before it are cut to this many tokens (the sentence
#: before is cut first): cost grows with length, and 80 keeps the sentence whole nearly always.
MAX_TOKENS = 80


class ReaderUnavailable(RagError):
    """The reader model is missing or damaged."""


def pair_text(sentence: str, before: str) -> str:
    """The second segment the model reads: the sentence, then the one before it."""
    return f"{sentence} [SEP] {before}" if before else sentence


def prepare_tokenizer(tokenizer):
    """Truncate the second segment only, from its end (the sentence before goes first)."""
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="only_second")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


class Reader:
    """The shipped reader, loaded once and shared between threads (ONNX Runtime sessions are)."""

    def __init__(self, folder: Path = MODEL_DIR, threads: int = 0, checked: bool = True) -> None:
        """``checked=False`` skips the checksums: for training/reader.py, which scores the model it
        has just exported before it writes the ``meta.json`` that holds them."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.meta = verify(folder) if checked else {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(folder / MODEL_FILE), options,
                                                providers=["CPUExecutionProvider"])
            self.tokenizer = prepare_tokenizer(Tokenizer.from_file(str(folder / TOKENIZER_FILE)))
        except Exception as e:  # onnxruntime raises its own exception types
            raise ReaderUnavailable(f"cannot load the reader model in {folder}: {e}") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._lock = threading.Lock()  # the tokenizer's padding/truncation state is shared

    def probabilities(self, question: str, pairs: list[tuple[str, str]]) -> "np.ndarray":
        """For each (sentence, sentence before), the probability that it answers ``question``."""
        import numpy as np

        if not pairs:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encoded = self.tokenizer.encode_batch([(question, pair_text(s, b)) for s, b in pairs])
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        logits = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0].reshape(-1)
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def verify(folder: Path) -> dict:
    """``meta.json`` of the model in ``folder``, after checking every file's checksum."""
    from rag.files import sha256

    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        expected = meta["sha256"]
        if not isinstance(expected, dict):
            raise TypeError("sha256 is not a table of files")
    except FileNotFoundError:
        raise ReaderUnavailable(f"the reader model is missing: no {META_FILE} in {folder}; "
                                "reinstall rag") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReaderUnavailable(f"the reader model's {META_FILE} in {folder} is damaged ({e}); "
                                "reinstall rag") from None
    for name in (MODEL_FILE, TOKENIZER_FILE):
        try:
            actual = sha256(folder / name)
        except OSError:
            raise ReaderUnavailable(f"the reader model is missing: {folder / name}; reinstall rag") from None
        if actual != expected.get(name):
            raise ReaderUnavailable(f"the reader model file {folder / name} is damaged (checksum mismatch); "
                                    "reinstall rag")
    return meta


_shared: dict[Path, Reader] = {}
_shared_lock = threading.Lock()


def shared_reader(folder: Path = MODEL_DIR) -> Reader:
    """One reader per process: every store version's answerer uses the same model."""
    with _shared_lock:
        if folder not in _shared:
            _shared[folder] = Reader(folder)
        return _shared[folder]
