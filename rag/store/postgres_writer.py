"""Writing the PostgreSQL store: one transaction per commit, and the queue of files to embed.

A commit locks ``rag_state``, takes the next version, marks the replaced and deleted files'
rows as ended at it, inserts the new rows valid from it, moves the BM25 document frequencies
and lengths by what changed, and commits: readers see all of it or none of it, and commits
from many processes form one sequence.

BM25 as sparse vectors: a chunk's weight for a term is ``tf / (tf + k1 (1 - b + b dl/avgdl))``
with the average length of the version it joins; idf is applied at query time from
``rag_terms.df``, so it is exact however files arrive. The average length moves as files are
added, and weights written before are not rewritten, so a build of several commits (more
files than one claim, 8, even with ``--rebuild``) drifts from the local store's exact BM25;
only a build that fits in one commit is exact (benchmarks/pg_bm25_drift.py: the seeds and
foreign articles in 2 commits differ from the local store on 1 of 259 answers).

Shared builds (the planner and the workers' claims) are in rag/store/postgres_queue.py.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rag.analysis import COUNTED, COUNTED_VERSION, TOKENISERS
from rag.store.base import StoreProblem
from rag.store.postgres_db import FINGERPRINT, SPARSE_DIM, PgBackend, data_tables, ensure_base

if TYPE_CHECKING:
    import numpy as np

    from rag.types import Chunk, Sentence

#: Rows ended by a commit are deleted once the commit after them is this old: a reader holding an
#: older version (servers switch within a second) finds its rows until then.
RETAIN_SECONDS = 600
#: Keys of a manifest that are per file, not per store.
PER_FILE = ("files", "pages", "counts")


class PostgresWriter:
    """Changes buffered in memory and written in one transaction by :meth:`commit`."""

    def __init__(self, backend: "PgBackend", full: bool) -> None:
        self.backend = backend
        self.full = full  # from nothing: every file not replaced here goes
        self.groups: dict[str, tuple] = {}
        self.deleted: set[str] = set()

    def replace(self, source: str, chunks: list["Chunk"], sentences: list["Sentence"],
                chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None") -> None:
        self.groups[source] = (chunks, sentences, chunk_vectors, sentence_vectors)
        self.deleted.discard(source)

    def delete(self, source: str) -> None:
        self.groups.pop(source, None)
        self.deleted.add(source)

    def sources(self) -> list[str]:
        if self.full:
            return list(self.groups)
        with self.backend.db.connection() as conn:
            if conn.execute("SELECT to_regclass('rag_files')").fetchone()[0] is None:
                stored = []
            else:
                stored = [s for (s,) in conn.execute("SELECT source FROM rag_files ORDER BY source")]
        return [s for s in stored if s not in self.deleted and s not in self.groups] + list(self.groups)

    def commit(self, manifest: dict[str, Any], conn=None, claimed: list[str] = ()) -> str:
        """Everything in one transaction (``conn``'s open one, when given); the new version."""
        if conn is not None:
            return self._commit(conn, manifest, claimed)
        with self.backend.db.connection() as conn, conn.transaction():
            ensure_base(conn)
            return self._commit(conn, manifest, claimed)

    def _commit(self, conn, manifest: dict[str, Any], claimed) -> str:
        meta = {k: v for k, v in manifest.items() if k not in PER_FILE}
        meta["bm25"] = {"k1": self.backend.k1, "b": self.backend.b, "tokens": sorted(TOKENISERS)}
        texts = [c.text for cs, *_ in self.groups.values() for c in cs]
        terms = {kind: TOKENISERS[kind](texts) for kind in TOKENISERS}  # before the lock other writers wait on
        counted = {kind: COUNTED[kind](texts) for kind in COUNTED}
        row = conn.execute("SELECT version, meta FROM rag_state FOR UPDATE").fetchone()
        old_meta = row[1] if row else {}
        changed = [k for k in FINGERPRINT if k in old_meta and old_meta.get(k) != meta.get(k)]
        if changed and not self.full:
            raise mismatch(self.backend.db.where, old_meta, changed)
        number = (int(row[0]) if row else 0) + 1
        tables = conn.execute("SELECT to_regclass('rag_chunks')").fetchone()[0] is not None
        if not tables or (self.full and old_meta.get("dim") != meta.get("dim")):
            conn.execute(data_tables(meta["dim"]))  # vectors of another size: old readers stop here
            conn.execute("TRUNCATE rag_files, rag_terms")
            self.backend.db.register(conn)
            totals = _Totals()
        else:
            _add_counted_ids(conn)
            totals = _totals(conn, number - 1)
            _end_rows(conn, None if self.full else sorted(self.deleted | set(self.groups)), number, totals)
        if self.full:  # every row is written from here on with its counted terms
            meta["counted"] = {"version": COUNTED_VERSION, "since": number}
        self._insert(conn, number, totals, manifest, terms, counted)
        if row is None:
            conn.execute("INSERT INTO rag_state (version, meta) VALUES (%s, %s)", (number, json.dumps(meta)))
        else:
            conn.execute("UPDATE rag_state SET version = %s, meta = %s", (number, json.dumps(dict(old_meta, **meta))))
        conn.execute("INSERT INTO rag_versions (version, chunks, sentences, words_len, chars_len) "
                     "VALUES (%s, %s, %s, %s, %s)", (number, totals.chunks, totals.sentences,
                                                     totals.lengths["words"], totals.lengths["chars"]))
        if claimed:
            conn.execute("DELETE FROM rag_queue WHERE source = ANY(%s)", (list(claimed),))
        _collect_garbage(conn)
        return f"v{number}"

    def _insert(self, conn, number: int, totals: "_Totals", manifest: dict[str, Any],
                terms: dict[str, list[list[str]]], counted: dict[str, list[list[str]]]) -> None:
        totals.chunks += sum(len(g[0]) for g in self.groups.values())
        totals.sentences += sum(len(g[1]) for g in self.groups.values())
        for kind in TOKENISERS:
            totals.lengths[kind] += sum(len(t) for t in terms[kind])
        ids = {kind: _term_ids(conn, kind, terms[kind]) for kind in TOKENISERS}
        tables = {kind: _term_ids(conn, kind, counted[kind]) for kind in COUNTED}  # the answerer's (rag.analysis)
        counted_ids = [sorted({tables[kind][t] for kind in COUNTED for t in counted[kind][n]})
                       for n in range(len(terms["words"]))]
        k1, b = self.backend.k1, self.backend.b
        weights = {kind: [_weights(t, ids[kind], k1, b, totals.lengths[kind] / max(totals.chunks, 1))
                          for t in terms[kind]] for kind in TOKENISERS}
        columns = ("id, source, seq, sent_lo, sent_hi, data, embedding, words, chars, word_ids, char_ids, "
                   "counted_ids, words_len, chars_len, valid_from")
        with conn.cursor().copy(f"COPY rag_chunks ({columns}) FROM STDIN") as copy:
            n = 0
            for source, (cs, _, cv, _) in self.groups.items():
                for seq, c in enumerate(cs):
                    copy.write_row((c.id, source, seq, c.first_sentence, c.last_sentence, json.dumps(asdict(c)),
                                    _vector(cv[seq]), weights["words"][n][0], weights["chars"][n][0],
                                    weights["words"][n][1], weights["chars"][n][1], counted_ids[n],
                                    len(terms["words"][n]),
                                    len(terms["chars"][n]), number))
                    n += 1
        with conn.cursor().copy("COPY rag_sentences (id, source, seq, doc_id, data, embedding, valid_from) "
                                "FROM STDIN") as copy:
            for source, (_, ss, _, sv) in self.groups.items():
                for seq, s in enumerate(ss):
                    copy.write_row((s.id, source, seq, s.doc_id, json.dumps(asdict(s)),
                                    None if sv is None else _vector(sv[seq]), number))
        files, pages = manifest.get("files", {}), manifest.get("pages", {})
        for source in self.groups:
            conn.execute("INSERT INTO rag_files (source, sha256, pages, version) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT (source) DO UPDATE SET sha256 = EXCLUDED.sha256, pages = EXCLUDED.pages, "
                         "version = EXCLUDED.version", (source, files.get(source, ""), pages.get(source), number))


@dataclass
class _Totals:
    chunks: int = 0
    sentences: int = 0
    lengths: dict[str, int] = field(default_factory=lambda: {"words": 0, "chars": 0})


def _totals(conn, number: int) -> _Totals:
    row = conn.execute("SELECT chunks, sentences, words_len, chars_len FROM rag_versions WHERE version = %s",
                       (number,)).fetchone()
    return _Totals(int(row[0]), int(row[1]), {"words": int(row[2]), "chars": int(row[3])}) if row else _Totals()


def _end_rows(conn, sources: list[str] | None, number: int, totals: _Totals) -> None:
    """End the current rows of ``sources`` (every file when None) at version ``number``, taking
    them out of the document frequencies and totals."""
    which = "valid_to IS NULL" + ("" if sources is None else " AND source = ANY(%(s)s)")
    params = {"s": sources, "v": number}
    for column in ("word_ids", "char_ids", "counted_ids"):
        conn.execute(f"UPDATE rag_terms t SET df = t.df - d.n FROM (SELECT u.id, count(*) AS n FROM rag_chunks, "
                     f"unnest({column}) AS u(id) WHERE {which} GROUP BY u.id) d WHERE t.id = d.id", params)
    row = conn.execute(f"SELECT count(*), coalesce(sum(words_len), 0), coalesce(sum(chars_len), 0) "
                       f"FROM rag_chunks WHERE {which}", params).fetchone()
    totals.chunks -= int(row[0])
    totals.lengths["words"] -= int(row[1])
    totals.lengths["chars"] -= int(row[2])
    totals.sentences -= conn.execute(f"SELECT count(*) FROM rag_sentences WHERE {which}", params).fetchone()[0]
    conn.execute(f"UPDATE rag_chunks SET valid_to = %(v)s WHERE {which}", params)
    conn.execute(f"UPDATE rag_sentences SET valid_to = %(v)s WHERE {which}", params)
    if sources is None:
        conn.execute("DELETE FROM rag_files")
    else:
        conn.execute("DELETE FROM rag_files WHERE source = ANY(%(s)s)", params)


def _add_counted_ids(conn) -> None:
    """The column of the answerer's term ids, on a store made before it (its older rows have
    none: such a store's counts are made by readers until a full rebuild)."""
    if conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'rag_chunks' "
                    "AND column_name = 'counted_ids' AND table_schema = current_schema()").fetchone() is None:
        conn.execute("ALTER TABLE rag_chunks ADD COLUMN counted_ids int4[]")


def _term_ids(conn, kind: str, docs: list[list[str]]) -> dict[str, int]:
    """Ids of every term in ``docs`` (new ones added), their document frequencies raised."""
    df = Counter(t for terms in docs for t in set(terms))
    if not df:
        return {}
    names = sorted(df)
    conn.execute("INSERT INTO rag_terms (kind, term) SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING",
                 (kind, names))
    ids = dict(conn.execute("SELECT term, id FROM rag_terms WHERE kind = %s AND term = ANY(%s)",
                            (kind, names)).fetchall())
    conn.execute("UPDATE rag_terms t SET df = t.df + d.n FROM unnest(%s::int[], %s::int[]) AS d(id, n) "
                 "WHERE t.id = d.id", ([ids[t] for t in names], [df[t] for t in names]))
    return ids


def _weights(terms: list[str], ids: dict[str, int], k1: float, b: float, avgdl: float) -> tuple[str, list[int]]:
    """A chunk's BM25 document weights as sparsevec text, and its term ids."""
    tf = Counter(terms)
    norm = k1 * (1 - b + b * len(terms) / (avgdl or 1))
    pairs = sorted((ids[t], n / (n + norm)) for t, n in tf.items())
    text = "{" + ",".join(f"{i}:{w:.7g}" for i, w in pairs) + "}/" + str(SPARSE_DIM)
    return text, [i for i, _ in pairs]


def _vector(v) -> str:
    return "[" + ",".join(map(repr, v.tolist())) + "]"


def _collect_garbage(conn) -> None:
    """Delete rows ended before the oldest version a reader may still hold."""
    row = conn.execute("SELECT max(version) FROM rag_versions WHERE created < now() - make_interval(secs => %s) "
                       "AND version < (SELECT version FROM rag_state)", (RETAIN_SECONDS,)).fetchone()
    if row[0] is None:
        return
    cutoff = int(row[0])
    conn.execute("DELETE FROM rag_chunks WHERE valid_to <= %s", (cutoff,))
    conn.execute("DELETE FROM rag_sentences WHERE valid_to <= %s", (cutoff,))
    conn.execute("DELETE FROM rag_versions WHERE version < %s", (cutoff,))


def mismatch(where: str, old: dict[str, Any], changed: list[str]) -> StoreProblem:
    """The refusal to mix vectors or chunks of another kind into a store."""
    said = ", ".join(f"{k} {old.get(k)!r}" for k in changed if k != "bm25") or "other BM25 settings"
    return StoreProblem(f"the store at {where} was built with {said}; index with the same settings, "
                        "or pass --rebuild to replace everything in it")
