"""The public API: one object that indexes, searches and answers.

The CLI, the HTTP server and evaluation runs are thin shells over this. An Assistant is
composed of parts it can be given (constructor injection) or makes from the settings:
an embedder, a store backend (rag.store), an answerer factory (rag.answering) and a
renderer (rag.rendering). The store is opened once and checked against the corpus on first
use: missing, stale, damaged or built with another model, it is rebuilt (saying so on
stderr). ``reload_if_changed`` lets a long-lived process pick up a version that
``rag index`` committed beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Iterator

from rag import indexing, skipped
from rag.answering import Answerer, answerer_for
from rag.answering import check as check_answerer
from rag.conversation import standalone_question
from rag.embeddings import Embedder
from rag.loaders import corpus_files
from rag.questions import QuestionError, check_earlier, check_question
from rag.rendering import Renderer
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.store import Backend, Store, StoreDamaged, StoreMissing, StoreProblem, backend_for
from rag.types import Answer, AnswerDone, AnswerEvent, Hit, Query

log = logging.getLogger("rag")

__all__ = ["Assistant", "State", "QuestionError", "check_question"]


@dataclass(frozen=True)
class State:
    """What one request works against; swapped whole when a new version appears."""

    store: Store
    retriever: Retriever
    answerer: Answerer


class Assistant:
    """Indexes, searches and answers over one corpus; safe to share between threads."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 backend: Backend | None = None, renderer: Renderer | None = None, **overrides: object) -> None:
        base = settings or Settings.load()
        self.settings = base.replace(**overrides) if overrides else base
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if renderer is not None:
            self.__dict__["renderer"] = renderer
        check_answerer(self.settings.answerer)  # a bad name fails now, not at the first question
        self.backend = backend or backend_for(self.settings)
        self._state: State | None = None
        self._lock = threading.Lock()
        self.skipped: dict[str, str] = {}  # source -> why, of the last build's corpus (rag.skipped)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.settings.model, batch_size=self.settings.batch_size,
                        fast_query=self.settings.fast_query, cache_dir=self.settings.cache_dir,
                        encoder=self.settings.encoder)

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.settings.prompts_dir)

    # -- building -------------------------------------------------------------------------
    def index(self, rebuild: bool = False, progress: bool = False,
              on_file: Callable[[int, int, str], None] | None = None) -> indexing.IndexReport:
        """Bring the index up to date (only new or changed files are embedded).

        Chunking and boilerplate settings the user did not give are the index's own;
        ``on_file(n, total, source)`` hears of each file read (see :func:`rag.indexing.build`).
        """
        try:
            self.settings = indexing.adopt(self.backend.manifest(), self.settings)
        except StoreProblem:
            pass  # nothing usable to adopt from: build with the settings as they are
        report = self._build(self.settings, rebuild=rebuild, progress=progress, on_file=on_file)
        with self._lock:
            self._state = None
        return report

    def _build(self, settings: Settings, **how) -> indexing.IndexReport:
        """``indexing.build``, remembering which files gave nothing and why (``self.skipped``)."""
        with skipped.catching() as heard:
            report = indexing.build(settings, self.embedder, backend=self.backend, **how)
        files = self.backend.manifest().get("files", {})
        found = skipped.reasons(heard, list(files))
        self.skipped = skipped.remember(settings.index_dir, files, report.embedded, found)
        return report

    def state(self) -> State:
        """The opened store, rebuilt first when missing, stale, damaged or of another model."""
        with self._lock:
            if self._state is None:
                self._state = self._make_state(self._open())
            return self._state

    def warm_up(self) -> None:
        """Open the store and load the models and lazy tables now, not in the first question."""
        self._warm(self.state())

    def reload_if_changed(self) -> bool:
        """Switch to a newer version written by another process; True when it did."""
        current = self.backend.current_version()
        with self._lock:
            if self._state is None or current is None or current == self._state.store.version:
                return False
        try:
            store = self.backend.open()
        except StoreProblem as e:
            log.warning("not switching to the new index: %s", e)
            return False
        if store.manifest.get("model") != self.embedder.model_id:
            log.warning("not switching to index %s: it was built with another model (%s)",
                        store.version, store.manifest.get("model"))
            return False
        fresh = self._make_state(store)
        self._warm(fresh)  # its lazy tables are built here, not in the first request after the switch
        with self._lock:
            if self._state is not None and self._state.store.version == fresh.store.version:
                return False  # another caller switched already
            self._state = fresh
        log.info("switched to index %s", fresh.store.version)
        return True

    def _open(self) -> Store:
        if getattr(self.backend, "shared", False):
            return self._open_shared()
        settings = self.settings
        files = corpus_files(settings)
        store = None
        try:
            manifest = self.backend.manifest()
            settings = self.settings = indexing.adopt(manifest, settings)
            reason = indexing.stale_reason(manifest, settings, files)
            store = None if reason else self.backend.open()
        except StoreMissing:
            reason = "there is none yet"
        except StoreDamaged as e:
            reason = f"it is damaged: {e}"
        if store is None:
            log.warning("building the index in %s because %s", self._where(), reason)
            self._build(settings, rebuild=reason.startswith("it is damaged"))
            store = self.backend.open()
        return store

    def _open_shared(self) -> Store:
        """A shared store as it is: ``rag index`` (any worker's) keeps it up to date, not its readers,
        which may be read-only and on machines without the corpus. Built here only when empty."""
        try:
            manifest = self.backend.manifest()
        except StoreMissing:
            log.warning("building the index in %s because there is none yet", self._where())
            indexing.build(self.settings, self.embedder, backend=self.backend)
            manifest = self.backend.manifest()
        self.settings = indexing.adopt(manifest, self.settings)
        if manifest.get("model") != self.embedder.model_id:
            raise StoreProblem(f"the store at {self._where()} was built with another model ({manifest.get('model')}); "
                               "ask with that model, or index it again with --rebuild")
        return self.backend.open()

    def _where(self) -> str:
        if self.settings.store == "local":
            return str(self.settings.index_dir)
        return str(getattr(self.backend, "where", None) or self.settings.store.split(":")[0])

    def _make_state(self, store: Store) -> State:
        use = getattr(self.embedder, "use", None)
        if use is not None:  # queries are encoded by the encoder that built the index (torch before it was recorded)
            use(store.manifest.get("encoder", "torch"))
        return State(store=store, retriever=Retriever.from_settings(store, self.settings),
                     answerer=answerer_for(store, self.settings, self.embedder))

    def _warm(self, state: State) -> None:
        """Build a state's lazy tables (BM25, term counts) with one throwaway search."""
        query = self._query("warm up", [])
        hits = state.retriever.search(query.text, query.vector, 1)
        # An answerer may warm up without its dear part (a language model is not asked "warm up").
        getattr(state.answerer, "warm_up", state.answerer.answer)(query, hits)

    # -- asking ---------------------------------------------------------------------------
    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        """The passages that best match ``query``, best first, with their scores."""
        query = check_question(query, self.settings.max_question_chars)
        top_k = self.resolve_top_k(top_k)
        state = self.state()
        q = self._query(query, [])
        return state.answerer.rank(q, state.retriever.search(q.text, q.vector, top_k))

    def ask(self, question: str, top_k: int | None = None, history: list[str] | None = None) -> Answer:
        """Answer from the articles, or abstain; ``history`` is the user's earlier questions."""
        return self.ask_with_passages(question, top_k, history)[0]

    def ask_with_passages(self, question: str, top_k: int | None = None,
                          history: list[str] | None = None) -> tuple[Answer, list[Hit]]:
        """:meth:`ask`, with the passages as :meth:`search` ranks them, from the same one search
        (an evaluation scores both)."""
        t0 = time.perf_counter()
        state, query, hits = self._retrieve(question, top_k, history)
        t1 = time.perf_counter()
        answer = state.answerer.answer(query, hits)
        t2 = time.perf_counter()
        return self._finish(answer, t0, t1, t2), state.answerer.rank(query, hits)

    def stream(self, question: str, top_k: int | None = None,
               history: list[str] | None = None) -> Iterator[AnswerEvent]:
        """:meth:`ask` as events: each sentence as the answerer has it, then the rendered answer.

        The question is checked and the passages retrieved before the first event, so a bad
        question raises here, not halfway through a stream.
        """
        t0 = time.perf_counter()
        state, query, hits = self._retrieve(question, top_k, history)
        t1 = time.perf_counter()

        def events() -> Iterator[AnswerEvent]:
            for event in state.answerer.stream(query, hits):
                if isinstance(event, AnswerDone):
                    event = AnswerDone(self._finish(event.answer, t0, t1, time.perf_counter()))
                yield event

        return events()

    def _retrieve(self, question: str, top_k: int | None, history: list[str] | None):
        question = check_question(question, self.settings.max_question_chars)
        history = [check_earlier(i, h, self.settings.max_question_chars) for i, h in enumerate(history or [])]
        top_k = self.resolve_top_k(top_k)
        state = self.state()
        query = self._query(question, history)
        return state, query, state.retriever.search(query.text, query.vector, top_k)

    def _query(self, question: str, history: list[str]) -> Query:
        text = standalone_question(question, history)
        return Query(question=question, text=text, vector=self.embedder.encode_query(text), history=tuple(history))

    def _finish(self, answer: Answer, t0: float, t1: float, t2: float) -> Answer:
        timings = {"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
        return replace(self.renderer.finish(answer), timings_ms={**answer.timings_ms, **timings})

    def info(self) -> dict:
        """What is indexed, with which model and settings, where and how big."""
        where = self.backend.describe()
        manifest = self.backend.manifest()
        settings = indexing.adopt(manifest, self.settings)
        with skipped.catching() as heard:
            files = corpus_files(self.settings)
        indexed = manifest.get("files", {})
        skips = {**skipped.recorded(settings.index_dir, indexed), **skipped.reasons(heard, [])}
        manifest = dict(manifest, files={s: h for s, h in indexed.items() if s not in skips})
        return {"index": where.get("index", where.get("store")), "store": where.get("store"),
                "generation": where.get("generation"), "model": manifest.get("model"), "dim": manifest.get("dim"),
                "encoder": manifest.get("encoder", "torch"), "chunk_tokens": manifest.get("chunk_tokens"),
                "chunk_overlap": manifest.get("chunk_overlap"),
                "corpus": manifest.get("corpus"), "files": manifest.get("files", {}),
                "counts": manifest.get("counts", {}), "bytes": where.get("bytes", 0),
                "pages": manifest.get("pages", {}), "by_type": _by_type(manifest),
                "skipped": dict(sorted(skips.items())), "built_at": manifest.get("built_at"),
                "stale": indexing.stale_reason(dict(manifest, files=indexed), settings, files)}

    def resolve_top_k(self, top_k: int | None) -> int:
        """``top_k``, or the configured default; below 1 is refused."""
        k = self.settings.top_k if top_k is None else top_k
        if k < 1:
            raise QuestionError(f"top-k must be at least 1, got {k}")
        return k


def _by_type(manifest: dict) -> dict[str, dict[str, int]]:
    """Indexed files by suffix, with their pages where the format has pages."""
    from pathlib import PurePosixPath

    out: dict[str, dict[str, int]] = {}
    pages = manifest.get("pages", {})
    for source in manifest.get("files", {}):
        entry = out.setdefault(PurePosixPath(source).suffix.lower() or "(none)", {"files": 0, "pages": 0})
        entry["files"] += 1
        entry["pages"] += pages.get(source, 0)
    return dict(sorted(out.items()))
