"""Sample files for the loader contract test: suffix -> a function writing one to a path.

Text formats are literal strings; binary formats (PDF, Word) are made by the test helpers
of their loaders (tests/make_pdf.py, tests/make_docx.py) with real writers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

TEXT = {
    ".txt": "Title line\n\nA first paragraph that says something.\nIt goes on here.\n\nLeave a Reply\n",
    ".md": "# Heading\n\nSome *Markdown* text in a paragraph.\n\n- a list item\n- another item\n",
    ".html": "<html><head><title>x</title></head><body>\n<h1>Heading</h1>\n<p>A paragraph\nthat wraps.</p>\n"
             "<script>var x = 1;</script>\n</body></html>\n",
    ".htm": "<p>Short page.</p>\n",
    ".jsonl": '{"_id": "d1", "title": "First", "text": "Body one."}\n\n{"_id": "d2", "text": "Body two."}\n',
}


def _text(content: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(content, encoding="utf-8")


def _pdf(path: Path) -> None:
    from make_pdf import sample_pdf

    sample_pdf(path)


def _docx(path: Path) -> None:
    from make_docx import sample_docx

    sample_docx(path)


MAKERS: dict[str, Callable[[Path], None]] = {**{s: _text(c) for s, c in TEXT.items()}, ".pdf": _pdf, ".docx": _docx}
