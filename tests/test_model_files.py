"""The models shipped inside the package, one battery for each: intact, small, and refused
clearly (one line naming the model) when a file is missing or damaged."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.answering import entailment, reader
from rag.answering.model_files import META_FILE, MODEL_FILE, TOKENIZER_FILE

MODELS = {"reader": (reader.MODEL_DIR, reader.Reader, reader.ReaderUnavailable, "the reader model"),
          "entailment": (entailment.MODEL_DIR, entailment.EntailmentModel, entailment.EntailmentUnavailable,
                         "the entailment model")}


@pytest.fixture(params=sorted(MODELS))
def model(request, tmp_path):
    """A copy of one shipped model's folder, with its loader, its error and its name."""
    folder, load, error, what = MODELS[request.param]
    dest = tmp_path / request.param
    shutil.copytree(folder, dest)
    return dest, load, error, what


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_shipped_model_is_intact_small_and_says_where_it_came_from(name):
    folder, load, _, _ = MODELS[name]
    meta = load(folder).meta
    assert (folder / MODEL_FILE).stat().st_size <= 30 * 2**20
    assert "all-MiniLM-L6-v2" in meta["base_model"] and meta["data"]


def test_a_damaged_model_file_is_refused_clearly(model):
    folder, load, error, what = model
    data = bytearray((folder / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(error, match=f"^{what} file .* is damaged .*; reinstall rag$"):
        load(folder)


@pytest.mark.parametrize("name", [MODEL_FILE, TOKENIZER_FILE, META_FILE])
def test_a_missing_file_is_refused_clearly(model, name):
    folder, load, error, what = model
    (folder / name).unlink()
    with pytest.raises(error, match=f"^{what} is missing"):
        load(folder)


def test_an_unreadable_meta_file_is_refused_clearly(model):
    folder, load, error, what = model
    (folder / META_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(error, match="damaged"):
        load(folder)
    (folder / META_FILE).write_text(json.dumps({"sha256": "none"}), encoding="utf-8")
    with pytest.raises(error, match="damaged"):
        load(folder)
    assert "\n" not in str(pytest.raises(error, load, folder).value)
