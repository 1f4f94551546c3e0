"""Indexing into a shared store (PostgreSQL): many ``rag index`` processes, on any machines, share
the work through the store's queue.

Each process plans (queue the files whose content the store lacks, drop the ones gone from
the corpus), then claims a few queued files at a time, reads, chunks and embeds them, and
writes them in the transaction that holds the claim. When nothing is left to claim it waits
for the files other workers hold, says so, and takes them over if those workers die or hang
(a claim is a lease: rag/store/postgres_queue.py), so every
``rag index`` returns only once the store holds the whole corpus. Files are independent, so
the result is the one a single process would build.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from rag import indexing_steps as steps
from rag.loaders import CorpusError, corpus_files, load_rules
from rag.store.base import StoreUnavailable

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
          on_file: Callable[[int, int, str], None] | None = None) -> steps.IndexReport:
    """Bring the shared store up to date with the corpus, with whatever other workers there are."""
    t0 = time.perf_counter()
    files = corpus_files(settings)
    if not files:
        raise CorpusError(f"no articles ({', '.join(settings.extensions)}) in {settings.corpus}")
    by_source = {f.source: f for f in files}
    meta = dict(steps.fingerprint(settings), dim=embedder.dim, corpus=str(settings.corpus.resolve()))
    plan = backend.plan({f.source: f.sha256 for f in files}, meta, rebuild)
    report = steps.IndexReport(generation="", files=len(files), reused=plan.unchanged, removed=plan.removed)
    rules = load_rules(settings.boilerplate_file)
    max_tokens, overlap = steps.chunk_sizes(settings, embedder)
    sources = sorted(by_source)
    said = None
    while True:
        try:
            with backend.claim(sources, CLAIM_FILES) as claim:
                todo = [by_source[s] for s in claim.sources if claim.stored.get(s) != by_source[s].sha256]
                fresh = [steps.read_file(f, len(report.embedded) + n, len(plan.queued), rules, embedder,
                                            max_tokens, overlap, on_file) for n, f in enumerate(todo, 1)]
                writer = claim.writer()
                steps.embed_into(writer, fresh, embedder, settings.sentence_vectors, progress, meta)
                manifest = dict(meta, files={f.source: f.sha256 for f in todo},
                                pages={s: max(p) for s, _, ss in fresh if (p := [x.page for x in ss if x.page])},
                                built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                claim.commit(writer, manifest)
        except StoreUnavailable:
            backend.pending(sources)  # still down: that error instead
            log.warning("this worker's claim ended while it was stopped; its files went back to the queue")
            continue
        report.embedded += [f.source for f in todo]
        if claim.sources:
            continue
        waiting = backend.pending(sources)
        if not waiting:
            break
        said = _waiting(backend, waiting, said)
        time.sleep(WAIT_SECONDS)  # the last files are another worker's; its claim ends with it
    store = backend.open()
    report.generation = store.version
    report.chunks, report.sentences = store.manifest["counts"]["chunks"], store.manifest["counts"]["sentences"]
    if not report.chunks:
        raise CorpusError(f"no readable text in the articles of {settings.corpus}")
    report.seconds = time.perf_counter() - t0
    embedder.prepare_query_encoder()
    return report


def _waiting(backend, files: int, said: tuple | None) -> tuple:
    """Take over claims that lapsed, and say (once per change) which files this worker waits for."""
    ended, holders = backend.end_lapsed_claims()
    now = (files, len(holders), bool(ended))
    if now != said and holders:
        silent = max(h.silent for h in holders)
        log.warning("waiting for %d file%s that %d other worker%s hold%s (heard from %.0f s ago at most); "
                    "a worker silent for %.0f s loses its claim", files, "s" * (files != 1), len(holders),
                    "s" * (len(holders) != 1), "s" * (len(holders) == 1), silent, backend.lease_seconds)
    return now
