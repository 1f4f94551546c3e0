"""Where the ``rag`` command writes: answers to stdout; logs, warnings, progress and errors to
stderr, each error one line and never a traceback (the ``command`` wrapper)."""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Callable

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("rag")


def setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose or os.environ.get("RAG_VERBOSE") else logging.WARNING
    if err.is_terminal:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    else:  # one unwrapped line a message, for logs and scripts
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_SafeFormatter("%(levelname)s: %(message)s"))
    if err.is_terminal:
        handler.setFormatter(_SafeFormatter("%(message)s"))
    # Libraries' chatter (bm25s sets its own logger to DEBUG on import) stays out of stderr.
    handler.addFilter(lambda record: record.name.startswith("rag") or record.levelno >= logging.WARNING)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    log.setLevel(level)


class _SafeFormatter(logging.Formatter):
    """Log lines without raw control characters (a file name may hold an escape sequence).

    What it needs is imported when it is made: a server out of file descriptors could not
    import it later, and each failed record then logged a traceback (127 MB in 30 s).
    """

    def __init__(self, fmt: str) -> None:
        from rag.cli.render import safe

        super().__init__(fmt)
        self._safe = safe
        safe("")  # imports what it uses, now

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        try:
            return self._safe(line)
        except Exception:  # never let a log line fail: the plain line, escapes and all, beats none
            return line.encode("unicode_escape", "replace").decode("ascii")


def error(message: object) -> None:
    """One line on stderr; the message is text, never markup (it may quote the user)."""
    from rich.markup import escape

    from rag.cli.render import safe

    line = safe(" ".join(str(message).split()))
    err.print(f"[bold red]error:[/] {escape(line)}", markup=True)


def command(fn: Callable) -> Callable:
    """Run a command with one-line errors: RagError and Ctrl-C never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from rag.errors import RagError

        try:
            return fn(*args, **kwargs)
        except RagError as e:
            error(e)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as e:  # a bug, not bad input: still one line, with a way to see more
            if os.environ.get("RAG_DEBUG"):
                raise
            error(f"unexpected {type(e).__name__}: {e} (set RAG_DEBUG=1 for details)")
            raise typer.Exit(1) from None

    return wrapper
