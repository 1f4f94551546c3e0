"""Retrieval's view of words (rag.analysis) and hybrid search over the real seed index."""

from __future__ import annotations

import pytest

from rag.analysis import bm25_tokens, char_grams, singular_acronyms
from rag.retrieval import Retriever


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
    store = seed_assistant.state().store
    singular = store.lexical("What do ICS partnerships do?", 5)
    plural = store.lexical("What do ICSs partnerships do?", 5)
    assert singular == plural
    assert any("Integrated care systems (ICSs) are partnerships" in c.text
               for c in store.chunks([i for i, _ in singular]))


def test_character_grams_cut_words_that_are_not_stop_words():
    assert char_grams(["The GPs published it"]) == [[" gps", "gps ", " pub", "publ", "ubli", "blis", "lish",
                                                    "ishe", "shed", "hed "]]
    assert char_grams(["an ox"]) == [[" ox "]]  # a short word is one piece


def test_character_grams_reach_the_word_forms_a_stemmer_splits(seed_assistant):
    """Snowball stems "published" to "publish" and "publication" to "public": word BM25 cannot
    match them, BM25 over character 4-grams does, and the fused search finds the passage."""
    state = seed_assistant.state()
    store = state.store
    question = "When was the NHS Long Term Plan published?"
    answering = next(c.id for c in store.generation.chunks if "publication of the Long Term Plan in 2019" in c.text)
    assert bm25_tokens(["published"]) != bm25_tokens(["publication"])
    chars = [i for i, _ in store.lexical(question, 5, tokens="chars")]
    assert answering in chars
    vector = seed_assistant.embedder.encode_query(question)
    assert answering in [h.id for h in state.retriever.search(question, vector, 5)]
    assert answering not in [h.id for h in Retriever(store, char_weight=0.0).search(question, vector, 5)]


def test_the_bm25_models_saved_with_the_index_are_used_and_rank_as_a_fresh_build(seed_index_dir, monkeypatch):
    """`rag index` saves BM25 over words and over n-grams, so a new process loads them at its
    first question instead of building them (seconds on a large corpus)."""
    from rag.store import bm25
    from rag.store.local import LocalBackend, LocalStore

    question = "When was the NHS Long Term Plan published?"
    unsaved = LocalBackend(seed_index_dir).open()
    unsaved.manifest = dict(unsaved.manifest, bm25=None)  # as if nothing were saved: built here
    built = {t: unsaved.lexical(question, 10, tokens=t) for t in ("words", "chars")}

    def no_building(*args, **kwargs):
        raise AssertionError("built, though the index holds saved models")

    monkeypatch.setattr(bm25, "build", no_building)
    store = LocalBackend(seed_index_dir).open()
    for tokens in ("words", "chars"):
        assert store.lexical(question, 10, tokens=tokens) == built[tokens]
    other = LocalStore(store.generation, k1=1.5)
    with pytest.raises(AssertionError, match="built"):  # other BM25 parameters than saved: built anew
        other.lexical(question, 10)


def test_tokens_are_pinned_to_the_saved_models_version():
    """Indexes save BM25 models of these tokens. If this test fails because the tokens changed
    on purpose, bump TOKENS_VERSION in rag/analysis.py (so older saved models are rebuilt)
    and update the expected tokens here."""
    from rag.analysis import TOKENS_VERSION

    text = ["The GPs published 2 reports on ICSs, unlikely!"]
    assert TOKENS_VERSION == 1
    assert bm25_tokens(text) == [["gp", "publish", "2", "report", "ic", "unlik"]]
    assert char_grams(text) == [[" gps", "gps ", " pub", "publ", "ubli", "blis", "lish", "ishe", "shed", "hed ",
                                 " 2 ", " rep", "repo", "epor", "port", "orts", "rts ", " ics", "icss", "css ",
                                 " unl", "unli", "nlik", "like", "ikel", "kely", "ely "]]
