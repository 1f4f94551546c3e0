"""The default store: FAISS and bm25s files in a folder, one generation per commit.

Reads load a whole generation into memory (vectors, tables, the BM25 models saved with
it); a commit writes a complete new generation and switches to it atomically
(:mod:`rag.store.generations`).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from rag.store import bm25, generations
from rag.store.base import Analyser, Ranking, StoreMissing
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")


class LocalStore:
    """One loaded generation."""

    def __init__(self, gen: generations.Generation, k1: float = 1.2, b: float = 0.75) -> None:
        self.generation = gen
        self.path = gen.path
        self.version = gen.path.name
        self.manifest = gen.manifest
        self.k1, self.b = k1, b
        self._chunk_row = {c.id: i for i, c in enumerate(gen.chunks)}
        self._sentence_row = {s.id: i for i, s in enumerate(gen.sentences)}
        self._memo: dict[Any, Any] = {}
        self._memo_lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------
    def dense(self, vector: "np.ndarray", k: int) -> Ranking:
        import numpy as np

        index = self.generation.vectors
        k = min(k, index.ntotal)
        if k == 0:
            return []
        scores, rows = index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        chunks = self.generation.chunks
        return [(chunks[int(i)].id, float(s)) for i, s in zip(rows[0], scores[0]) if i >= 0]

    def lexical(self, query: str, k: int, tokens: str = "words") -> Ranking:
        chunks = self.generation.chunks
        return [(chunks[i].id, s) for i, s in bm25.search(self.bm25_model(tokens), query, tokens, k)]

    def chunks(self, ids: Sequence[str]) -> list[Chunk]:
        return [self.generation.chunks[self._chunk_row[i]] for i in ids]

    def sentences(self, chunk_id: str) -> list[Sentence]:
        c = self.generation.chunks[self._chunk_row[chunk_id]]
        return self.generation.sentences[c.first_sentence:c.last_sentence]

    def neighbours(self, sentence_id: str) -> list[Sentence]:
        table = self.generation.sentences
        i = self._sentence_row[sentence_id]
        return [table[j] for j in (i + 1, i - 1) if 0 <= j < len(table) and table[j].doc_id == table[i].doc_id]

    def sentence_vectors(self, ids: Sequence[str]) -> "np.ndarray | None":
        vectors = self.generation.sentence_vectors
        return None if vectors is None else vectors[[self._sentence_row[i] for i in ids]]

    def term_frequencies(self, name: str, analyse: Analyser) -> tuple[int, dict[str, int]]:
        def compute() -> tuple[int, dict[str, int]]:
            counts: dict[str, int] = {}
            for terms in analyse([c.text for c in self.generation.chunks]):
                for t in set(terms):
                    counts[t] = counts.get(t, 0) + 1
            return len(self.generation.chunks), counts

        return self.memo(("terms", name), compute)

    # -- what the local store adds ------------------------------------------------------------
    def bm25_model(self, tokens: str):
        """BM25 over the chunks: the model saved with the generation when it fits, else built
        here, once per loaded generation. None when the texts hold no term."""
        def compute():
            chunks = self.generation.chunks
            fits = self.manifest.get("bm25") == bm25.manifest_entry(self.k1, self.b)
            model = bm25.load_saved(self.path / f"bm25-{tokens}", len(chunks)) if fits else None
            return model if model is not None else bm25.build([c.text for c in chunks], tokens, self.k1, self.b)

        return self.memo(("bm25", tokens), compute)

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, once per loaded generation; stored only once complete, so a
        concurrent reader never sees a half-made value."""
        if key not in self._memo:
            value = compute()
            with self._memo_lock:
                self._memo.setdefault(key, value)
        return self._memo[key]


class LocalWriter:
    """Rows grouped by file; a commit writes them all as a new generation."""

    def __init__(self, backend: "LocalBackend", base: LocalStore | None) -> None:
        self.backend = backend
        self.base = base
        self._groups: dict[str, tuple] = {}
        self._base_rows: dict[str, tuple[list[int], list[int]]] = {}
        if base is not None:
            for i, c in enumerate(base.generation.chunks):
                self._base_rows.setdefault(c.source, ([], []))[0].append(i)
            for i, s in enumerate(base.generation.sentences):
                self._base_rows.setdefault(s.source, ([], []))[1].append(i)
        self._deleted: set[str] = set()

    def replace(self, source: str, chunks: list[Chunk], sentences: list[Sentence],
                chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None") -> None:
        self._groups[source] = (chunks, sentences, chunk_vectors, sentence_vectors)
        self._deleted.discard(source)

    def delete(self, source: str) -> None:
        self._groups.pop(source, None)
        self._deleted.add(source)

    def sources(self) -> list[str]:
        kept = [s for s in self._base_rows if s not in self._deleted and s not in self._groups]
        return kept + list(self._groups)

    def commit(self, manifest: dict[str, Any]) -> str:
        """Rows in the order of ``manifest["files"]`` (then any other), written as one generation."""
        import numpy as np

        order = [s for s in manifest.get("files", {}) if s in set(self.sources())]
        order += [s for s in self.sources() if s not in order]
        chunks: list[Chunk] = []
        sentences: list[Sentence] = []
        cvecs, svecs = [], []
        with_sentences = manifest.get("sentence_vectors", True)
        for source in order:
            cs, ss, cv, sv = self._groups[source] if source in self._groups else self._from_base(source)
            offset = len(sentences)
            chunks += [replace(c, first_sentence=c.first_sentence + offset,
                               last_sentence=c.last_sentence + offset) for c in cs]
            sentences += ss
            if cs:
                cvecs.append(cv)
            if ss and with_sentences:
                svecs.append(sv)
        dim = int(manifest["dim"])
        cmat = np.concatenate(cvecs) if cvecs else np.zeros((0, dim), np.float32)
        smat = (np.concatenate(svecs) if svecs else np.zeros((0, dim), np.float32)) if with_sentences else None
        manifest = dict(manifest, bm25=bm25.manifest_entry(self.backend.k1, self.backend.b))
        gen = generations.save(self.backend.index_dir, manifest, chunks, sentences, cmat, smat,
                               extras=lambda folder: bm25.save_all(folder, [c.text for c in chunks],
                                                                   self.backend.k1, self.backend.b))
        return gen.name

    def _from_base(self, source: str):
        """One unchanged file's rows and vectors from the base generation."""
        gen = self.base.generation
        c_rows, s_rows = self._base_rows[source]
        first = s_rows[0] if s_rows else 0
        chunks = [replace(gen.chunks[i], first_sentence=gen.chunks[i].first_sentence - first,
                          last_sentence=gen.chunks[i].last_sentence - first) for i in c_rows]
        all_vectors = self.base.memo("chunk_vectors", gen.chunk_vectors)
        cvecs = all_vectors[c_rows] if c_rows else None
        svecs = gen.sentence_vectors[s_rows] if gen.sentence_vectors is not None and s_rows else None
        return chunks, [gen.sentences[i] for i in s_rows], cvecs, svecs


class LocalBackend:
    """An index folder: ``CURRENT`` names the generation readers open."""

    def __init__(self, index_dir: Path, k1: float = 1.2, b: float = 0.75) -> None:
        self.index_dir = index_dir
        self.k1, self.b = k1, b

    def describe(self) -> dict[str, Any]:
        gen = generations.current(self.index_dir)
        size = sum(p.stat().st_size for p in gen.rglob("*") if p.is_file()) if gen else 0
        return {"store": "local", "index": str(self.index_dir), "generation": gen.name if gen else None,
                "bytes": size}

    def current_version(self) -> str | None:
        gen = generations.current(self.index_dir)
        return gen.name if gen else None

    def manifest(self) -> dict[str, Any]:
        return generations.read_manifest(self.index_dir)

    def open(self) -> LocalStore:
        return LocalStore(generations.load(self.index_dir), self.k1, self.b)

    def lock(self) -> generations.BuildLock:
        return generations.BuildLock(self.index_dir)

    def writer(self, base: LocalStore | None) -> LocalWriter:
        return LocalWriter(self, base)


def open_existing(index_dir: Path) -> LocalStore | None:
    """The current generation, or None when there is none."""
    try:
        return LocalBackend(index_dir).open()
    except StoreMissing:
        return None
