"""One battery for every loader (rag.loaders.LOADERS): documents that trace back to the file.

Every loader must give documents whose text lines each name a line of the file (of a page,
for paged formats), skip a binary (for text formats), corrupt or empty file with a warning
(never raise), and keep the source it was given. That each line holds what the file shows
there is checked per format (tests/test_loaders_*.py) and by the evaluation's quote check.
"""

from __future__ import annotations

import logging

import pytest
from contract.samples import MAKERS

from rag.loaders import LOADERS, SourceFile, load_rules


def test_every_loader_has_a_sample():
    assert set(LOADERS) <= set(MAKERS), "add a sample for the new loader (tests/contract/samples.py)"


@pytest.mark.parametrize("suffix", sorted(LOADERS))
def test_documents_trace_back_to_file_lines(suffix, tmp_path):
    path = tmp_path / f"sample{suffix}"
    MAKERS[suffix](path)
    docs = LOADERS[suffix].load(SourceFile(path=path, source=f"corpus/sample{suffix}", sha256=""), load_rules())
    assert docs
    for doc in docs:
        assert doc.source == f"corpus/sample{suffix}" and doc.doc_id
        assert len(doc.text.split("\n")) == len(doc.line_numbers)
        assert list(doc.line_numbers) == sorted(doc.line_numbers) and 1 <= doc.line_numbers[0]
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
