"""A store in memory: the reference for the contract tests, and a fake for fast unit tests.

Exact search by brute force, BM25 built on first use; versions are kept in the backend
object, so nothing outlives the process.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from rag.store import bm25
from rag.store.base import Analyser, Ranking, StoreMissing
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    import numpy as np

_versions = itertools.count(1)


@dataclass
class _File:
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: Any
    sentence_vectors: Any


@dataclass
class MemoryStore:
    version: str
    manifest: dict[str, Any]
    files: dict[str, _File]
    k1: float = 1.2
    b: float = 0.75
    _memo: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._chunks = [c for f in self.files.values() for c in f.chunks]
        self._by_chunk = {c.id: (c, f) for f in self.files.values() for c in f.chunks}
        self._sentences = {s.id: (n, f) for f in self.files.values() for n, s in enumerate(f.sentences)}
        self._lock = threading.Lock()

    def dense(self, vector: "np.ndarray", k: int) -> Ranking:
        import numpy as np

        if not self._chunks:
            return []
        matrix = np.concatenate([f.chunk_vectors for f in self.files.values() if f.chunks])
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        return [(self._chunks[i].id, float(scores[i])) for i in order]

    def lexical(self, query: str, k: int, tokens: str = "words") -> Ranking:
        with self._lock:
            if tokens not in self._memo:
                self._memo[tokens] = bm25.build([c.text for c in self._chunks], tokens, self.k1, self.b)
        return [(self._chunks[i].id, s) for i, s in bm25.search(self._memo[tokens], query, tokens, k)]

    def chunks(self, ids: Sequence[str]) -> list[Chunk]:
        return [self._by_chunk[i][0] for i in ids]

    def sentences(self, chunk_id: str) -> list[Sentence]:
        c, f = self._by_chunk[chunk_id]
        return f.sentences[c.first_sentence:c.last_sentence]

    def neighbours(self, sentence_id: str) -> list[Sentence]:
        n, f = self._sentences[sentence_id]
        s = f.sentences[n]
        return [f.sentences[j] for j in (n + 1, n - 1)
                if 0 <= j < len(f.sentences) and f.sentences[j].doc_id == s.doc_id]

    def sentence_vectors(self, ids: Sequence[str]) -> "np.ndarray | None":
        import numpy as np

        rows = [self._sentences[i] for i in ids]
        if any(f.sentence_vectors is None for _, f in rows):
            return None
        return np.stack([f.sentence_vectors[n] for n, f in rows]) if rows else None

    def term_frequencies(self, name: str, analyse: Analyser) -> tuple[int, dict[str, int]]:
        key = ("terms", name)
        if key not in self._memo:
            counts: dict[str, int] = {}
            for terms in analyse([c.text for c in self._chunks]):
                for t in set(terms):
                    counts[t] = counts.get(t, 0) + 1
            self._memo[key] = (len(self._chunks), counts)
        return self._memo[key]


class MemoryWriter:
    def __init__(self, backend: "MemoryBackend", base: MemoryStore | None) -> None:
        self.backend = backend
        self.files: dict[str, _File] = dict(base.files) if base else {}

    def replace(self, source: str, chunks: list[Chunk], sentences: list[Sentence],
                chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None") -> None:
        self.files[source] = _File(list(chunks), list(sentences), chunk_vectors, sentence_vectors)

    def delete(self, source: str) -> None:
        self.files.pop(source, None)

    def sources(self) -> list[str]:
        return list(self.files)

    def commit(self, manifest: dict[str, Any]) -> str:
        order = [s for s in manifest.get("files", {}) if s in self.files]
        order += [s for s in self.files if s not in order]
        files = {s: self.files[s] for s in order}
        counts = {"chunks": sum(len(f.chunks) for f in files.values()),
                  "sentences": sum(len(f.sentences) for f in files.values())}
        store = MemoryStore(version=f"mem-{next(_versions)}", manifest=dict(manifest, counts=counts),
                            files=files, k1=self.backend.k1, b=self.backend.b)
        self.backend.latest = store
        return store.version


class MemoryBackend:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.latest: MemoryStore | None = None

    def describe(self) -> dict[str, Any]:
        return {"store": "memory", "generation": self.current_version(), "bytes": 0}

    def current_version(self) -> str | None:
        return self.latest.version if self.latest else None

    def manifest(self) -> dict[str, Any]:
        return dict(self.open().manifest)

    def open(self) -> MemoryStore:
        if self.latest is None:
            raise StoreMissing("nothing indexed in memory yet")
        return self.latest

    def lock(self):
        return nullcontext()

    def writer(self, base: MemoryStore | None) -> MemoryWriter:
        return MemoryWriter(self, base)


