"""A shared store in PostgreSQL with pgvector: many servers read it, many ``rag index`` share its work.

Selected by ``RAG_STORE=postgresql://...`` (or ``--store``). Nothing is loaded whole: dense search
is an HNSW index, lexical search BM25 as sparse vectors (one ``sparsevec`` of document weights
per chunk and kind of term, the query a sparse vector of idf weights, candidates found by a GIN
index of the chunk's term ids), and chunks, sentences and neighbours are rows fetched by id.
A commit is one transaction that bumps ``rag_state.version``; rows carry the versions they are
valid for, so a :class:`PostgresStore` keeps answering from the version it opened while newer
ones land (superseded rows are kept :data:`~rag.store.postgres_writer.RETAIN_SECONDS`).
Tables: :mod:`rag.store.postgres_db`; writing and the queue: :mod:`rag.store.postgres_writer`.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from rag.analysis import TOKENISERS
from rag.store.base import Analyser, Ranking, StoreDamaged, StoreMissing
from rag.store.postgres_db import SPARSE_DIM, Database, visible
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    import numpy as np

#: Rows fetched at a time when counting terms over every chunk.
FETCH = 5000
#: Chunks' sentences and sentences' neighbours kept per version.
CACHED = 4096
#: A word in more than this share of the chunks finds candidates only when rarer words cannot
#: (in a store of more than SMALL chunks; a smaller one is searched whole in one query).
COMMON, SMALL = 0.05, 5000
#: Up to this many chunks BM25 over character n-grams is exact, like the local store's; above,
#: it is exact over candidates (PostgresStore._char_candidates; benchmarks/RESULTS.md).
EXACT_CHARS_UP_TO = 5000
#: Postings of the rarest query n-grams that find character candidates.
CHAR_CANDIDATES = 2000


class PostgresStore:
    """One committed version, read through pooled connections."""

    def __init__(self, backend: "PostgresBackend", number: int, manifest: dict[str, Any]) -> None:
        self.backend = backend
        self.db = backend.db
        self.number = number
        self.version = f"v{number}"
        self.manifest = manifest
        self.k1, self.b = backend.k1, backend.b
        self._memo: dict[Any, Any] = {}
        self._lock = threading.Lock()
        # A version's rows never change: an answer asks for the same sentences several times.
        self._sentences = lru_cache(maxsize=CACHED)(self._fetch_sentences)
        self._neighbours = lru_cache(maxsize=CACHED)(self._fetch_neighbours)
        self._words = lru_cache(maxsize=64)(lambda query, k: self.lexical(query, k, "words"))

    def _rows(self, sql: str, **params: Any) -> list[tuple]:
        with self.db.connection() as conn:
            return conn.execute(sql, dict(params, v=self.number)).fetchall()

    # -- searching -------------------------------------------------------------------------
    def dense(self, vector: "np.ndarray", k: int) -> Ranking:
        import numpy as np

        sql = (f"SELECT id, -(embedding <#> %(q)s) FROM rag_chunks WHERE {visible()} "
               "ORDER BY embedding <#> %(q)s LIMIT %(k)s")
        params = {"q": np.asarray(vector, dtype=np.float32), "k": k, "v": self.number}
        with self.db.connection() as conn:
            if k <= self.db.ef_search:
                rows = conn.execute(sql, params).fetchall()
            else:  # HNSW returns ef_search rows (1,000 at most), then more by iterative scan (pgvector 0.8)
                with conn.transaction():
                    conn.execute(f"SET LOCAL hnsw.ef_search = {min(int(k), 1000)}")
                    rows = conn.execute(sql, params).fetchall()
        return [(i, float(s)) for i, s in rows]

    def lexical(self, query: str, k: int, tokens: str = "words") -> Ranking:
        """BM25 as bm25s computes it: idf from the current document frequencies, the query's
        terms counted as often as they occur, positive scores only."""
        from pgvector import SparseVector

        terms = Counter(TOKENISERS[tokens]([query])[0])
        if not terms or k < 1:
            return []
        n = max(self.manifest["counts"]["chunks"], 0)
        known = self._rows("SELECT id, term, df FROM rag_terms WHERE kind = %(kind)s AND term = ANY(%(terms)s)",
                           kind=tokens, terms=list(terms))
        weights = {i: terms[t] * math.log(1 + (n - df + 0.5) / (df + 0.5)) for i, t, df in known}
        if not weights:
            return []
        q = SparseVector({i - 1: w for i, w in weights.items()}, SPARSE_DIM)  # its keys count from 0, ids from 1
        by_rarity = [i for i, _, _ in sorted(known, key=lambda r: (r[2], r[0]))]
        if tokens == "chars" and n > self.backend.exact_chars_up_to:
            return self._char_candidates(query, q, known, k)
        # Candidates are the chunks holding a rarer term; a chunk holding only common terms scores
        # at most their weights' sum (a document weight is below 1), so when the k-th candidate
        # beats that the top k are exact; otherwise every term finds candidates.
        rare = {i for i, _, df in known if df <= COMMON * n or n <= SMALL} or {by_rarity[0]}
        bound = sum(w for i, w in weights.items() if i not in rare)
        rows = self._lexical_rows(tokens, q, sorted(rare), k)
        if bound > 0 and (len(rows) < k or rows[-1][1] < bound):
            rows = self._lexical_rows(tokens, q, sorted(weights), k)
        return [(i, float(s)) for i, s in rows if s > 0]

    def _char_candidates(self, query: str, q, known: list[tuple], k: int) -> Ranking:
        """BM25 over character n-grams, scored exactly over candidates: the chunks holding the
        query's rarest n-grams (up to CHAR_CANDIDATES postings) and the best chunks by BM25 over
        words. A query's dozens of n-grams include some in most chunks, so exact search would
        score nearly every chunk (about 12 ms per 1,000); this scores a few thousand."""
        rare, total = [], 0
        for i, _, df in sorted(known, key=lambda r: (r[2], r[0])):
            if rare and total + df > CHAR_CANDIDATES:
                break
            rare.append(i)
            total += df
        words = [i for i, _ in self._words(query, k)]
        rows = self._rows(f"SELECT id, -(chars <#> %(q)s) AS s FROM rag_chunks WHERE (char_ids && %(ids)s::int4[] "
                          f"OR id = ANY(%(words)s)) AND {visible()} ORDER BY s DESC, id LIMIT %(k)s",
                          q=q, ids=rare, words=words, k=k)
        return [(i, float(s)) for i, s in rows if s > 0]

    def _lexical_rows(self, tokens: str, q, ids: list[int], k: int) -> list[tuple]:
        column, terms = ("words", "word_ids") if tokens == "words" else ("chars", "char_ids")
        return self._rows(f"SELECT id, -({column} <#> %(q)s) AS s FROM rag_chunks "
                          f"WHERE {terms} && %(ids)s::int4[] AND {visible()} ORDER BY s DESC, id LIMIT %(k)s",
                          q=q, ids=ids, k=k)

    # -- rows by id ------------------------------------------------------------------------
    def chunks(self, ids: Sequence[str]) -> list[Chunk]:
        rows = self._rows(f"SELECT id, data FROM rag_chunks WHERE id = ANY(%(ids)s) AND {visible()}", ids=list(ids))
        found = {i: Chunk(**data) for i, data in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no chunk {missing[0]!r} in version {self.version}")
        return [found[i] for i in ids]

    def sentences(self, chunk_id: str) -> list[Sentence]:
        return list(self._sentences(chunk_id))

    def neighbours(self, sentence_id: str) -> list[Sentence]:
        return list(self._neighbours(sentence_id))

    def _fetch_sentences(self, chunk_id: str) -> tuple[Sentence, ...]:
        rows = self._rows(f"SELECT s.data FROM rag_chunks c JOIN rag_sentences s ON s.source = c.source "
                          f"AND s.seq >= c.sent_lo AND s.seq < c.sent_hi "
                          f"WHERE c.id = %(id)s AND {visible('c')} AND {visible('s')} ORDER BY s.seq", id=chunk_id)
        return tuple(Sentence(**data) for (data,) in rows)

    def _fetch_neighbours(self, sentence_id: str) -> tuple[Sentence, ...]:
        rows = self._rows(f"SELECT n.data FROM rag_sentences s JOIN rag_sentences n ON n.source = s.source "
                          f"AND n.doc_id = s.doc_id AND n.seq IN (s.seq + 1, s.seq - 1) "
                          f"WHERE s.id = %(id)s AND {visible('s')} AND {visible('n')} ORDER BY n.seq < s.seq",
                          id=sentence_id)
        return tuple(Sentence(**data) for (data,) in rows)

    def sentence_vectors(self, ids: Sequence[str]) -> "np.ndarray | None":
        import numpy as np

        if not self.manifest.get("sentence_vectors", True):
            return None
        rows = self._rows(f"SELECT id, embedding FROM rag_sentences WHERE id = ANY(%(ids)s) AND {visible()}",
                          ids=list(ids))
        found = dict(rows)
        if not ids or any(found.get(i) is None for i in ids):
            return None
        return np.stack([np.asarray(_array(found[i]), dtype=np.float32) for i in ids])

    # -- corpus statistics -----------------------------------------------------------------
    def term_frequencies(self, name: str, analyse: Analyser) -> tuple[int, dict[str, int]]:
        """Counted once per process over every chunk, then kept up to date from the rows that
        changed between versions (so a server does not recount a million chunks per commit)."""
        key = ("terms", name)
        with self._lock:
            if key not in self._memo:
                self._memo[key] = self.backend.term_counts(self, name, analyse)
        return self._memo[key]

    def texts(self, where: str, **params: Any) -> Iterator[list[str]]:
        """Chunk texts matching ``where`` at this version, in batches (a server-side cursor)."""
        with self.db.connection() as conn, conn.transaction():
            with conn.cursor(name="rag_texts") as cur:
                cur.execute(f"SELECT data->>'text' FROM rag_chunks WHERE {where}", dict(params, v=self.number))
                while batch := cur.fetchmany(FETCH):
                    yield [t for (t,) in batch]


class PostgresBackend:
    """One database (the URL's), shared by every process pointed at it."""

    #: Indexing claims files from the store's queue instead of building alone (rag.indexing_shared).
    shared = True
    #: A worker silent this long (seconds) loses its claim to one that waits (rag.store.postgres_queue).
    lease_seconds = 60.0

    def __init__(self, url: str, k1: float = 1.2, b: float = 0.75, ef_search: int = 200,
                 exact_chars_up_to: int = EXACT_CHARS_UP_TO) -> None:
        self.db = Database(url, ef_search=ef_search)
        self.k1, self.b = k1, b
        self.exact_chars_up_to = exact_chars_up_to
        self.counts: dict[str, tuple[int, int, dict[str, int]]] = {}  # name -> (version, chunks, counts)
        self.counts_lock = threading.Lock()

    @property
    def where(self) -> str:
        """The URL without its password."""
        return self.db.where

    def describe(self) -> dict[str, Any]:
        with self.db.connection() as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        return {"store": "postgresql", "index": self.db.where, "generation": self.current_version(),
                "bytes": int(size)}

    def current_version(self) -> str | None:
        number = self._number()
        return None if number is None else f"v{number}"

    def _number(self) -> int | None:
        with self.db.connection() as conn:
            if conn.execute("SELECT to_regclass('rag_state')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT version FROM rag_state").fetchone()
        return None if row is None else int(row[0])

    def manifest(self) -> dict[str, Any]:
        return self.open().manifest

    def open(self) -> PostgresStore:
        """The current version and its manifest, read in one snapshot."""
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if conn.execute("SELECT to_regclass('rag_state'), to_regclass('rag_chunks')").fetchone()[1] is None:
                raise StoreMissing(f"nothing indexed in the store at {self.db.where} yet")
            state = conn.execute("SELECT version, meta FROM rag_state").fetchone()
            if state is None:
                raise StoreMissing(f"nothing indexed in the store at {self.db.where} yet")
            number, meta = int(state[0]), state[1]
            counts = conn.execute("SELECT chunks, sentences FROM rag_versions WHERE version = %s",
                                  (number,)).fetchone()
            files = conn.execute("SELECT source, sha256, pages FROM rag_files ORDER BY source").fetchall()
        if counts is None or "model" not in meta or "dim" not in meta:
            raise StoreDamaged(f"the store at {self.db.where} has no complete version {number}")
        manifest = dict(meta, files={s: sha for s, sha, _ in files}, pages={s: p for s, _, p in files if p},
                        counts={"chunks": int(counts[0]), "sentences": int(counts[1])})
        return PostgresStore(self, number, manifest)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer at a time (a session advisory lock); shared builds use the queue instead."""
        with self.db.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext('rag_build'))")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('rag_build'))")

    def writer(self, base: PostgresStore | None):
        from rag.store.postgres_writer import PostgresWriter

        return PostgresWriter(self, full=base is None)

    # -- shared indexing (rag.indexing_shared) ------------------------------------------------
    def plan(self, files: dict[str, str], meta: dict[str, Any], rebuild: bool):
        from rag.store.postgres_queue import plan

        return plan(self, files, meta, rebuild)

    def claim(self, sources: list[str], limit: int):
        from rag.store.postgres_queue import claim

        return claim(self, sources, limit)

    def end_lapsed_claims(self) -> tuple[list, list]:
        """End the claims of workers silent past the lease, so their files can be taken; the
        workers ended, and those that still hold claims (with how long each has been silent)."""
        from rag.store.postgres_queue import end_lapsed

        return end_lapsed(self)

    def pending(self, sources: list[str]) -> int:
        with self.db.connection() as conn:
            return conn.execute("SELECT count(*) FROM rag_queue WHERE source = ANY(%s)", (sources,)).fetchone()[0]

    def term_counts(self, store: PostgresStore, name: str, analyse: Analyser) -> tuple[int, dict[str, int]]:
        from rag.store.postgres_terms import term_counts

        return term_counts(self, store, name, analyse)


def _array(value):
    """A vector as the binary loader gives it (pgvector's Vector) or as a list."""
    return value.to_numpy() if hasattr(value, "to_numpy") else value
