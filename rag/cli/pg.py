"""``rag pg``: a local PostgreSQL with pgvector to try the shared store (rag/store/pg_local.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rag.cli.console import command, err, out

pg_app = typer.Typer(no_args_is_help=True, help="A local PostgreSQL with pgvector, to try the shared store "
                                                "(needs: pip install -e '.[pgserver]').")
FolderOpt = typer.Option(None, "--folder", help="where its data lives (default ~/.cache/rag/postgres)")


@pg_app.command("start")
@command
def start(folder: Optional[Path] = FolderOpt,
          port: Optional[int] = typer.Option(None, help="port on 127.0.0.1 (default: the last one, or a free one)")
          ) -> None:
    """Start it (set it up the first time) and print its URL, for RAG_STORE or --store."""
    from rag.store.pg_local import LocalPostgres

    url = LocalPostgres(folder).start(port)
    out.print(url, markup=False)
    err.print("rag: a local PostgreSQL is running; use it with: export RAG_STORE=$(rag pg url)", markup=False)


@pg_app.command("url")
@command
def url(folder: Optional[Path] = FolderOpt) -> None:
    """Print its URL (it may be stopped: see status)."""
    from rag.errors import RagError
    from rag.store.pg_local import LocalPostgres

    server = LocalPostgres(folder)
    if not (server.folder / "port").exists():
        raise RagError(f"no local PostgreSQL in {server.folder}: start one with rag pg start")
    out.print(server.url(), markup=False)


@pg_app.command("status")
@command
def status(folder: Optional[Path] = FolderOpt) -> None:
    """Whether it is running."""
    from rag.store.pg_local import LocalPostgres

    server = LocalPostgres(folder)
    out.print(f"running on 127.0.0.1:{server.port()}" if server.running() else "stopped", markup=False)


@pg_app.command("stop")
@command
def stop(folder: Optional[Path] = FolderOpt) -> None:
    """Stop it; its data stays for the next start."""
    from rag.store.pg_local import LocalPostgres

    out.print("stopped" if LocalPostgres(folder).stop() else "it was not running", markup=False)
