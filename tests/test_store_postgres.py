"""The PostgreSQL store against a real server (tests/pg_server.py): shared indexing from several
workers, a worker killed mid-file, reading while indexing runs, the database restarted under a
live server, and the operational promises (one-line errors, no password anywhere, roles).

The store contract battery runs on it too (tests/contract/test_store_contract.py). All of it
runs on the fake embedder, so a test takes about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder
from pg_server import PASSWORD

from rag import indexing
from rag.assistant import Assistant
from rag.settings import Settings
from rag.store import StoreProblem, StoreUnwritable, backend_for
from rag.store.postgres import PostgresBackend
from rag.store.postgres_db import StoreUnavailable, redact

TESTS = Path(__file__).resolve().parent
WORDS = ("river salmon quokka island mountain harbour lantern orchard glacier meadow violin copper "
         "falcon desert canyon marsh willow comet tundra reef").split()


class SlowEmbedder(FakeEmbedder):
    """The fake embedder, taking a little while per batch, so two workers overlap."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay

    def encode(self, texts, progress=False):
        time.sleep(self.delay)
        return super().encode(texts, progress)


def make_corpus(folder: Path, files: int = 20) -> Path:
    """``files`` small articles with different words, a few sentences each."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        a, b, c = WORDS[n % 20], WORDS[(n * 7 + 3) % 20], WORDS[(n * 11 + 5) % 20]
        text = "\n\n".join(f"Article {n} paragraph {p}: the {a} near the {b} shelters a {c} number {n * 10 + p}. "
                           f"Visitors to the {b} count {p + n} {c}s every spring." for p in range(4))
        (folder / f"doc{n:03d}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


def settings_for(url: str, corpus: Path) -> Settings:
    return Settings.load(store=url, corpus=corpus, model=FakeEmbedder.model_id)


def snapshot(backend: PostgresBackend) -> dict:
    """Everything a build leaves that readers see: files, chunks, sentences, vectors and BM25 rankings."""
    store = backend.open()
    ids = sorted(i for i, _ in store.dense(FakeEmbedder().encode_query("river"), 10_000))
    chunks = store.chunks(ids)
    sentences = [s for c in chunks for s in store.sentences(c.id)]
    vectors = store.sentence_vectors([s.id for s in sentences])
    lexical = {q: [i for i, _ in store.lexical(q, 5)] for q in ("salmon spawn", "quokka island", "copper comet")}
    return {"files": store.manifest["files"], "counts": store.manifest["counts"], "chunks": chunks,
            "sentences": sentences, "vectors": np.round(vectors, 5), "lexical": lexical}


def assert_same(a: dict, b: dict) -> None:
    vectors_a, vectors_b = a.pop("vectors"), b.pop("vectors")
    assert a == b
    assert np.allclose(vectors_a, vectors_b, atol=1e-5)


@pytest.fixture
def single_build(postgres_server, tmp_path_factory):
    """What one process builds from a corpus, to compare shared builds with."""
    def build(corpus: Path) -> dict:
        url = _new_database(postgres_server, "single")
        backend = PostgresBackend(url)
        indexing.build(settings_for(url, corpus), FakeEmbedder(), backend=backend)
        result = snapshot(backend)
        backend.db.close()
        return result

    return build


def _new_database(server, name: str) -> str:
    import psycopg
    from pg_server import USER_URL

    if server is None:
        pytest.skip("needs a server the tests start (RAG_TEST_DATABASE_URL is set)")
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    assert USER_URL is None
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def test_two_workers_share_the_work_and_build_what_one_would(postgres_url, tmp_path, single_build):
    corpus = make_corpus(tmp_path / "corpus", 40)
    reports = [None, None]

    def worker(n: int) -> None:
        reports[n] = indexing.build(settings_for(postgres_url, corpus), SlowEmbedder(0.2),
                                    backend=PostgresBackend(postgres_url))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a, b = reports
    assert a is not None and b is not None
    assert a.embedded and b.embedded and not set(a.embedded) & set(b.embedded)  # each file embedded once
    assert len(a.embedded) + len(b.embedded) == 40
    assert a.generation == b.generation  # both returned once the whole corpus was in
    assert_same(snapshot(PostgresBackend(postgres_url)), single_build(corpus))


KILLED_WORKER = """
import sys, time
sys.path.insert(0, {tests!r})
from fakes import FakeEmbedder
from rag import indexing
from rag.settings import Settings
from rag.store.postgres import PostgresBackend

class Stuck(FakeEmbedder):
    def encode(self, texts, progress=False):
        open({flag!r}, "w").close()
        time.sleep(600)

indexing.build(Settings.load(store={url!r}, corpus={corpus!r}, model=FakeEmbedder.model_id), Stuck(),
               backend=PostgresBackend({url!r}))
"""


def test_a_worker_killed_mid_file_leaves_the_store_as_it_was_and_its_files_to_others(postgres_url, tmp_path,
                                                                                     single_build):
    corpus = make_corpus(tmp_path / "corpus", 12)
    backend = PostgresBackend(postgres_url)
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=backend)
    before = snapshot(backend)
    for n in range(3):  # three changed files for the worker that will die
        with open(corpus / f"doc{n:03d}.txt", "a", encoding="utf-8") as f:
            f.write("\nA late paragraph about a copper comet.\n")
    flag = tmp_path / "embedding"
    script = KILLED_WORKER.format(tests=str(TESTS), flag=str(flag), url=postgres_url, corpus=str(corpus))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert flag.exists(), proc.stderr.read().decode()
        assert backend.pending(sorted(before["files"])) == 3  # claimed, not done
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_same(snapshot(backend), dict(before))  # nothing of the half-done files
    time.sleep(0.5)  # the server notices the lost connection and ends its transaction
    report = indexing.build(settings, FakeEmbedder(), backend=backend)
    assert sorted(report.embedded) == [f"corpus/doc{n:03d}.txt" for n in range(3)]
    assert_same(snapshot(backend), single_build(corpus))


STOPPED_WORKER = """
import sys, time
sys.path.insert(0, {tests!r})
from fakes import FakeEmbedder
from rag import indexing
from rag.settings import Settings
from rag.store.postgres import PostgresBackend

class Slow(FakeEmbedder):
    def encode(self, texts, progress=False):
        open({flag!r}, "w").close()
        time.sleep(1.0)  # stopped here by the test
        return super().encode(texts, progress)

indexing.build(Settings.load(store={url!r}, corpus={corpus!r}, model=FakeEmbedder.model_id), Slow(),
               backend=PostgresBackend({url!r}))
"""


def test_a_hung_worker_loses_its_claim_and_the_waiting_worker_says_so(postgres_url, tmp_path, single_build, caplog):
    """With one worker stopped (SIGSTOP) mid-claim, the other waited silently for as long as it
    was stopped (issue 27). Now its claim lapses, the waiting worker says what it waits for and
    takes the files over, and the stopped one, resumed, finishes without error."""
    import logging

    corpus = make_corpus(tmp_path / "corpus", 6)
    backend = PostgresBackend(postgres_url)
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=backend)
    for n in range(3):
        with open(corpus / f"doc{n:03d}.txt", "a", encoding="utf-8") as f:
            f.write("\nA late paragraph about a copper comet.\n")
    flag = tmp_path / "embedding"
    script = STOPPED_WORKER.format(tests=str(TESTS), flag=str(flag), url=postgres_url, corpus=str(corpus))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if flag.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert flag.exists(), proc.stderr.read()
        os.kill(proc.pid, signal.SIGSTOP)
        waiting = PostgresBackend(postgres_url)
        waiting.lease_seconds = 2.0
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, "rag"):
            report = indexing.build(settings, FakeEmbedder(), backend=waiting)
        assert time.monotonic() - t0 < 30
        assert sorted(report.embedded) == [f"corpus/doc{n:03d}.txt" for n in range(3)]
        said = " ".join(r.getMessage() for r in caplog.records)
        assert "waiting for 3 files that 1 other worker holds" in said and "took over the files" in said, said
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(60) == 0, proc.stderr.read()
        assert "claim ended while it was stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    assert_same(snapshot(backend), single_build(corpus))


def test_a_server_reads_while_indexing_runs(postgres_url, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", 10)
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))
    reader = Assistant(settings, embedder=FakeEmbedder(), backend=PostgresBackend(postgres_url))
    problems: list[BaseException] = []
    done = threading.Event()
    versions = set()

    def read() -> None:
        while not done.is_set():
            try:
                reader.reload_if_changed()
                answer = reader.ask("Where does the quokka shelter?")
                hits = reader.search("copper comet", top_k=3)
                assert answer.citations and hits
                versions.add(reader.state().store.version)
            except BaseException as e:  # noqa: B036  (reported below, with the test's own failure)
                problems.append(e)
                return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_ in range(4):
            for n in range(round_, 10, 3):
                (corpus / f"doc{n:03d}.txt").write_text(f"Round {round_}: a quokka shelters near the copper "
                                                        f"comet {n}.\n\nIt was seen again.\n", encoding="utf-8")
            indexing.build(settings, SlowEmbedder(0.01), backend=PostgresBackend(postgres_url))
        last = PostgresBackend(postgres_url).current_version()
        for _ in range(100):  # until the reader has switched to the last version too
            if last in versions or problems:
                break
            time.sleep(0.1)
    finally:
        done.set()
        thread.join(30)
    assert not problems, repr(problems[0])
    assert len(versions) >= 2  # it switched versions while it read


def test_the_database_restarted_under_a_live_server(postgres_server, postgres_url, tmp_path):
    from fastapi.testclient import TestClient

    from rag.server.app import create_app

    if postgres_server is None:
        pytest.skip("restarts the server the tests started")
    corpus = make_corpus(tmp_path / "corpus", 4)
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))
    app = create_app(Assistant(settings, embedder=FakeEmbedder()), reload_interval=0.2)
    body = {"question": "Where does the quokka shelter?"}
    with TestClient(app) as client:
        for _ in range(100):
            if client.get("/healthz").status_code == 200:
                break
            time.sleep(0.1)
        assert client.post("/api/ask", json=body).status_code == 200
        postgres_server.stop()
        try:
            down = client.post("/api/ask", json=body)
            assert down.status_code == 503
            message = down.json()["error"]["message"]
            assert "unreachable" in message and "used again as soon as it answers" in message
            assert PASSWORD not in down.text and "***" in message
            health = client.get("/healthz")  # a load balancer sees it too
            assert health.status_code == 503 and health.json()["status"] == "unavailable"
            assert PASSWORD not in health.text
        finally:
            postgres_server.start()
        assert client.post("/api/ask", json=body).status_code == 200  # back without a restart
        assert client.get("/healthz").status_code == 200


def test_a_store_that_is_down_at_start_is_one_line_without_the_password(tmp_path):
    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:1/rag"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_STORE=url, RAG_CORPUS=str(make_corpus(tmp_path / "corpus", 2)))
    for args in (["ask", "Where?"], ["info"], ["index"]):
        result = subprocess.run([sys.executable, "-c", "from rag.cli import main; main()", *args],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "unreachable" in lines[0] and "someone:***@127.0.0.1:1" in lines[0], lines
        assert PASSWORD not in result.stderr + result.stdout
    with pytest.raises(StoreUnavailable):
        PostgresBackend(url).open()
    assert redact("postgresql://u:p@h/db?password=p&sslmode=require") == \
        "postgresql://u:***@h/db?password=***&sslmode=require"


def test_another_model_is_refused_unless_rebuilt(postgres_url, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", 3)
    backend = PostgresBackend(postgres_url)
    indexing.build(settings_for(postgres_url, corpus), FakeEmbedder(), backend=backend)

    class Other(FakeEmbedder):
        name = model_id = "other-model"
        dim = 32

    other = Settings.load(store=postgres_url, corpus=corpus, model="other-model")
    with pytest.raises(StoreProblem, match="built with model 'fake-hashed-words'.*--rebuild"):
        indexing.build(other, Other(), backend=backend)
    with pytest.raises(StoreProblem, match="another model"):
        Assistant(other, embedder=Other(), backend=backend).ask("Where?")
    report = indexing.build(other, Other(), rebuild=True, backend=backend)
    assert len(report.embedded) == 3 and backend.manifest()["dim"] == 32


#: The roles of the README's section on PostgreSQL, word for word.
ROLES_SQL = """\
CREATE EXTENSION IF NOT EXISTS vector;
CREATE ROLE rag_writer LOGIN PASSWORD '...';
GRANT CONNECT ON DATABASE rag TO rag_writer;
GRANT CREATE, USAGE ON SCHEMA public TO rag_writer;
CREATE ROLE rag_reader LOGIN PASSWORD '...';
GRANT CONNECT ON DATABASE rag TO rag_reader;
GRANT USAGE ON SCHEMA public TO rag_reader;
-- every table the writer creates, now or after a --rebuild, is readable by the reader:
ALTER DEFAULT PRIVILEGES FOR ROLE rag_writer IN SCHEMA public GRANT SELECT ON TABLES TO rag_reader;
"""


def test_the_readme_roles_a_writer_indexes_and_a_reader_serves_but_cannot_index(postgres_url, tmp_path):
    """The roles the README shows, set up with its statements."""
    import psycopg

    readme = (TESTS.parent / "README.md").read_text(encoding="utf-8")
    if "## A shared store: PostgreSQL" in readme:
        assert ROLES_SQL in readme  # the README shows what this test runs
    sql = ROLES_SQL
    database = postgres_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for role in ("rag_reader", "rag_writer"):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")
        conn.execute(sql.replace("'...'", f"'{PASSWORD}'").replace("DATABASE rag ", f"DATABASE {database} "))
    corpus = make_corpus(tmp_path / "corpus", 3)
    writer_url = postgres_url.replace("postgres:", "rag_writer:", 1)
    indexing.build(settings_for(writer_url, corpus), FakeEmbedder(), backend=PostgresBackend(writer_url))
    reader = Assistant(settings_for(postgres_url.replace("postgres:", "rag_reader:", 1), corpus),
                       embedder=FakeEmbedder())
    assert reader.ask("Where does the quokka shelter?").citations
    (corpus / "doc000.txt").write_text("Changed.\n", encoding="utf-8")
    with pytest.raises(StoreUnwritable, match="read-only role") as caught:
        reader.index()
    assert PASSWORD not in str(caught.value)


def test_settings_pick_the_store_by_its_url(postgres_url):
    backend = backend_for(Settings.load(store=postgres_url))
    assert isinstance(backend, PostgresBackend) and PASSWORD not in backend.where
    assert backend.current_version() is None


def test_hnsw_finds_the_exact_neighbours_of_clustered_vectors_across_versions(postgres_url):
    """Recall@10 of the HNSW search against exact inner products, on clustered vectors (uniform
    random ones are hard for any graph index), after a commit replaced a third of the files."""
    from rag.types import Chunk, Sentence

    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(30, 32))

    def file(n: int, salt: int):
        r = np.random.default_rng(n * 7 + salt)
        v = centroids[r.integers(0, 30, 100)] + r.normal(size=(100, 32)) * 0.4
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        source = f"f{n}.txt"
        chunks = [Chunk(source, source, i, i + 1, i + 1, i + 1, f"chunk {n} {i}", 3, i, i + 1) for i in range(100)]
        sentences = [Sentence(source, source, i, i + 1, i + 1, i + 1, f"chunk {n} {i}", 3) for i in range(100)]
        return source, chunks, sentences, v

    backend = PostgresBackend(postgres_url, ef_search=40)
    vectors = {}
    for salt, files in ((0, range(30)), (1, range(0, 30, 3))):
        writer = backend.writer(None) if salt == 0 else backend.writer(backend.open())
        for n in files:
            source, chunks, sentences, v = file(n, salt)
            writer.replace(source, chunks, sentences, v, v)
            vectors.update({c.id: x for c, x in zip(chunks, v)})
        writer.commit({"model": "m", "dim": 32, "files": {f"f{n}.txt": str(salt) for n in files}})
    store = backend.open()
    ids = list(vectors)
    matrix = np.stack([vectors[i] for i in ids])
    queries = centroids[:20] + rng.normal(size=(20, 32)) * 0.4
    recall = []
    for q in (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32):
        exact = {ids[i] for i in np.argsort(-(matrix @ q))[:10]}
        found = [i for i, _ in store.dense(q, 10)]
        assert len(found) == 10
        recall.append(len(exact & set(found)) / 10)
    with backend.db.connection() as conn:
        plan = conn.execute("EXPLAIN SELECT id FROM rag_chunks WHERE valid_from <= %(v)s AND (valid_to IS NULL "
                            "OR valid_to > %(v)s) ORDER BY embedding <#> %(q)s LIMIT 10",
                            {"q": queries[0].astype(np.float32), "v": store.number}).fetchall()
    assert "rag_chunks_hnsw" in str(plan)
    assert np.mean(recall) >= 0.95


def test_character_bm25_over_candidates_ranks_as_exact_search_does(postgres_url, tmp_path):
    """Large stores score character n-grams over candidates (rarest n-grams, best word matches);
    where those cover the matches it is the exact ranking, misspellings included."""
    corpus = make_corpus(tmp_path / "corpus", 30)
    indexing.build(settings_for(postgres_url, corpus), FakeEmbedder(), backend=PostgresBackend(postgres_url))
    exact = PostgresBackend(postgres_url).open()
    candidates = PostgresBackend(postgres_url, exact_chars_up_to=0).open()
    for query in ("quokka shelters", "the coppper commet", "glaciers near the canyon"):
        assert candidates.lexical(query, 5, "chars") == exact.lexical(query, 5, "chars")


def test_term_counts_moved_forward_by_a_commit_equal_counts_made_afresh(postgres_url, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", 6)
    settings = settings_for(postgres_url, corpus)
    backend = PostgresBackend(postgres_url)
    indexing.build(settings, FakeEmbedder(), backend=backend)
    words = lambda texts: [t.lower().split() for t in texts]
    backend.open().term_frequencies("w", words)  # counted once, then moved forward below
    (corpus / "doc001.txt").write_text("A new text about zebras.\n", encoding="utf-8")
    (corpus / "doc002.txt").unlink()
    indexing.build(settings, FakeEmbedder(), backend=backend)
    moved = backend.open().term_frequencies("w", words)
    fresh = PostgresBackend(postgres_url).open().term_frequencies("w", words)
    assert moved == fresh and moved[1]["zebras."] == 1 and moved[0] == backend.manifest()["counts"]["chunks"]


def test_the_answerers_term_tables_are_counted_by_the_writer_and_read_without_a_scan(postgres_url, tmp_path):
    """A server at a million chunks counted the answerer's tables over every chunk for 87 s
    before it could answer (issue 27); the writer now counts them, across commits, and a
    reader only reads them. They equal counts made from the texts of the current version."""
    from rag.analysis import COUNTED

    corpus = make_corpus(tmp_path / "corpus", 12)  # more than one claim: several commits
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))
    (corpus / "doc001.txt").write_text("A new text about Zebras and zebras.\n", encoding="utf-8")
    (corpus / "doc002.txt").unlink()
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))
    store = PostgresBackend(postgres_url).open()
    texts = [c.text for c in store.chunks([i for i, _ in store.dense(FakeEmbedder().encode_query("x"), 10_000)])]

    def no_scan(*args, **kwargs):
        raise AssertionError("counted over the chunks")

    store.texts = no_scan
    for name, analyse in COUNTED.items():
        n, counts = store.term_frequencies(name, analyse)
        want = {}
        for terms in analyse(texts):
            for t in set(terms):
                want[t] = want.get(t, 0) + 1
        assert n == len(texts) and counts == want, name
    assert store.term_frequencies("lowercase", COUNTED["lowercase"])[1]["zebras"] == 1


def test_a_store_written_before_the_writer_counted_is_counted_by_its_readers(postgres_url, tmp_path):
    import psycopg

    from rag.analysis import COUNTED

    corpus = make_corpus(tmp_path / "corpus", 3)
    settings = settings_for(postgres_url, corpus)
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as an older rag left it
        conn.execute("ALTER TABLE rag_chunks DROP COLUMN counted_ids")
        conn.execute("DELETE FROM rag_terms WHERE kind = ANY(%s)", (list(COUNTED),))
        conn.execute("UPDATE rag_state SET meta = meta - 'counted'")
    (corpus / "doc001.txt").write_text("A new text about zebras.\n", encoding="utf-8")
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url))  # adds the column
    store = PostgresBackend(postgres_url).open()
    n, counts = store.term_frequencies("lowercase", COUNTED["lowercase"])  # counted over the chunks
    assert "counted" not in store.manifest and counts["zebras"] == 1 and counts["river"] >= 1
    indexing.build(settings, FakeEmbedder(), backend=PostgresBackend(postgres_url), rebuild=True)
    rebuilt = PostgresBackend(postgres_url).open()
    assert rebuilt.manifest["counted"]["version"] >= 1
    assert rebuilt.term_frequencies("lowercase", COUNTED["lowercase"]) == (n, counts)


ODD_PASSWORD = "p/ss#w?rd@x:y%"


def test_a_password_with_special_characters_works_unencoded_and_never_shows(postgres_url, tmp_path):
    """A password holding / # ? @ was taken apart by the URL parser: the connection failed and
    its tail was printed as the host (issue 27). Written as it is, or percent-encoded, it works."""
    from urllib.parse import quote

    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS odd_user")
        conn.execute(f"CREATE ROLE odd_user LOGIN SUPERUSER PASSWORD '{ODD_PASSWORD}'")
    host = postgres_url.rsplit("@", 1)[1]
    for url in (f"postgresql://odd_user:{ODD_PASSWORD}@{host}",
                f"postgres://odd_user:{quote(ODD_PASSWORD, safe='')}@{host}"):
        backend = backend_for(Settings.load(store=url, corpus=tmp_path, model=FakeEmbedder.model_id))
        assert isinstance(backend, PostgresBackend)
        backend.current_version()  # connects
        assert backend.where == f"{url.split(':')[0]}://odd_user:***@{host}"
    wrong = f"postgresql://odd_user:{ODD_PASSWORD}x@{host}"
    with pytest.raises(StoreProblem) as refused:
        PostgresBackend(wrong).current_version()
    message = str(refused.value)
    assert "wrong user name or password" in message and "unreachable" not in message
    assert not any(piece in message for piece in ("ss#w", "rd@x", "p/ss", "w?rd")), message


def test_each_connection_failure_says_what_it_is(postgres_url):
    """A wrong password, an unknown database and a bad port were all "unreachable ... used again as
    soon as it answers"."""
    host, port = postgres_url.rsplit("@", 1)[1].split("/")[0].rsplit(":", 1)
    cases = {f"postgresql://postgres:wrong-{PASSWORD}@{host}:{port}/postgres": "wrong user name or password",
             f"postgresql://postgres:{PASSWORD}@{host}:{port}/no_such_db": "has no database 'no_such_db'",
             f"postgresql://postgres:{PASSWORD}@{host}:1/postgres": "nothing listens at that host and port"}
    for url, said in cases.items():
        with pytest.raises(StoreProblem) as failed:
            PostgresBackend(url).current_version()
        assert said in str(failed.value) and PASSWORD not in str(failed.value), str(failed.value)
        assert isinstance(failed.value, StoreUnavailable) == ("nothing listens" in said)


def test_redaction_reads_the_url_as_libpq_does():
    assert redact(f"postgresql://u:{ODD_PASSWORD}@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgres://u@h/db?sslmode=require&password=p") == "postgres://u@h/db?sslmode=require&password=***"
    assert redact("postgresql://h/db") == "postgresql://h/db"

