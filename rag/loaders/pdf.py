"""PDF: a document per page, its lines in reading order, numbered as a reader counts them.

pypdfium2 (PDFium, Chrome's PDF engine) gives each character and its box; its page text is
3-12x pypdf's speed and 20x pdfminer.six's (benchmarks/pdf_throughput.py). The page's lines,
in the order a reader reads and counts them (head, columns, foot), are rag.loaders.pdf_layout's;
so "p. 3, lines 12-14" is found by eye. A wider step than the file's usual one, or another
type size, leaves a blank line (paragraphs stay apart). Running headers and footers (repeated
at the top or bottom of pages, digits masked) and lone page numbers are dropped.

A word broken at a line end is joined on the first line, or on the second when its tail is all
that line holds ("an iden-"/"tifier." -> "an"/"identifier."): a sentence keeps the line it ends
on. A typesetter's hyphenation mark (Chromium's U+2010, a soft hyphen U+00AD) goes:
"break\u2010"/"waters" -> "breakwaters". A plain hyphen may be either, so the file's own words
decide: it goes ("integ-"/"rated" -> "integrated") unless the file writes the word with the
hyphen elsewhere, or uses both halves as words of their own and never writes it closed
("eighteen-"/"eighties" -> "eighteen-eighties"). After a plain hyphen the next line must go on
in lower case ("GP-"/"Led" stays), or in capitals the file writes closed ("SE-"/"QUENCE" ->
"SEQUENCE").
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from statistics import median

from rag.loaders.base import SourceFile, is_boilerplate
from rag.loaders.pdf_layout import Line, page_lines
from rag.types import Document

log = logging.getLogger("rag")

#: A lone page number: "7", "Page 7 of 9", "p. 7", "7/9", "- 7 -", "iv", "-i-".
PAGE_NUMBER = re.compile(r"(page\s*|p\.\s*)?(\d+|[ivx]{1,5})(\s*(of|/)\s*\d+)?"
                         r"|[-\u2013\u2014]\s*(\d+|[ivx]{1,5})\s*[-\u2013\u2014]", re.I)
PARAGRAPH_STEP = 1.4  # a line step over this many times the file's usual one is a paragraph gap


class PdfLoader:
    suffixes = (".pdf",)
    binary = True
    #: Pages read of a longer file (a warning says so): bounds a file's share of indexing.
    max_pages = 1000
    #: Seconds of reading per file; pages after it are left out, with a warning.
    time_limit_s = 120.0
    #: Read in a child process (rag.loaders.isolation): a page that hangs or crashes PDFium
    #: costs that file, never the whole `rag index`.
    isolated = True

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        if self.isolated:
            from rag.loaders.isolation import run_isolated

            return run_isolated(read_pdf, (f, rules, self.max_pages, self.time_limit_s), f.source,
                                timeout=self.time_limit_s + 30, default=[])
        return read_pdf(f, rules, self.max_pages, self.time_limit_s)


def read_pdf(f: SourceFile, rules: list[re.Pattern[str]], max_pages: int = PdfLoader.max_pages,
             time_limit_s: float = PdfLoader.time_limit_s) -> list[Document]:
    """The documents of one PDF, [] with a warning naming it when it holds no text."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(f.path)
    except pdfium.PdfiumError as e:
        reason = re.search(r"PDFium: ([^)]*)", str(e))
        why = ("it is encrypted (it needs a password)" if getattr(e, "err_code", None) == 4 else
               "it is empty" if f.path.stat().st_size == 0 else
               f"it is damaged or not a PDF ({reason.group(1).lower() if reason else e})")
        log.warning("skipping %s: %s", f.source, why)
        return []
    except OSError as e:
        log.warning("skipping %s: cannot read it (%s)", f.source, e.strerror)
        return []
    try:
        pages = _read_pages(pdf, f.source, max_pages, time_limit_s)
    finally:
        pdf.close()
    if not any(pages):
        log.warning("skipping %s: it has no text layer (a scanned PDF? it would need OCR)", f.source)
        return []
    _mark_gaps(pages)
    _drop_furniture(pages)
    _join_hyphenated(pages)
    docs = [doc for n, lines in enumerate(pages, 1) if (doc := _page_document(f, n, lines, rules))]
    if not docs:
        log.warning("skipping %s: no text left in it", f.source)
    return docs


def _read_pages(pdf, source: str, max_pages: int, time_limit_s: float) -> list[list[Line]]:
    """Every page's lines (up to ``max_pages``, and as many as ``time_limit_s`` allows)."""
    total, pages, deadline = len(pdf), [], time.monotonic() + time_limit_s
    if total > max_pages:
        log.warning("%s: reading only its first %d of %d pages (the limit per PDF)", source, max_pages, total)
    for i in range(min(total, max_pages)):
        if i and time.monotonic() > deadline:
            log.warning("%s: read only pages 1-%d of %d: over the %g s limit per file", source, i, total, time_limit_s)
            break
        try:
            page = pdf[i]
            textpage = page.get_textpage()
            pages.append(page_lines(textpage))
            textpage.close()
            page.close()
        except Exception as e:  # PdfiumError, or a box no layout can use: the page only is lost
            log.warning("%s: page %d is damaged (%s); left out", source, i + 1, e)
            pages.append([])
    return pages


def _mark_gaps(pages: list[list[Line]]) -> None:
    """Mark the lines after a paragraph gap: a step wider than the file's usual one (its most
    common, the narrower of equals; not under most of a line's height, a lone subscript), or
    another type size."""
    heights = [l.y1 - l.y0 for lines in pages for l in lines]
    floor = 0.8 * median(heights) if heights else 0.0
    steps = Counter(round(a.y0 - b.y0) for lines in pages for a, b in zip(lines, lines[1:]) if a.y0 - b.y0 >= floor)
    usual = min(steps, key=lambda step: (-steps[step], step)) if steps else 0
    for lines in pages:
        for a, b in zip(lines, lines[1:]):
            ha, hb = a.y1 - a.y0, b.y1 - b.y0
            b.gap_before = (usual > 0 and a.y0 - b.y0 > PARAGRAPH_STEP * usual) or abs(ha - hb) > 0.15 * max(ha, hb)


def _drop_furniture(pages: list[list[Line]]) -> None:
    """Drop running headers and footers and lone page numbers: lines at the top or bottom of a
    page (of three lines or more) repeated, digits masked, on three pages, or on two when a
    paragraph gap sets them apart from the text, as running heads are."""
    key = lambda line: re.sub(r"\d+", "#", line.text.casefold())
    edges, numbers = [], []
    for lines in pages:
        after = {id(a): b.gap_before for a, b in zip(lines, lines[1:])}
        by_y = sorted(lines, key=lambda l: -l.y1)
        top, bottom = [(l, after.get(id(l), False)) for l in by_y[:2]], [(l, l.gap_before) for l in by_y[-2:][::-1]]
        # the outermost line, and the next one in when a gap sets it apart from the text
        edges.append([e for side in (top, bottom) for e in side[:1] + [e for e in side[1:] if e[1]]]
                     if len(lines) > 2 else [])
        numbers.append({id(line) for line in by_y[:2] + by_y[-2:] if PAGE_NUMBER.fullmatch(line.text)})
    counts = Counter(k for edge in edges for k in {key(line) for line, _ in edge})
    for lines, edge, drop in zip(pages, edges, numbers):
        drop |= {id(line) for line, apart in edge if counts[key(line)] >= (2 if apart or len(pages) <= 3 else 3)}
        lines[:] = _without(lines, lambda line, drop=drop: id(line) in drop)


def _without(lines: list[Line], unwanted) -> list[Line]:
    """``lines`` less the unwanted ones, a paragraph gap before one moved to the next line kept."""
    kept, gap = [], False
    for line in lines:
        gap = gap or line.gap_before
        if not unwanted(line):
            line.gap_before, gap = gap and bool(kept), False
            kept.append(line)
    return kept


def _join_hyphenated(pages: list[list[Line]]) -> None:
    """Join words broken at a line end (see the module docstring for when the hyphen stays)."""
    words = Counter(w for lines in pages for line in lines for w in re.findall(r"[\w-]+", line.text.casefold()))
    parts = Counter(w for lines in pages for line in lines for w in re.findall(r"\w+", line.text.casefold()))
    for lines in pages:
        for a, b in zip(lines, lines[1:]):
            mark = a.text[-1:]
            if not (re.search(r"\w[-\u00ad\u2010]$", a.text) and not b.gap_before and b.text[:1].isalpha()):
                continue
            head, _, rest = b.text.partition(" ")
            stem, word = a.text[:-1], re.match(r"\w*", head).group()
            last = re.findall(r"\w+$", stem)[-1]
            if mark == "-" and not word.islower() and not (last.isupper() and word.isupper()
                                                           and words[(last + word).casefold()]):
                continue  # "GP-"/"Led": a capital goes on, unless a word in capitals the file writes closed
            last, word = last.casefold(), word.casefold()
            keep = mark == "-" and not words[last + word] and (
                words[f"{last}-{word}"] > 0 or (parts[last] > 1 and parts[word] > 1))
            if rest:
                a.text, b.text = stem + ("-" if keep else "") + head, rest
            else:  # the tail is all the next line holds: join there, so a sentence keeps the line it ends on
                cut = re.search(r"\w+$", stem).start()
                a.text, b.text = stem[:cut].rstrip(), stem[cut:] + ("-" if keep else "") + head
        lines[:] = _without(lines, lambda line: not line.text)
        for line in lines:
            line.text = line.text.replace("\u00ad", "").replace("\u2010", "-")


def _page_document(f: SourceFile, page: int, lines: list[Line], rules: list[re.Pattern[str]]) -> Document | None:
    """The page's document: boilerplate lines dropped, a blank line where a paragraph gap is."""
    kept: list[tuple[int, str]] = []
    for line in _without(lines, lambda line: is_boilerplate(line.text, rules)):
        kept += [(kept[-1][0], "")] if line.gap_before else []
        kept.append((line.no, line.text))
    if not kept:
        return None
    return Document(doc_id=f"p{page}", source=f.source, text="\n".join(t for _, t in kept),
                    line_numbers=tuple(n for n, _ in kept), title=kept[0][1], page=page)
