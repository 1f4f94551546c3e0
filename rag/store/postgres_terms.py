"""Term counts over a PostgreSQL store's chunks, kept per process and moved forward between versions.

The answerer asks how many chunks hold each term (its idf and "common name" tables), with an
analyser of its own; the store cannot count that when writing. A process counts once, over
every chunk, then for each newer version it opens analyses only the chunks added and removed
since (rows of replaced versions are kept for a while): a server does not recount a million
chunks after every commit of a ``rag index`` beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.store.base import Analyser
from rag.store.postgres_db import visible

if TYPE_CHECKING:
    from rag.store.postgres import PostgresBackend, PostgresStore


def term_counts(backend: "PostgresBackend", store: "PostgresStore", name: str,
                analyse: Analyser) -> tuple[int, dict[str, int]]:
    """Counts at ``store``'s version: the last ones this process made, moved forward by the
    chunks added and removed since, or counted afresh."""
    with backend.counts_lock:
        had = backend.counts.get(name)
    n = store.manifest["counts"]["chunks"]
    if had is not None and had[0] == store.number:
        return had[1], had[2]
    if had is not None and had[0] < store.number and _retained(backend, had[0]):
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


def _retained(backend: "PostgresBackend", number: int) -> bool:
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
