"""Durable writes: what the index, the query-encoder cache and the reports share.

A file or folder is written under a temporary name, forced to disk, then renamed into
place, so a crash or Ctrl-C leaves the old version or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fsync(path: Path) -> None:
    """Force a file (or folder) to disk, so a rename after it cannot expose a half-written file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` in one rename; the temporary file never outlives a failure."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if durable:
            fsync(tmp)
        os.replace(tmp, path)
        if durable:
            fsync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
