"""Files -> documents -> chunks -> vectors -> index, embedding only what changed.

A file whose content hash is unchanged since the last build keeps its chunks, sentences
and vectors; new or changed files are chunked and embedded; deleted files drop out. A
change of model, chunking or boilerplate rules invalidates everything.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rag import index_store, retrieval
from rag.chunking import Chunk, Sentence, chunk_sentences, split_sentences
from rag.documents import BUILTIN_BOILERPLATE, CorpusError, SourceFile, list_sources, load_file, load_rules
from rag.embeddings import Embedder, model_id
from rag.settings import Settings

log = logging.getLogger("rag")


@dataclass
class IndexReport:
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
        "boilerplate_file": str(settings.boilerplate_file.resolve()) if settings.boilerplate_file else None,
    }


#: Settings an index is built with; a query command uses the index's own unless told otherwise.
BUILD_SETTINGS = ("chunk_tokens", "chunk_overlap", "boilerplate_file", "sentence_vectors")


def adopt(manifest: dict[str, Any], settings: Settings) -> Settings:
    """``settings`` with the index's build settings wherever the user did not set them.

    So ``rag index --chunk-tokens 64`` is not undone by the next ``rag ask``.
    """
    taken: dict[str, Any] = {}
    for name in BUILD_SETTINGS:
        if name in settings.explicit or name not in manifest:
            continue
        value = manifest[name]
        taken[name] = Path(value) if name == "boilerplate_file" and value else value
    return replace(settings, **taken) if taken else settings


def stale_reason(manifest: dict[str, Any], settings: Settings, files: list[SourceFile]) -> str | None:
    """Why an index built with ``manifest`` no longer fits the corpus and settings, or None."""
    want = fingerprint(settings)
    if manifest.get("model") != want["model"]:
        return f"it was built with another model ({manifest.get('model')})"
    for key in ("chunk_tokens", "chunk_overlap", "boilerplate_sha256", "sentence_vectors"):
        if manifest.get(key) != want[key]:
            return f"the {key.replace('_', ' ')} setting changed"
    if manifest.get("corpus") != str(settings.corpus.resolve()):
        return f"it indexes another corpus ({manifest.get('corpus')})"
    if manifest.get("files") != {f.source: f.sha256 for f in files}:
        return "articles were added, changed or removed"
    return None


def build(settings: Settings, embedder: Embedder, rebuild: bool = False,
          progress: bool = False) -> IndexReport:
    """Bring the index up to date with the corpus; write it atomically."""
    t0 = time.perf_counter()
    with index_store.BuildLock(settings.index_dir):
        files = list_sources(settings.corpus, settings.extensions)
        if not files:
            raise CorpusError(f"no articles ({', '.join(settings.extensions)}) in {settings.corpus}")
        want = fingerprint(settings)
        old = None if rebuild else _previous(settings.index_dir, want)
        old_files = old.manifest.get("files", {}) if old else {}
        rules = load_rules(settings.boilerplate_file)
        max_tokens = min(settings.chunk_tokens, embedder.max_seq_length - 2)
        if max_tokens < settings.chunk_tokens:
            log.warning("chunk size %d is over the model's limit; using %d tokens",
                        settings.chunk_tokens, max_tokens)

        report = IndexReport(generation="", files=len(files))
        report.removed = sorted(set(old_files) - {f.source for f in files})
        groups: list[tuple[list[Chunk], list[Sentence], Any, Any]] = []
        fresh: list[tuple[int, list[Chunk], list[Sentence]]] = []
        by_source = _rows_by_source(old) if old is not None else {}
        for f in files:
            if old is not None and old_files.get(f.source) == f.sha256:
                groups.append(_reuse(old, f.source, by_source))
                report.reused.append(f.source)
                continue
            chunks, sentences = [], []
            for doc in load_file(f, rules):
                doc_sentences = split_sentences(doc, embedder, max_tokens)
                chunks += chunk_sentences(doc, doc_sentences, max_tokens,
                                          min(settings.chunk_overlap, max_tokens // 2), len(sentences))
                sentences += doc_sentences
            fresh.append((len(groups), chunks, sentences))
            groups.append((chunks, sentences, None, None))
            report.embedded.append(f.source)

        new_chunks = [c for _, cs, _ in fresh for c in cs]
        new_sentences = [s for _, _, ss in fresh for s in ss]
        if new_chunks:
            log.info("embedding %d chunks from %d files", len(new_chunks), len(fresh))
        chunk_vecs = embedder.encode([c.text for c in new_chunks], progress=progress)
        sent_vecs = (embedder.encode([s.text for s in new_sentences], progress=progress)
                     if settings.sentence_vectors else None)
        ci = si = 0
        for g, cs, ss in fresh:
            groups[g] = (cs, ss, chunk_vecs[ci:ci + len(cs)],
                         None if sent_vecs is None else sent_vecs[si:si + len(ss)])
            ci, si = ci + len(cs), si + len(ss)

        chunks, sentences, cvecs, svecs = _assemble(groups, settings.sentence_vectors, embedder)
        if not chunks:
            raise CorpusError(f"no readable text in the articles of {settings.corpus}")
        manifest = dict(want, dim=int(cvecs.shape[1]), corpus=str(settings.corpus.resolve()),
                        files={f.source: f.sha256 for f in files},
                        bm25=retrieval.bm25_manifest(settings.bm25_k1, settings.bm25_b),
                        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        gen = index_store.save(settings.index_dir, manifest, chunks, sentences, cvecs, svecs,
                               extras=lambda folder: retrieval.save_bm25(folder, chunks, settings.bm25_k1,
                                                                         settings.bm25_b))
    report.generation, report.chunks, report.sentences = gen.name, len(chunks), len(sentences)
    report.seconds = time.perf_counter() - t0
    embedder.prepare_query_encoder()  # the light encoder `rag ask` uses (rag.query_encoder); never raises
    return report


def _previous(index_dir: Path, want: dict[str, Any]) -> index_store.Index | None:
    """The current index if its vectors can be reused, else None (saying why when it matters)."""
    try:
        old = index_store.load(index_dir)
    except index_store.IndexMissing:
        return None
    except index_store.IndexDamaged as e:
        log.warning("existing index is damaged (%s); rebuilding it", e)
        return None
    if any(old.manifest.get(k) != v for k, v in want.items()):
        return None
    return old


def _rows_by_source(old: index_store.Index) -> dict[str, tuple[list[int], list[int]]]:
    """Chunk and sentence rows of every source in the previous index, in one pass."""
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for i, c in enumerate(old.chunks):
        rows.setdefault(c.source, ([], []))[0].append(i)
    for i, s in enumerate(old.sentences):
        rows.setdefault(s.source, ([], []))[1].append(i)
    return rows


def _reuse(old: index_store.Index, source: str, by_source: dict[str, tuple[list[int], list[int]]]):
    """One unchanged file's chunks, sentences and vectors from the previous index."""
    c_ids, s_ids = by_source.get(source, ([], []))
    base = s_ids[0] if s_ids else 0
    chunks = [replace(old.chunks[i], first_sentence=old.chunks[i].first_sentence - base,
                      last_sentence=old.chunks[i].last_sentence - base) for i in c_ids]
    if "chunk_vectors" not in old.cache:  # reconstruct all at once, not row by row
        old.cache["chunk_vectors"] = old.chunk_vectors()
    cvecs = old.cache["chunk_vectors"][c_ids] if c_ids else None
    svecs = old.sentence_vectors[s_ids] if old.sentence_vectors is not None and s_ids else None
    return chunks, [old.sentences[i] for i in s_ids], cvecs, svecs


def _assemble(groups, with_sentence_vectors: bool, embedder: Embedder):
    """Concatenate per-file groups, shifting sentence ranges to the combined table."""
    import numpy as np

    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    cvecs: list[np.ndarray] = []
    svecs: list[np.ndarray] = []
    for cs, ss, cv, sv in groups:
        offset = len(sentences)
        chunks += [replace(c, first_sentence=c.first_sentence + offset,
                           last_sentence=c.last_sentence + offset) for c in cs]
        sentences += ss
        if cs:
            cvecs.append(cv)
        if ss and with_sentence_vectors:
            svecs.append(sv)
    dim = cvecs[0].shape[1] if cvecs else embedder.dim
    chunk_matrix = np.concatenate(cvecs) if cvecs else np.zeros((0, dim), np.float32)
    sentence_matrix = (np.concatenate(svecs) if svecs else np.zeros((0, dim), np.float32)) \
        if with_sentence_vectors else None
    return chunks, sentences, chunk_matrix, sentence_matrix
