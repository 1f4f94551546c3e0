"""A PDF page's lines in the order a reader reads and counts them: head, each column top to bottom, foot.

PDFium gives each character and its box; lines are built from the boxes, not the content
stream's order, so a page drawn row by row still reads column by column. Characters -> runs
on one baseline (split at gaps wider than a letter is high; a space at gaps over a fifth of
it) -> three bands: the top and bottom rows when a wide gap sets them apart from the text
(running heads in halves, page numbers: read first and last, one line each) and the body ->
columns of the body, between gutters that almost no run crosses, with a fifth of the text on
either side or lines as wide as those across the gutter (a short last column is a column; a
right-aligned number or an indent is not) -> lines, numbered 1.. in that order. A run that
crosses a gutter (a title) is read on its own, in its place from the top.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from statistics import median

#: Characters PDFium reports that a reader sees otherwise: ligatures, its line-end hyphen marks.
CHARS = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                       "\ufb06": "st", "\ufffe": "-", "\x02": "-", "\xa0": " "})
RUN_GAP = 1.0  # a horizontal gap over this many letter heights starts a new run (column gutters are wider)
EDGE_GAP = 1.5  # a top or bottom row this many letter heights clear of the text is a running head or foot


@dataclass
class Line:
    no: int  # the line's number on the page, in reading order
    text: str
    y0: float  # bottom and top of the line's letters (PDF points, upwards)
    y1: float
    gap_before: bool = False


def page_lines(textpage) -> list[Line]:
    """One page's lines in reading order, numbered from 1."""
    runs = _runs(textpage)
    head, body, foot = _bands(runs)
    lines = _lines_of(head, 0)
    gutters = _gutters(body)
    cols = [-1 if any(r[0] < g0 and r[2] > g1 for g0, g1 in gutters)
            else sum((g0 + g1) / 2 < (r[0] + r[2]) / 2 for g0, g1 in gutters) for r in body]
    spanning = sorted(r[1] + r[3] for r, col in zip(body, cols) if col < 0)
    groups: dict[tuple, list] = {}
    for r, col in zip(body, cols):
        band = len(spanning) - bisect_right(spanning, r[1] + r[3])  # crossing runs above this one
        groups.setdefault((band, col < 0, col), []).append(r)
    for key in sorted(groups):
        lines += _lines_of(groups[key], len(lines))
    return lines + _lines_of(foot, len(lines))


def _runs(textpage) -> list[list]:
    """``[x0, y0, x1, y1, chars]`` of each run of characters on one baseline, in stream order.

    A space goes where PDFium put one, or at a gap over a fifth of a letter height: letters of
    a word (loose boxes) sit under 0.17 of it apart, while tightly justified groff text has word
    gaps of 0.28 where PDFium puts no space ("TarnMoss")."""
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
            if space or x0 - cur[2] > 0.2 * h:
                cur[4].append(" ")
            cur[4].append(ch)
            cur[2], cur[1], cur[3] = max(cur[2], x1), min(cur[1], y0), max(cur[3], y1)
        else:
            cur = [x0, y0, x1, y1, [ch]]
            runs.append(cur)
        space = False
    return runs


def _bands(runs: list[list]) -> tuple[list[list], list[list], list[list]]:
    """``(head, body, foot)``: the top row and the bottom row when a gap of ``EDGE_GAP`` letter
    heights or more sets them apart from the rest, and the runs between."""
    if len(runs) < 4:
        return [], runs, []
    h = EDGE_GAP * median(r[3] - r[1] for r in runs)
    body = sorted(runs, key=lambda r: -r[3])
    head = _row(body, body[0])
    rest = [r for r in body if r not in head]
    if not (rest and min(r[1] for r in head) - max(r[3] for r in rest) > h):
        head, rest = [], body
    foot = _row(rest, min(rest, key=lambda r: r[1])) if len(rest) > 2 else []
    kept = [r for r in rest if r not in foot]
    if not (foot and kept and min(r[1] for r in kept) - max(r[3] for r in foot) > h):
        foot, kept = [], rest
    return head, kept, foot


def _row(runs: list[list], first: list) -> list[list]:
    """The runs on the same line as ``first``."""
    return [r for r in runs if min(r[3], first[3]) - max(r[1], first[1]) > 0.5 * min(r[3] - r[1], first[3] - first[1])]


def _gutters(runs: list[list]) -> list[tuple[float, float]]:
    """Vertical strips between columns: crossed by almost no run, with a column of text on
    either side (a right-aligned number or an indent is no column)."""
    if len(runs) < 6:
        return []
    left, right = min(r[0] for r in runs), max(r[2] for r in runs)
    cover = [0] * (int(right - left) // 2 + 3)  # runs over each 2-point strip, as differences
    for r in runs:
        cover[int(r[0] - left) // 2] += 1
        cover[int(r[2] - left) // 2 + 1] -= 1
    allowed, total = max(2, len(runs) // 15), sum(len(r[4]) for r in runs)
    level, depth = [], 0
    for step in cover:
        depth += step
        level.append(depth)
    gutters, b = [], 0
    while b < len(level):
        if level[b] > allowed:
            b += 1
            continue
        e = b
        while e < len(level) and level[e] <= allowed:
            e += 1
        s, t = _emptiest(level, b, e)  # a short column, few runs, must not look like more gutter
        g0, g1 = left + 2 * s + 2, left + 2 * t - 2
        sides = [r for r in runs if r[2] <= g0], [r for r in runs if r[0] >= g1]
        if s > 0 and g1 - g0 >= 2 and _column(*sides, total) and _column(*sides[::-1], total):
            gutters.append((g0, g1))
        b = e
    return gutters


def _emptiest(level: list[int], b: int, e: int) -> tuple[int, int]:
    """The longest stretch of ``level[b:e]`` at its lowest."""
    low, best, s = min(level[b:e]), (b, b), None
    for i in range(b, e + 1):
        if i < e and level[i] == low:
            s = i if s is None else s
        elif s is not None:
            best, s = max(best, (s, i), key=lambda st: st[1] - st[0]), None
    return best


def _column(runs: list[list], other: list[list], total: int) -> bool:
    """Whether runs beside a gutter are a column of text: a fifth of the page's text, or two
    lines or more nearly as wide as the widest across the gutter, the first level with the top
    of the text across it (a short last column; not a note indented under a table's line)."""
    if sum(len(r[4]) for r in runs) >= 0.2 * total:
        return True
    if len(runs) < 2 or not other:
        return False
    line, top, h = max(r[2] - r[0] for r in other), max(r[3] for r in other), median(r[3] - r[1] for r in runs)
    return sum(r[2] - r[0] >= 0.7 * line for r in runs) >= 2 and max(r[3] for r in runs) > top - 1.5 * h


def _lines_of(runs: list[list], numbered: int) -> list[Line]:
    """Runs of one column (or one band, or one spanning strip) -> lines, top to bottom."""
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
