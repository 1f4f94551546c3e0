"""The ``rag`` command: a thin Typer shell over :class:`rag.Assistant` (``app.py``), with the
terminal rendering of answers, passages and reports beside it."""

from __future__ import annotations


def main() -> None:
    from rag.cli.app import app

    app()
