"""Files -> documents: original line numbers, boilerplate, formats, encodings, bad files."""

from __future__ import annotations

import html
import json
import logging
import re

import pytest
from conftest import SEEDS, collapse

from rag.loaders import CorpusError, decode, list_sources, load_documents, load_file, load_rules
from rag.types import Document

EXTS = (".txt", ".md", ".html", ".htm", ".jsonl")


def load_one(path, rules=None):
    files = [f for f in list_sources(path.parent, EXTS) if f.path == path]
    assert len(files) == 1
    return load_file(files[0], rules if rules is not None else load_rules())


def seed_docs() -> dict[str, Document]:
    docs = load_documents(list_sources(SEEDS, EXTS), load_rules())
    return {d.source.rsplit("/", 1)[-1]: d for d in docs}


def test_seeds_load_with_sources_relative_to_corpus_parent():
    docs = seed_docs()
    assert len(docs) == 5
    for name, doc in docs.items():
        assert doc.source == f"seeds/{name}"
        assert (SEEDS.parent / doc.source).is_file()


def test_every_kept_line_is_the_original_line_at_its_number():
    for name, doc in seed_docs().items():
        original = (SEEDS / name).read_text(encoding="utf-8").splitlines()
        lines = doc.text.split("\n")
        assert len(lines) == len(doc.line_numbers)
        assert list(doc.line_numbers) == sorted(doc.line_numbers)
        for text, n in zip(lines, doc.line_numbers):
            assert text == original[n - 1].rstrip(), (name, n)


@pytest.mark.parametrize("name, line", [
    ("000_5f02ec8ebbba9bda.txt", "Leave a Reply"),
    ("000_5f02ec8ebbba9bda.txt", "Be the first to comment"),
    ("000_5f02ec8ebbba9bda.txt",
     "Don’t forget to follow us on Twitter like us on Facebook or connect with us on LinkedIn!"),
    ("000_5f02ec8ebbba9bda.txt", "CREDIT: This is an edited version of an article that originally appeared on Ockham"),
    ("001_a1af8ce10c5b3b2b.txt", "No Comments"),
    ("002_305e029074e56b92.txt",
     "CREDIT: This is an edited version of an article that originally appeared on Ockham Healthcare"),
    ("002_305e029074e56b92.txt", "Be the first to comment"),
    ("003_e73dfa9ff476ae68.txt", "View all news"),
    ("003_e73dfa9ff476ae68.txt", "Last Updated on 5 October 2021"),
    ("004_24a63785afbf6050.txt", "No Comments"),
])
def test_seed_boilerplate_is_dropped(name, line):
    doc = seed_docs()[name]
    assert line in (SEEDS / name).read_text(encoding="utf-8")
    assert line not in doc.text.split("\n")


def test_content_is_kept_and_ends_are_trimmed():
    docs = seed_docs()
    assert docs["000_5f02ec8ebbba9bda.txt"].title == "General practice needs to act now"
    assert docs["003_e73dfa9ff476ae68.txt"].title == "Reflections on a ‘new’ NHS and its impact on general practice"
    assert "Sajid Javid floated the idea of GP nationalisation" in docs["000_5f02ec8ebbba9bda.txt"].text
    for doc in docs.values():
        assert doc.text == doc.text.strip()
        assert "\n\n\n" not in doc.text


def test_rules_do_not_eat_sentences_that_merely_mention_boilerplate_words(tmp_path):
    article = tmp_path / "a.txt"
    kept = ["Published in 2019, the Long Term Plan set out how the NHS would change over ten years.",
            "Last updated on the day of the vote, the guidance was clear about the new duties. It ran long.",
            "Credit for the idea goes to the Fuller report."]
    article.write_text("\n".join(["Posted in News", *kept, "Share this article"]), encoding="utf-8")
    doc, = load_one(article)
    assert doc.text.split("\n") == kept
    assert doc.line_numbers == (2, 3, 4)


def test_user_rules_extend_the_builtin_ones(tmp_path):
    rules_file = tmp_path / "rules.txt"
    rules_file.write_text("# my site's footer\nWilliam Greenwood\nLMC Chief Executive\n", encoding="utf-8")
    name = "003_e73dfa9ff476ae68.txt"
    default = seed_docs()[name]
    doc, = load_one(SEEDS / name, load_rules(rules_file))
    assert "William Greenwood" in default.text and "William Greenwood" not in doc.text
    assert "LMC Chief Executive" not in doc.text.split("\n")
    assert "View all news" not in doc.text  # the built-in rules still apply
    assert "Lead Governor for a Specialist FT Hospital" in doc.text


def test_bad_user_rule_is_a_clear_error(tmp_path):
    rules_file = tmp_path / "rules.txt"
    rules_file.write_text("fine\n(unclosed\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"rules.txt:2: bad boilerplate rule"):
        load_rules(rules_file)
    with pytest.raises(CorpusError, match="cannot read boilerplate rules"):
        load_rules(tmp_path / "missing.txt")


def test_markdown_is_loaded_with_its_line_numbers(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("# Primary care networks\n\nPCNs cover *30-50,000* people.\n\nLeave a Reply\n\n"
                  "- first point\n- second point\n", encoding="utf-8")
    doc, = load_one(md)
    assert doc.source == f"{tmp_path.name}/notes.md"
    assert doc.title == "# Primary care networks"
    assert "Leave a Reply" not in doc.text
    pos = doc.text.index("second point")
    assert doc.lines_of(pos, pos + len("second point")) == (8, 8)


HTML_PAGE = """<!DOCTYPE html>
<html>
<head><title>Ignored title</title>
<script>var tracking = "Sajid Javid";</script>
<style>p { color: red; }</style>
</head>
<body>
<nav><a href="/">Home</a> | <a href="/news">View all news</a></nav>
<h1>Primary care &amp; the <em>new</em> NHS</h1>
<p>The Long Term Plan introduced <b>primary care networks</b> (PCNs) as GP
practices covering 30-50,000 people, funded to work <a href="#">together</a>.</p>
<p>Leave a Reply</p>
<ul>
  <li>improve population health</li><li>tackle unequal access</li>
</ul>
<p>Fuller&#8217;s report introduces Integrated Neighbourhood Teams.</p>
<footer>Follow us on Twitter</footer>
</body>
</html>
"""


def test_html_visible_text_maps_back_to_original_lines(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(HTML_PAGE, encoding="utf-8")
    doc, = load_one(page)
    raw = HTML_PAGE.splitlines()
    assert doc.title == "Primary care & the new NHS"
    for hidden in ("tracking", "color: red", "Ignored title", "Home", "View all news", "Leave a Reply",
                   "Follow us"):
        assert hidden not in doc.text
    # Inline tags keep the spaces around them; a wrapped paragraph stays one paragraph.
    assert "introduced primary care networks (PCNs) as GP\npractices covering 30-50,000 people, " \
           "funded to work together." in doc.text
    assert "Fuller’s report introduces Integrated Neighbourhood Teams." in doc.text
    # Every text line is the visible text of the original line it claims to come from.
    for text, n in zip(doc.text.split("\n"), doc.line_numbers):
        if text:
            visible = collapse(html.unescape(re.sub(r"<[^>]+>", " ", raw[n - 1])))
            assert collapse(text) in visible or text.replace(" ", "") in visible.replace(" ", ""), (n, text)
    pos = doc.text.index("tackle unequal access")
    assert doc.lines_of(pos, pos + 5) == (14, 14)
    pos = doc.text.index("practices covering")
    assert doc.lines_of(doc.text.index("The Long Term Plan"), pos + 10) == (10, 11)


def test_cp1252_is_decoded_with_a_warning_naming_the_file(tmp_path, caplog):
    text = ("The NHS\u2019s \u201cintegrated care\u201d plan \u2013 "
            "a na\u00efve r\u00e9sum\u00e9 of GP caf\u00e9 talk.\n")
    f = tmp_path / "windows.txt"
    f.write_bytes(text.encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="rag"):
        doc, = load_one(f)
    assert doc.text == text.strip()
    assert any("windows.txt" in r.getMessage() and "not UTF-8" in r.getMessage() for r in caplog.records)


def test_utf8_with_bom_and_utf16_are_read(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffIntegrated care systems replaced CCGs.".encode("utf-8"))
    (tmp_path / "wide.txt").write_bytes("Integrated care systems replaced CCGs.".encode("utf-16"))
    for name in ("bom.txt", "wide.txt"):
        doc, = load_one(tmp_path / name)
        assert doc.text == "Integrated care systems replaced CCGs."


def test_decode_reads_utf16_as_the_loader_does():
    """The evaluation's quote check reads cited files with ``decode``: its lines must be the loader's."""
    text = "Integrated care systems\r\nreplaced CCGs.\r\n"
    assert decode(text.encode("utf-16"), "wide.txt") == text
    assert decode(text.encode("utf-16-be")[:-1], "bad.txt")  # broken UTF-16 still decodes, as something


def test_binary_and_empty_files_are_skipped_with_warnings_naming_them(tmp_path, caplog):
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Integrated care systems replaced CCGs in 2022.\n", encoding="utf-8")
    (corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text("\n   \n\t\n", encoding="utf-8")
    (corpus / "only-boilerplate.html").write_text("<p>Leave a Reply</p><p>No Comments</p>", encoding="utf-8")
    (corpus / "notes.pdf").write_bytes(b"%PDF-1.4")  # not an article extension: ignored silently
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_documents(list_sources(corpus, EXTS), load_rules())
    assert [d.source for d in docs] == ["articles/good.txt"]
    messages = [r.getMessage() for r in caplog.records]
    for name in ("image.txt", "empty.md", "blank.txt", "only-boilerplate.html"):
        assert any(name in m and "skipping" in m for m in messages), (name, messages)
    assert not any("notes.pdf" in m for m in messages)


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="corpus folder not found"):
        list_sources(tmp_path / "nowhere", EXTS)


def test_hidden_files_are_not_articles(tmp_path):
    (tmp_path / ".draft.txt").write_text("secret", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "a.txt").write_text("An article.", encoding="utf-8")
    assert [f.source.rsplit("/", 1)[-1] for f in list_sources(tmp_path, EXTS)] == ["a.txt"]


def test_beir_corpus_records_become_documents(tmp_path, caplog):
    corpus = tmp_path / "corpus.jsonl"
    records = [{"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture."},
               {"_id": "5836", "title": "", "text": "Induction of myelodysplasia."},
               {"_id": "7912", "title": "Only a title", "text": ""}]
    lines = [json.dumps(r) for r in records]
    lines.insert(1, "{not json")
    lines.insert(2, "")
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = load_one(corpus)
    assert [d.doc_id for d in docs] == ["4983", "5836", "7912"]
    assert docs[0].text == "Microstructural development\nAlterations of the architecture."
    assert docs[0].title == "Microstructural development"
    assert docs[0].line_numbers == (1, 1)
    assert docs[1].text == "Induction of myelodysplasia." and docs[1].line_numbers == (4,)
    assert docs[2].line_numbers == (5,)
    assert all(d.source == f"{tmp_path.name}/corpus.jsonl" for d in docs)
    assert any("corpus.jsonl:2" in r.getMessage() for r in caplog.records)


def test_line_numbers_follow_newlines_only_as_editors_count_them(tmp_path):
    """A form feed or U+2028 inside a line must not shift the lines after it."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Intro with a form\x0cfeed and a \u2028separator.\r\n"
                                  "Second line here.\rThird line.\n", encoding="utf-8")
    (doc,) = load_file(list_sources(corpus, (".txt",))[0], load_rules())
    start = doc.text.index("Third line.")
    assert doc.lines_of(start, start + len("Third line.")) == (3, 3)
    start = doc.text.index("Second line")
    assert doc.lines_of(start, start + 5) == (2, 2)


def test_files_that_cannot_be_indexed_safely_are_skipped_with_a_warning(tmp_path, caplog):
    """A name that is not UTF-8 (it crashed the index write after all the embedding), a link
    out of the corpus (to /etc/passwd), a file over the size cap."""
    import os

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("A good article about bridges.\n", encoding="utf-8")
    (corpus / os.fsdecode(b"bad-\xff-name.txt")).write_text("Text under a bad name.\n", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("Not part of the corpus.\n", encoding="utf-8")
    (corpus / "link.txt").symlink_to(outside)
    (corpus / "inside-link.txt").symlink_to(corpus / "good.txt")
    (corpus / "big.txt").write_text("x" * 3000, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag"):
        files = list_sources(corpus, (".txt",), max_bytes=2000)
    assert [f.source for f in files] == ["corpus/good.txt", "corpus/inside-link.txt"]
    assert "bad-\\udcff-name.txt: its name is not valid UTF-8" in caplog.text
    assert "link.txt: it is a link to a file outside the corpus folder" in caplog.text
    assert "big.txt: it is 0.0 MB, over the 0.002 MB limit" in caplog.text
    assert [f.source for f in list_sources(corpus, (".txt",), follow_links=True)] == [
        "corpus/big.txt", "corpus/good.txt", "corpus/inside-link.txt", "corpus/link.txt"]


def test_a_linked_folder_outside_the_corpus_is_skipped_with_a_warning_or_followed(tmp_path, caplog):
    """A link to a folder out of the corpus was skipped silently, and RAG_FOLLOW_LINKS=1 did not
    index its files (issue 27). A linked folder inside the corpus adds nothing twice; a link
    loop ends."""
    corpus, outside = tmp_path / "corpus", tmp_path / "elsewhere"
    (corpus / "sub").mkdir(parents=True)
    outside.mkdir()
    (corpus / "sub" / "inner.txt").write_text("An inner article about locks.\n", encoding="utf-8")
    (outside / "far.txt").write_text("A far article about canals.\n", encoding="utf-8")
    (corpus / "shelf").symlink_to(outside, target_is_directory=True)
    (corpus / "again").symlink_to(corpus / "sub", target_is_directory=True)
    (outside / "back").symlink_to(outside, target_is_directory=True)  # a loop, when followed
    with caplog.at_level(logging.WARNING, logger="rag"):
        files = list_sources(corpus, (".txt",))
    assert [f.source for f in files] == ["corpus/sub/inner.txt"]
    assert "corpus/shelf: it is a link to a folder outside the corpus folder" in caplog.text
    followed = list_sources(corpus, (".txt",), follow_links=True)
    assert [f.source for f in followed] == ["corpus/shelf/far.txt", "corpus/sub/inner.txt"]
