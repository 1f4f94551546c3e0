"""Retrieval's view of words: BM25 terms over the real seed index."""

from __future__ import annotations

import pytest

from rag.retrieval import Retriever, bm25_ranking, bm25_tokens, char_grams, singular_acronyms


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


def test_character_grams_cut_words_that_are_not_stop_words():
    assert char_grams(["The GPs published it"]) == [[" gps", "gps ", " pub", "publ", "ubli", "blis", "lish",
                                                    "ishe", "shed", "hed "]]
    assert char_grams(["an ox"]) == [[" ox "]]  # a short word is one piece


def test_character_grams_reach_the_word_forms_a_stemmer_splits(seed_assistant):
    """Snowball stems "published" to "publish" and "publication" to "public": word BM25 cannot
    match them, BM25 over character 4-grams does, and the fused search finds the passage."""
    state = seed_assistant.state()
    index = state.index
    question = "When was the NHS Long Term Plan published?"
    answering = next(i for i, c in enumerate(index.chunks) if "publication of the Long Term Plan in 2019" in c.text)
    assert bm25_tokens(["published"]) != bm25_tokens(["publication"])
    chars = [i for i, _ in bm25_ranking(index, question, 5, tokens="chars")]
    assert answering in chars
    vector = seed_assistant.embedder.encode_query(question)
    assert answering in [h.chunk_index for h in state.retriever.search(question, vector, 5)]
    assert answering not in [h.chunk_index for h in Retriever(index, char_weight=0.0).search(question, vector, 5)]
