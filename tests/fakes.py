"""Fakes for fast unit tests that need no model: an embedder that hashes words into vectors.

It has the Embedder's surface that indexing, the answerer and the Assistant use, so a real
store, answerer and chunker can run on it in milliseconds. Vectors are unit-length bags of
hashed words: texts sharing words are close, which is all the contract tests rely on.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

WORD = re.compile(r"\w+")


class FakeEmbedder:
    name = model_id = "fake-hashed-words"
    max_seq_length = 128
    dim = 64
    path = None
    batch_size = 32
    fast_query_problem = "fake"

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(WORD.findall(t)) for t in texts]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in WORD.finditer(text)]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out

    def encode_pooled(self, texts: list[str], spans: list, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Chunk vectors, and each span's text encoded (the real encoder pools the chunk's tokens)."""
        found: dict[int, str] = {}
        for text, marks in zip(texts, spans):
            for start, end, s in marks:
                found.setdefault(s, text[start:end])
        encode = FakeEmbedder.encode.__get__(self)  # one pass, whatever wraps ``encode``
        return encode(texts), encode([found.get(i, "") for i in range(1 + max(found, default=-1))])

    def use(self, encoder: str) -> None:
        self.encoder = encoder

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def prepare_query_encoder(self, force: bool = True) -> bool:
        return False
