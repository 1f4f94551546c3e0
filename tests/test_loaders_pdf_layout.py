"""PDF pages read as a person reads them, on files other generators make (issue 25).

One article typeset twice -- by groff -ms through Ghostscript, and by headless Chromium with CSS
columns (tests/make_foreign.py) -- in two columns with running heads in halves, centred page
numbers, headings with no gap after them, a wrapped list item, hyphenation, and a last page
whose right column holds three lines; and a groff file with a table of contents.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import collapse
from make_foreign import (
    COMPOUND,
    HEADINGS,
    ITEMS,
    LAST,
    chromium_article,
    every_sentence,
    groff_article,
    groff_pdf,
)

from rag.chunking import paragraphs
from rag.loaders import SourceFile, load_rules
from rag.loaders.pdf import read_pdf

MAKERS = {"groff": (groff_article, 18), "chromium": (chromium_article, 16)}
HEAD = "Skerrow Island Review Weather and Water"


@pytest.fixture(scope="module", params=list(MAKERS))
def article(request, tmp_path_factory) -> tuple[Path, int]:
    maker, paragraphs_ = MAKERS[request.param]
    return maker(tmp_path_factory.mktemp(request.param) / "survey.pdf", paragraphs_), paragraphs_


def read(path: Path, rules=None):
    return read_pdf(SourceFile(path=path, source=path.name, sha256=""), [] if rules is None else rules)


def raw_lines(path: Path):
    """Each page's lines as the layout numbers them, before anything is dropped or joined."""
    import pypdfium2 as pdfium

    from rag.loaders.pdf_layout import page_lines

    pdf = pdfium.PdfDocument(path)
    try:
        return [page_lines(page.get_textpage()) for page in pdf]
    finally:
        pdf.close()


def test_every_sentence_comes_back_whole(article):
    """No quote mixes two columns, cuts a sentence that runs from one column into the next,
    runs two words together or keeps a line-end hyphen the word does not have (issues 1, 2, 6, 7)."""
    path, n = article
    text = collapse(" ".join(doc.text for doc in read(path)))
    missing = [s for s in every_sentence(n) if s not in text]
    assert not missing, missing
    assert COMPOUND[0] + COMPOUND[1] in text  # a break at a real hyphen keeps it
    assert "\u2010" not in text and "\u00ad" not in text


def test_the_break_marks_the_typesetters_wrote_are_there(article):
    """The cases above are really in the files: line-end hyphens, and Chromium's U+2010."""
    path, _ = article
    ends = [line.text[-1] for page in raw_lines(path) for line in page]
    assert ends.count("\u2010" if "chromium" in str(path) else "-") >= 3, ends


def test_lines_are_numbered_head_then_each_column_then_foot(article):
    """A reader counts the running head once, the left column, the right column, the page
    number last (issue 3): the two halves of the head are line 1, the body goes down the left
    column, up once to the top of the right one and down it, and the page number ends the page."""
    path, _ = article
    pages = raw_lines(path)
    for n, lines in enumerate(pages, 1):
        assert [line.no for line in lines] == list(range(1, len(lines) + 1))
        assert lines[0].text == HEAD and lines[-1].text == str(n)
        body = lines[1:-1]
        ups = [b for a, b in zip(body, body[1:]) if b.y1 > a.y1]
        assert len(ups) == 1, [line.text for line in ups]
    last = pages[-1][1:-1]
    right = next(i for i, (a, b) in enumerate(zip(last, last[1:]), 1) if b.y1 > a.y1)
    assert [line.text for line in last[right:]][:1] == [HEADINGS[2]]
    assert 2 <= len(last) - right <= 4  # the short right column, read after the whole left one


def test_the_short_last_column_ends_the_page(article):
    path, _ = article
    assert collapse(read(path)[-1].text).endswith(f"{HEADINGS[2]} {LAST}")


def test_headings_and_wrapped_list_items_are_units_of_their_own(article):
    """A heading with no gap after it is not the start of its paragraph's first sentence, and a
    list item wrapped over lines stays whole (issues 4, 5)."""
    path, _ = article
    doc = read(path)[0]
    spans = [collapse(doc.text[a:b]) for a, b, _ in paragraphs(doc.text)]
    assert HEADINGS[0] in spans and HEADINGS[1] in spans
    assert any(span.endswith(ITEMS[0]) for span in spans)


def test_contents_lines_are_not_text_to_quote(tmp_path):
    """Dot-leader lines of a table of contents are not text to quote (issue 12)."""
    ms = "".join(f".NH\n{title}\n.XS\n{title}\n.XE\n.PP\n{text}\n" for title, text in (
        ("Harbour walls", "The harbour walls were built of dressed granite in 1874."),
        ("The tarn", "The tarn is shallow and freezes over in most winters.")))
    path = groff_pdf(tmp_path / "contents.pdf", ms + ".TC\n")
    raw = read(path)
    assert any(re.fullmatch(r"Harbour walls( \.)+ 1", line) for doc in raw for line in doc.text.split("\n"))
    docs = read(path, load_rules())
    assert not any(re.search(r"(\. ){4}", doc.text) for doc in docs)
    assert "The harbour walls were built of dressed granite in 1874." in collapse(docs[0].text)


@pytest.mark.skipif(not Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf").exists(),
                    reason="needs a real pdfTeX manual: apt-get install libtasn1-doc")
def test_a_real_manuals_contents_are_not_text():
    docs = read(Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"), load_rules())
    contents = [doc for doc in docs if "Table of Contents" in doc.text]
    assert contents and not any(re.search(r"(\. ){4}", doc.text) for doc in contents)
