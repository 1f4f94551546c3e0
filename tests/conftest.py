"""Shared fixtures: one model, one seed index and one Assistant per test session.

Loading the embedding model costs seconds, so tests share it:

- ``embedder``: the real default model (loaded lazily, once).
- ``seed_settings`` / ``seed_index_dir``: the five seed articles indexed once, in a tmp dir.
- ``seed_assistant``: an :class:`Assistant` over that index, ready to ``ask``.
- ``make_assistant(settings)``: a fresh Assistant that reuses the session's model.
- ``seed_corpus_copy`` / ``seed_index_copy``: private, writable copies for tests that
  change files or damage the index (copying the index avoids re-embedding the seeds);
  ``seed_workspace``: Settings for both, the index up to date with the copied corpus.
- ``small_index`` / ``small_workspace``: the same for two seed articles, for tests that
  must rebuild from scratch (a full seed build costs ~5-20 s on 2 busy cores).
- ``run_rag(*args, corpus=, index=)``: the real ``rag`` console script in a subprocess.

Nothing here depends on ``/work/main/index`` or on ``RAG_*`` variables of the shell
that runs the tests: they are cleared for the session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from pg_server import postgres_server, postgres_url  # noqa: F401  (a real PostgreSQL: tests/pg_server.py)

from rag.chunking import collapse  # noqa: F401  (tests import it from here)
from rag.loaders import split_lines

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT_ROOT / "seeds"
#: The console script installed next to this interpreter (``pip install -e .``).
RAG_BIN = shutil.which("rag", path=str(Path(sys.executable).parent)) or shutil.which("rag")


def file_lines(path: Path, start: int, end: int) -> str:
    """Lines ``start..end`` (1-based, inclusive) of a file, whitespace collapsed."""
    lines = split_lines(path.read_text(encoding="utf-8"))
    return collapse(" ".join(lines[start - 1:end]))


@pytest.fixture(scope="session", autouse=True)
def _clean_environment(tmp_path_factory):
    """No ``RAG_*`` setting of the developer's shell leaks into the tests, and the query
    encoder cache the index build fills lives in a temporary folder, not in ~/.cache."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("RAG_")}
    for k in saved:
        del os.environ[k]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["RAG_CACHE_DIR"] = str(tmp_path_factory.mktemp("rag-cache"))
    yield
    del os.environ["RAG_CACHE_DIR"]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def embedder():
    from rag.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def make_assistant(embedder) -> Callable:
    """``make_assistant(settings)``: an Assistant sharing the session's loaded model."""
    from rag.assistant import Assistant

    def make(settings):
        assistant = Assistant(settings)
        if settings.model == embedder.name:
            assistant.__dict__["embedder"] = embedder  # fills the cached_property
        return assistant

    return make


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory):
    from rag.settings import Settings

    return Settings.load(corpus=SEEDS, index_dir=tmp_path_factory.mktemp("seed-index"))


@pytest.fixture(scope="session")
def seed_index_dir(seed_settings, embedder) -> Path:
    """The seed articles, indexed once per session (read-only: copy it to change it)."""
    from rag import indexing

    indexing.build(seed_settings, embedder)
    return seed_settings.index_dir


@pytest.fixture(scope="session")
def seed_assistant(seed_settings, seed_index_dir, make_assistant):
    assistant = make_assistant(seed_settings)
    assistant.state()
    return assistant


@pytest.fixture
def seed_corpus_copy(tmp_path) -> Path:
    """A writable copy of the seeds, in a folder also named ``seeds`` so sources keep their names."""
    dest = tmp_path / "corpus" / "seeds"
    shutil.copytree(SEEDS, dest)
    return dest


@pytest.fixture
def seed_index_copy(tmp_path, seed_index_dir) -> Path:
    """A writable copy of the session's seed index (its vectors can be reused)."""
    dest = tmp_path / "index"
    shutil.copytree(seed_index_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def retarget(index_dir: Path, corpus: Path) -> None:
    """Make a copied index belong to a copied corpus (the manifest names its corpus folder)."""
    import json

    manifest = index_dir / current_generation(index_dir) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["corpus"] = str(corpus.resolve())
    manifest.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.fixture
def seed_workspace(seed_corpus_copy, seed_index_copy):
    """Settings for a writable seed corpus with its own up-to-date index (nothing to embed)."""
    from rag.settings import Settings

    retarget(seed_index_copy, seed_corpus_copy)
    return Settings.load(corpus=seed_corpus_copy, index_dir=seed_index_copy)


#: Two seed articles: a corpus small enough to rebuild from scratch in a test.
SMALL_FILES = ("000_5f02ec8ebbba9bda.txt", "004_24a63785afbf6050.txt")


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, embedder):
    """Settings of the two-article corpus, indexed once per session (read-only)."""
    from rag import indexing
    from rag.settings import Settings

    root = tmp_path_factory.mktemp("small")
    (root / "seeds").mkdir()
    for name in SMALL_FILES:
        shutil.copy2(SEEDS / name, root / "seeds" / name)
    settings = Settings.load(corpus=root / "seeds", index_dir=root / "index")
    indexing.build(settings, embedder)
    return settings


@pytest.fixture
def small_workspace(tmp_path, small_index):
    """Settings for a writable copy of the two-article corpus and its index."""
    shutil.copytree(small_index.corpus, tmp_path / "small" / "seeds")
    shutil.copytree(small_index.index_dir, tmp_path / "small" / "index", ignore=shutil.ignore_patterns(".lock"))
    retarget(tmp_path / "small" / "index", tmp_path / "small" / "seeds")
    return small_index.replace(corpus=tmp_path / "small" / "seeds", index_dir=tmp_path / "small" / "index")


def current_generation(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def rag_env(corpus: Path | None = None, index: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``rag`` subprocess: none of the shell's ``RAG_*`` settings or
    terminal size, offline, and the session's encoder cache (not ~/.cache/rag)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k not in ("COLUMNS", "LINES")}
    environ.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", RAG_CACHE_DIR=os.environ["RAG_CACHE_DIR"])
    if corpus is not None:
        environ["RAG_CORPUS"] = str(corpus)
    if index is not None:
        environ["RAG_INDEX_DIR"] = str(index)
    environ.update(extra)
    return environ


@pytest.fixture(scope="session")
def run_rag() -> Callable[..., subprocess.CompletedProcess]:
    """Run the real ``rag`` command: ``run_rag("ask", "q", corpus=dir, index=dir)``."""
    assert RAG_BIN, "the rag console script is not installed (pip install -e .)"

    def run(*args: str, corpus: Path | None = None, index: Path | None = None,
            input: str | None = None, timeout: float = 300, env: dict | None = None,
            ) -> subprocess.CompletedProcess:
        return subprocess.run([RAG_BIN, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, env=rag_env(corpus, index, **(env or {})), cwd=PROJECT_ROOT)

    return run


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Non-zero exit, no traceback, and one ``error:`` line on stderr holding ``fragments``."""
    stderr = proc.stderr
    assert "Traceback" not in stderr and "Traceback" not in proc.stdout, stderr
    assert proc.returncode != 0, (proc.returncode, proc.stdout, stderr)
    lines = [l for l in stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1, stderr
    line = errors[0]
    # The message must fit its line: nothing of it wrapped onto following lines.
    assert lines[-1] == line, f"the error message runs over several lines:\n{stderr}"
    for fragment in fragments:
        assert re.search(fragment, line, re.IGNORECASE), (fragment, line)
    return line


# -- a live HTTP server (tests/test_server.py, tests/test_chat_page.py) -------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def serve() -> Callable:
    """``with serve(app) as base_url:`` runs the real uvicorn server for ``app`` in a
    thread on a free 127.0.0.1 port; with ``ready=True`` it waits for ``/healthz`` 200."""
    import contextlib
    import threading
    import time

    import httpx
    import uvicorn

    @contextlib.contextmanager
    def run(app, ready: bool = True, timeout: float = 120):
        port = free_port()
        # log_config=None: uvicorn's records reach the root logger, so caplog sees its errors.
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               log_config=None))
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        try:
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.02)
            while ready and httpx.get(base_url + "/healthz").status_code != 200:
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.05)
            yield base_url
        finally:
            server.should_exit = True
            thread.join(15)

    return run
