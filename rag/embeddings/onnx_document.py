"""The document encoder: the model's transformer on ONNX Runtime, int8 by default, both cores.

Why: ``rag index`` spent nearly all its time in torch's fp32 forward pass, once over every
chunk and again over every sentence. This encoder runs the exported transformer (see
:mod:`rag.embeddings.onnx_document_export`) with ONNX Runtime's int8 kernels, and mean-pools
token embeddings itself, so a sentence's vector can be pooled from the tokens of the chunk
it sits in: no second pass over the sentences (``RAG_SENTENCE_POOLING``; off by default, as it
cost answers).

One text per forward pass, one pass per core at a time (threads; ONNX Runtime releases the
GIL). Int8 quantizes activations per pass, so in a padded batch a text's vector would depend
on its batch-mates (cosine 0.997 to itself alone): one at a time, a text always gets the same
vector, whatever it is indexed with, and no padding is computed. On this 2-core
machine that was also the fastest per CPU second (67 texts against 40 for batches of 32 on two
intra-op threads, which spin).

The vectors are the model's (mean pooling, unit length); int8 ones are within cosine 0.997
of fp32 on real chunks (the export checks its probes and records them). An index records
which encoder built it (:class:`rag.embeddings.Embedder`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("rag")

#: The encoders an index can be built with; ``torch`` is sentence-transformers itself.
ENCODERS = ("onnx-int8", "onnx", "torch")
#: Forward passes run at once: one per core, up to this many.
MAX_WORKERS = 8

#: A sentence's character span within a chunk's text, and the sentence's index.
Span = tuple[int, int, int]


@dataclass
class DocumentEncoder:
    """Texts -> unit vectors through one ONNX Runtime session; spans -> pooled sentence vectors."""

    session: Any  # onnxruntime.InferenceSession, output: token embeddings (batch, tokens, dim)
    tokenizer: Any  # tokenizers.Tokenizer with the model's truncation, no padding
    input_names: tuple[str, ...]
    lower_case: bool
    dim: int
    kind: str  # one of ENCODERS
    path: Path

    @classmethod
    def open(cls, folder: Path, meta: dict[str, Any]) -> "DocumentEncoder":
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(meta["max_length"]))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1  # the cores are used by running texts side by side
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        return cls(session=session, tokenizer=tokenizer, input_names=tuple(i.name for i in session.get_inputs()),
                   lower_case=bool(meta.get("lower_case")), dim=int(meta["dim"]), kind=str(meta["kind"]),
                   path=folder)

    def encode(self, texts: Sequence[str], progress: bool = False, what: str = "texts") -> "np.ndarray":
        """Unit-length float32 vectors, one per text."""
        return self.encode_pooled(texts, [], progress, what)[0]

    def encode_pooled(self, texts: Sequence[str], spans: Sequence[Sequence[Span]], progress: bool = False,
                      what: str = "chunks") -> "tuple[np.ndarray, np.ndarray]":
        """Vectors of ``texts``, and of the sentences ``spans[i]`` marks in ``texts[i]``.

        A sentence's vector is the mean of its tokens' embeddings, summed over every text
        that holds it (a sentence in an overlap sits in two chunks), then made unit length.
        """
        import numpy as np

        n_sent = 1 + max((s for spans_i in spans for _, _, s in spans_i), default=-1)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled = np.zeros((n_sent, self.dim), dtype=np.float32)
        if not texts:
            return vectors, pooled
        from concurrent.futures import ThreadPoolExecutor

        encodings = self.tokenizer.encode_batch([t.lower() if self.lower_case else t for t in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))  # long first: even finish
        meter = Meter(len(texts), what) if progress else None

        def one(i: int) -> tuple[int, "np.ndarray", list]:
            tokens = self._run(encodings[i])
            found = []
            if i < len(spans) and spans[i]:
                offsets = np.asarray(encodings[i].offsets).reshape(-1, 2)
                real = np.asarray(encodings[i].special_tokens_mask) == 0
                for start, end, s in spans[i]:
                    inside = real & (offsets[:, 0] < end) & (offsets[:, 1] > start)
                    if inside.any():
                        found.append((s, tokens[inside].mean(axis=0)))
            return i, tokens.mean(axis=0), found

        workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS, len(texts)))
        with ThreadPoolExecutor(workers, thread_name_prefix="rag-encode") as pool:
            for i, vector, found in pool.map(one, order):
                vectors[i] = vector
                for s, part in found:
                    pooled[s] += part
                if meter is not None:
                    meter.advance(1)
        if meter is not None:
            meter.done()
        return _unit(vectors), _unit(pooled)

    def _run(self, encoding) -> "np.ndarray":
        """The token embeddings of one text (no padding, so no mask to trust)."""
        import numpy as np

        ids = np.asarray([encoding.ids], dtype=np.int64)
        columns = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, {name: columns[name] for name in self.input_names})[0][0]


class Meter:
    """A line on stderr with how far encoding is, its rate and the time left; at most every 2 s."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.done_n = total, what, 0
        self.t0 = self.last = time.perf_counter()
        self.live = sys.stderr.isatty()

    def advance(self, n: int) -> None:
        self.done_n += n
        now = time.perf_counter()
        if now - self.last >= 2.0 and self.done_n < self.total:
            self.last = now
            self._say(self.line(now - self.t0), end="\r" if self.live else "\n")

    def line(self, elapsed: float) -> str:
        rate = self.done_n / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done_n) / rate if rate > 0 else 0.0
        return (f"embedding {self.done_n:,}/{self.total:,} {self.what}, {rate:.1f} {self.what}/s, "
                f"{_clock(left)} left")

    def done(self) -> None:
        elapsed = time.perf_counter() - self.t0
        if elapsed >= 2.0:
            rate = self.total / elapsed if elapsed > 0 else 0.0
            self._say(f"embedded {self.total:,} {self.what} in {_clock(elapsed)}, {rate:.1f} {self.what}/s",
                      end="\n")

    def _say(self, text: str, end: str) -> None:
        sys.stderr.write(("\r\x1b[K" if self.live else "") + text + end)
        sys.stderr.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def _unit(vectors: "np.ndarray") -> "np.ndarray":
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)
