"""The light query encoder (ONNX Runtime) against the full path (sentence-transformers).

Queries are encoded in fp32 whichever encoder built the index; the vectors compared with
here are sentence-transformers' own (``encoder="torch"``). Same model, same index: every
shipped question must get the same passages, the same answer and the same citations
whichever path encodes it, and the query vectors must agree to 1e-5 cosine. When the
exported encoder is missing, damaged or refused, queries quietly take the full path.
Everything is real: the default model, a real export, real files.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS

from rag.embeddings import Embedder
from rag.embeddings import onnx_query as query_encoder

#: Used when the shipped set is absent, and in any case: odd shapes of input.
OWN_QUESTIONS = [
    "What has replaced clinical commissioning groups?",
    "Who floated the idea of GP nationalisation?",
    "state ownership of family doctors",
    "What are the four aims of integrated care systems?",
    "When did the NHS internal market begin?",
    "What is the capital of Australia?",
    "How many GP practices are there in Cheshire?",
    "ICS",
    "Ünïcödé naïve café — “quotes”?",
    "GP " * 300,  # longer than the model's 256 tokens: truncated the same way
]


def questions() -> list[str]:
    from rag.evaluation import DEFAULT_QUESTIONS, load_questions

    shipped = [q.question for q in load_questions(DEFAULT_QUESTIONS)] if DEFAULT_QUESTIONS.exists() else []
    return shipped + OWN_QUESTIONS


def fresh_embedder(embedder: Embedder, **kwargs) -> Embedder:
    """A torch Embedder of the default model sharing the session's loaded sentence-transformers model."""
    new = Embedder(embedder.name, **dict({"encoder": "torch"}, **kwargs))
    new.__dict__["model"] = embedder.model
    return new


@pytest.fixture(scope="session")
def encoder_cache(seed_index_dir, embedder) -> Path:
    """The session's cache: building the seed index exported (and verified) an encoder of the
    real model there. Tests that damage an encoder work on a copy."""
    cache = Path(os.environ["RAG_CACHE_DIR"])
    fast = fresh_embedder(embedder, cache_dir=cache)
    assert fast.query_encoder is not None, fast.fast_query_problem
    return cache


@pytest.fixture(scope="session")
def fast_embedder(embedder, encoder_cache) -> Embedder:
    fast = fresh_embedder(embedder, cache_dir=encoder_cache)
    assert fast.query_encoder is not None, fast.fast_query_problem
    return fast


@pytest.fixture(scope="session")
def full_embedder(embedder) -> Embedder:
    full = fresh_embedder(embedder, fast_query=False)
    assert full.query_encoder is None
    # Each question is encoded by sentence-transformers once and the vector reused by the
    # tests below (search and ask): the model is deterministic, and this keeps them quick.
    full.encode_query = functools.lru_cache(maxsize=None)(full.encode_query)
    return full


def test_export_records_what_it_checked(fast_embedder, encoder_cache):
    folder = fast_embedder.query_encoder.path
    assert folder.parent == encoder_cache / "query-encoders"
    meta = json.loads((folder / query_encoder.META_FILE).read_text())
    assert meta["worst_probe_cosine"] >= 1 - query_encoder.TOLERANCE
    assert meta["probes"] == len(query_encoder.PROBES) and meta["dim"] == 384
    assert meta["max_length"] == 256 and meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert not list(folder.parent.glob(".tmp-*"))


def test_query_vectors_equal_sentence_transformers(fast_embedder, full_embedder):
    worst = 1.0
    for q in questions():
        fast, full = fast_embedder.encode_query(q), full_embedder.encode_query(q)
        assert fast.dtype == np.float32 and fast.shape == full.shape == (384,)
        assert abs(float(np.linalg.norm(fast)) - 1) < 1e-5
        worst = min(worst, float(fast @ full))
    assert worst >= 1 - 1e-5, worst


def test_same_tokens_as_the_model(fast_embedder, embedder):
    encoder = fast_embedder.query_encoder
    for q in questions():
        assert encoder.token_ids(q) == embedder.model.preprocess([q])["input_ids"][0].tolist(), q


@pytest.fixture(scope="session")
def two_assistants(seed_settings, seed_index_dir, fast_embedder, full_embedder):
    from rag.assistant import Assistant

    fast, full = Assistant(seed_settings), Assistant(seed_settings.replace(fast_query=False))
    assert full.settings.fast_query is False
    fast.__dict__["embedder"], full.__dict__["embedder"] = fast_embedder, full_embedder
    return fast, full


def same_answer(a, b) -> None:
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("timings_ms")
        d.pop("support")
    # Scores are rounded to 4 places: a 1e-7 difference may flip the last digit.
    for ca, cb in zip(da["citations"], db["citations"]):
        assert abs(ca.pop("score") - cb.pop("score")) <= 1.5e-4, (ca, cb)
    assert da == db
    assert abs(a.support - b.support) < 1e-4


def test_fast_and_full_paths_give_the_same_answers(two_assistants):
    fast, full = two_assistants
    for q in questions():
        hits_fast, hits_full = fast.search(q), full.search(q)
        assert [h.id for h in hits_fast] == [h.id for h in hits_full], q
        same_answer(fast.ask(q), full.ask(q))


def test_follow_up_questions_agree_too(two_assistants):
    fast, full = two_assistants
    history = ["Who floated the idea of GP nationalisation?"]
    same_answer(fast.ask("and when was that?", history=history), full.ask("and when was that?", history=history))


def test_switch_off_by_setting(monkeypatch, seed_settings):
    from rag.assistant import Assistant
    from rag.settings import Settings

    monkeypatch.setenv("RAG_FAST_QUERY", "0")
    assert Settings.load().fast_query is False
    assistant = Assistant(Settings.load(corpus=seed_settings.corpus, index_dir=seed_settings.index_dir))
    assert assistant.embedder.fast_query is False and assistant.embedder.query_encoder is None


def copy_cache(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    entry, = (dest / "query-encoders").iterdir()
    return entry


def test_missing_encoder_falls_back_then_is_exported_once(embedder, tmp_path):
    fallback = fresh_embedder(embedder, cache_dir=tmp_path)
    assert fallback.query_encoder is None and fallback.fast_query_problem == "not exported yet"
    q = "What has replaced clinical commissioning groups?"
    vector = fallback.encode_query(q)  # the full path, then an export for the next query
    assert np.allclose(vector, fresh_embedder(embedder).encode([q])[0], atol=1e-6)
    assert fallback.query_encoder is not None
    assert float(fallback.encode_query(q) @ vector) >= 1 - 1e-5
    assert query_encoder.status(fallback.path, tmp_path) == "ready"


@pytest.mark.parametrize("damage", ["flip-weights", "truncate-weights", "bad-graph", "no-meta", "bad-meta"])
def test_damaged_encoder_is_not_used(embedder, encoder_cache, tmp_path, damage):
    entry = copy_cache(encoder_cache, tmp_path / "cache")
    data = entry / query_encoder.DATA_FILE
    if damage == "flip-weights":  # same size, so only the self-check can tell
        with open(data, "r+b") as fh:
            fh.seek(data.stat().st_size // 2)
            chunk = fh.read(4096)
            fh.seek(data.stat().st_size // 2)
            fh.write(bytes(255 - b for b in chunk))
    elif damage == "truncate-weights":
        with open(data, "r+b") as fh:
            fh.truncate(data.stat().st_size // 3)
    elif damage == "bad-graph":
        (entry / query_encoder.ONNX_FILE).write_bytes(b"not a model")
    elif damage == "no-meta":
        (entry / query_encoder.META_FILE).unlink()
    else:
        (entry / query_encoder.META_FILE).write_text("{\"format\": 2", encoding="utf-8")
    damaged = fresh_embedder(embedder, cache_dir=tmp_path / "cache")
    assert damaged.query_encoder is None and damaged.fast_query_problem
    if damage.endswith("meta"):
        return  # without a readable meta.json the entry counts as missing: see the export-once test
    q = "Who floated the idea of GP nationalisation?"
    assert np.allclose(damaged.encode_query(q), fresh_embedder(embedder).encode([q])[0], atol=1e-6)
    assert query_encoder.status(damaged.path, tmp_path / "cache") == "ready"  # a query does not re-export


def test_index_time_check_reads_every_byte(encoder_cache, tmp_path, embedder):
    """Damage that keeps size and modification time (bit rot) is caught by the deep check
    ``rag index`` runs, which compares the CRC-32 of every file with the export's."""
    import os

    entry = copy_cache(encoder_cache, tmp_path / "cache")
    data = entry / query_encoder.DATA_FILE
    before = data.stat()
    with open(data, "r+b") as fh:
        fh.seek(before.st_size // 2)
        fh.write(b"\x00" * 64)
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(query_encoder.Unavailable, match="checksum mismatch"):
        query_encoder.load(embedder.path, tmp_path / "cache", deep=True)


def test_encoder_of_other_model_files_is_not_used(embedder, tmp_path):
    """The cache key follows the model's files: change one, and the old export no longer applies."""
    model = tmp_path / "model"
    model.mkdir()
    for p in embedder.path.rglob("*"):
        target = model / p.relative_to(embedder.path)
        if p.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(p)
    before = query_encoder.entry_dir(model, tmp_path)
    (model / "config.json").unlink()
    shutil.copy(embedder.path / "config.json", model / "config.json")
    assert query_encoder.entry_dir(model, tmp_path) != before


def test_export_that_does_not_match_is_refused(embedder, tmp_path, monkeypatch):
    """No encoder can meet an impossible tolerance: the export is refused, recorded, and queries
    do not retry it (``rag index`` does)."""
    from rag.embeddings import onnx_export

    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)
    refused = fresh_embedder(embedder, cache_dir=tmp_path)
    assert refused.prepare_query_encoder() is False
    assert "differ from sentence-transformers" in refused.fast_query_problem
    assert query_encoder.status(refused.path, tmp_path) == "failed"
    assert not list((tmp_path / "query-encoders").glob("*/" + query_encoder.ONNX_FILE))
    again = fresh_embedder(embedder, cache_dir=tmp_path)
    assert again.query_encoder is None and "export failed earlier" in again.fast_query_problem
    q = "What has replaced clinical commissioning groups?"
    assert np.allclose(again.encode_query(q), fresh_embedder(embedder).encode([q])[0], atol=1e-6)
    assert query_encoder.status(again.path, tmp_path) == "failed"  # a query did not retry


def test_cli_answers_the_same_both_ways(run_rag, seed_index_copy, encoder_cache):
    """The real command, cold, in new processes: fast path and RAG_FAST_QUERY=0 print the same."""
    q = "What has replaced clinical commissioning groups?"
    runs = {}
    for name, env in {"fast": {}, "full": {"RAG_FAST_QUERY": "0"}}.items():  # run_rag: the session cache
        proc = run_rag("ask", q, "--json", corpus=SEEDS, index=seed_index_copy, env=env)
        assert proc.returncode == 0, proc.stderr
        runs[name] = json.loads(proc.stdout)
    fast, full = runs["fast"], runs["full"]
    assert fast["citations"] and not fast["abstained"]
    assert abs(fast.pop("support") - full.pop("support")) <= 1.5e-4
    for a, b in zip(fast["citations"], full["citations"]):
        assert abs(a.pop("score") - b.pop("score")) <= 1.5e-4
    fast.pop("timings_ms"), full.pop("timings_ms")
    assert fast == full


def test_a_killed_export_is_reclaimed_and_a_live_one_left_alone(tmp_path):
    """kill -9 during an export left 63-87 MB in the cache for good; the next `rag index` takes it."""
    import os
    import subprocess
    import sys

    from rag.embeddings import onnx_export

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    root = tmp_path / "query-encoders"
    killed = root / f".tmp-all-MiniLM-L6-v2-abc-123-{dead}-42"
    live = root / f".tmp-all-MiniLM-L6-v2-abc-123-{os.getpid()}-43"
    for folder in (killed, live):
        folder.mkdir(parents=True)
        (folder / "model.onnx.data").write_bytes(b"\x00" * 1000)
    assert onnx_export.reclaim(tmp_path) == [killed.name]
    assert not killed.exists() and live.exists()
