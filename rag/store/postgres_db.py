"""The PostgreSQL store's plumbing: URLs without passwords, pooled connections, errors as one line,
and the tables.

Tables (all named ``rag_*``, in the connection's schema):

- ``rag_state``: one row, the committed ``version`` and the ``meta`` every file was built with
  (model, dim, chunking, BM25 parameters). Writers lock it to commit, so versions are a
  sequence and a commit makes all its rows visible at once.
- ``rag_versions``: per version its counts (chunks, sentences, BM25 lengths) and time.
- ``rag_files``: source -> SHA-256 and pages of every indexed file; ``rag_queue``: files
  waiting to be embedded, claimed with ``FOR UPDATE SKIP LOCKED``.
- ``rag_terms``: terms -> id and document frequency: BM25's (words and character 4-grams) and the
  answerer's tables (``rag.analysis.COUNTED``; a chunk's ids of those in ``counted_ids``).
- ``rag_chunks`` / ``rag_sentences``: rows valid from one version until another replaced
  them (``valid_from``/``valid_to``), so a reader keeps reading the version it opened; the
  chunk's vector (HNSW), its BM25 weights over each kind of term as a ``sparsevec`` and the
  term ids (GIN) that find candidates.
"""

from __future__ import annotations

import re
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Protocol
from urllib.parse import quote, unquote, urlsplit

from rag.errors import first_line
from rag.store.base import StoreMissing, StoreProblem, StoreUnavailable, StoreUnwritable

#: Dimension of the sparse BM25 vectors: term ids are below it (pgvector's largest).
SPARSE_DIM = 1_000_000_000
#: Keys of ``meta`` a writer must agree with, or rebuild.
FINGERPRINT = ("model", "dim", "chunk_tokens", "chunk_overlap", "boilerplate_sha256", "sentence_vectors", "encoder",
               "sentence_pooling", "bm25")


class PgBackend(Protocol):
    """What the writer, the queue and the term counts need of the backend (rag/store/postgres.py
    imports them; they see it only through this)."""

    db: "Database"
    k1: float
    b: float
    lease_seconds: float


def _userinfo(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, user, password or None, host and the rest)`` when ``url`` names a user.

    The user information runs to the *last* ``@`` (host names hold none), so a password with
    ``/``, ``#``, ``?`` or ``@`` not percent-encoded is still read whole; a standard parser
    would take its tail for the host and print it in errors.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    info, _, host = rest.rpartition("@")
    user, colon, password = info.partition(":")
    return scheme + sep, user, (password if colon else None), host


def normalise(url: str) -> str:
    """``url`` with its user and password percent-encoded, as libpq needs them (encoded ones stay so)."""
    found = _userinfo(url)
    if found is None:
        return url
    start, user, password, host = found
    auth = quote(unquote(user), safe="") + ("" if password is None else ":" + quote(unquote(password), safe=""))
    return f"{start}{auth}@{host}"


def redact(url: str) -> str:
    """``url`` without its password (in the user information or as ``password=`` in the query)."""
    found = _userinfo(url)
    if found is not None:
        start, user, password, host = found
        url = f"{start}{user}{'' if password is None else ':***'}@{host}"
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def _passwords(url: str) -> list[str]:
    """The password as written, decoded and encoded: any of them may turn up in a driver's message."""
    found = _userinfo(url)
    given = [found[2]] if found and found[2] else []
    given += re.findall(r"(?i)[?&]password=([^&]*)", urlsplit(url).query)
    forms = {form for p in given for form in (p, unquote(p), quote(unquote(p), safe="")) if form}
    return sorted(forms, key=len, reverse=True)


class Database:
    """Connections to one database, pooled; every error comes out as a one-line StoreProblem."""

    def __init__(self, url: str, ef_search: int = 200, max_idle: int = 8) -> None:
        self.url = normalise(url)
        self.where = redact(url)
        self.ef_search = ef_search
        self.max_idle = max_idle
        self._idle: list[Any] = []
        self._ready: weakref.WeakSet = weakref.WeakSet()  # connections with the vector types registered
        self._lock = threading.Lock()

    def connect(self):
        """A new connection in autocommit mode, vector types registered when the extension exists."""
        import psycopg

        with self.errors():
            # prepare_threshold None: plans follow the session's settings (ef_search, enable_*).
            conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=None, connect_timeout=10,
                                   application_name="rag")
            conn.execute("SET jit = off")
            for setting in ("tcp_keepalives_idle = 30", "tcp_keepalives_interval = 10", "tcp_keepalives_count = 3"):
                conn.execute(f"SET {setting}")  # a worker's machine that vanishes loses its claims in ~a minute
            self.register(conn)
        return conn

    def register(self, conn) -> None:
        """Vector types and HNSW search settings, once the extension is installed."""
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is None:
            return
        self._ready.add(conn)
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
        if tuple(int(x) for x in row[0].split(".")[:2]) >= (0, 8):
            conn.execute("SET hnsw.iterative_scan = strict_order")  # rows of older versions do not cut results

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection; one that broke is dropped, not returned."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self.connect()
        try:
            with self.errors():
                if conn not in self._ready:
                    self.register(conn)  # made before the first index created the extension
                yield conn
        finally:
            if conn.closed or conn.broken or conn.info.transaction_status != 0:  # 0: idle
                conn.close()
            else:
                with self._lock:
                    if len(self._idle) < self.max_idle:
                        self._idle.append(conn)
                        conn = None
                if conn is not None:
                    conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def errors(self) -> Iterator[None]:
        """psycopg's errors as one line that names the store without its password."""
        import psycopg
        from psycopg import errors as pe

        try:
            yield
        except StoreProblem:
            raise
        except pe.UndefinedTable:
            raise StoreMissing(f"nothing indexed in the store at {self.where} yet") from None
        except pe.InsufficientPrivilege as e:
            raise StoreUnwritable(self._clean(f"the store at {self.where} refused: {first_line(e)} "
                                              "(a read-only role can search but not index)")) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            refused = _refusal(str(e))
            if refused:  # retrying will not help: say what to fix
                raise StoreProblem(self._clean(f"the store at {self.where} {refused}")) from None
            raise StoreUnavailable(self._clean(f"the store at {self.where} is unreachable ({_reason(e)}); "
                                               "it is used again as soon as it answers")) from None
        except psycopg.Error as e:
            raise StoreProblem(self._clean(f"the store at {self.where} failed: {first_line(e)}")) from None

    def _clean(self, message: str) -> str:
        for password in _passwords(self.url):
            message = message.replace(password, "***")
        return message


def _refusal(message: str) -> str | None:
    """What a server that answered but refused the connection said, as the fix it needs."""
    if "password authentication failed" in message or "no password supplied" in message:
        return ("refused the login: wrong user name or password (in the URL, percent-encode "
                "characters such as / # ? @ : of a password, or leave them as they are)")
    database = re.search(r'database "([^"]*)" does not exist', message)
    if database:
        return f"has no database {database.group(1)!r}: create it, or name another in the URL"
    role = re.search(r'role "([^"]*)" does not exist', message)
    if role:
        return f"has no user {role.group(1)!r}"
    return None


def _reason(error: Exception) -> str:
    """Why a server could not be reached, in words: nothing listening, no such host, no answer."""
    message = str(error)
    if "Connection refused" in message:
        return "connection refused: nothing listens at that host and port"
    if "resolve host" in message or "translate host name" in message or "Name or service not known" in message:
        return "the host name is not known"
    if "timeout" in message.lower():
        return "no answer in time"
    return first_line(error)


BASE_TABLES = """
CREATE TABLE IF NOT EXISTS rag_state (id boolean PRIMARY KEY DEFAULT true CHECK (id), version bigint NOT NULL,
                                      meta jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS rag_versions (version bigint PRIMARY KEY, created timestamptz NOT NULL DEFAULT now(),
                                         chunks bigint NOT NULL, sentences bigint NOT NULL,
                                         words_len bigint NOT NULL, chars_len bigint NOT NULL);
CREATE TABLE IF NOT EXISTS rag_files (source text PRIMARY KEY, sha256 text NOT NULL, pages int,
                                      version bigint NOT NULL);
CREATE TABLE IF NOT EXISTS rag_queue (source text PRIMARY KEY, queued timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS rag_terms (id serial PRIMARY KEY, kind text NOT NULL, term text NOT NULL,
                                      df integer NOT NULL DEFAULT 0, UNIQUE (kind, term));
"""


#: The indexes searches use, by name: a bulk load may drop them and create them after.
SEARCH_INDEXES = {
    "rag_chunks_hnsw": "CREATE INDEX rag_chunks_hnsw ON rag_chunks USING hnsw (embedding vector_ip_ops) "
                       "WITH (m = 16, ef_construction = 64)",
    "rag_chunks_words": "CREATE INDEX rag_chunks_words ON rag_chunks USING gin (word_ids)",
    "rag_chunks_chars": "CREATE INDEX rag_chunks_chars ON rag_chunks USING gin (char_ids)",
}


def data_tables(dim: int) -> str:
    """The row tables for vectors of ``dim`` numbers (an HNSW index needs the dimension)."""
    dim = int(dim)
    return f"""
DROP TABLE IF EXISTS rag_chunks, rag_sentences;
CREATE TABLE rag_chunks (pk bigserial PRIMARY KEY, id text NOT NULL, source text NOT NULL, seq int NOT NULL,
    sent_lo int NOT NULL, sent_hi int NOT NULL, data jsonb NOT NULL, embedding vector({dim}) NOT NULL,
    words sparsevec NOT NULL, chars sparsevec NOT NULL, word_ids int4[] NOT NULL, char_ids int4[] NOT NULL,
    counted_ids int4[],
    words_len int NOT NULL, chars_len int NOT NULL, valid_from bigint NOT NULL, valid_to bigint);
CREATE INDEX rag_chunks_id ON rag_chunks (id);
CREATE INDEX rag_chunks_source ON rag_chunks (source) WHERE valid_to IS NULL;
CREATE INDEX rag_chunks_old ON rag_chunks (valid_to) WHERE valid_to IS NOT NULL;
{";".join(SEARCH_INDEXES.values())};
CREATE TABLE rag_sentences (pk bigserial PRIMARY KEY, id text NOT NULL, source text NOT NULL, seq int NOT NULL,
    doc_id text NOT NULL, data jsonb NOT NULL, embedding vector({dim}), valid_from bigint NOT NULL, valid_to bigint);
CREATE INDEX rag_sentences_id ON rag_sentences (id);
CREATE INDEX rag_sentences_seq ON rag_sentences (source, seq);
CREATE INDEX rag_sentences_old ON rag_sentences (valid_to) WHERE valid_to IS NOT NULL;
"""


def ensure_base(conn) -> None:
    """The extension and the small tables (a writer's first step; readers never create anything)."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute(BASE_TABLES)


#: Rows a version shows: written by then, not yet replaced.
VISIBLE = "{t}valid_from <= %(v)s AND ({t}valid_to IS NULL OR {t}valid_to > %(v)s)"


def visible(alias: str = "") -> str:
    return VISIBLE.format(t=f"{alias}." if alias else "")
