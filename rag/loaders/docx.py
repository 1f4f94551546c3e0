"""Word (.docx): paragraphs, headings, lists and tables; a line per block, a document per heading.

Word shows no line numbers, but a reader can count paragraphs: "line" n is the n-th body
block -- a paragraph (headings, list items and empty ones too) or a table row (cells joined
by " | "). Each block is its own paragraph for the chunker: a blank line, numbered as the
block before it, separates blocks with text. List items keep a marker ("• ", "3. ") so a
list stays with the line introducing it. Each heading (Title, Heading 1-9, an outline
level) starts a document whose ``section`` it is; text before the first heading has none.
python-docx opens the package; the text comes from its XML, which keeps what
``Paragraph.text`` skips (tracked insertions, content controls, fields) and leaves out text
boxes (drawn twice, as DrawingML and VML).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace

from rag.loaders.base import SourceFile, document_from_lines, is_boilerplate
from rag.types import Document

log = logging.getLogger("rag")

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = {"w": W, "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006"}
P, TBL, SDT, CUSTOM, SDT_CONTENT = (f"{{{W}}}{t}" for t in ("p", "tbl", "sdt", "customXml", "sdtContent"))
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc, and any password-protected Office file
HEADING_STYLE = re.compile(r"(heading [1-9]|title)", re.IGNORECASE)
BULLET = "• "
#: Unpacked size past which a .docx is not opened: a zip bomb would fill the memory.
MAX_UNPACKED = 1_000_000_000
_RUN_TEXT = ("./descendant::w:r[not(ancestor::w:txbxContent) and not(ancestor::mc:Fallback)]/*[self::w:t or "
             "self::w:tab or self::w:ptab or self::w:br or self::w:cr or self::w:noBreakHyphen]")
_CHARS = {f"{{{W}}}{t}": c for t, c in (("tab", " "), ("ptab", " "), ("br", " "), ("cr", " "), ("noBreakHyphen", "-"))}
_ROWS = "./w:tr | ./w:sdt/w:sdtContent/w:tr | ./w:customXml/w:tr"
_CELLS = "./w:tc | ./w:sdt/w:sdtContent/w:tc | ./w:customXml/w:tc"
_CELL_PARAGRAPHS = ".//w:p[not(ancestor::w:txbxContent)]"


class DocxLoader:
    suffixes = (".docx",)
    binary = True
    #: Seconds one file may take; over it the file is skipped with a warning.
    time_limit_s = 120.0
    #: Read in a child process, as PDFs are (rag.loaders.isolation): a file that hangs lxml or
    #: blows up its memory costs that file, never the whole `rag index`.
    isolated = True

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        if self.isolated:
            from rag.loaders.isolation import run_isolated

            return run_isolated(read_docx, (f, rules), f.source, timeout=self.time_limit_s, default=[])
        return read_docx(f, rules)


def read_docx(f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
    """The documents of one .docx, a document per section; [] with a warning naming it when it holds none."""
    blocks = read_blocks(f)
    if blocks is None:
        return []
    docs = []
    for k, heading, lines in sections(blocks):
        if not any(text.strip() and not is_boilerplate(text, rules) for _, text in lines):
            continue  # nothing left once the rules applied: no warning per section
        for doc in document_from_lines(f, lines, rules):
            docs.append(replace(doc, doc_id=str(k), section=heading, title=heading or doc.title))
    if not docs:
        log.warning("skipping %s: no text %sin it", f.source, "left " if any(t for t, _ in blocks) else "")
    return docs


def read_blocks(f: SourceFile) -> list[tuple[str, bool]] | None:
    """``(text, is a heading)`` of every body block in order, or None with a warning saying
    why the file cannot be read."""
    try:
        data = f.path.read_bytes()
    except OSError as e:
        log.warning("skipping %s: cannot read it (%s)", f.source, e.strerror)
        return None
    try:
        problem = _refused(data)
        if problem is None:
            import docx  # lazily: a cold `rag ask` never needs it

            return _Reader(docx.Document(io.BytesIO(data))).blocks()
    except Exception as e:  # noqa: BLE001 -- a damaged file must never stop indexing
        problem = _why(e)
    log.warning("skipping %s: %s", f.source, problem)
    return None


def sections(blocks: list[tuple[str, bool]]) -> list[tuple[int, str, list[tuple[int, str]]]]:
    """``(k, heading, lines)`` per section: section 0 is text before any heading, the k-th heading
    starts section k; lines are ``(block number, text)``, with blank separators."""
    out: list[tuple[int, str, list[tuple[int, str]]]] = [(0, "", [])]
    for n, (text, heading) in enumerate(blocks, 1):
        if heading and text:
            out.append((out[-1][0] + 1, text, []))
        lines = out[-1][2]
        if text and lines and lines[-1][1]:
            lines.append((n - 1, ""))
        lines.append((n, text))
    return out if out[0][2] else out[1:]


def _refused(data: bytes) -> str | None:
    """Why these bytes are not opened as a .docx, or None."""
    import zipfile

    if not data:
        return "it is empty"
    if data.startswith(OLE_MAGIC):
        return "it is an old Word (.doc) or password-protected file, not a .docx; save it as .docx without a password"
    if not data.startswith(b"PK"):
        return "it is not a Word file (not a zip archive)"
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # python-docx reads every part into memory
        size = sum(i.file_size for i in z.infolist())
    if size > MAX_UNPACKED:
        return f"it unpacks to {size / 1e6:.0f} MB, over the {MAX_UNPACKED / 1e6:g} MB limit"
    return None


def _why(e: Exception) -> str:
    """A reader's words for what python-docx or lxml raised on a damaged or foreign file."""
    import zipfile
    import zlib

    name = type(e).__name__
    if name == "PackageNotFoundError" or isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError)):
        return "it is truncated or damaged (not a readable zip archive)"
    if isinstance(e, KeyError):
        return f"it is a zip archive but not a Word document ({str(e).strip(chr(34))})"
    if isinstance(e, ValueError) and "content type is" in str(e):
        kind = str(e).rsplit("content type is", 1)[1].strip(" '")
        return f"it is not a Word document (its main part is {kind})"
    if name == "XMLSyntaxError":
        return f"its XML is damaged ({e})"
    return f"cannot read it ({name}: {e})"


class _Reader:
    """The blocks of one opened document, with its styles and list numbering."""

    def __init__(self, document) -> None:
        from lxml import etree

        self.body = document.element.body
        self.styles, self.default_style = _styles(document.styles.element)
        self.lists = _Lists(document.part)
        self.run_text = etree.XPath(_RUN_TEXT, namespaces=NS)
        self.rows, self.cells = etree.XPath(_ROWS, namespaces=NS), etree.XPath(_CELLS, namespaces=NS)
        self.cell_paragraphs = etree.XPath(_CELL_PARAGRAPHS, namespaces=NS)

    def blocks(self) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        for el in _block_elements(self.body):
            if el.tag == P:
                out.append(self.paragraph(el))
            else:
                out += [(" | ".join(c for c in map(self.cell, self.cells(row)) if c), False)
                        for row in self.rows(el)]
        return out

    def text(self, p) -> str:
        return " ".join("".join(_CHARS.get(el.tag) or el.text or "" for el in self.run_text(p)).split())

    def cell(self, tc) -> str:
        return " ".join(t for t in map(self.text, self.cell_paragraphs(tc)) if t)

    def paragraph(self, p) -> tuple[str, bool]:
        text = self.text(p)
        if not text:
            return "", False
        ppr = p.find(f"{{{W}}}pPr")
        style_id = _val(ppr, "pStyle") or self.default_style
        if self.styles.get(style_id, ("",))[0].lower().startswith("toc "):
            return "", False  # a table of contents: the headings again, with page numbers
        if self._heading(style_id, _val(ppr, "outlineLvl")):
            return text, True
        num = _num(ppr) or self._list_of(style_id)
        if num and num[0] not in ("", "0"):
            return self.lists.marker(*num) + text, False
        return text, False

    def _heading(self, style_id: str, outline: str | None) -> bool:
        """Styled Title or Heading 1-9, or at an outline level (the paragraph's own first, then its styles')."""
        for name, _, level, _ in [("", None, outline, None), *self._chain(style_id)]:
            if level is not None:
                return level.isdigit() and int(level) < 9
            if HEADING_STYLE.fullmatch(name.strip()):
                return True
        return False

    def _list_of(self, style_id: str) -> tuple[str, str] | None:
        return next((num for *_, num in self._chain(style_id) if num is not None), None)

    def _chain(self, style_id: str):
        """The style and those it is based on, nearest first."""
        seen = set()
        while style_id and style_id not in seen and style_id in self.styles:
            seen.add(style_id)
            yield self.styles[style_id]
            style_id = self.styles[style_id][1]


def _block_elements(parent):
    """Paragraphs and tables of the body in order, inside content controls too."""
    for el in parent.iterchildren():
        if el.tag in (P, TBL):
            yield el
        elif el.tag in (SDT, CUSTOM):
            for content in el.iterfind(SDT_CONTENT) if el.tag == SDT else (el,):
                yield from _block_elements(content)


def _val(parent, tag: str) -> str | None:
    el = parent.find(f"{{{W}}}{tag}") if parent is not None else None
    return el.get(f"{{{W}}}val") if el is not None else None


def _num(ppr) -> tuple[str, str] | None:
    """``(numId, level)`` of a paragraph's or style's own list numbering, or None."""
    numpr = ppr.find(f"{{{W}}}numPr") if ppr is not None else None
    if numpr is None:
        return None
    return _val(numpr, "numId") or "", _val(numpr, "ilvl") or "0"


def _styles(root) -> tuple[dict[str, tuple], str]:
    """Paragraph style id -> (name, based-on id, outline level, list numbering), and the default style's id."""
    styles: dict[str, tuple] = {}
    default = ""
    for s in root.iterfind(f"{{{W}}}style"):
        if s.get(f"{{{W}}}type", "paragraph") != "paragraph":
            continue
        sid, ppr = s.get(f"{{{W}}}styleId", ""), s.find(f"{{{W}}}pPr")
        styles[sid] = (_val(s, "name") or sid, _val(s, "basedOn"), _val(ppr, "outlineLvl"), _num(ppr))
        if s.get(f"{{{W}}}default") in ("1", "true", "on"):
            default = sid
    return styles, default


class _Lists:
    """List markers: "N. " for a decimal list (counted per list and level), "• " otherwise."""

    def __init__(self, part) -> None:
        from docx.opc.constants import RELATIONSHIP_TYPE as RT

        self.formats: dict[tuple[str, str], tuple[str, int]] = {}
        self.counts: dict[tuple[str, str], int] = {}
        try:
            root = part.part_related_by(RT.NUMBERING).element
        except (KeyError, AttributeError):
            return
        abstract = {a.get(f"{{{W}}}abstractNumId"): a for a in root.iterfind(f"{{{W}}}abstractNum")}
        for num in root.iterfind(f"{{{W}}}num"):
            for lvl in abstract.get(_val(num, "abstractNumId"), root).iterfind(f"{{{W}}}lvl"):
                start = _val(lvl, "start") or "1"
                self.formats[(num.get(f"{{{W}}}numId"), lvl.get(f"{{{W}}}ilvl"))] = (
                    _val(lvl, "numFmt") or "bullet", int(start) if start.isdigit() else 1)

    def marker(self, num_id: str, level: str) -> str:
        fmt, start = self.formats.get((num_id, level), ("bullet", 1))
        if fmt != "decimal":
            return BULLET
        for key in [k for k in self.counts if k[0] == num_id and k[1] > level]:
            del self.counts[key]  # a new item one level up restarts the levels below it
        self.counts[(num_id, level)] = self.counts.get((num_id, level), start - 1) + 1
        return f"{self.counts[(num_id, level)]}. "
