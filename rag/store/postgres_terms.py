"""Term counts over a PostgreSQL store's chunks: read from the store, or kept per process.

The answerer asks how many chunks hold each term (its idf and "common name" tables), with an
analyser of its own. The named ones (``rag.analysis.COUNTED``) are counted by the writer in
the same transactions as BM25's document frequencies, so a reader just reads them: at a
million chunks a server counted them for 87 s before it could answer. Any other analyser,
or a store written before the writer counted (until a ``--rebuild``), is counted here: once,
over every chunk, then for each newer version only the chunks added and removed since (rows
of replaced versions are kept for a while).
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, Protocol

from rag.analysis import COUNTED, COUNTED_VERSION
from rag.store.base import Analyser
from rag.store.postgres_db import Database, visible


class Counted(Protocol):
    """The backend's part here: its database, and the counts this process keeps per analyser."""

    db: Database
    counts: dict[str, tuple[int, int, dict[str, int]]]
    counts_lock: threading.Lock


class Version(Protocol):
    """A store version: its number, its manifest, and its chunks' texts in batches."""

    number: int
    manifest: dict[str, Any]

    def texts(self, where: str, **params: Any) -> Iterator[list[str]]: ...


def term_counts(backend: Counted, store: Version, name: str,
                analyse: Analyser) -> tuple[int, dict[str, int]]:
    """Counts at ``store``'s version: the last ones this process made, moved forward by the
    chunks added and removed since, or counted afresh."""
    with backend.counts_lock:
        had = backend.counts.get(name)
    n = store.manifest["counts"]["chunks"]
    if had is not None and had[0] == store.number:
        return had[1], had[2]
    if COUNTED.get(name) is analyse and store.manifest.get("counted", {}).get("version") == COUNTED_VERSION:
        counts = _stored(backend, name)
    elif had is not None and had[0] < store.number and _retained(backend, had[0]):
        counts = dict(had[2])
        since = {"v0": had[0]}
        for texts, sign in ((store.texts(f"valid_from > %(v0)s AND {visible()}", **since), 1),
                            (store.texts("valid_to > %(v0)s AND valid_to <= %(v)s AND valid_from <= %(v0)s",
                                         **since), -1)):
            for batch in texts:
                _count(counts, analyse(batch), sign)
    else:
        counts = {}
        for batch in store.texts(visible()):
            _count(counts, analyse(batch), 1)
    with backend.counts_lock:
        if name not in backend.counts or backend.counts[name][0] < store.number:
            backend.counts[name] = (store.number, n, counts)
    return n, counts


def _stored(backend: Counted, kind: str) -> dict[str, int]:
    """The writer's counts of one named table (those of the newest version: a reader a commit
    behind gets counts a commit ahead, as BM25's idf does)."""
    with backend.db.connection() as conn:
        return dict(conn.execute("SELECT term, df FROM rag_terms WHERE kind = %s AND df > 0", (kind,)).fetchall())


def _retained(backend: Counted, number: int) -> bool:
    """Whether the rows replaced after version ``number`` are still kept."""
    with backend.db.connection() as conn:
        oldest = conn.execute("SELECT min(version) FROM rag_versions").fetchone()[0]
    return oldest is not None and number >= oldest


def _count(counts: dict[str, int], docs: list[list[str]], sign: int) -> None:
    for terms in docs:
        for t in set(terms):
            left = counts.get(t, 0) + sign
            if left:
                counts[t] = left
            else:
                counts.pop(t, None)
