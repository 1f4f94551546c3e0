"""Files -> documents -> chunks -> vectors -> store, embedding only what changed.

A file whose content hash is unchanged since the last build keeps its chunks, sentences
and vectors; new or changed files are chunked, embedded and replace their old rows;
deleted files drop out; the store commits all of it at once. A change of model, chunking
or boilerplate rules invalidates everything.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from rag.embeddings import Embedder
from rag.indexing_steps import IndexReport, chunk_sizes, embed_into, encoder_of, fingerprint, read_file  # noqa: F401
from rag.loaders import CorpusError, SourceFile, corpus_files, load_rules
from rag.settings import Settings
from rag.store import Backend, Store, StoreDamaged, StoreMissing, backend_for

log = logging.getLogger("rag")

__all__ = ["IndexReport", "adopt", "build", "chunk_sizes", "embed_into", "encoder_of", "fingerprint", "read_file",
           "stale_reason"]


#: Settings an index is built with; a query command uses the index's own unless told otherwise.
BUILD_SETTINGS = ("chunk_tokens", "chunk_overlap", "boilerplate_file", "sentence_vectors", "encoder",
                  "sentence_pooling")


def adopt(manifest: dict[str, Any], settings: Settings) -> Settings:
    """``settings`` with the index's build settings wherever the user did not set them.

    So ``rag index --chunk-tokens 64`` is not undone by the next ``rag ask``.
    """
    taken: dict[str, Any] = {}
    for name in BUILD_SETTINGS:
        if name in settings.explicit or name not in manifest:
            continue
        if name == "sentence_pooling" and manifest.get("encoder") == "torch":
            continue  # not a choice the torch encoder makes
        value = manifest[name]
        taken[name] = Path(value) if name == "boilerplate_file" and value else value
    return replace(settings, **taken) if taken else settings


def stale_reason(manifest: dict[str, Any], settings: Settings, files: list[SourceFile]) -> str | None:
    """Why an index built with ``manifest`` no longer fits the corpus and settings, or None."""
    want = fingerprint(settings)
    if manifest.get("model") != want["model"]:
        return f"it was built with another model ({manifest.get('model')})"
    for key in ("chunk_tokens", "chunk_overlap", "boilerplate_sha256", "sentence_vectors", "encoder",
                "sentence_pooling"):
        if manifest.get(key) != want[key]:
            return f"the {key.replace('_', ' ')} setting changed"
    if manifest.get("corpus") != str(settings.corpus.resolve()):
        return f"it indexes another corpus ({manifest.get('corpus')})"
    if manifest.get("files") != {f.source: f.sha256 for f in files}:
        return "articles were added, changed or removed"
    return None


def build(settings: Settings, embedder: Embedder, rebuild: bool = False, progress: bool = False,
          backend: Backend | None = None, on_file: Callable[[int, int, str], None] | None = None) -> IndexReport:
    """Bring the store up to date with the corpus, in one commit.

    ``on_file(n, total, source)`` is called before each new or changed file is read and split
    (a large file takes a while before anything is embedded)."""
    t0 = time.perf_counter()
    backend = backend or backend_for(settings)
    if getattr(backend, "shared", False):  # many processes share the work (rag.indexing_shared)
        from rag import indexing_shared

        return indexing_shared.build(settings, embedder, backend, rebuild, progress, on_file)
    with backend.lock():
        files = corpus_files(settings)
        if not files:
            raise CorpusError(f"no articles ({', '.join(settings.extensions)}) in {settings.corpus}")
        want = fingerprint(settings)
        base = None if rebuild else _previous(backend, want)
        old_files = base.manifest.get("files", {}) if base else {}
        rules = load_rules(settings.boilerplate_file)
        max_tokens, overlap = chunk_sizes(settings, embedder)

        report = IndexReport(generation="", files=len(files))
        writer = backend.writer(base)
        report.removed = sorted(set(old_files) - {f.source for f in files})
        for source in report.removed:
            writer.delete(source)
        changed = [f for f in files if old_files.get(f.source) != f.sha256]
        report.reused = [f.source for f in files if old_files.get(f.source) == f.sha256]
        report.embedded = [f.source for f in changed]
        fresh = [read_file(f, n, len(changed), rules, embedder, max_tokens, overlap, on_file)
                 for n, f in enumerate(changed, 1)]
        embed_into(writer, fresh, embedder, settings.sentence_vectors, progress, want)
        pages = {s: n for s, n in (base.manifest.get("pages", {}) if base else {}).items() if s in report.reused}
        pages.update({source: max(p) for source, _, sentences in fresh
                      if (p := [s.page for s in sentences if s.page])})

        new_chunks = sum(len(cs) for _, cs, _ in fresh)
        if not new_chunks and not set(report.reused) & set(writer.sources()):
            raise CorpusError(f"no readable text in the articles of {settings.corpus}")
        dim = embedder.dim if new_chunks or base is None else int(base.manifest["dim"])
        manifest = dict(want, dim=dim, corpus=str(settings.corpus.resolve()),
                        files={f.source: f.sha256 for f in files}, pages=dict(sorted(pages.items())),
                        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        if base is not None and _unchanged(base.manifest, manifest):
            report.generation = base.version  # nothing to write: a no-op build keeps the version it has
        else:
            report.generation = writer.commit(manifest)
    counts = backend.manifest().get("counts", {})
    report.chunks, report.sentences = counts.get("chunks", 0), counts.get("sentences", 0)
    report.seconds = time.perf_counter() - t0
    embedder.prepare_query_encoder()  # the light encoder `rag ask` uses (rag.embeddings); never raises
    return report


def _unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all(old.get(k) == v for k, v in new.items() if k != "built_at")


def _previous(backend: Backend, want: dict[str, Any]) -> Store | None:
    """The current store version if its vectors can be reused, else None (saying why when it matters)."""
    try:
        old = backend.open()
    except StoreMissing:
        return None
    except StoreDamaged as e:
        log.warning("existing index is damaged (%s); rebuilding it", e)
        return None
    if any(old.manifest.get(k) != v for k, v in want.items()):
        return None
    return old
