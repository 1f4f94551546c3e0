"""Incremental builds: only new or changed files are embedded; stale or damaged indexes rebuild."""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest
from conftest import current_generation

from rag import indexing
from rag.loaders import CorpusError
from rag.settings import Settings
from rag.store import generations

FILES = ["000_5f02ec8ebbba9bda.txt", "001_a1af8ce10c5b3b2b.txt", "002_305e029074e56b92.txt",
         "003_e73dfa9ff476ae68.txt", "004_24a63785afbf6050.txt"]


@pytest.fixture
def counting(embedder, monkeypatch):
    """The real embedder, counting the texts it is asked to encode."""
    seen: list[str] = []
    real, real_pooled = embedder.encode, embedder.encode_pooled

    def encode(texts, progress=False):
        seen.extend(texts)
        return real(texts, progress=progress)

    def encode_pooled(texts, spans, progress=False):  # chunks, their sentences pooled from the same pass
        seen.extend(texts)
        return real_pooled(texts, spans, progress=progress)

    monkeypatch.setattr(embedder, "encode", encode)
    monkeypatch.setattr(embedder, "encode_pooled", encode_pooled)
    return seen


def settings_for(corpus, index_dir, **kw):
    return Settings.load(corpus=corpus, index_dir=index_dir, **kw)


def rows(index, source):
    ids = [i for i, c in enumerate(index.chunks) if c.source == source]
    return index.chunk_vectors()[ids]


def test_unchanged_corpus_embeds_nothing(seed_corpus_copy, seed_index_copy, embedder, counting):
    report = indexing.build(settings_for(seed_corpus_copy, seed_index_copy), embedder)
    assert report.embedded == [] and report.removed == []
    assert report.reused == [f"seeds/{f}" for f in FILES]
    assert counting == []


def test_touching_a_file_embeds_nothing_because_its_content_is_the_same(
        seed_corpus_copy, seed_index_copy, embedder, counting):
    path = seed_corpus_copy / FILES[2]
    later = time.time() + 60
    os.utime(path, (later, later))
    report = indexing.build(settings_for(seed_corpus_copy, seed_index_copy), embedder)
    assert report.embedded == [] and counting == []


def test_modifying_one_file_embeds_only_that_file(seed_corpus_copy, seed_index_copy, embedder, counting):
    before = generations.load(seed_index_copy)
    changed = seed_corpus_copy / FILES[1]
    changed.write_text(changed.read_text(encoding="utf-8") +
                       "\nThe Cheshire pilot cut waiting lists by a third in 2023.\n", encoding="utf-8")
    report = indexing.build(settings_for(seed_corpus_copy, seed_index_copy), embedder)
    assert report.embedded == [f"seeds/{FILES[1]}"]
    assert sorted(report.reused) == [f"seeds/{f}" for f in FILES if f != FILES[1]]
    after = generations.load(seed_index_copy)
    mine = [c for c in after.chunks if c.source == f"seeds/{FILES[1]}"]
    mine_s = [s for s in after.sentences if s.source == f"seeds/{FILES[1]}"]
    # Exactly that file's chunks and sentences went through the model, nothing else.
    assert sorted(counting) == sorted([c.text for c in mine] + [s.text for s in mine_s])
    assert any("Cheshire pilot" in c.text for c in mine)
    for f in FILES:
        if f != FILES[1]:
            assert np.array_equal(rows(before, f"seeds/{f}"), rows(after, f"seeds/{f}"))
    # Sentence ranges of every chunk still point at its own sentences after reassembly.
    for c in after.chunks:
        texts = [s.text for s in after.sentences[c.first_sentence:c.last_sentence]]
        assert all(s.source == c.source for s in after.sentences[c.first_sentence:c.last_sentence])
        assert " ".join(c.text.split()).startswith(texts[0]) and " ".join(c.text.split()).endswith(texts[-1])


def test_incremental_result_equals_a_full_rebuild(small_workspace, embedder, tmp_path):
    (small_workspace.corpus / FILES[0]).write_text("A new first article about PCNs.\n", encoding="utf-8")
    indexing.build(small_workspace, embedder)
    incremental = generations.load(small_workspace.index_dir)
    indexing.build(small_workspace.replace(index_dir=tmp_path / "full"), embedder, rebuild=True)
    full = generations.load(tmp_path / "full")
    assert incremental.chunks == full.chunks and incremental.sentences == full.sentences
    assert np.allclose(incremental.chunk_vectors(), full.chunk_vectors(), atol=1e-5)
    assert np.allclose(incremental.sentence_vectors, full.sentence_vectors, atol=1e-5)


def test_new_file_is_embedded_and_deleted_file_leaves(seed_corpus_copy, seed_index_copy, embedder, counting):
    (seed_corpus_copy / FILES[3]).unlink()
    (seed_corpus_copy / "005_new.md").write_text("# Dispensing practices\n\nRural dispensing practices "
                                                 "supply medicines to about nine per cent of patients.\n",
                                                 encoding="utf-8")
    report = indexing.build(settings_for(seed_corpus_copy, seed_index_copy), embedder)
    assert report.embedded == ["seeds/005_new.md"]
    assert report.removed == [f"seeds/{FILES[3]}"]
    after = generations.load(seed_index_copy)
    assert f"seeds/{FILES[3]}" not in after.manifest["files"]
    assert all(c.source != f"seeds/{FILES[3]}" for c in after.chunks)
    assert all(s.source != f"seeds/{FILES[3]}" for s in after.sentences)
    assert after.vectors.ntotal == len(after.chunks)


def test_changing_the_chunk_size_re_embeds_everything(small_workspace, embedder):
    report = indexing.build(small_workspace.replace(chunk_tokens=64), embedder)
    assert len(report.embedded) == 2 and report.reused == []
    assert generations.load(small_workspace.index_dir).manifest["chunk_tokens"] == 64


def test_chunk_size_over_the_model_limit_is_clamped(small_workspace, embedder, caplog):
    with caplog.at_level(logging.WARNING, logger="rag"):
        indexing.build(small_workspace.replace(chunk_tokens=1000), embedder)
    assert any("over the model's limit" in r.getMessage() for r in caplog.records)
    idx = generations.load(small_workspace.index_dir)
    assert max(c.tokens for c in idx.chunks) <= embedder.max_seq_length - 2


def test_empty_corpus_is_an_error_and_keeps_the_good_index(tmp_path, seed_index_copy, embedder):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = current_generation(seed_index_copy)
    with pytest.raises(CorpusError, match="no articles"):
        indexing.build(settings_for(empty, seed_index_copy), embedder)
    assert current_generation(seed_index_copy) == before
    assert generations.load(seed_index_copy).chunks


def test_corpus_of_unreadable_files_is_an_error(tmp_path, embedder, caplog):
    corpus = tmp_path / "bad"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(bytes(range(256)))
    (corpus / "b.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="no readable text"), caplog.at_level(logging.WARNING, logger="rag"):
        indexing.build(settings_for(corpus, tmp_path / "idx"), embedder)
    assert not (tmp_path / "idx" / "CURRENT").exists()
    assert {"bad/a.txt", "bad/b.txt"} <= {n for r in caplog.records for n in ("bad/a.txt", "bad/b.txt")
                                         if n in r.getMessage()}


def test_text_without_a_term_for_bm25_is_indexed_and_searched_by_meaning(tmp_path, make_assistant, embedder):
    """Symbols and stop words give BM25 nothing to index (bm25s refuses an empty vocabulary):
    the index is still written, without saved BM25 models, and search is dense alone."""
    corpus = tmp_path / "symbols"
    corpus.mkdir()
    (corpus / "a.txt").write_text("★ ☆ ★ — … !\n\nThe and of it.\n", encoding="utf-8")
    settings = settings_for(corpus, tmp_path / "idx")
    indexing.build(settings, embedder)
    generation = tmp_path / "idx" / current_generation(tmp_path / "idx")
    assert not list(generation.glob("bm25-*"))
    hits = make_assistant(settings).search("stars and dashes")
    assert [h.chunk.source for h in hits] == ["symbols/a.txt"]
    assert hits[0].dense is not None and hits[0].bm25 is None and hits[0].chars is None


def test_bad_files_among_articles_are_skipped_and_the_rest_indexed(
        seed_corpus_copy, seed_index_copy, embedder, caplog):
    (seed_corpus_copy / "zz_binary.txt").write_bytes(b"\x00\x01\x02" * 500)
    (seed_corpus_copy / "zz_windows.txt").write_bytes(
        "GP surgeries in Cheshire\u2019s villages share one caf\u00e9 \u2013 said the LMC.".encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="rag"):
        report = indexing.build(settings_for(seed_corpus_copy, seed_index_copy), embedder)
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "zz_binary.txt" in messages and "zz_windows.txt" in messages
    assert sorted(report.embedded) == ["seeds/zz_binary.txt", "seeds/zz_windows.txt"]
    idx = generations.load(seed_index_copy)
    assert any("Cheshire\u2019s villages share one caf\u00e9" in s.text for s in idx.sentences)
    assert all(c.source != "seeds/zz_binary.txt" for c in idx.chunks)


def test_stale_reasons(seed_corpus_copy, seed_index_copy):
    from rag.loaders import list_sources

    manifest = generations.read_manifest(seed_index_copy)  # built from the seeds, not this copy
    settings = settings_for(seed_corpus_copy, seed_index_copy)
    files = list_sources(seed_corpus_copy, settings.extensions)
    assert "another corpus" in indexing.stale_reason(manifest, settings, files)
    manifest = dict(manifest, corpus=str(seed_corpus_copy.resolve()))
    assert indexing.stale_reason(manifest, settings, files) is None
    assert "another model" in indexing.stale_reason(dict(manifest, model="other/model"), settings, files)
    assert "chunk tokens" in indexing.stale_reason(manifest, settings.replace(chunk_tokens=64), files)
    assert "encoder" in indexing.stale_reason(manifest, settings.replace(encoder="torch"), files)
    assert "encoder" in indexing.stale_reason({k: v for k, v in manifest.items() if k != "encoder"}, settings,
                                              files)  # built before the encoder was recorded: torch
    assert indexing.adopt(dict(manifest, encoder="torch", sentence_pooling=False), settings).encoder == "torch"
    assert "added, changed or removed" in indexing.stale_reason(manifest, settings, files[:-1])


# -- the Assistant notices and rebuilds (in-process; the CLI path is in test_cli.py) ----------

def rebuild_messages(caplog):
    return [r.getMessage() for r in caplog.records if "building the index" in r.getMessage()]


def test_ask_builds_a_missing_index(small_workspace, tmp_path, make_assistant, caplog):
    assistant = make_assistant(small_workspace.replace(index_dir=tmp_path / "fresh"))
    with caplog.at_level(logging.WARNING, logger="rag"):
        answer = assistant.ask("What has replaced clinical commissioning groups?")
    assert rebuild_messages(caplog) and "there is none yet" in rebuild_messages(caplog)[0]
    assert not answer.abstained
    assert (tmp_path / "fresh" / "CURRENT").exists()


def test_ask_rebuilds_a_stale_index_re_embedding_only_the_change(
        seed_workspace, make_assistant, caplog, counting):
    (seed_workspace.corpus / FILES[4]).write_text(
        "The Cheshire pilot cut waiting lists by a third in 2023.\n", encoding="utf-8")
    assistant = make_assistant(seed_workspace)
    with caplog.at_level(logging.WARNING, logger="rag"):
        answer = assistant.ask("By how much did the Cheshire pilot cut waiting lists?")
    assert any("added, changed or removed" in m for m in rebuild_messages(caplog))
    assert not answer.abstained and answer.citations[0].source == f"seeds/{FILES[4]}"
    assert "a third" in answer.answer
    # Only the changed file (one chunk of one sentence) went through the model at index time
    # (the question may go through it too, or through a separate query encoder).
    fact = "The Cheshire pilot cut waiting lists by a third in 2023."
    assert [t for t in counting if not t.startswith("By how much")] == [fact, fact]


def test_ask_rebuilds_an_index_of_another_model(small_workspace, make_assistant, caplog):
    index_dir = small_workspace.index_dir
    gen = index_dir / current_generation(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text())
    (gen / "manifest.json").write_text(json.dumps(dict(manifest, model="sentence-transformers/other")))
    assistant = make_assistant(small_workspace)
    with caplog.at_level(logging.WARNING, logger="rag"):
        assistant.ask("What has replaced clinical commissioning groups?")
    assert any("another model" in m for m in rebuild_messages(caplog))
    assert generations.load(index_dir).manifest["model"] == "all-MiniLM-L6-v2"


# One damage per code path: the pointer, the manifest, a checksummed data file.
@pytest.mark.parametrize("damage", ["chunks.faiss", "manifest.json", "CURRENT"])
def test_ask_rebuilds_a_damaged_index(small_workspace, make_assistant, caplog, damage):
    index_dir = small_workspace.index_dir
    gen = index_dir / current_generation(index_dir)
    target = index_dir / "CURRENT" if damage == "CURRENT" else gen / damage
    data = target.read_bytes()
    target.write_bytes(b"\xff\xfe garbage" if damage == "CURRENT" else data[:len(data) // 3])
    assistant = make_assistant(small_workspace)
    with caplog.at_level(logging.WARNING, logger="rag"):
        answer = assistant.ask("Who floated GP nationalisation?")
    messages = rebuild_messages(caplog)
    assert messages and "damaged" in messages[0] and "\n" not in messages[0]
    assert "Sajid Javid" in answer.answer
    assert generations.load(index_dir).path.name != gen.name


def test_ask_keeps_an_index_built_with_other_chunking_flags(small_workspace, make_assistant, embedder, caplog):
    indexing.build(small_workspace.replace(chunk_tokens=64), embedder)  # rag index --chunk-tokens 64
    built = current_generation(small_workspace.index_dir)
    with caplog.at_level(logging.WARNING, logger="rag"):
        make_assistant(small_workspace).ask("Who floated GP nationalisation?")  # rag ask
    assert rebuild_messages(caplog) == []
    assert current_generation(small_workspace.index_dir) == built


def test_a_no_op_build_writes_no_new_generation(seed_workspace, embedder, counting):
    """Nothing changed: the index keeps its generation (a new one was 28 MB of writes each time)."""
    before = current_generation(seed_workspace.index_dir)
    gens = sorted(p.name for p in seed_workspace.index_dir.glob("gen-*"))
    report = indexing.build(seed_workspace, embedder)
    assert report.generation == before == current_generation(seed_workspace.index_dir)
    assert sorted(p.name for p in seed_workspace.index_dir.glob("gen-*")) == gens and counting == []
    assert report.chunks > 0 and report.reused and not report.embedded


def test_a_file_name_that_is_not_utf8_does_not_break_the_index(tmp_path, embedder, caplog):
    """It crashed `rag index` after all the embedding, and then every `rag ask`; now it is skipped."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("The Tamar Bridge opened to traffic in 1961.\n", encoding="utf-8")
    (corpus / os.fsdecode(b"caf\xe9.txt")).write_text("Latin-1 named notes about the ferry.\n", encoding="utf-8")
    settings = Settings.load(corpus=corpus, index_dir=tmp_path / "index")
    with caplog.at_level(logging.WARNING, logger="rag"):
        report = indexing.build(settings, embedder)
    assert report.embedded == ["corpus/good.txt"] and "not valid UTF-8" in caplog.text
    assert [c.source for c in generations.load(settings.index_dir).chunks] == ["corpus/good.txt"]


def test_pooled_sentence_vectors_take_no_second_pass(tmp_path):
    """RAG_SENTENCE_POOLING: each sentence's vector comes out of its chunk's pass (fast, with fakes)."""
    from fakes import FakeEmbedder

    from rag.store.memory import MemoryBackend

    (tmp_path / "a.txt").write_text("Quokkas live on Rottnest Island near Perth. They are small marsupials.\n\n"
                                    "Rottnest lies off the coast of Western Australia.\n", encoding="utf-8")
    embedder, seen = FakeEmbedder(), []
    real = embedder.encode
    embedder.encode = lambda texts, progress=False: seen.extend(texts) or real(texts)
    backend = MemoryBackend()
    indexing.build(Settings.load(corpus=tmp_path, store="memory", sentence_pooling=True), embedder, backend=backend)
    store = backend.open()
    assert store.manifest["sentence_pooling"] is True and seen == []  # encode_pooled only
    chunks = store.chunks([i for i, _ in store.dense(real(["x"])[0], 10)])
    sentences = list({s.id: s for c in chunks for s in store.sentences(c.id)}.values())
    assert len(sentences) == 3
    pooled = store.sentence_vectors([s.id for s in sentences])
    assert np.allclose(pooled, real([s.text for s in sentences]), atol=1e-6)  # the fake pools by encoding the span
