"""Word files: a line per paragraph or table row, a document per heading, verifiable quotes, bad files skipped.

Every file is a real .docx written with python-docx (tests/make_docx.py); the end-to-end
checks ask the real ``rag`` command about Word versions of the seed articles.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import docx
import pytest
from conftest import SEEDS, collapse
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import parse_xml
from make_docx import DAMAGED, sample_docx, seed_docx, write_docx, zip_of

from rag.chunking import paragraphs
from rag.evaluation.checks import QuoteChecker
from rag.loaders import SourceFile, load_documents, load_file, load_rules

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC_NS = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


def load(path, rules=None, source=None):
    return load_file(SourceFile(path=path, source=source or path.name, sha256=""),
                     load_rules() if rules is None else rules)


def lines(docs) -> dict[int, str]:
    """Line number -> text over all documents, blank separators left out."""
    return {n: t for d in docs for n, t in zip(d.line_numbers, d.text.split("\n")) if t}


def test_a_line_per_paragraph_and_table_row_and_a_document_per_heading(tmp_path):
    written = sample_docx(tmp_path / "s.docx")
    docs = load(written.path)
    assert [(d.doc_id, d.section, d.title) for d in docs] == [
        ("0", "", "Briefing note for practice managers."), ("1", "Integrated care", "Integrated care"),
        ("2", "Who chairs what", "Who chairs what")]
    got = lines(docs)
    assert got == {n: ("• " if n in (6, 7) else "") + t for n, t in written.texts.items()
                   if t and t != "Leave a Reply"}
    assert got[10] == "Health and Social Care Committee | Jeremy Hunt" and written.rows == [9, 10]
    for d in docs:  # every line's heading is its document's section
        assert {written.sections[n] for n in d.line_numbers} == {d.section}


def test_every_word_paragraph_is_a_paragraph_for_the_chunker(tmp_path):
    # As plain text, short lines would make one block and "continues" would join the line before.
    path = write_docx(tmp_path / "p.docx", [("p", "Signed by"), ("p", "King Charles III"),
                                            ("p", "The line that goes on and"), ("p", "continues here."),
                                            ("p", "They exist to achieve two aims:"), ("bullet", "first aim"),
                                            ("bullet", "second aim"), ("p", "After the list.")]).path
    doc, = load(path)
    spans = [doc.lines_of(a, b) for a, b, _ in paragraphs(doc.text)]
    assert spans == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 7), (8, 8)]  # the introduced list is one unit


def test_headings_by_style_chain_and_outline_level_lists_by_numbering_no_table_of_contents(tmp_path):
    document = docx.Document()
    document.add_paragraph("Contents", style="TOC Heading")
    document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Custom heading\t1", style="toc 1")
    mine = document.styles.add_style("My Heading", WD_STYLE_TYPE.PARAGRAPH)
    mine.base_style = document.styles["Heading 2"]
    document.add_paragraph("Custom heading", style="My Heading")
    for text in ("one", "two", "three"):
        document.add_paragraph(text, style="List Number")
    p = document.add_paragraph("Outlined")
    p._p.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl {W_NS} w:val="1"/>'))
    document.add_paragraph("", style="Heading 1")  # an empty heading starts nothing
    document.add_paragraph("Body text.")
    document.save(tmp_path / "h.docx")
    docs = load(tmp_path / "h.docx")
    assert [d.section for d in docs] == ["Custom heading", "Outlined"]
    assert docs[0].text.split("\n")[2::2] == ["1. one", "2. two", "3. three"]
    assert docs[0].line_numbers[0] == 3 and lines(docs)[9] == "Body text." and docs[1].line_numbers[-1] == 9


def test_text_inside_runs_insertions_links_and_controls_but_not_text_boxes_or_deletions(tmp_path):
    document = docx.Document()
    p = document.add_paragraph("Before")
    p.add_run().add_break()
    p.add_run("after\ta tab,")
    p._p.append(parse_xml(f'<w:hyperlink {W_NS} w:anchor="x"><w:r><w:t xml:space="preserve"> a link,</w:t></w:r>'
                          f'</w:hyperlink>'))
    p._p.append(parse_xml(f'<w:ins {W_NS} w:id="1" w:author="a"><w:r><w:t xml:space="preserve"> inserted</w:t>'
                          f'</w:r></w:ins>'))
    p._p.append(parse_xml(f'<w:del {W_NS} w:id="2" w:author="a"><w:r><w:delText> deleted</w:delText></w:r>'
                          f'</w:del>'))
    box = '<w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent>'
    p._p.append(parse_xml(f'<w:r {W_NS} {MC_NS}><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing>{box}'
                          f'</w:drawing></mc:Choice><mc:Fallback><w:pict>{box}</w:pict></mc:Fallback>'
                          f'</mc:AlternateContent></w:r>'))
    document.element.body.insert(1, parse_xml(f'<w:sdt {W_NS}><w:sdtContent><w:p><w:r><w:t>In a control.</w:t>'
                                              f'</w:r></w:p></w:sdtContent></w:sdt>'))
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Merged"
    table.cell(0, 2).text = "C"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "Tall"
    table.cell(1, 1).add_paragraph("two paragraphs")
    document.save(tmp_path / "t.docx")
    got = lines(load(tmp_path / "t.docx"))
    assert got == {1: "Before after a tab, a link, inserted", 2: "In a control.", 3: "Merged | C",
                   4: "Tall | two paragraphs"}


def test_boilerplate_rules_apply_per_section_and_a_section_of_boilerplate_goes_quietly(tmp_path, caplog):
    path = write_docx(tmp_path / "b.docx", [("h1", "Article"), ("p", "Real content here."), ("p", "No Comments"),
                                            ("h2", "Comments"), ("p", "Leave a Reply"), ("p", "Be the first")]).path
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load(path)
    assert [(d.section, d.text) for d in docs] == [("Article", "Article\n\nReal content here."),
                                                   ("Comments", "Comments\n\nBe the first")]
    assert not caplog.text
    assert len(load(path, rules=[])[0].text.split("\n")) == 5  # the quote check sees every line


#: How each damaged file must be described in its warning (tests/make_docx.py makes them).
WHY = {"truncated": "truncated", "bad crc": "truncated or damaged", "text": "not a zip archive", "old word": r"\.doc",
       "other zip": "zip archive but not a Word document", "spreadsheet": "not a Word document .*spreadsheetml",
       "broken xml": "XML is damaged", "no text": "no text in it", "only boilerplate": "no text left"}


def test_every_damaged_kind_has_its_reason():
    assert set(WHY) == set(DAMAGED)


@pytest.mark.parametrize("kind", sorted(WHY))
def test_bad_files_give_a_warning_naming_the_file_and_why_and_the_rest_is_read(kind, tmp_path, caplog):
    good = sample_docx(tmp_path / "good.docx").path
    DAMAGED[kind](good, tmp_path / "bad.docx")
    files = [SourceFile(path=tmp_path / n, source=f"docs/{n}", sha256="") for n in ("bad.docx", "good.docx")]
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents(files, load_rules())
    assert {d.source for d in docs} == {"docs/good.docx"}
    assert re.search(f"skipping docs/bad.docx: .*{WHY[kind]}", caplog.text), caplog.text


def test_quote_check_reads_word_files_through_the_loader(tmp_path):
    (tmp_path / "docs").mkdir()
    sample_docx(tmp_path / "docs" / "s.docx")
    check = QuoteChecker(tmp_path).problem
    cite = lambda start, end, quote: {"source": "docs/s.docx", "start_line": start, "end_line": end, "quote": quote}
    assert check(cite(3, 3, "replaced clinical commissioning groups")) is None
    assert check(cite(5, 7, "four aims: • improve population health and healthcare •")) is None
    assert check(cite(10, 10, "Health and Social Care Committee | Jeremy Hunt")) is None
    assert check(cite(9, 9, "Jeremy Hunt")) == "quote not found in the cited lines"
    assert "outside" in check(cite(11, 12, "Leave"))


def test_importing_the_loaders_does_not_import_python_docx():
    code = "import sys, rag.loaders, rag.evaluation.checks; print('docx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


# -- end to end: the real `rag ask` on Word versions of the seeds -------------------------------------------

TITLES = {"001": "GP influence after the CCGs", "004": "A united voice for general practice"}
TABLE = [("Plan", "What it introduced"), ("NHS Long Term Plan", "Primary Care Networks (PCNs)"),
         ("Fuller report", "Integrated Neighbourhood Teams")]


@pytest.fixture(scope="module")
def word_corpus(tmp_path_factory):
    """Word versions of the five seeds, plus three files that are not Word documents."""
    root = tmp_path_factory.mktemp("word")
    corpus = root / "docs"
    corpus.mkdir()
    written = {}
    for seed in sorted(SEEDS.glob("*.txt")):
        table = TABLE if seed.name.startswith("002") else None
        w = seed_docx(seed, corpus / f"{seed.stem}.docx", title=TITLES.get(seed.name[:3]), table=table,
                      table_heading="At a glance" if table else None)
        written[f"docs/{w.path.name}"] = w
    good = written["docs/004_24a63785afbf6050.docx"].path.read_bytes()
    (corpus / "zz_truncated.docx").write_bytes(good[:len(good) // 3])
    zip_of(corpus / "zz_photos.docx", {"photo.jpg": b"\xff\xd8\xff" + bytes(100)})
    (corpus / "zz_notes.docx").write_text("plain text saved as .docx\n")
    return root, written


def check_citations(data: dict, root, written) -> None:
    """Every citation: a Word file's paragraph or row lines, their heading, and a quote in them."""
    checker = QuoteChecker(root)
    assert data["citations"]
    for c in data["citations"]:
        w = written[c["source"]]
        assert c["page"] is None and 1 <= c["start_line"] <= c["end_line"] <= max(w.texts)
        assert c["section"] == (w.sections[c["start_line"]] or None), c
        shown = collapse(" ".join(w.texts[n] for n in range(c["start_line"], c["end_line"] + 1)))
        assert collapse(c["quote"].replace("• ", "")) in shown, (c, shown)  # as Word shows it, bullets aside
        assert checker.problem(c) is None, (c, checker.problem(c))


@pytest.fixture(scope="module")
def hunt(word_corpus, run_rag):
    root, _ = word_corpus
    return run_rag("ask", "Who chairs the Health and Social Care Committee?", "--json", corpus=root / "docs",
                   index=root / "index")


def test_rag_ask_answers_from_word_files_citing_paragraph_and_heading(hunt, word_corpus):
    root, written = word_corpus
    assert hunt.returncode == 0 and "Traceback" not in hunt.stderr, hunt.stderr
    data = json.loads(hunt.stdout)
    assert not data["abstained"] and "Jeremy Hunt" in " ".join(s["text"] for s in data["sentences"])
    check_citations(data, root, written)
    first = data["citations"][0]
    w = written["docs/004_24a63785afbf6050.docx"]
    assert (first["source"], first["start_line"]) == ("docs/004_24a63785afbf6050.docx", w.seed_lines[4])
    assert first["section"] == "A united voice for general practice"
    assert f'line {w.seed_lines[4]}, under "A united voice for general practice"' in data["answer"]


def test_bad_word_files_are_named_in_warnings_and_the_rest_is_indexed(hunt):
    stderr = collapse(hunt.stderr)
    for name, why in (("zz_truncated.docx", "truncated"), ("zz_photos.docx", "not a Word document"),
                      ("zz_notes.docx", "not a zip archive")):
        assert f"skipping docs/{name}: " in stderr and why in stderr, (name, hunt.stderr)


@pytest.mark.parametrize("question, fact", [
    ("What has replaced clinical commissioning groups?", "integrated care system"),
    ("What are the four aims of integrated care systems?", "improve population health"),
    ("What did the Fuller report introduce?", "Integrated Neighbourhood Teams"),
])
def test_seed_questions_on_word_files_cite_verbatim_quotes(question, fact, hunt, word_corpus, make_assistant):
    from rag.settings import Settings

    root, written = word_corpus
    answer = make_assistant(Settings.load(corpus=root / "docs", index_dir=root / "index")).ask(question)
    data = answer.to_dict()
    assert not data["abstained"] and fact.lower() in collapse(" ".join(s["text"] for s in data["sentences"])).lower()
    check_citations(data, root, written)


GARDEN_MD = ("# Opening hours\n\nThe harbour office opens at nine.\n\n"
             "# The alpine house\n\n- It holds saxifrages and gentians\n")
GARDEN_HTML = ("<h1>Opening hours</h1><p>The harbour office opens at nine.</p>"
               "<h1>The alpine house</h1><ul><li>It holds saxifrages and gentians</li></ul>")


@pytest.mark.parametrize("maker", ["pandoc", "libreoffice"])
def test_word_files_of_other_writers_read_by_heading(tmp_path, maker):
    """pandoc's and LibreOffice's .docx: each heading a section, its paragraph and bullet under it."""
    from make_foreign import libreoffice_docx, pandoc_docx

    path = (pandoc_docx(tmp_path / "garden.docx", GARDEN_MD) if maker == "pandoc"
            else libreoffice_docx(tmp_path / "garden.docx", GARDEN_HTML))
    docs = load(path, rules=[])
    assert [(d.section, d.text) for d in docs] == [
        ("Opening hours", "Opening hours\n\nThe harbour office opens at nine."),
        ("The alpine house", "The alpine house\n\n• It holds saxifrages and gentians")]


def test_a_word_file_is_read_in_a_child_process_with_a_time_limit(tmp_path, caplog):
    """As PDFs are: a file that hangs or crashes its parser costs that file only (issue 25, 9)."""
    from make_foreign import pandoc_docx

    from rag.loaders.docx import DocxLoader

    path = pandoc_docx(tmp_path / "garden.docx", GARDEN_MD)
    f = SourceFile(path=path, source=path.name, sha256="")
    loader = DocxLoader()
    assert loader.isolated
    assert [d.section for d in loader.load(f, [])] == ["Opening hours", "The alpine house"]
    big = pandoc_docx(tmp_path / "big.docx", GARDEN_MD * 400)  # seconds to parse, not a millisecond
    loader.time_limit_s = 0.001
    with caplog.at_level(logging.WARNING, logger="rag"):
        assert loader.load(SourceFile(path=big, source=big.name, sha256=""), []) == []
    assert f"skipping {big.name}: reading it took over 0.001 s" in caplog.text
