"""Which corpus files give nothing to index, and why: said by ``rag index`` and ``rag info`` every time.

A loader that cannot use a file says so once, in a warning of the form ``skipping SOURCE: WHY``,
when it reads the file; an unchanged file is not read again, so the reason is kept beside the
index (``skipped.json`` in the index folder), under the file's content hash. The corpus listing's
own skips (too big, a link out of the corpus, a bad name) are found again each time it is listed.
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("rag")
FILE = "skipped.json"
_SKIP = re.compile(r"skipping (.+?): (.+)", re.DOTALL)


class _Catch(logging.Handler):
    """Keeps the ``skipping SOURCE: WHY`` warnings logged while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("skipping "):
            self.messages.append(message)


@contextmanager
def catching() -> Iterator[list[str]]:
    """The skip warnings logged inside the ``with`` block (they are still logged as usual)."""
    catch = _Catch()
    log.addHandler(catch)
    try:
        yield catch.messages
    finally:
        log.removeHandler(catch)


def reasons(messages: list[str], sources: list[str]) -> dict[str, str]:
    """``{source: why}`` from skip warnings; a known source is matched whole (a name may hold ": ")."""
    out: dict[str, str] = {}
    for message in messages:
        source = next((s for s in sorted(sources, key=len, reverse=True) if message.startswith(f"skipping {s}: ")),
                      None)
        if source is not None:
            out[source] = message[len(f"skipping {source}: "):]
        elif m := _SKIP.fullmatch(message):
            out[m.group(1)] = m.group(2)
    return out


def remember(index_dir: Path, files: dict[str, str], read: list[str], found: dict[str, str]) -> dict[str, str]:
    """Update the record after a build and return ``{source: why}`` for every corpus file skipped now.

    ``files`` is the corpus (source -> sha256), ``read`` the sources read in this build, ``found``
    the reasons heard in it; a file not read keeps its reason while its hash is unchanged."""
    old = _load(index_dir)
    record = {s: {"sha256": files[s], "why": why} for s, why in found.items() if s in files and s in read}
    record.update({s: e for s, e in old.items() if s in files and s not in read and e.get("sha256") == files[s]})
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp = index_dir / f".{FILE}.tmp"
        tmp.write_text(json.dumps(dict(sorted(record.items())), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(index_dir / FILE)
    except OSError as e:  # best effort: the index itself is written already
        log.warning("cannot remember the skipped files in %s: %s", index_dir, e.strerror or e)
    return {**{s: e["why"] for s, e in record.items()}, **{s: w for s, w in found.items() if s not in files}}


def recorded(index_dir: Path, files: dict[str, str]) -> dict[str, str]:
    """``{source: why}`` of the corpus files the record says were skipped, while unchanged."""
    return {s: e["why"] for s, e in _load(index_dir).items() if files.get(s) == e.get("sha256")}


def _load(index_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads((index_dir / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {s: e for s, e in data.items() if isinstance(e, dict) and isinstance(e.get("why"), str)} \
        if isinstance(data, dict) else {}
