"""One battery for every loader (rag.loaders.LOADERS): documents that trace back to the file.

Every loader must give documents whose text lines each name a line of the file, skip a
binary or empty file with a warning (never raise), and keep the source it was given.
"""

from __future__ import annotations

import logging

import pytest

from rag.loaders import LOADERS, SourceFile, load_rules, split_lines

SAMPLES = {
    ".txt": "Title line\n\nA first paragraph that says something.\nIt goes on here.\n\nLeave a Reply\n",
    ".md": "# Heading\n\nSome *Markdown* text in a paragraph.\n\n- a list item\n- another item\n",
    ".html": "<html><head><title>x</title></head><body>\n<h1>Heading</h1>\n<p>A paragraph\nthat wraps.</p>\n"
             "<script>var x = 1;</script>\n</body></html>\n",
    ".htm": "<p>Short page.</p>\n",
    ".jsonl": '{"_id": "d1", "title": "First", "text": "Body one."}\n\n{"_id": "d2", "text": "Body two."}\n',
}


def test_every_loader_has_a_sample():
    assert set(LOADERS) <= set(SAMPLES), "add a sample for the new loader"


@pytest.mark.parametrize("suffix", sorted(LOADERS))
def test_documents_trace_back_to_file_lines(suffix, tmp_path):
    path = tmp_path / f"sample{suffix}"
    path.write_text(SAMPLES[suffix], encoding="utf-8")
    docs = LOADERS[suffix].load(SourceFile(path=path, source=f"corpus/sample{suffix}", sha256=""), load_rules())
    assert docs
    count = len(split_lines(SAMPLES[suffix]))
    for doc in docs:
        assert doc.source == f"corpus/sample{suffix}" and doc.doc_id
        assert len(doc.text.split("\n")) == len(doc.line_numbers)
        assert list(doc.line_numbers) == sorted(doc.line_numbers) and 1 <= doc.line_numbers[0]
        assert doc.line_numbers[-1] <= count
        assert doc.lines_of(0, len(doc.text)) == (doc.line_numbers[0], doc.line_numbers[-1])
    assert "Leave a Reply" not in " ".join(d.text for d in docs)  # boilerplate rules apply


@pytest.mark.parametrize("suffix", sorted(LOADERS))
@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary\x00" * 50])
def test_empty_or_binary_files_give_nothing_and_a_warning(suffix, content, tmp_path, caplog):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="rag"):
        docs = LOADERS[suffix].load(SourceFile(path=path, source=f"bad{suffix}", sha256=""), [])
    assert docs == []
    assert f"bad{suffix}" in caplog.text
