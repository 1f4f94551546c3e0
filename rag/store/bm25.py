"""BM25 models (bm25s) over chunk texts: built, saved with a version, loaded back.

Saved with the index, they are loaded at the first question instead of built there: on
19,226 SciFact chunks building both takes about 5.6 s (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag import light_imports
from rag.analysis import TOKENISERS, TOKENS_VERSION

log = logging.getLogger("rag")


def build(texts: list[str], tokens: str, k1: float, b: float):
    """BM25 over ``texts``; None when they hold no term at all (only stop words or symbols),
    which bm25s cannot index."""
    corpus = TOKENISERS[tokens](texts)
    if not any(corpus):
        return None
    model = light_imports.bm25s().BM25(k1=k1, b=b)
    model.index(corpus, show_progress=False)
    return model


def save_all(folder: Path, texts: list[str], k1: float, b: float) -> list[str]:
    """Both models (words, character n-grams) over ``texts``, each in its own subfolder of
    ``folder``; return the files written, relative to ``folder``."""
    written: list[str] = []
    for tokens in TOKENISERS:
        model = build(texts, tokens, k1, b)
        if model is not None:
            sub = folder / f"bm25-{tokens}"
            model.save(str(sub), show_progress=False)
            written += sorted(str(f.relative_to(folder)) for f in sub.iterdir())
    return written


def manifest_entry(k1: float, b: float) -> dict:
    """What a manifest records of the saved models, to tell whether they still fit: our
    tokens' version, bm25s's (its stop words and format), and the BM25 parameters."""
    return {"tokens_version": TOKENS_VERSION, "bm25s": light_imports.bm25s().__version__, "k1": k1, "b": b,
            "tokens": sorted(TOKENISERS)}


def load_saved(folder: Path, count: int):
    """The model saved in ``folder`` if it holds ``count`` documents, else None."""
    if not folder.is_dir():
        return None
    try:  # its files passed their checksums when the index was loaded
        model = light_imports.bm25s().BM25.load(str(folder), show_progress=False)
    except Exception as e:  # gone with a pruned generation, or unreadable: build it instead
        log.warning("cannot load the saved BM25 model in %s (%s); building it", folder, type(e).__name__)
        return None
    return model if int(model.scores["num_docs"]) == count else None


def search(model, query: str, tokens: str, k: int) -> list[tuple[int, float]]:
    """(row, score) of the ``k`` best documents with a positive score."""
    if model is None:
        return []
    terms = TOKENISERS[tokens]([query])[0]
    k = min(k, int(model.scores["num_docs"]))
    known = [t for t in terms if t in model.vocab_dict]
    if not known or k == 0:
        return []
    ids, scores = model.retrieve([known], k=k, show_progress=False, n_threads=1)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]
