"""PDFs written with fpdf2 for the PDF loader's tests: real files, laid out line by line.

Every line is placed at a known position, so a test knows which page and line of the page
each sentence is on. Two-column pages are drawn row by row (left line, right line, next
row), the order some producers use: only a reader that follows the columns, not the
content stream, reads them in order. A Unicode font is used where the system has one
(curly quotes and dashes then survive); otherwise Helvetica, with the text made Latin-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                   "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                   "/Library/Fonts/Arial Unicode.ttf", "C:/Windows/Fonts/arial.ttf")
UNICODE_FONT = next((p for p in FONT_CANDIDATES if Path(p).exists()), None)
_LATIN1 = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                         "\u2014": "-", "\u2022": "*", "\u2026": "...", "\u00a0": " "})

PAGE_W, PAGE_H, MARGIN, GUTTER = 210.0, 297.0, 20.0, 12.0  # mm, A4
FONT_SIZE, LEADING = 11, 5.5  # pt, mm between baselines
HEADER_Y, FOOTER_Y = 12.0, 287.0


@dataclass
class Layout:
    """How to set the text: columns, running header, page-number footer, a full-width title."""

    columns: int = 1
    header: str | None = None
    footer: str | None = "{page}"  # None: no footer; "{page}" is the page number
    title: str | None = None
    page_height: float = PAGE_H  # a shorter page makes a multi-page PDF of a short text
    unicode: bool = True


class _Writer:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.unicode = bool(layout.unicode and UNICODE_FONT)
        self.pdf, self.ruler = self._new(), self._new()
        self.ruler.add_page()  # fpdf2 measures lines on a page of its own

    def _new(self) -> FPDF:
        pdf = FPDF(unit="mm", format=(PAGE_W, self.layout.page_height))
        pdf.set_auto_page_break(False)
        if self.unicode:
            pdf.add_font("body", fname=UNICODE_FONT)
        pdf.set_font("body" if self.unicode else "helvetica", size=FONT_SIZE)
        return pdf

    def clean(self, text: str) -> str:
        return text if self.unicode else _latin1(text)

    def wrap(self, text: str, width: float) -> list[str]:
        return self.ruler.multi_cell(width, text=self.clean(text), dry_run=True, output="LINES") or [""]

    def write(self, path: Path, pages: list[list[tuple[float, float, str]]]) -> None:
        """Each page's ``(x, y, text)`` placements, drawn row by row (top to bottom, left to right)."""
        for n, placed in enumerate(pages, 1):
            self.pdf.add_page()
            furniture = []
            if self.layout.header:
                furniture.append((MARGIN, HEADER_Y, self.layout.header.format(page=n)))
            if self.layout.footer:
                furniture.append((PAGE_W / 2, self.layout.page_height - (PAGE_H - FOOTER_Y),
                                  self.layout.footer.format(page=n, pages=len(pages))))
            for x, y, text in sorted(placed + furniture, key=lambda p: (round(p[1], 2), p[0])):
                self.pdf.text(x, y, self.clean(text))
        self.pdf.output(str(path))


def layout_pdf(path: Path, paragraphs: list[str], layout: Layout | None = None) -> list[list[str]]:
    """Write ``paragraphs`` as a PDF; return each page's lines in reading order, a blank
    string where a paragraph gap shows (running header and footer left out)."""
    layout = layout or Layout()
    w = _Writer(layout)
    top, bottom = MARGIN + 5, layout.page_height - MARGIN
    col_w = (PAGE_W - 2 * MARGIN - GUTTER * (layout.columns - 1)) / layout.columns
    pages: list[list[tuple[float, float, str]]] = [[]]
    reading: list[list[str]] = [[]]
    y, col = top, 0
    if layout.title:
        for line in w.wrap(layout.title, PAGE_W - 2 * MARGIN):
            pages[0].append((MARGIN, y, line))
            reading[0].append(line)
            y += LEADING
        y += LEADING
        reading[0].append("")
    col_top = y
    for n, para in enumerate(paragraphs):
        for i, line in enumerate(w.wrap(para, col_w)):
            if y > bottom:
                col, y = col + 1, col_top
                if col == layout.columns:
                    pages.append([])
                    reading.append([])
                    col, y = 0, top
                    col_top = top
            if i == 0 and n > 0 and y != col_top:
                reading[-1].append("")  # the gap left after a paragraph, unless a column or page starts
            pages[-1].append((MARGIN + col * (col_w + GUTTER), y, line))
            reading[-1].append(line)
            y += LEADING
        y += LEADING
    w.write(path, pages)
    return [[w.clean(t) for t in page] for page in reading]


def lines_pdf(path: Path, pages: list[list[str]], layout: Layout | None = None) -> None:
    """A PDF of exactly these lines per page, one under the other ("" leaves a gap)."""
    layout = layout or Layout(footer=None)
    w = _Writer(layout)
    w.write(path, [[(MARGIN, MARGIN + 5 + i * LEADING, line) for i, line in enumerate(page) if line]
                   for page in pages])


def _latin1(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def as_written(text: str) -> str:
    """``text`` as the seed PDFs hold it: as is with a Unicode font, else made Latin-1."""
    return text if UNICODE_FONT else _latin1(text)


def seed_paragraphs(name: str) -> list[str]:
    """A seed article's paragraphs (the seeds hold one paragraph a line)."""
    text = (SEEDS / name).read_text(encoding="utf-8")
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def seed_pdf(path: Path, name: str, layout: Layout | None = None) -> list[list[str]]:
    """A seed article as a PDF (one column, one A4 page or more, unless ``layout`` says otherwise)."""
    return layout_pdf(path, seed_paragraphs(name), layout or Layout(header="GP Voice - news and opinion"))


def sample_pdf(path: Path) -> None:
    """The loader contract's sample: two pages, a running header, page numbers, a boilerplate line."""
    lines_pdf(path, [["Title line", "", "A first paragraph that says something.", "It goes on here.", "",
                      "Leave a Reply"],
                     ["A second page with a sentence of its own.", "And another line."]],
              Layout(header="Sample report", footer="Page {page} of {pages}"))


def scanned_pdf(path: Path) -> None:
    """A page that is only a picture of text: no text layer."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(image).text((20, 80), "A scanned page: pixels only.", fill=0)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=180)
    pdf.output(str(path))


def encrypted_pdf(path: Path, user_password: str = "secret") -> None:
    """A PDF that needs a password to open (or, with ``user_password=""``, only restricts printing)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=FONT_SIZE)
    pdf.text(MARGIN, 30, "Only for those who know the password.")
    pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.output(str(path))


def many_pages_pdf(path: Path, pages: int) -> None:
    """A long PDF: one short numbered paragraph a page."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=FONT_SIZE)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.text(MARGIN, 30, f"Paragraph {n} of the long report says that item {n} was delivered.")
    pdf.output(str(path))
