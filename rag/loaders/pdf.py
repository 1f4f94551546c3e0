"""PDF: a document per page, its lines in reading order, numbered as a reader counts them.

pypdfium2 (PDFium, Chrome's PDF engine) gives each character and its box; its page text is
3-12x pypdf's speed and 20x pdfminer.six's (benchmarks/pdf_throughput.py). Lines are
built from the boxes, not the content stream's order, so a two-column page drawn row by row
still reads column by column: characters -> runs on one baseline (split at gaps wider than a
letter is high) -> columns, between gutters that almost no run crosses (a run across one, a
title, is read on its own in its place) -> lines, numbered 1.. in that order, running heads
included, so "p. 3, lines 12-14" is found by eye. A wider step than the file's usual one, or
another type size, leaves a blank line (paragraphs stay apart). Running headers and footers
(repeated at the top or bottom of pages, digits masked) and lone page numbers are dropped. A
word broken at a line end is joined on the first line when the next goes on in lower case:
"integ-"/"rated" -> "integrated"; "self-"/"employed" keeps its hyphen only when the file
spells "self-employed" elsewhere and never "selfemployed".
"""

from __future__ import annotations

import logging
import re
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from statistics import median

from rag.loaders.base import SourceFile, is_boilerplate
from rag.types import Document

log = logging.getLogger("rag")

#: Characters PDFium reports that a reader sees otherwise: ligatures, its line-end hyphen marks.
CHARS = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                       "\ufb06": "st", "\ufffe": "-", "\x02": "-", "\xa0": " "})
#: A lone page number: "7", "Page 7 of 9", "p. 7", "7/9", "- 7 -", "iv".
PAGE_NUMBER = re.compile(r"(page\s*|p\.\s*)?(\d+|[ivx]{1,5})(\s*(of|/)\s*\d+)?|[-\u2013\u2014]\s*\d+\s*[-\u2013\u2014]",
                         re.I)
RUN_GAP = 1.0  # a horizontal gap over this many letter heights starts a new run (column gutters are wider)
PARAGRAPH_STEP = 1.4  # a line step over this many times the file's usual one is a paragraph gap


@dataclass
class Line:
    no: int  # the line's number on the page, in reading order
    text: str
    y0: float  # bottom and top of the line's letters (PDF points, upwards)
    y1: float
    gap_before: bool = False


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


def page_lines(textpage) -> list[Line]:
    """One page's lines in reading order, numbered from 1: columns left to right, cut into bands
    by the runs that cross a gutter (each read in its place from the top)."""
    runs = _runs(textpage)
    gutters = _gutters(runs)
    cols = [-1 if any(r[0] < g0 and r[2] > g1 for g0, g1 in gutters)
            else sum((g0 + g1) / 2 < (r[0] + r[2]) / 2 for g0, g1 in gutters) for r in runs]
    spanning = sorted(r[1] + r[3] for r, col in zip(runs, cols) if col < 0)
    groups: dict[tuple, list] = {}
    for r, col in zip(runs, cols):
        band = len(spanning) - bisect_right(spanning, r[1] + r[3])  # crossing runs above this one
        groups.setdefault((band, col < 0, col), []).append(r)
    lines: list[Line] = []
    for key in sorted(groups):
        lines += _lines_of(groups[key], len(lines))
    return lines


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


def _runs(textpage) -> list[list]:
    """``[x0, y0, x1, y1, chars]`` of each run of characters on one baseline, in stream order."""
    n = textpage.count_chars()
    text = textpage.get_text_range()
    if len(text) != n:  # characters beyond the BMP: ask one by one
        import pypdfium2.raw as raw

        text = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, i)) for i in range(n))
    runs: list[list] = []
    cur: list | None = None
    space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            space = True  # PDFium adds spaces (and line breaks) where the layout has gaps
            continue
        x0, y0, x1, y1 = textpage.get_charbox(i, loose=True)
        h = y1 - y0
        if cur is not None and min(y1, cur[3]) - max(y0, cur[1]) > 0.5 * min(h, cur[3] - cur[1]) \
                and -0.5 * h < x0 - cur[2] < RUN_GAP * h:
            if space or x0 - cur[2] > 0.35 * h:
                cur[4].append(" ")
            cur[4].append(ch)
            cur[2], cur[1], cur[3] = max(cur[2], x1), min(cur[1], y0), max(cur[3], y1)
        else:
            cur = [x0, y0, x1, y1, [ch]]
            runs.append(cur)
        space = False
    return runs


def _gutters(runs: list[list]) -> list[tuple[float, float]]:
    """Vertical strips between columns: crossed by almost no run, with a fifth of the text or
    more on either side (a right-aligned page number or an indent is no column)."""
    if len(runs) < 6:
        return []
    left, right = min(r[0] for r in runs), max(r[2] for r in runs)
    cover = [0] * (int(right - left) // 2 + 3)  # runs over each 2-point strip, as differences
    for r in runs:
        cover[int(r[0] - left) // 2] += 1
        cover[int(r[2] - left) // 2 + 1] -= 1
    allowed, total = max(2, len(runs) // 15), sum(len(r[4]) for r in runs)
    gutters, depth, start = [], 0, None
    for b, step in enumerate(cover):
        depth += step
        if depth <= allowed and start is None:
            start = b
        elif depth > allowed and start is not None:
            g0, g1 = left + 2 * start + 2, left + 2 * b - 2
            sides = sum(len(r[4]) for r in runs if r[2] <= g0), sum(len(r[4]) for r in runs if r[0] >= g1)
            if start > 0 and g1 - g0 >= 2 and min(sides) >= 0.2 * total:
                gutters.append((g0, g1))
            start = None
    return gutters


def _lines_of(runs: list[list], numbered: int) -> list[Line]:
    """Runs of one column (or one spanning strip) -> lines, top to bottom."""
    rows: list[list[list]] = []
    for r in sorted(runs, key=lambda r: -(r[1] + r[3])):
        row = rows[-1] if rows else None
        if row and min(r[3], row[0][3]) - max(r[1], row[0][1]) > 0.5 * min(r[3] - r[1], row[0][3] - row[0][1]):
            row.append(r)
        else:
            rows.append([r])
    lines = []
    for row in rows:
        row.sort(key=lambda r: r[0])
        text = "".join(row[0][4])
        for a, b in zip(row, row[1:]):
            text += (" " if b[0] - a[2] > 0.15 * (a[3] - a[1]) else "") + "".join(b[4])
        numbered += 1
        lines.append(Line(numbered, " ".join(text.translate(CHARS).split()), min(r[1] for r in row),
                          max(r[3] for r in row)))
    return lines


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
    for lines in pages:
        for a, b in zip(lines, lines[1:]):
            if not (re.search(r"\w-$", a.text) and b.text[:1].islower() and not b.gap_before):
                continue
            head, _, rest = b.text.partition(" ")
            stem, word = a.text[:-1], re.match(r"[\w-]*", head).group().casefold()
            last = re.findall(r"[\w-]+$", stem)[-1].casefold()
            keep = words[f"{last}-{word}"] > 0 and not words[last + word]
            a.text, b.text = stem + ("-" if keep else "") + head, rest
        lines[:] = _without(lines, lambda line: not line.text)


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
