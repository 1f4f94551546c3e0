"""PDF files: a document per page, lines in reading order and counted within the page,
verifiable quotes, bad files skipped with a warning.

Every file is a real PDF written with fpdf2 (tests/make_pdf.py), which also says what a
reader sees on each page; the end-to-end checks ask about PDF versions of the seed articles.
"""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
from conftest import collapse, current_generation
from make_pdf import (
    Layout,
    as_written,
    encrypted_pdf,
    lines_pdf,
    many_pages_pdf,
    sample_pdf,
    scanned_pdf,
    seed_paragraphs,
    seed_pdf,
)

from rag.evaluation.checks import QuoteChecker
from rag.loaders import LOADERS, SourceFile, load_rules
from rag.loaders.isolation import run_isolated
from rag.loaders.pdf import PdfLoader

S003, S004 = "003_e73dfa9ff476ae68.txt", "004_24a63785afbf6050.txt"
HEADER = "GP Voice"
LAYOUTS = {"one column": Layout(header=HEADER), "two columns": Layout(columns=2, title="Why GPs need one voice",
                                                                      header=HEADER),
           "short pages": Layout(page_height=140, header=HEADER, footer="Page {page} of {pages}")}


def load(path, rules=None, loader=None):
    f = SourceFile(path=path, source=path.name, sha256="")
    return (loader or LOADERS[".pdf"]).load(f, load_rules() if rules is None else rules)


def numbered(doc) -> dict[int, str]:
    """Line number -> text of a document, blank separators left out."""
    return {n: t for n, t in zip(doc.line_numbers, doc.text.split("\n")) if t}


def test_a_document_per_page_with_lines_counted_within_it(tmp_path):
    sample_pdf(tmp_path / "report.pdf")
    docs = load(tmp_path / "report.pdf")
    assert [(d.doc_id, d.page, d.source) for d in docs] == [("p1", 1, "report.pdf"),
                                                            ("p2", 2, "report.pdf")]
    # line 1 is the running header, dropped with the "Page n of 2" footers; "Leave a Reply" is boilerplate
    assert docs[0].text == "Title line\n\nA first paragraph that says something.\nIt goes on here."
    assert numbered(docs[0]) == {2: "Title line", 3: "A first paragraph that says something.", 4: "It goes on here."}
    assert numbered(docs[1]) == {2: "A second page with a sentence of its own.", 3: "And another line."}
    assert docs[0].title == "Title line"
    raw = load(tmp_path / "report.pdf", rules=[])
    assert numbered(raw[0])[5] == "Leave a Reply" and "Sample report" not in raw[0].text + raw[1].text


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("seed", [S003, S004])
def test_pages_read_as_laid_out(tmp_path, seed, layout):
    """Every page's lines, paragraph gaps and line numbers are what the page shows, in reading
    order: line 1 is the running header, the page-number footer is dropped."""
    reading = seed_pdf(tmp_path / "a.pdf", seed, LAYOUTS[layout])
    docs = load(tmp_path / "a.pdf", rules=[])
    assert len(reading) > 1 and [d.page for d in docs] == list(range(1, len(reading) + 1))
    for doc, page in zip(docs, reading):
        assert doc.text.split("\n") == (page[:-1] if page[-1] == "" else page)
        assert numbered(doc) == dict(enumerate([line for line in page if line], start=2))
    title = LAYOUTS[layout].title or ""
    assert collapse(" ".join(d.text for d in docs)) == collapse(" ".join([title] + [as_written(p) for p in
                                                                                   seed_paragraphs(seed)]))


def test_two_columns_drawn_row_by_row_read_column_by_column(tmp_path):
    import pypdfium2

    reading = seed_pdf(tmp_path / "two.pdf", S004, LAYOUTS["two columns"])
    first, second = reading[0][2:4]  # the left column's first two lines, under the title
    stream_order = collapse(pypdfium2.PdfDocument(tmp_path / "two.pdf")[0].get_textpage().get_text_range())
    assert f"{first} {second}" not in stream_order  # the right column's first line comes between them
    page = collapse(load(tmp_path / "two.pdf")[0].text)
    assert f"{first} {second}" in page and page.startswith("Why GPs need one voice The move into integrated care")
    assert page.index("chaired by Jeremy Hunt") < page.index("Within this context the profession needs strong")


def test_words_broken_at_line_ends_are_joined(tmp_path):
    lines_pdf(tmp_path / "h.pdf", [["Care was integ-", "rated across the region.", "Half of them are self-",
                                    "employed, and the self-employed say so.", "The GP-", "Led model stays.",
                                    "A well-", "", "known gap stops a join."]])
    assert numbered(load(tmp_path / "h.pdf")[0]) == {
        1: "Care was integrated", 2: "across the region.", 3: "Half of them are self-employed,",
        4: "and the self-employed say so.", 5: "The GP-", 6: "Led model stays.", 7: "A well-",
        8: "known gap stops a join."}


def test_a_broken_word_whose_tail_fills_the_next_line_is_joined_there(tmp_path):
    """Joined on the first line, "tifier." would leave line 2 empty, and a citation of the
    sentence would end a line before the sentence does on the page."""
    lines_pdf(tmp_path / "t.pdf", [["The longest name allowed for an iden-", "tifier.", "Another sentence follows."]])
    assert numbered(load(tmp_path / "t.pdf")[0]) == {
        1: "The longest name allowed for an", 2: "identifier.", 3: "Another sentence follows."}


def test_running_headers_footers_and_page_numbers_are_dropped(tmp_path):
    pages = [[f"Section {n} begins with its own words.", "It goes on for a line.", f"And ends on page {n}."]
             for n in range(1, 5)]
    lines_pdf(tmp_path / "r.pdf", pages, Layout(header="Annual report 2024, part {page}", footer="- {page} -"))
    docs = load(tmp_path / "r.pdf", rules=[])
    assert [numbered(d) for d in docs] == [dict(enumerate(p, start=2)) for p in pages]


BAD = {"encrypted": (encrypted_pdf, "it is encrypted"),
       "scanned": (scanned_pdf, "it has no text layer"),
       "truncated": (lambda p: (sample_pdf(p), p.write_bytes(p.read_bytes()[:800])), "it is damaged"),
       "garbage": (lambda p: p.write_bytes(b"%PDF-1.7\n" + os.urandom(3000)), "it is damaged"),
       "empty": (lambda p: p.write_bytes(b""), "it is empty")}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_give_nothing_and_a_warning_naming_them(tmp_path, caplog, case):
    make, why = BAD[case]
    make(tmp_path / f"{case}.pdf")
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert load(tmp_path / f"{case}.pdf") == []
    assert f"skipping {case}.pdf: {why}" in caplog.text and "Traceback" not in caplog.text


def test_a_pdf_that_only_restricts_printing_is_read(tmp_path):
    encrypted_pdf(tmp_path / "open.pdf", user_password="")
    assert load(tmp_path / "open.pdf")[0].text == "Only for those who know the password."


def test_a_long_pdf_is_read_up_to_the_page_limit(tmp_path, caplog):
    many_pages_pdf(tmp_path / "long.pdf", 2000)
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load(tmp_path / "long.pdf")
    assert [d.page for d in docs] == list(range(1, PdfLoader.max_pages + 1))
    assert docs[-1].text == f"Paragraph {PdfLoader.max_pages} of the long report says that item " \
                            f"{PdfLoader.max_pages} was delivered."
    assert f"long.pdf: reading only its first {PdfLoader.max_pages} of 2000 pages" in caplog.text


def test_the_time_limit_keeps_the_pages_read_in_time(tmp_path, caplog):
    many_pages_pdf(tmp_path / "slow.pdf", 5)
    loader = PdfLoader()
    loader.time_limit_s, loader.isolated = 0.0, False
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load(tmp_path / "slow.pdf", loader=loader)
    assert [d.page for d in docs] == [1] and "slow.pdf: read only pages 1-1 of 5: over the 0 s limit" in caplog.text


def test_a_reader_that_hangs_or_crashes_costs_only_its_file(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="rag"):
        t0 = time.perf_counter()
        assert run_isolated(time.sleep, (60,), "hangs.pdf", timeout=1, default=[]) == []
        assert time.perf_counter() - t0 < 15
        assert run_isolated(os._exit, (3,), "crashes.pdf", timeout=30, default=[]) == []
    assert "skipping hangs.pdf: reading it took over 1 s" in caplog.text
    assert "skipping crashes.pdf: its reader crashed (exit status 3)" in caplog.text
    sample_pdf(tmp_path / "fine.pdf")  # a fresh reader takes the next file
    assert len(load(tmp_path / "fine.pdf")) == 2


def test_isolated_and_in_process_reading_agree(tmp_path):
    seed_pdf(tmp_path / "two.pdf", S004, LAYOUTS["two columns"])
    in_process = PdfLoader()
    in_process.isolated = False
    assert load(tmp_path / "two.pdf") == load(tmp_path / "two.pdf", loader=in_process)


# End to end: PDF versions of the seeds, indexed once, asked through the Assistant and the CLI.

PDF_LAYOUTS = {"000_5f02ec8ebbba9bda": LAYOUTS["one column"], "001_a1af8ce10c5b3b2b": LAYOUTS["short pages"],
               "002_305e029074e56b92": LAYOUTS["two columns"], "003_e73dfa9ff476ae68": LAYOUTS["short pages"],
               "004_24a63785afbf6050": LAYOUTS["two columns"]}
QUESTIONS = {"Who chairs the Health and Social Care Committee?": ("Jeremy Hunt",),
             "What has replaced clinical commissioning groups?": ("integrated care system", "ICS")}


BAD_IN_CORPUS = {"locked.pdf": (encrypted_pdf, "it is encrypted"), "scan.pdf": (scanned_pdf, "it has no text layer"),
                 "cut.pdf": (BAD["truncated"][0], "it is damaged")}


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def pdf_seeds(tmp_path_factory, embedder):
    """Settings of the seed articles as PDFs (and three bad PDFs), indexed; what each page shows
    (by source); the warnings of the build."""
    from rag import indexing
    from rag.settings import Settings

    root = tmp_path_factory.mktemp("pdf-seeds")
    (root / "seeds").mkdir()
    shown = {f"seeds/{stem}.pdf": seed_pdf(root / "seeds" / f"{stem}.pdf", f"{stem}.txt", layout)
             for stem, layout in PDF_LAYOUTS.items()}
    for name, (make, _) in BAD_IN_CORPUS.items():
        make(root / "seeds" / name)
    settings = Settings.load(corpus=root / "seeds", index_dir=root / "index")
    warnings = Warnings()
    logging.getLogger("rag").addHandler(warnings)
    try:
        indexing.build(settings, embedder)
    finally:
        logging.getLogger("rag").removeHandler(warnings)
    return settings, shown, warnings.messages


def test_bad_pdfs_in_a_corpus_are_named_and_the_rest_indexed(pdf_seeds):
    settings, shown, warnings = pdf_seeds
    for name, (_, why) in BAD_IN_CORPUS.items():
        assert any(m.startswith(f"skipping seeds/{name}: {why}") for m in warnings), warnings
    manifest = json.loads((settings.index_dir / current_generation(settings.index_dir) / "manifest.json").read_text())
    assert set(manifest["pages"]) == set(shown)  # every good PDF has pages indexed, no bad one has
    # the last page is counted unless all it holds is boilerplate ("Leave a Reply" under 000)
    assert all(manifest["pages"][source] in (len(pages), len(pages) - 1) for source, pages in shown.items())


def check_citations(citations: list[dict], root, shown) -> None:
    """Every quote is verbatim on the cited page and lines, as the loader and as the layout say."""
    checker = QuoteChecker(root)
    for c in citations:
        assert c["source"].endswith(".pdf") and isinstance(c["page"], int), c
        assert checker.problem(c) is None, (checker.problem(c), c)
        # independently of the loader: line 1 is the running header, then the page's lines
        page = [HEADER] + [line for line in shown[c["source"]][c["page"] - 1] if line]
        assert collapse(c["quote"]) in collapse(" ".join(page[c["start_line"] - 1:c["end_line"]])), c


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_answers_from_pdf_seeds_cite_pages_and_lines(pdf_seeds, make_assistant, question):
    settings, shown, _ = pdf_seeds
    answer = make_assistant(settings).ask(question)
    data = answer.to_dict()
    assert not data["abstained"] and data["citations"]
    assert any(fact.lower() in answer.body.lower() for fact in QUESTIONS[question]), answer.body
    check_citations(data["citations"], settings.corpus.parent, shown)
    assert all(f"{c['source']}, p. {c['page']}, line" in answer.answer for c in data["citations"])


def test_rag_ask_on_pdfs_cites_pages_without_importing_the_pdf_library(pdf_seeds, run_rag):
    settings, shown, _ = pdf_seeds
    proc = run_rag("ask", "Who chairs the Health and Social Care Committee?", "--json", corpus=settings.corpus,
                   index=settings.index_dir, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert "Jeremy Hunt" in " ".join(s["text"] for s in data["sentences"])
    check_citations(data["citations"], settings.corpus.parent, shown)
    assert "pypdfium2" not in proc.stderr  # an up-to-date index: a cold `rag ask` never loads the PDF reader
