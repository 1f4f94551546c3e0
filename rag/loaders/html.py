"""HTML: the visible text, each run on the source line it came from; blocks are paragraphs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rag.loaders.base import SourceFile, document_from_lines, read_text
from rag.types import Document


class HtmlLoader:
    suffixes = (".html", ".htm")

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        text = read_text(f)
        if text is None:
            return []
        return document_from_lines(f, html_lines(text), rules)


class _HTMLText(HTMLParser):
    """Visible text of an HTML page: runs of text, each on its source line, with block starts marked.

    Text inside one block that wraps over several source lines stays one paragraph
    (lines without a blank between them); a new block tag starts a new paragraph.
    Inline tags (``<b>``, ``<a>``) join their text with the spaces the page had.
    """

    SKIP = {"script", "style", "noscript", "template", "head", "nav", "footer", "form", "svg"}
    BLOCK = {"p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th",
             "table", "section", "article", "header", "main", "aside", "blockquote", "pre", "hr",
             "dd", "dt", "dl", "figure", "figcaption", "caption", "body", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        #: [source line, text, starts a block]
        self.lines: list[list] = []
        self._skip = 0
        self._open = False  # the next text on the same line continues lines[-1]
        self._block = True  # the next new line of text starts a block

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self._open, self._block = False, True
        elif tag == "br":
            self._open = False

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self._open, self._block = False, True

    def handle_data(self, data):
        if self._skip:
            return
        line = self.getpos()[0]
        for i, piece in enumerate(data.split("\n")):
            piece = re.sub(r"\s+", " ", piece)
            if i > 0:
                self._open = False
            if not piece.strip():
                if self._open and piece and not self.lines[-1][1].endswith(" "):
                    self.lines[-1][1] += " "  # the space between two inline elements
                continue
            if self._open and self.lines and self.lines[-1][0] == line + i:
                last = self.lines[-1]
                last[1] += piece.lstrip() if last[1].endswith(" ") else piece
            else:
                self.lines.append([line + i, piece.lstrip(), self._block])
                self._block = False
            self._open = True


def html_lines(text: str) -> list[tuple[int, str]]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    out: list[tuple[int, str]] = []
    for n, line, block in parser.lines:
        line = line.strip()
        if not line:
            continue
        if block and out:
            out.append((n, ""))  # a blank line between blocks marks a paragraph
        out.append((n, line))
    return out
