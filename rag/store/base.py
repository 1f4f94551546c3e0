"""The store: where chunks, sentences and their vectors live, behind two small protocols.

- :class:`Store` is one consistent, read-only version: dense and lexical search, chunks
  and sentences by their stable ids, a sentence's neighbours, corpus statistics. A reader
  holds one while it answers, so it never sees half of a write.
- :class:`Backend` is the place versions live: it opens the newest, says cheaply whether a
  newer one exists, and writes new ones through a :class:`Writer` (replace or delete a
  file's rows, then commit all at once).

Implementations: :mod:`rag.store.local` (FAISS and bm25s files, the default),
:mod:`rag.store.postgres` (PostgreSQL with pgvector, shared by many processes) and
:mod:`rag.store.memory` (in memory, for tests); each passes tests/contract/test_store_contract.py.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from rag.errors import RagError
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    import numpy as np

#: (id, score) pairs, best first.
Ranking = list[tuple[str, float]]
#: Turns texts into their terms (see rag.analysis).
Analyser = Callable[[list[str]], list[list[str]]]


class StoreProblem(RagError):
    """Base for store problems the user can fix by indexing again."""


class StoreMissing(StoreProblem):
    """Nothing has been indexed there yet."""


class StoreDamaged(StoreProblem):
    """What is there cannot be read as an index (damaged, truncated, another format)."""


class StoreUnwritable(StoreProblem):
    """The store cannot be written (a file in the way, no permission, disk full)."""


class StoreUnavailable(StoreProblem):
    """A shared store cannot be reached (down, restarting, network): retry later."""


class Store(Protocol):
    """One committed version of the index, read-only."""

    #: Names this version; a new commit gives a new one.
    version: str
    #: What it was built with: model, dim, chunking, files (source -> SHA-256), counts.
    manifest: Mapping[str, Any]

    def dense(self, vector: "np.ndarray", k: int) -> Ranking:
        """The ``k`` chunks nearest ``vector`` by cosine."""
        ...

    def lexical(self, query: str, k: int, tokens: str = "words") -> Ranking:
        """The ``k`` best chunks by BM25 over ``tokens`` ("words" or "chars"); positive scores only."""
        ...

    def chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids, in that order."""
        ...

    def sentences(self, chunk_id: str) -> list[Sentence]:
        """A chunk's sentences in reading order."""
        ...

    def neighbours(self, sentence_id: str) -> list[Sentence]:
        """The sentence just after, then the one just before, in the same document."""
        ...

    def sentence_vectors(self, ids: Sequence[str]) -> "np.ndarray | None":
        """Unit vectors of these sentences, or None when the store keeps none."""
        ...

    def term_frequencies(self, name: str, analyse: Analyser) -> tuple[int, dict[str, int]]:
        """How many chunks there are, and in how many of them each term (by ``analyse``)
        occurs; worked out once per version and ``name``."""
        ...


class Writer(Protocol):
    """Changes to a store, made visible together by :meth:`commit`."""

    def replace(self, source: str, chunks: list[Chunk], sentences: list[Sentence],
                chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None") -> None:
        """A file's rows, all of them (chunks' sentence ranges index ``sentences``)."""
        ...

    def delete(self, source: str) -> None:
        ...

    def sources(self) -> list[str]:
        """The files the committed version will hold."""
        ...

    def commit(self, manifest: dict[str, Any]) -> str:
        """Make every change visible at once; return the new version."""
        ...


class Backend(Protocol):
    """Where the versions of one index live."""

    def describe(self) -> dict[str, Any]:
        """Where it is and how big, for ``rag info`` (never a password)."""
        ...

    def current_version(self) -> str | None:
        """The newest committed version, cheaply; None when there is none."""
        ...

    def manifest(self) -> dict[str, Any]:
        """The newest version's manifest; StoreMissing or StoreDamaged."""
        ...

    def open(self) -> Store:
        """The newest version, checked; StoreMissing or StoreDamaged."""
        ...

    def lock(self) -> AbstractContextManager:
        """Held while writing: one writer at a time."""
        ...

    def writer(self, base: Store | None) -> Writer:
        """A writer starting from ``base``'s rows (empty when None)."""
        ...
