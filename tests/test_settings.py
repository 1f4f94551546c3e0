"""Settings: working defaults, then RAG_* variables, then flags; bad values are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from rag.settings import Settings, SettingsError


def test_defaults_work_from_the_project():
    s = Settings.load()
    assert s.corpus == PROJECT_ROOT / "seeds" and s.index_dir == PROJECT_ROOT / "index"
    assert s.model == "all-MiniLM-L6-v2"
    assert (s.top_k, s.chunk_tokens, s.chunk_overlap) == (5, 128, 32)
    assert {".txt", ".md", ".html"} <= set(s.extensions)


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_CORPUS", str(tmp_path))
    monkeypatch.setenv("RAG_INDEX_DIR", "~/somewhere")
    monkeypatch.setenv("RAG_EXTENSIONS", "txt, .MD")
    monkeypatch.setenv("RAG_SENTENCE_VECTORS", "no")
    monkeypatch.setenv("RAG_ABSTAIN_THRESHOLD", "0.25")
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "")  # empty means unset
    s = Settings.load()
    assert s.top_k == 7 and s.corpus == tmp_path
    assert s.index_dir == Path("~/somewhere").expanduser()
    assert s.extensions == (".txt", ".MD")
    assert s.sentence_vectors is False and s.abstain_threshold == 0.25
    assert s.chunk_tokens == 128


def test_flags_override_the_environment(monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_MODEL", "from-env")
    s = Settings.load(top_k=3, model=None)  # None means "flag not given"
    assert s.top_k == 3 and s.model == "from-env"
    assert isinstance(Settings.load(corpus="relative/dir").corpus, Path)


@pytest.mark.parametrize("env, message", [
    ({"RAG_TOP_K": "five"}, r"setting top_k \(RAG_TOP_K\) has a bad value: 'five'"),
    ({"RAG_TOP_K": "0"}, "top-k must be at least 1"),
    ({"RAG_TOP_K": "-2"}, "top-k must be at least 1"),
    ({"RAG_CHUNK_TOKENS": "8"}, "chunk size must be at least 16"),
    ({"RAG_CHUNK_OVERLAP": "128"}, "overlap"),
    ({"RAG_CHUNK_OVERLAP": "-1"}, "overlap"),
    ({"RAG_MAX_ANSWER_SENTENCES": "0"}, "max answer sentences"),
    ({"RAG_TOP_K": "200"}, r"candidates \(100\) must be at least top-k \(200\)"),
    ({"RAG_CHAR_WEIGHT": "-0.5"}, "fusion weights must be at least 0"),
    ({"RAG_DENSE_WEIGHT": "0", "RAG_BM25_WEIGHT": "0", "RAG_CHAR_WEIGHT": "0"}, "not all 0"),
    ({"RAG_ABSTAIN_THRESHOLD": "nan"}, r"abstain_threshold \(RAG_ABSTAIN_THRESHOLD\) has a bad value: 'nan'"),
    ({"RAG_DENSE_WEIGHT": "NaN"}, "dense_weight"),
    ({"RAG_BM25_WEIGHT": "inf"}, "bm25_weight"),
    ({"RAG_BM25_K1": "-inf"}, "bm25_k1"),
    ({"RAG_PG_EF_SEARCH": "0"}, "pg_ef_search must be between 1 and 1000"),
])
def test_bad_values_are_clear_errors(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=message) as info:
        Settings.load()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("env, message", [
    ({"RAG_STORE": "nosuch://x"}, "unknown store 'nosuch'"),
    ({"RAG_ANSWERER": "oracle"}, "answerer must be one of extractive"),
])
def test_names_the_registries_do_not_know_are_refused_when_the_assistant_is_made(monkeypatch, env, message):
    """The store's scheme and the answerer's name are the registries' to check (rag.store,
    rag.answering): settings import neither, so imports flow one way (issue 27)."""
    from rag.assistant import Assistant

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError, match=message) as info:
        Assistant(Settings.load())
    assert "\n" not in str(info.value)


def test_the_postgresql_search_breadth_reaches_the_store(monkeypatch):
    from rag.store import backend_for

    url = "postgresql://rag@127.0.0.1:9/rag"  # not connected to: the backend connects on use
    assert backend_for(Settings.load(store=url)).db.ef_search == 200
    monkeypatch.setenv("RAG_PG_EF_SEARCH", "64")
    assert backend_for(Settings.load(store=url)).db.ef_search == 64


def test_replace_validates_too():
    with pytest.raises(SettingsError):
        Settings.load().replace(top_k=0)
    assert Settings.load().replace(top_k=None).top_k == 5


@pytest.mark.parametrize("raw", [",", " , ,", ""])
def test_no_extensions_is_refused_at_once(monkeypatch, raw):
    """``RAG_EXTENSIONS=,`` was accepted, then failed later with "no articles () in ..." (issue 27)."""
    monkeypatch.setenv("RAG_EXTENSIONS", raw)
    if raw == "":
        assert Settings.load().extensions  # unset-like: the defaults
        return
    with pytest.raises(SettingsError, match="at least one"):
        Settings.load()


def test_encoder_setting(monkeypatch):
    assert Settings.load().encoder == "onnx" and Settings.load().sentence_pooling is False
    monkeypatch.setenv("RAG_ENCODER", "torch")
    assert Settings.load().encoder == "torch"
    with pytest.raises(SettingsError, match="encoder must be onnx-int8, onnx or torch, got 'bogus'"):
        Settings.load(encoder="bogus")
