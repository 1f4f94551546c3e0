"""The ONNX document encoder (int8 by default) against sentence-transformers, with the real model.

Its vectors must stay close to the model's fp32 ones on real chunks, be the same for a text
whatever else is encoded with it (so a query gets exactly its document twin's vector), and
pool sentence vectors from a chunk's pass. The export is cached and checked; a damaged entry
is exported again. The progress line's wording is tested with a fake clock beside them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.embeddings import Embedder, onnx_document, onnx_document_export
from rag.embeddings.onnx_document import Meter


@pytest.fixture(scope="module")
def chunks(seed_index_dir) -> list[str]:
    from rag.store import generations

    return [c.text for c in generations.load(seed_index_dir).chunks]


def test_int8_vectors_stay_close_to_the_models(embedder, chunks):
    """Per-channel int8 with the sensitive layers in fp32: naive int8 gave mean cosine 0.955."""
    int8 = embedder.encode(chunks)
    fp32 = embedder.model.encode(chunks, normalize_embeddings=True, convert_to_numpy=True)
    cosines = (int8 * fp32).sum(axis=1)
    assert int8.shape == fp32.shape and int8.dtype == np.float32
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert cosines.mean() >= 0.995 and cosines.min() >= 0.99, (cosines.mean(), cosines.min())


def test_fp32_onnx_gives_the_models_vectors(embedder, chunks, tmp_path):
    fp32 = Embedder(embedder.name, cache_dir=tmp_path, encoder="onnx")
    fp32.__dict__["model"] = embedder.model
    got = fp32.encode(chunks[:20])
    want = embedder.model.encode(chunks[:20], normalize_embeddings=True, convert_to_numpy=True)
    assert (got * want).sum(axis=1).min() >= 1 - 1e-5


def test_a_text_gets_the_same_vector_alone_or_among_others(embedder, chunks):
    together = embedder.encode(chunks[:12])
    alone = np.vstack([embedder.encode([c]) for c in chunks[:12:5]])
    assert np.allclose(alone, together[::5], atol=1e-6)


def test_queries_stay_fp32(embedder, chunks):
    """int8 queries against int8 documents cost answers; fp32 queries kept them."""
    query = embedder.encode_query(chunks[3])
    fp32 = embedder.model.encode([chunks[3]], normalize_embeddings=True, convert_to_numpy=True)[0]
    assert float(query @ fp32) >= 1 - 1e-5
    int8 = embedder.__class__(embedder.name, cache_dir=embedder.cache_dir, encoder="onnx-int8")
    int8.__dict__["model"] = embedder.model
    assert 0.99 <= float(query @ int8.encode([chunks[3]])[0]) < 1 - 1e-5


def test_sentence_vectors_pooled_from_the_chunk(embedder):
    chunk = "Integrated care systems replaced CCGs in July 2022. The recipe needs two eggs and some flour."
    first, second = chunk.index("Integrated"), chunk.index("The recipe")
    spans = [[(first, second - 1, 0), (second, len(chunk), 1)]]
    vectors, sentences = embedder.encode_pooled([chunk], spans)
    assert sentences.shape == (2, 384)
    assert np.allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)
    alone = embedder.encode([chunk[:second - 1], chunk[second:]])
    # Each pooled vector is nearest its own sentence's vector (it carries some of its chunk).
    similar = sentences @ alone.T
    assert similar[0, 0] > similar[0, 1] + 0.3 and similar[1, 1] > similar[1, 0] + 0.3
    assert np.allclose(vectors, embedder.encode([chunk]), atol=1e-6)


def test_the_cached_encoder_loads_without_torch(embedder, tmp_path):
    first = Embedder(embedder.name, cache_dir=tmp_path, encoder="onnx-int8")
    first.__dict__["model"] = embedder.model
    first.encode(["warm"])  # exports into tmp_path
    again = Embedder(embedder.name, cache_dir=tmp_path, encoder="onnx-int8")
    vector = again.encode(["What has replaced clinical commissioning groups?"])
    assert "model" not in again.__dict__  # sentence-transformers never loaded
    assert np.allclose(vector, first.encode(["What has replaced clinical commissioning groups?"]), atol=1e-6)
    meta = json.loads((again.document_encoder().path / "meta.json").read_text())
    assert meta["kind"] == "onnx-int8" and meta["worst_probe_cosine"] >= onnx_document_export.FLOOR["onnx-int8"]


def test_a_damaged_entry_is_exported_again(embedder, tmp_path):
    first = Embedder(embedder.name, cache_dir=tmp_path, encoder="onnx-int8")
    first.__dict__["model"] = embedder.model
    want = first.encode(["Who floated the idea of GP nationalisation?"])
    meta_file = first.document_encoder().path / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["self_check_vector"] = [-x for x in meta["self_check_vector"]]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(onnx_document_export.Unavailable, match="self-check failed"):
        onnx_document_export.load(first.path, "onnx-int8", tmp_path)
    again = Embedder(embedder.name, cache_dir=tmp_path, encoder="onnx-int8")
    again.__dict__["model"] = embedder.model
    assert np.allclose(again.encode(["Who floated the idea of GP nationalisation?"]), want, atol=1e-6)


def test_index_records_its_encoder_and_queries_match_it(seed_index_dir, seed_settings):
    from rag.assistant import Assistant
    from rag.store import generations

    manifest = generations.read_manifest(seed_index_dir)
    assert manifest["encoder"] == "onnx" and manifest["sentence_pooling"] is False
    assistant = Assistant(seed_settings)
    assistant.state()
    assert assistant.embedder.encoder == "onnx" and assistant.info()["encoder"] == "onnx"


def test_the_index_encoder_is_used_at_query_time(tmp_path):
    """Fast, with fakes: whatever the settings say now, the index's encoder encodes texts
    at query time (sentences, when the index keeps no vectors of its own)."""
    from fakes import FakeEmbedder

    from rag.assistant import Assistant
    from rag.settings import Settings
    from rag.store.memory import MemoryBackend

    (tmp_path / "a.txt").write_text("Quokkas live on Rottnest Island near Perth.\n", encoding="utf-8")
    backend, embedder = MemoryBackend(), FakeEmbedder()
    Assistant(Settings.load(corpus=tmp_path, store="memory", encoder="torch"), embedder=embedder,
              backend=backend).index()
    assert backend.manifest()["encoder"] == "torch" and backend.manifest()["sentence_pooling"] is False
    embedder.use("onnx-int8")
    reader = Assistant(Settings.load(corpus=tmp_path, store="memory"), embedder=embedder, backend=backend)
    assert not reader.ask("Where do quokkas live?").abstained
    assert embedder.encoder == "torch"


def test_meter_says_rate_and_time_left(monkeypatch, capsys):
    clock = iter([0.0, 2.5, 5.0, 10.0])
    monkeypatch.setattr(onnx_document.time, "perf_counter", lambda: next(clock))
    meter = Meter(100, "chunks")
    meter.advance(25)  # at 2.5 s: 10 chunks/s, 75 left
    meter.advance(25)  # at 5 s
    meter.done()
    err = capsys.readouterr().err
    assert "embedding 25/100 chunks, 10.0 chunks/s, 0:08 left" in err
    assert "embedding 50/100 chunks, 10.0 chunks/s, 0:05 left" in err
    assert "embedded 100 chunks in 0:10, 10.0 chunks/s" in err
