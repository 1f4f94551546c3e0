"""Checks on one response: which facts its answer misses, and whether its quotes are verbatim.

Both read only the structured response (``Answer.to_dict()``: ``sentences``, ``citations``,
``abstained``), never its rendered text, and quotes are checked against the files on disk,
read through the same loaders as indexing, so the check holds for every format the
corpus may hold.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from rag.errors import RagError
from rag.evaluation.questions import Question

_STRAIGHTEN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u00a0": " "})


def normalise(text: str) -> str:
    """Text as facts are matched: NFKC, straight quotes and dashes, case-folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_STRAIGHTEN)
    return " ".join(text.casefold().split())


def answer_body(response: dict) -> str:
    """What the answer says, without citation markers or the Sources list: its sentences.

    File names and line numbers in the Sources list must not count as facts ("4" in
    ``004_....txt``), so only the sentences are matched.
    """
    return " ".join(s["text"] for s in response.get("sentences") or [])


def missing_facts(question: Question, response: dict) -> list[tuple[str, ...]]:
    """The facts of which no spelling is in the answer; all of them when it abstained."""
    if response.get("abstained"):
        return list(question.facts)
    body = normalise(answer_body(response))
    return [fact for fact in question.facts if not any(normalise(s) in body for s in fact)]


class QuoteChecker:
    """Checks quotes against the files on disk, each file read once.

    A quote is valid when it is on the cited lines as they are in the file, or as a reader
    sees them: markup formats (HTML, BEIR records) quote the text their loader keeps, and
    any format the loader registry reads is checked that way, whatever its suffix.
    """

    def __init__(self, root: Path) -> None:
        #: Citation sources are relative to this folder (the corpus folder's parent).
        self.root = root
        self._lines: dict[str, list[str] | None] = {}
        self._visible: dict[str, list[tuple[int | None, int, str]]] = {}

    def problem(self, citation: dict) -> str | None:
        """None when the quote is verbatim in the cited lines (of the cited page), else what is wrong."""
        source, page = str(citation.get("source", "")), citation.get("page")
        raw = None if page is not None or self._binary(source) else self._file_lines(source)
        on_page = [(n, t) for p, n, t in self._visible_lines(source) if p == page]
        if raw is None and not on_page:
            return "file not found" if page is None else f"page {page} is not in the file"
        start, end = int(citation.get("start_line", 0)), int(citation.get("end_line", 0))
        count = len(raw) if raw is not None else max(n for n, _ in on_page)
        if not 1 <= start <= end <= count:
            return f"lines {start}-{end} are outside the {'file' if page is None else 'page'} ({count} lines)"
        quote = " ".join(str(citation.get("quote", "")).split())
        if not quote:
            return "empty quote"
        if raw is not None and quote in " ".join(" ".join(raw[start - 1:end]).split()):
            return None
        visible = " ".join(t for n, t in on_page if start <= n <= end)
        if quote in " ".join(visible.split()):
            return None
        return "quote not found in the cited lines"

    def _binary(self, source: str) -> bool:
        """Formats whose bytes are not text (PDF, Word): only their loader's text counts."""
        from rag.loaders import loader_for

        return bool(getattr(loader_for(Path(source)), "binary", False))

    def _file_lines(self, source: str) -> list[str] | None:
        """The file's raw lines, numbered as citations number them; None when unreadable."""
        if source not in self._lines:
            from rag.loaders import decode, split_lines

            try:
                self._lines[source] = split_lines(decode((self.root / source).read_bytes(), source))
            except OSError:
                self._lines[source] = None
        return self._lines[source]

    def _visible_lines(self, source: str) -> list[tuple[int | None, int, str]]:
        """``(page, line number, text)`` of what the file's loader keeps, no boilerplate rules applied."""
        if source not in self._visible:
            from rag.loaders import SourceFile, load_file

            pairs: list[tuple[int | None, int, str]] = []
            try:
                for doc in load_file(SourceFile(path=self.root / source, source=source, sha256=""), rules=[]):
                    pairs += [(doc.page, n, t) for n, t in zip(doc.line_numbers, doc.text.split("\n"))]
            except (OSError, RagError):
                pass  # the raw lines were all there is to check against
            self._visible[source] = pairs
        return self._visible[source]
