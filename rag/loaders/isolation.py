"""A loader call in a child process, with a time limit: a file that hangs its parser, or
crashes it (PDFium is native code), costs that file only, with a warning, never the whole
``rag index``.

One child serves call after call: it starts on first use (~0.1 s, once per process) and each
call then costs a round trip of pickles (about a millisecond; see benchmarks/pdf_throughput.py).
A call over its time limit, or a child that dies, gets the child killed and a fresh one for
the next call. What the call logs at WARNING or above in the child is logged again here, on
the same logger, so warnings name their file as they would in-process. A loader opts in with a
class attribute (``PdfLoader.isolated``, ``DocxLoader.isolated``).
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("rag")
_lock = threading.Lock()
_child: subprocess.Popen | None = None


def run_isolated(fn: Callable, args: tuple, name: str, timeout: float, default: Any) -> Any:
    """``fn(*args)`` in the child process; ``default``, with a warning naming ``name``, when
    it runs over ``timeout`` seconds or the child dies. ``fn`` must be a module-level function
    and ``args`` picklable; an exception ``fn`` raises is raised here."""
    global _child
    with _lock:
        if _child is None or _child.poll() is not None:
            _child = _start()
        child, box = _child, {}
        worker = threading.Thread(target=_exchange, args=(child, (fn.__module__, fn.__qualname__, args), box),
                                  daemon=True)
        worker.start()
        worker.join(timeout)
        timed_out = worker.is_alive()
        if timed_out or "reply" not in box:
            _child = None
            why = (f"reading it took over {timeout:g} s (the time limit per file)" if timed_out
                   else f"its reader crashed ({_exit_status(child)})")
            _stop(child)
            log.warning("skipping %s: %s", name, why)
            return default
    ok, value, records = box["reply"]
    for level, logger, message in records:
        logging.getLogger(logger).log(level, "%s", message)
    if not ok:
        raise value
    return value


def _exchange(child: subprocess.Popen, request: tuple, box: dict) -> None:
    try:
        pickle.dump(request, child.stdin)
        child.stdin.flush()
        box["reply"] = pickle.load(child.stdout)
    except (OSError, EOFError, pickle.UnpicklingError) as e:
        box["error"] = e


def _start() -> subprocess.Popen:
    """A fresh child that can import this package whether it is installed or not."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "rag.loaders.isolation"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)


def _stop(child: subprocess.Popen) -> None:
    child.kill()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _exit_status(child: subprocess.Popen) -> str:
    try:
        code = child.wait(timeout=2)  # its output closed as it died: it is about to be reaped
    except subprocess.TimeoutExpired:
        return "no reply"
    return f"signal {-code}" if code < 0 else f"exit status {code}"


class _Collect(logging.Handler):
    """Keeps the records of one call, to be sent back with its result."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, record.name, record.getMessage()))


def serve() -> None:
    """The child's loop: a pickled ``(module, function, args)`` in, ``(ok, value, records)`` out,
    until its input closes (the parent went away)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed, by Python or native code, goes to stderr, not into the replies
    sys.stdout = sys.stderr
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    while True:
        try:
            module, qualname, args = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        collect.records = []
        try:
            reply = (True, getattr(importlib.import_module(module), qualname)(*args), collect.records)
        except Exception as e:  # noqa: BLE001  (raised again in the parent)
            reply = (False, e, collect.records)
        try:
            data = pickle.dumps(reply)
        except Exception as e:  # noqa: BLE001  (an exception or result that does not pickle)
            data = pickle.dumps((False, RuntimeError(f"{module}.{qualname}: {e!r}"), collect.records))
        out.write(data)
        out.flush()


if __name__ == "__main__":
    serve()
