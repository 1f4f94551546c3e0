"""The public API: one object that indexes, searches and answers.

The CLI and the HTTP server are thin shells over this. The index is loaded once and
checked against the corpus on first use: missing, stale, damaged or built with another
model, it is rebuilt (saying so on stderr). ``reload_if_changed`` lets a long-lived
process pick up a generation that ``rag index`` wrote beside it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from rag import index_store, indexing
from rag.answering import Answer, Answerer, Templates
from rag.conversation import standalone_question
from rag.documents import list_sources
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.index_store import Index
from rag.retrieval import Hit, Retriever
from rag.settings import Settings

log = logging.getLogger("rag")


class QuestionError(RagError):
    """The question cannot be answered as given (empty, too long, control characters)."""


def check_question(question: object, max_chars: int) -> str:
    """The question with its whitespace tidied, or a QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    bad = sorted({c for c in question if unicodedata.category(c) == "Cc" and c not in "\t\n\r"})
    if bad:
        raise QuestionError("the question contains control characters (" +
                            ", ".join(f"U+{ord(c):04X}" for c in bad[:3]) + ")")
    question = " ".join(question.split())
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is too long ({len(question)} characters; the limit is {max_chars})")
    return question


@dataclass(frozen=True)
class State:
    """What one request works against; swapped whole when a new generation appears."""

    index: Index
    retriever: Retriever
    answerer: Answerer


class Assistant:
    def __init__(self, settings: Settings | None = None, **overrides: object) -> None:
        base = settings or Settings.load()
        self.settings = base.replace(**overrides) if overrides else base
        self._state: State | None = None
        self._lock = threading.Lock()

    # -- building -------------------------------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.settings.model, batch_size=self.settings.batch_size,
                        fast_query=self.settings.fast_query, cache_dir=self.settings.cache_dir)

    @cached_property
    def templates(self) -> Templates:
        return Templates(self.settings.prompts_dir)

    def index(self, rebuild: bool = False, progress: bool = False) -> indexing.IndexReport:
        """Bring the index up to date (only new or changed files are embedded).

        Chunking and boilerplate settings the user did not give are the index's own.
        """
        try:
            self.settings = indexing.adopt(index_store.read_manifest(self.settings.index_dir), self.settings)
        except index_store.IndexProblem:
            pass  # nothing usable to adopt from: build with the settings as they are
        report = indexing.build(self.settings, self.embedder, rebuild=rebuild, progress=progress)
        with self._lock:
            self._state = None
        return report

    def state(self) -> State:
        """The loaded index, rebuilt first when missing, stale, damaged or of another model."""
        with self._lock:
            if self._state is None:
                self._state = self._load()
            return self._state

    def reload_if_changed(self) -> bool:
        """Switch to a newer generation written by another process; True when it did."""
        current = index_store.current_generation(self.settings.index_dir)
        with self._lock:
            if self._state is None or current is None or current.name == self._state.index.generation:
                return False
        try:
            index = index_store.load(self.settings.index_dir)
        except index_store.IndexProblem as e:
            log.warning("not switching to the new index: %s", e)
            return False
        if index.manifest.get("model") != self.embedder.model_id:
            log.warning("not switching to index %s: it was built with another model (%s)",
                        index.generation, index.manifest.get("model"))
            return False
        fresh = self._make_state(index)
        self._warm(fresh)  # its lazy tables are built here, not in the first request after the switch
        with self._lock:
            if self._state is not None and self._state.index.generation == fresh.index.generation:
                return False  # another caller switched already
            self._state = fresh
        log.info("switched to index %s", fresh.index.generation)
        return True

    def _load(self) -> State:
        settings = self.settings
        files = list_sources(settings.corpus, settings.extensions)
        reason = None
        try:
            manifest = index_store.read_manifest(settings.index_dir)
            settings = self.settings = indexing.adopt(manifest, settings)
            reason = indexing.stale_reason(manifest, settings, files)
            index = None if reason else index_store.load(settings.index_dir)
        except index_store.IndexMissing:
            reason = "there is none yet"
            index = None
        except index_store.IndexDamaged as e:
            reason = f"it is damaged: {e}"
            index = None
        if index is None:
            log.warning("building the index in %s because %s", settings.index_dir, reason)
            indexing.build(settings, self.embedder, rebuild=reason.startswith("it is damaged"))
            index = index_store.load(settings.index_dir)
        return self._make_state(index)

    def _make_state(self, index: Index) -> State:
        s = self.settings
        retriever = Retriever.from_settings(index, s)
        answerer = Answerer(index, self.templates, threshold=s.abstain_threshold,
                            max_sentences=s.max_answer_sentences, encode=self.embedder.encode)
        return State(index=index, retriever=retriever, answerer=answerer)

    def _warm(self, state: State) -> None:
        """Build a state's lazy tables (BM25, term counts) with one throwaway search."""
        query = "warm up"
        vector = self.embedder.encode_query(query)
        state.answerer.score(query, vector, state.retriever.search(query, vector, 1))

    # -- asking ---------------------------------------------------------------------
    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        query = check_question(query, self.settings.max_question_chars)
        top_k = self.resolve_top_k(top_k)
        state = self.state()
        vector = self.embedder.encode_query(query)
        hits = state.retriever.search(query, vector, top_k)
        return state.answerer.rerank(hits, state.answerer.score(query, vector, hits))

    def ask(self, question: str, top_k: int | None = None, history: list[str] | None = None) -> Answer:
        """Answer from the articles, or abstain; ``history`` is the user's earlier questions."""
        return self.ask_with_passages(question, top_k, history)[0]

    def ask_with_passages(self, question: str, top_k: int | None = None,
                          history: list[str] | None = None) -> tuple[Answer, list[Hit]]:
        """:meth:`ask`, with the passages as :meth:`search` ranks them, from the same one search
        (an evaluation scores both)."""
        t0 = time.perf_counter()
        question = check_question(question, self.settings.max_question_chars)
        history = [check_question(h, self.settings.max_question_chars) for h in history or []]
        top_k = self.resolve_top_k(top_k)
        state = self.state()
        query = standalone_question(question, history)
        vector = self.embedder.encode_query(query)
        hits = state.retriever.search(query, vector, top_k)
        t1 = time.perf_counter()
        scored = state.answerer.score(query, vector, hits)
        answer = state.answerer.answer(question, query, scored)
        t2 = time.perf_counter()
        timings = {"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
        return dataclasses.replace(answer, timings_ms=timings), state.answerer.rerank(hits, scored)

    def info(self) -> dict:
        """What is indexed, with which model and settings, and how big it is."""
        gen = index_store.current_generation(self.settings.index_dir)
        manifest = index_store.read_manifest(self.settings.index_dir, gen)
        settings = indexing.adopt(manifest, self.settings)
        size = sum(p.stat().st_size for p in gen.rglob("*") if p.is_file()) if gen else 0
        files = list_sources(self.settings.corpus, self.settings.extensions)
        return {"index": str(self.settings.index_dir), "generation": gen.name if gen else None,
                "model": manifest.get("model"), "dim": manifest.get("dim"),
                "chunk_tokens": manifest.get("chunk_tokens"), "chunk_overlap": manifest.get("chunk_overlap"),
                "corpus": manifest.get("corpus"), "files": manifest.get("files", {}),
                "counts": manifest.get("counts", {}), "bytes": size, "built_at": manifest.get("built_at"),
                "stale": indexing.stale_reason(manifest, settings, files)}

    def resolve_top_k(self, top_k: int | None) -> int:
        """``top_k``, or the configured default; below 1 is refused."""
        k = self.settings.top_k if top_k is None else top_k
        if k < 1:
            raise QuestionError(f"top-k must be at least 1, got {k}")
        return k
