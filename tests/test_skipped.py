"""Skipped files: which and why, said by every build and by ``info``, not only when first read.

The corpus is real files from other generators (a groff PDF, a pandoc .docx) beside files a
loader must refuse (an empty PDF, a zip that is no Word file) and one over the size limit.
"""

from __future__ import annotations

import logging

from make_foreign import groff_pdf, need, pandoc_docx

from rag import skipped
from rag.settings import Settings


def test_reasons_match_whole_source_names():
    heard = ["skipping a: b.pdf: it is empty", "skipping big.txt: it is 2.0 MB, over the 1 MB limit"]
    assert skipped.reasons(heard, ["a: b.pdf"]) == {"a: b.pdf": "it is empty",
                                                   "big.txt": "it is 2.0 MB, over the 1 MB limit"}


def test_a_reason_is_kept_while_the_file_is_unchanged(tmp_path):
    files = {"c/a.pdf": "h1", "c/b.pdf": "h2"}
    assert skipped.remember(tmp_path, files, ["c/a.pdf", "c/b.pdf"], {"c/a.pdf": "it is empty"}) == {
        "c/a.pdf": "it is empty"}
    assert skipped.remember(tmp_path, files, [], {}) == {"c/a.pdf": "it is empty"}  # not read again: kept
    assert skipped.recorded(tmp_path, files) == {"c/a.pdf": "it is empty"}
    assert skipped.recorded(tmp_path, {"c/a.pdf": "changed"}) == {}
    assert skipped.remember(tmp_path, {"c/a.pdf": "h3"}, ["c/a.pdf"], {}) == {}  # fixed and read again


def test_a_damaged_record_is_no_record(tmp_path):
    (tmp_path / skipped.FILE).write_text("{not json", encoding="utf-8")
    assert skipped.recorded(tmp_path, {"a": "h"}) == {}


def test_every_build_and_info_say_which_files_were_skipped_and_why(tmp_path, make_assistant, caplog):
    need("groff", "ps2pdf", "pandoc")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    groff_pdf(corpus / "tarn.pdf", ".PP\nThe tarn itself is shallow, nowhere deeper than four metres.\n")
    pandoc_docx(corpus / "harbour.docx", "# Opening hours\n\nThe harbour office opens at nine.\n")
    (corpus / "empty.pdf").write_bytes(b"")
    (corpus / "junk.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (corpus / "huge.txt").write_text("word " * 60_000, encoding="utf-8")
    settings = Settings.load(corpus=corpus, index_dir=tmp_path / "index").replace(max_file_mb=0.1)
    refused = {"corpus/empty.pdf": "it is empty",
               "corpus/junk.docx": "it is truncated or damaged (not a readable zip archive)"}

    first = make_assistant(settings)
    first.index()
    assert first.skipped == refused | {"corpus/huge.txt": "it is 0.3 MB, over the 0.1 MB limit (RAG_MAX_FILE_MB)"}

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag"):
        again = make_assistant(settings)
        again.index()  # nothing changed: nothing is read, the reasons come from the record
    assert "corpus/empty.pdf" not in caplog.text
    assert again.skipped == first.skipped

    info = again.info()
    assert sorted(info["files"]) == ["corpus/harbour.docx", "corpus/tarn.pdf"]
    assert info["skipped"] == first.skipped
    assert info["by_type"][".pdf"] == {"files": 1, "pages": 1} and info["stale"] is None
