"""One battery for every store (rag.store.BACKENDS): what the answerer and indexing rely on.

Runs on the fake embedder, so it takes milliseconds per store; the real model and the
seed index are covered by tests/test_store_local.py and the end-to-end tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeEmbedder

from rag.chunking import chunk_sentences, split_sentences
from rag.store import BACKENDS, StoreMissing, backend_for
from rag.types import Document

FILES = {
    "a/one.txt": ["The river Severn is the longest river in Britain.",
                  "It rises in the Cambrian Mountains of Wales.",
                  "Salmon swim up it every autumn to spawn."],
    "a/two.txt": ["Quokkas live on Rottnest Island near Perth.",
                  "They are small marsupials about the size of a cat."],
}


def rows(source: str, sentences: list[str], embedder: FakeEmbedder):
    """A file's chunks, sentences and vectors, made by the real chunker."""
    doc = Document(doc_id=source, source=source, text="\n".join(sentences),
                   line_numbers=tuple(range(1, len(sentences) + 1)))
    sents = split_sentences(doc, embedder, 64)
    chunks = chunk_sentences(doc, sents, 16, 4)
    return chunks, sents, embedder.encode([c.text for c in chunks]), embedder.encode([s.text for s in sents])


def commit(backend, files: dict, base=None, delete=()):
    embedder = FakeEmbedder()
    writer = backend.writer(base)
    for source in delete:
        writer.delete(source)
    for source, sentences in files.items():
        writer.replace(source, *rows(source, sentences, embedder))
    manifest = {"model": embedder.model_id, "dim": embedder.dim, "sentence_vectors": True,
                "files": {s: "sha-" + s for s in sorted(set(writer.sources()))}}
    return writer.commit(manifest)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    from rag.settings import Settings

    store = request.getfixturevalue("postgres_url") if request.param == "postgresql" else request.param
    return backend_for(Settings.load(store=store, index_dir=tmp_path / "index"))


def test_an_empty_store_is_missing(backend):
    assert backend.current_version() is None
    with pytest.raises(StoreMissing):
        backend.open()
    with pytest.raises(StoreMissing):
        backend.manifest()


def test_what_is_written_can_be_found(backend):
    version = commit(backend, FILES)
    store = backend.open()
    assert store.version == version == backend.current_version()
    assert store.manifest["counts"]["chunks"] >= 2 and backend.manifest()["dim"] == 64
    quokka = FakeEmbedder().encode_query("Quokkas live on Rottnest Island near Perth.")
    best_id, score = store.dense(quokka, 3)[0]
    assert store.chunks([best_id])[0].source == "a/two.txt" and score == pytest.approx(1.0, abs=0.2)
    lexical = store.lexical("salmon spawn", 5)
    assert lexical and all(s > 0 for _, s in lexical)
    assert "Salmon" in store.chunks([lexical[0][0]])[0].text
    assert store.lexical("xylophone", 5) == []
    assert store.lexical("Severn", 5, tokens="chars")


def test_chunks_sentences_and_neighbours_by_id(backend):
    commit(backend, FILES)
    store = backend.open()
    ids = [i for i, _ in store.dense(FakeEmbedder().encode_query("river"), 10)]
    chunks = store.chunks(ids)
    assert [c.id for c in chunks] == ids
    for c in chunks:
        sentences = store.sentences(c.id)
        assert sentences and all(s.text in " ".join(c.text.split()) for s in sentences)
        assert [s.start for s in sentences] == sorted(s.start for s in sentences)
    first = next(s for c in chunks for s in store.sentences(c.id) if s.text.startswith("The river Severn"))
    after = store.neighbours(first.id)
    assert [s.text for s in after] == ["It rises in the Cambrian Mountains of Wales."]  # nothing before it
    middle = after[0]
    assert [s.text for s in store.neighbours(middle.id)] == ["Salmon swim up it every autumn to spawn.",
                                                             first.text]
    vectors = store.sentence_vectors([first.id, middle.id])
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_term_frequencies_count_chunks(backend):
    commit(backend, FILES)
    store = backend.open()
    n, counts = store.term_frequencies("words", lambda texts: [t.lower().split() for t in texts])
    assert n == store.manifest["counts"]["chunks"] and counts["quokkas"] == 1


def test_a_commit_replaces_and_deletes_files_and_readers_keep_their_version(backend):
    commit(backend, FILES)
    old = backend.open()
    commit(backend, {"a/one.txt": ["Otters now live along the whole river."]}, base=old, delete=["a/two.txt"])
    new = backend.open()
    assert new.version != old.version
    sources = {c.source for c in new.chunks([i for i, _ in new.dense(FakeEmbedder().encode_query("x"), 50)])}
    assert sources == {"a/one.txt"}
    assert new.lexical("quokkas", 5) == [] and new.lexical("otters", 5)
    assert old.lexical("quokkas", 5) and old.lexical("otters", 5) == []  # the reader's version is unchanged


def test_an_uncommitted_writer_changes_nothing(backend):
    version = commit(backend, FILES)
    writer = backend.writer(backend.open())
    writer.delete("a/one.txt")
    assert backend.current_version() == version and backend.open().lexical("severn", 5)


def test_ids_are_stable_across_builds(backend):
    commit(backend, FILES)
    first = backend.open()
    commit(backend, FILES)  # from nothing again: same content, same ids
    second = backend.open()
    query = FakeEmbedder().encode_query("marsupials")
    assert first.dense(query, 5) == second.dense(query, 5)
