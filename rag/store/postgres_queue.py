"""Shared builds on the PostgreSQL store: the planner's queue, and workers' claims with a lease.

A planner queues the files whose content changed (:func:`plan`). Workers claim queued files
with ``FOR UPDATE SKIP LOCKED`` inside the transaction that writes them (:func:`claim`), so
a worker that dies, or is killed mid-file, leaves its files queued and the store as it was.

A worker that hangs (stopped with SIGSTOP, a machine that froze but keeps its TCP
connection) kept its claim for as long as it hung, and the others waited silently. So a
claim is a lease: while it is held, a heartbeat on the claim's connection shows it alive
every :data:`HEARTBEAT_SECONDS`; a worker left waiting for claimed files ends the session
of a claimer silent for over the backend's ``lease_seconds`` (``pg_terminate_backend``: its
transaction rolls back, its files return to the queue) and says what it waits for.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from rag.analysis import TOKENISERS
from rag.store.postgres_db import FINGERPRINT, PgBackend, ensure_base
from rag.store.postgres_writer import PostgresWriter, mismatch

log = logging.getLogger("rag")

#: How often a claim's connection shows it is alive.
HEARTBEAT_SECONDS = 5.0


@dataclass
class Plan:
    """What a planner found: files removed from the store, and files waiting to be embedded."""

    removed: list[str]
    queued: list[str]
    unchanged: list[str]


def plan(backend: "PgBackend", files: dict[str, str], meta: dict[str, Any], rebuild: bool) -> Plan:
    """Check the store's settings, drop files gone from the corpus, queue new and changed ones.

    One planner at a time (a transaction advisory lock); a mismatch of model or chunking is
    refused unless ``rebuild``, which empties the store first."""
    with backend.db.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('rag_plan'))")
        ensure_base(conn)
        row = conn.execute("SELECT meta FROM rag_state").fetchone()
        old = row[0] if row else {}
        want = dict(meta, bm25={"k1": backend.k1, "b": backend.b, "tokens": sorted(TOKENISERS)})
        changed = [k for k in FINGERPRINT if old.get(k) != want.get(k)]
        if row is not None and changed and not rebuild:
            raise mismatch(backend.db.where, old, changed)
        stored = {} if rebuild else dict(conn.execute("SELECT source, sha256 FROM rag_files").fetchall())
        removed = sorted(set(stored) - set(files))
        writer = PostgresWriter(backend, full=row is None or rebuild)
        for source in removed:
            writer.delete(source)
        if writer.full or removed:
            if writer.full:
                conn.execute("DELETE FROM rag_queue")
            writer.commit(dict(meta), conn=conn)
        queued = sorted(s for s, sha in files.items() if stored.get(s) != sha)
        conn.execute("INSERT INTO rag_queue (source) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (queued,))
        conn.execute("UPDATE rag_state SET meta = meta || %s", (json.dumps({k: meta[k] for k in ("corpus",)
                                                                            if k in meta}),))
    return Plan(removed=removed, queued=queued, unchanged=sorted(s for s in files if stored.get(s) == files[s]))


@dataclass
class Claim:
    """Files claimed from the queue, and the transaction that writes them."""

    sources: list[str]
    stored: dict[str, str]  # source -> SHA-256 already in the store (another worker did it)
    conn: Any
    backend: Any

    def writer(self) -> PostgresWriter:
        """A writer on top of the store's current rows."""
        return PostgresWriter(self.backend, full=False)

    def commit(self, writer: PostgresWriter, manifest: dict[str, Any]) -> str | None:
        """Write ``writer``'s rows and take the claimed files off the queue, in the claim's
        transaction; the new version, or None when there was nothing to write."""
        if writer.groups or writer.deleted:
            return writer.commit(manifest, conn=self.conn, claimed=self.sources)
        self.conn.execute("DELETE FROM rag_queue WHERE source = ANY(%s)", (self.sources,))
        return None


@contextmanager
def claim(backend: "PgBackend", sources: list[str], limit: int) -> Iterator[Claim]:
    """Up to ``limit`` queued files among ``sources`` that no live worker holds; the claim ends
    (committed, or released by rollback) when the block does, and is kept alive meanwhile."""
    with backend.db.connection() as conn, conn.transaction():
        rows = conn.execute("SELECT source FROM rag_queue WHERE source = ANY(%s) ORDER BY source "
                            "LIMIT %s FOR UPDATE SKIP LOCKED", (sources, limit)).fetchall()
        claimed = [s for (s,) in rows]
        stored = dict(conn.execute("SELECT source, sha256 FROM rag_files WHERE source = ANY(%s)",
                                   (claimed,)).fetchall()) if claimed else {}
        with _heartbeat(conn, bool(claimed)):
            yield Claim(claimed, stored, conn, backend)


@contextmanager
def _heartbeat(conn, alive: bool) -> Iterator[None]:
    """While the block runs, a trivial query on ``conn`` every :data:`HEARTBEAT_SECONDS`: the
    session's ``state_change`` then shows waiting workers that this claimer is alive
    (psycopg serialises it with the block's own queries)."""
    if not alive:
        yield
        return
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            try:
                conn.execute("SELECT 1")
            except Exception:  # the block's own queries will report a broken connection
                return

    thread = threading.Thread(target=beat, name="rag-claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@dataclass(frozen=True)
class Holder:
    """A session holding claimed files: its server process id, and seconds since it was last heard."""

    pid: int
    silent: float


def holders(backend: "PgBackend") -> list[Holder]:
    """The other sessions that hold claims on the queue (rag's, inside a transaction, idle)."""
    with backend.db.connection() as conn:
        rows = conn.execute(
            "SELECT a.pid, extract(epoch FROM now() - a.state_change) FROM pg_stat_activity a "
            "WHERE a.application_name = 'rag' AND a.state = 'idle in transaction' AND a.pid <> pg_backend_pid() "
            "AND a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.relation = 'rag_queue'::regclass)").fetchall()
    return [Holder(int(pid), float(silent)) for pid, silent in rows]


#: Sessions this process could not end (no permission), each said once.
_cannot_end: set[int] = set()


def end_lapsed(backend: "PgBackend") -> tuple[list[Holder], list[Holder]]:
    """End the sessions of claimers silent for longer than the lease, so their files return to
    the queue; the ones ended, and the ones that still hold claims (one look at the sessions
    serves both). Without the right to (another role, not a member of ``pg_signal_backend``)
    the waiting worker says so and keeps waiting."""
    found = holders(backend)
    lapsed = [h for h in found if h.silent > backend.lease_seconds]
    ended = []
    for h in lapsed:
        try:
            with backend.db.connection() as conn:
                if conn.execute("SELECT pg_terminate_backend(%s)", (h.pid,)).fetchone()[0]:
                    ended.append(h)
        except Exception as e:  # noqa: BLE001 (a StoreProblem: no permission)
            if h.pid in _cannot_end:
                continue  # said once: the waiting loop asks again every half second
            _cannot_end.add(h.pid)
            log.warning("a worker (database session %d) has held its files silently for %.0f s and cannot be "
                        "stopped from here: %s", h.pid, h.silent, e)
    for h in ended:
        log.warning("took over the files of a worker silent for %.0f s (database session %d ended)", h.silent, h.pid)
    return ended, [h for h in found if h not in ended]
