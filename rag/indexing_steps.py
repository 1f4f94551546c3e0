"""The steps of one build that every kind of build shares: what it records, one file read,
new files embedded into a writer.

rag/indexing.py builds alone; rag/indexing_shared.py claims files from a shared store's
queue. Both use these, and neither imports the other's build.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from rag.chunking import chunk_sentences, split_sentences
from rag.embeddings import Embedder, model_id, resolve_model
from rag.loaders import BUILTIN_BOILERPLATE, CorpusError, SourceFile, load_file
from rag.settings import Settings

log = logging.getLogger("rag")


@dataclass
class IndexReport:
    """What a build did: which files were embedded, kept or removed, and the totals."""

    generation: str
    files: int
    embedded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    chunks: int = 0
    sentences: int = 0
    seconds: float = 0.0


def fingerprint(settings: Settings) -> dict[str, Any]:
    """What the vectors depend on besides the files: if any of it changes, re-embed all."""
    rules = BUILTIN_BOILERPLATE.read_bytes()
    if settings.boilerplate_file:
        try:
            rules += settings.boilerplate_file.read_bytes()
        except OSError as e:
            raise CorpusError(f"cannot read boilerplate rules {settings.boilerplate_file}: {e.strerror}") from None
    return {
        "model": model_id(settings.model),
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "boilerplate_sha256": hashlib.sha256(rules).hexdigest(),
        "sentence_vectors": settings.sentence_vectors,
        **encoder_of(settings),
        "boilerplate_file": str(settings.boilerplate_file.resolve()) if settings.boilerplate_file else None,
    }


def encoder_of(settings: Settings) -> dict[str, Any]:
    """Which encoder builds the vectors (a model without a local folder has only torch), and
    whether sentence vectors are pooled from the chunks' pass (ONNX encoders only)."""
    encoder = settings.encoder if settings.encoder == "torch" or resolve_model(settings.model) else "torch"
    return {"encoder": encoder,
            "sentence_pooling": settings.sentence_pooling and settings.sentence_vectors and encoder != "torch"}


def chunk_sizes(settings: Settings, embedder: Embedder) -> tuple[int, int]:
    """Chunk size and overlap in tokens, within the model's limit."""
    max_tokens = min(settings.chunk_tokens, embedder.max_seq_length - 2)
    if max_tokens < settings.chunk_tokens:
        log.warning("chunk size %d is over the model's limit; using %d tokens", settings.chunk_tokens, max_tokens)
    return max_tokens, min(settings.chunk_overlap, max_tokens // 2)


def read_file(f: SourceFile, n: int, total: int, rules, embedder: Embedder, max_tokens: int, overlap: int,
              on_file: Callable[[int, int, str], None] | None) -> tuple[str, list, list]:
    """One file's chunks and sentences (its sentence ranges count from 0)."""
    log.info("reading %d/%d: %s", n, total, f.source)
    if on_file is not None:
        on_file(n, total, f.source)
    chunks, sentences = [], []
    for doc in load_file(f, rules):
        doc_sentences = split_sentences(doc, embedder, max_tokens)
        chunks += chunk_sentences(doc, doc_sentences, max_tokens, overlap, len(sentences))
        sentences += doc_sentences
    return f.source, chunks, sentences


def embed_into(writer, fresh: list, embedder: Embedder, with_sentences: bool, progress: bool,
               want: dict[str, Any] | None = None) -> None:
    """Embed the new files' chunks (and sentences) and hand them to ``writer``: with the encoder
    ``want`` names, sentences pooled from the chunks' pass when it says so, else a pass of their own."""
    want = want or {}
    if hasattr(embedder, "use") and "encoder" in want:
        embedder.use(want["encoder"])
    texts = [c.text for _, cs, _ in fresh for c in cs]
    if texts:
        log.info("embedding %d chunks from %d files", len(texts), len(fresh))
    if with_sentences and want.get("sentence_pooling"):
        chunk_vecs, sent_vecs = pooled(fresh, embedder, progress)
    else:
        chunk_vecs = embedder.encode(texts, progress=progress)
        sent_vecs = (embedder.encode([s.text for _, _, ss in fresh for s in ss], progress=progress)
                     if with_sentences else None)
    ci = si = 0
    for source, cs, ss in fresh:
        writer.replace(source, cs, ss, chunk_vecs[ci:ci + len(cs)],
                       None if sent_vecs is None else sent_vecs[si:si + len(ss)])
        ci, si = ci + len(cs), si + len(ss)


def pooled(fresh: list, embedder: Embedder, progress: bool) -> tuple[Any, Any]:
    """Chunk vectors, and sentence vectors pooled from the same pass (a sentence no chunk's
    tokens cover, which should not happen, is encoded on its own)."""
    texts, spans, base = [], [], 0
    for _, cs, ss in fresh:
        for c in cs:
            texts.append(c.text)
            spans.append([(ss[k].start - c.start, ss[k].end - c.start, base + k)
                          for k in range(c.first_sentence, c.last_sentence)])
        base += len(ss)
    chunk_vecs, sent_vecs = embedder.encode_pooled(texts, spans, progress=progress)
    if len(sent_vecs) < base:
        import numpy as np

        sent_vecs = np.vstack([sent_vecs, np.zeros((base - len(sent_vecs), sent_vecs.shape[1]), np.float32)])
    missing = [i for i in range(base) if not sent_vecs[i].any()]
    if missing:
        everything = [s for _, _, ss in fresh for s in ss]
        sent_vecs[missing] = embedder.encode([everything[i].text for i in missing])
    return chunk_vecs, sent_vecs
