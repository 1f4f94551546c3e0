"""A corpus file as a reader checks a citation against it: its lines, numbered as citations number them.

Plain text and Markdown show the file's own lines (citations count them, blank and
boilerplate lines included). Every other format shows what its loader reads, under the
original line numbers it keeps: HTML's visible text on the line it came from, a BEIR
record's title and text on the record's line, a PDF's lines under ``[page N]``, a Word
file's paragraphs under the heading they sit in. Nothing is left out (no boilerplate rules).
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import RagError
from rag.loaders import LOADERS, SourceFile, decode, load_file, loader_for, split_lines


class FileViewError(RagError):
    """The file cannot be read (gone since it was indexed, unreadable)."""


def numbered_text(path: Path, source: str) -> str:
    """The file's lines as ``"  12  text"``, with page and heading markers where the format has them."""
    try:
        if (loader_for(path) or LOADERS[".txt"]) is LOADERS[".txt"]:
            lines = split_lines(decode(path.read_bytes(), source))
            return _numbered([(n, line.rstrip()) for n, line in enumerate(lines, 1)])
        docs = load_file(SourceFile(path=path, source=source, sha256=""), rules=[])
    except OSError as e:
        raise FileViewError(f"cannot read {source}: {e.strerror or e}") from None
    rows: list[tuple[int | None, str]] = []
    where = None
    for doc in docs:
        marker = _marker(doc.page, doc.section)
        if marker and marker != where:
            rows.append((None, marker))
        where = marker
        rows += list(zip(doc.line_numbers, doc.text.split("\n")))
    return _numbered(rows)


def _marker(page: int | None, section: str) -> str:
    parts = ([f"page {page}"] if page is not None else []) + ([f'under "{section}"'] if section else [])
    return f"[{', '.join(parts)}]" if parts else ""


def _numbered(rows: list[tuple[int | None, str]]) -> str:
    """One row a line: the line number right-aligned (a marker row has none), two spaces, the text."""
    width = len(str(max((n for n, _ in rows if n is not None), default=1)))
    return "\n".join(text if n is None else f"{n:>{width}}  {text}".rstrip() for n, text in rows) + "\n"
