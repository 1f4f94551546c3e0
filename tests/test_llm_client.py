"""The language model endpoint (rag.answering.llm_client): what of its URL is used, sent and shown.
Requests and faults against a real local server are in tests/test_llm.py."""

from __future__ import annotations

import pytest

from rag.answering.llm_client import without_credentials


@pytest.mark.parametrize("url, clean, password", [
    ("http://u:p%40ss@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", "p@ss"),
    ("https://user:S3cr/et#x?y@z@host/v1", "https://host/v1", "S3cr/et#x?y@z"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", ""),
    ("me:secret@localhost:11434", "localhost:11434", "secret"),
])
def test_credentials_come_out_of_the_url_whole(url, clean, password):
    assert without_credentials(url) == (clean, password)
