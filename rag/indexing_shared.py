"""Indexing into a shared store (PostgreSQL): many ``rag index`` processes, on any machines, share
the work through the store's queue.

Each process plans (queue the files whose content the store lacks, drop the ones gone from
the corpus), then claims a few queued files at a time, reads, chunks and embeds them, and
writes them in the transaction that holds the claim. When nothing is left to claim it waits
for the files other workers hold, and takes them over if those workers die, so every
``rag index`` returns only once the store holds the whole corpus. Files are independent, so
the result is the one a single process would build.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from rag import indexing
from rag.loaders import CorpusError, corpus_files, load_rules

if TYPE_CHECKING:
    from rag.embeddings import Embedder
    from rag.settings import Settings

log = logging.getLogger("rag")

#: Files claimed per transaction: small files embed better in a batch; a claim is also the
#: most a killed worker leaves to redo.
CLAIM_FILES = 8
#: Seconds between looks at the queue while other workers hold the last files.
WAIT_SECONDS = 0.5


def build(settings: "Settings", embedder: "Embedder", backend, rebuild: bool = False, progress: bool = False,
          on_file: Callable[[int, int, str], None] | None = None) -> indexing.IndexReport:
    """Bring the shared store up to date with the corpus, with whatever other workers there are."""
    t0 = time.perf_counter()
    files = corpus_files(settings)
    if not files:
        raise CorpusError(f"no articles ({', '.join(settings.extensions)}) in {settings.corpus}")
    by_source = {f.source: f for f in files}
    meta = dict(indexing.fingerprint(settings), dim=embedder.dim, corpus=str(settings.corpus.resolve()))
    plan = backend.plan({f.source: f.sha256 for f in files}, meta, rebuild)
    report = indexing.IndexReport(generation="", files=len(files), reused=plan.unchanged, removed=plan.removed)
    rules = load_rules(settings.boilerplate_file)
    max_tokens, overlap = indexing.chunk_sizes(settings, embedder)
    sources = sorted(by_source)
    while True:
        with backend.claim(sources, CLAIM_FILES) as claim:
            todo = [by_source[s] for s in claim.sources if claim.stored.get(s) != by_source[s].sha256]
            fresh = [indexing.read_file(f, len(report.embedded) + n, len(plan.queued), rules, embedder, max_tokens,
                                        overlap, on_file) for n, f in enumerate(todo, 1)]
            writer = claim.writer()
            indexing.embed_into(writer, fresh, embedder, settings.sentence_vectors, progress)
            manifest = dict(meta, files={f.source: f.sha256 for f in todo},
                            pages={s: max(p) for s, _, ss in fresh if (p := [x.page for x in ss if x.page])},
                            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            claim.commit(writer, manifest)
        report.embedded += [f.source for f in todo]
        if not claim.sources and not backend.pending(sources):
            break
        if not claim.sources:
            time.sleep(WAIT_SECONDS)  # the last files are another worker's; its claim ends with it
    store = backend.open()
    report.generation = store.version
    report.chunks, report.sentences = store.manifest["counts"]["chunks"], store.manifest["counts"]["sentences"]
    if not report.chunks:
        raise CorpusError(f"no readable text in the articles of {settings.corpus}")
    report.seconds = time.perf_counter() - t0
    embedder.prepare_query_encoder()
    return report
