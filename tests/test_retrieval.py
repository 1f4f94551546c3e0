"""Retrieval's view of words: BM25 terms over the real seed index."""

from __future__ import annotations

import pytest

from rag.retrieval import bm25_ranking, bm25_tokens, singular_acronyms


@pytest.mark.parametrize("text, want", [
    ("GPs and PCNs", "GP and PCN"),
    ("ICSs replaced CCGs.", "ICS replaced CCG."),
    ("The NHS, the BMA and Ms Smith", "The NHS, the BMA and Ms Smith"),  # no plural to fold
    ("URLs of APIs", "URL of API"),
])
def test_singular_acronyms(text, want):
    assert singular_acronyms([text]) == [want]


def test_an_acronym_plural_is_the_same_bm25_term_as_its_singular():
    assert bm25_tokens(["GPs", "ICSs", "PCNs"]) == bm25_tokens(["GP", "ICS", "PCN"])


def test_bm25_ranks_passages_alike_for_an_acronym_and_its_plural(seed_assistant):
    index = seed_assistant.state().index
    singular = bm25_ranking(index, "What do ICS partnerships do?", 5, 1.2, 0.75)
    plural = bm25_ranking(index, "What do ICSs partnerships do?", 5, 1.2, 0.75)
    assert singular == plural
    assert any("Integrated care systems (ICSs) are partnerships" in index.chunks[i].text for i, _ in singular)
