"""Files -> documents: read a folder of articles, keep original line numbers, drop boilerplate.

A document's ``text`` is its kept lines joined by ``\\n``; ``line_numbers[i]`` is the
1-based line in the original file that text line ``i`` came from, so any character
range in ``text`` maps back to the lines a citation should name.
"""

from __future__ import annotations

from rag.errors import RagError

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

log = logging.getLogger("rag")

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
BUILTIN_BOILERPLATE = Path(__file__).with_name("boilerplate.txt")


class CorpusError(RagError):
    """The corpus folder cannot be used (missing, or holds no readable article)."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    #: Path shown in citations: relative to the corpus folder's parent.
    source: str
    text: str
    line_numbers: tuple[int, ...]
    title: str = ""

    def lines_of(self, start: int, end: int) -> tuple[int, int]:
        """Original first and last line of the character range ``[start, end)``."""
        first = self.text.count("\n", 0, start)
        last = self.text.count("\n", 0, max(start, end - 1))
        return self.line_numbers[first], self.line_numbers[last]


@dataclass(frozen=True)
class SourceFile:
    """One file of the corpus, with the hash the index uses to notice changes."""

    path: Path
    source: str
    sha256: str


def load_rules(extra: Path | None = None) -> list[re.Pattern[str]]:
    """The built-in boilerplate rules plus a user's own file of them."""
    files = [BUILTIN_BOILERPLATE] + ([extra] if extra else [])
    rules = []
    for f in files:
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise CorpusError(f"cannot read boilerplate rules {f}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                try:
                    rules.append(re.compile(line, re.IGNORECASE))
                except re.error as e:
                    raise CorpusError(f"{f}:{n}: bad boilerplate rule {line!r}: {e}") from None
    return rules


def list_sources(corpus: Path, extensions: tuple[str, ...]) -> list[SourceFile]:
    """Every article file under ``corpus`` (sorted), with its content hash."""
    if not corpus.exists():
        raise CorpusError(f"corpus folder not found: {corpus}")
    paths = [corpus] if corpus.is_file() else sorted(
        p for p in corpus.rglob("*")
        if p.is_file() and p.suffix.lower() in extensions and not any(
            part.startswith(".") for part in p.relative_to(corpus).parts))
    base = corpus.parent
    files = []
    for p in paths:
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError as e:
            log.warning("skipping %s: cannot read it (%s)", p, e.strerror)
            continue
        files.append(SourceFile(path=p, source=p.relative_to(base).as_posix(), sha256=digest))
    return files


def load_file(f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
    """The documents in one file: one for an article, one a record for BEIR ``corpus.jsonl``.

    Unreadable, binary or empty files give no documents and a warning naming them.
    """
    try:
        data = f.path.read_bytes()
    except OSError as e:
        log.warning("skipping %s: cannot read it (%s)", f.source, e.strerror)
        return []
    text = None if b"\x00" in data[:8192] and not data.startswith(UTF16_BOMS) else decode(data, f.source)
    if text is None or "\x00" in text[:8192]:  # NULs in text: binary, or broken UTF-16
        log.warning("skipping %s: it looks like a binary file, not text", f.source)
        return []
    suffix = f.path.suffix.lower()
    if suffix == ".jsonl":
        return _beir_documents(f, text)
    lines = _html_lines(text) if suffix in (".html", ".htm") else _text_lines(text)
    kept = []
    for n, line in lines:
        if is_boilerplate(line, rules) or (not line.strip() and kept and not kept[-1][1].strip()):
            continue  # boilerplate, or a second blank line left where boilerplate was
        kept.append((n, line))
    # Trim blank lines at either end; keep inner ones, they mark paragraphs.
    while kept and not kept[0][1].strip():
        kept.pop(0)
    while kept and not kept[-1][1].strip():
        kept.pop()
    if not kept:
        log.warning("skipping %s: no text left in it", f.source)
        return []
    title = next(line.strip() for _, line in kept if line.strip())
    return [Document(doc_id=f.source, source=f.source, text="\n".join(l for _, l in kept),
                     line_numbers=tuple(n for n, _ in kept), title=title)]


def load_documents(files: list[SourceFile], rules: list[re.Pattern[str]]) -> list[Document]:
    return [doc for f in files for doc in load_file(f, rules)]


def decode(data: bytes, name: str) -> str:
    """UTF-8 (or UTF-16 with a byte-order mark) when it is; otherwise the most likely
    encoding, said in a warning.

    charset-normalizer cannot tell the Latin code pages apart on a short English text
    (it guesses cp1250 for cp1252 curly quotes, mangling accents), so when its guess is a
    Latin script and the bytes are valid cp1252 -- the de facto default of Western text
    and of the web (WHATWG) -- cp1252 wins.
    """
    for encoding in (["utf-16"] if data.startswith(UTF16_BOMS) else []) + ["utf-8-sig"]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best else "cp1252"
    if encoding != "cp1252" and (best is None or _mostly_latin(str(best))):
        try:
            data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            pass
    log.warning("%s is not UTF-8; reading it as %s", name, encoding)
    return data.decode(encoding, errors="replace")


def _mostly_latin(text: str) -> bool:
    """Whether the non-ASCII letters of ``text`` are mostly Latin ones (or there are none)."""
    import unicodedata

    letters = [c for c in text if ord(c) > 127 and c.isalpha()]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return latin >= len(letters) / 2


def is_boilerplate(line: str, rules: list[re.Pattern[str]]) -> bool:
    stripped = line.strip()
    return bool(stripped) and any(r.fullmatch(stripped) for r in rules)


def split_lines(text: str) -> list[str]:
    """Lines as editors number them: broken at \\n, \\r\\n or \\r only.

    ``str.splitlines`` also breaks at form feeds, U+2028 and others, which would shift
    every citation after them.
    """
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _text_lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.rstrip()) for n, line in enumerate(split_lines(text), 1)]


def _beir_documents(f: SourceFile, text: str) -> list[Document]:
    """BEIR corpus records: ``{"_id", "title", "text"}``; title and text both cite the record's line."""
    docs = []
    for n, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            doc_id, title, body = str(rec["_id"]), str(rec.get("title") or ""), str(rec.get("text") or "")
        except (ValueError, KeyError, TypeError):
            log.warning("%s:%d: not a BEIR corpus record; skipped", f.source, n)
            continue
        parts = [p for p in (title.strip(), body.strip()) if p]
        if parts:
            docs.append(Document(doc_id=doc_id, source=f.source, text="\n".join(parts),
                                 line_numbers=(n,) * len(parts), title=title.strip()))
    return docs


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


def _html_lines(text: str) -> list[tuple[int, str]]:
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
