"""Answerers, by the ``answerer`` setting: a new one is one module and one entry here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rag.answering.base import Answerer

if TYPE_CHECKING:
    from rag.embeddings import Embedder
    from rag.settings import Settings
    from rag.store.base import Store

__all__ = ["Answerer", "ANSWERERS", "answerer_for", "check"]


def _extractive(store: "Store", settings: "Settings", embedder: "Embedder") -> Answerer:
    from rag.answering.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(store, threshold=settings.abstain_threshold,
                              max_sentences=settings.max_answer_sentences, encode=embedder.encode)


def _reader(store: "Store", settings: "Settings", embedder: "Embedder") -> Answerer:
    from rag.answering.learned import ReaderAnswerer

    return ReaderAnswerer(store, threshold=settings.reader_threshold,
                          max_sentences=settings.max_answer_sentences, encode=embedder.encode)


#: Name -> factory of an answerer over one store version.
ANSWERERS: dict[str, Callable[["Store", "Settings", "Embedder"], Answerer]] = {
    "extractive": _extractive, "reader": _reader}
ANSWERERS["llm"] = lambda *args: __import__("rag.answering.llm", fromlist=["_"]).LLMAnswerer(*args)  # --llm


def check(name: str) -> None:
    """A SettingsError unless ``name`` (the ``answerer`` setting) is one of :data:`ANSWERERS`."""
    if name not in ANSWERERS:
        from rag.settings import SettingsError

        raise SettingsError(f"answerer must be one of {', '.join(ANSWERERS)}, got {name!r}")


def answerer_for(store: "Store", settings: "Settings", embedder: "Embedder") -> Answerer:
    check(settings.answerer)
    return ANSWERERS[settings.answerer](store, settings, embedder)
