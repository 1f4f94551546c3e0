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


def test_the_bm25_models_saved_with_the_index_are_used_and_rank_as_a_fresh_build(seed_index_dir, monkeypatch):
    """`rag index` saves BM25 over words and over n-grams, so a new process loads them at its
    first question instead of building them (seconds on a large corpus)."""
    import dataclasses

    from rag import index_store, retrieval

    question = "When was the NHS Long Term Plan published?"
    unsaved = dataclasses.replace(index_store.load(seed_index_dir), path=None)  # no folder to load from
    built = {t: bm25_ranking(unsaved, question, 10, tokens=t) for t in ("words", "chars")}

    def no_building(*args, **kwargs):
        raise AssertionError("built, though the index holds saved models")

    monkeypatch.setattr(retrieval, "build_bm25", no_building)
    index = index_store.load(seed_index_dir)
    for tokens in ("words", "chars"):
        assert bm25_ranking(index, question, 10, tokens=tokens) == built[tokens]
    with pytest.raises(AssertionError, match="built"):  # other BM25 parameters than saved: built anew
        bm25_ranking(index, question, 10, k1=1.5)


def test_tokens_are_pinned_to_the_saved_models_version():
    """Indexes save BM25 models of these tokens. If this test fails because the tokens changed
    on purpose, bump TOKENS_VERSION in rag/retrieval.py (so older saved models are rebuilt)
    and update the expected tokens here."""
    from rag.retrieval import TOKENS_VERSION

    text = ["The GPs published 2 reports on ICSs, unlikely!"]
    assert TOKENS_VERSION == 1
    assert bm25_tokens(text) == [["gp", "publish", "2", "report", "ic", "unlik"]]
    assert char_grams(text) == [[" gps", "gps ", " pub", "publ", "ubli", "blis", "lish", "ishe", "shed", "hed ",
                                 " 2 ", " rep", "repo", "epor", "port", "orts", "rts ", " ics", "icss", "css ",
                                 " unl", "unli", "nlik", "like", "ikel", "kely", "ely "]]
