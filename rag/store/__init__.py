"""Stores, by the scheme of the ``store`` setting: a new one is one module and one entry here.

``RAG_STORE`` unset (or ``local``): the FAISS and bm25s files in ``RAG_INDEX_DIR``.
``memory``: in memory, for tests.
``postgresql://user@host/db`` (or ``postgres://``): a shared PostgreSQL store with pgvector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rag.store.base import Backend, Store, StoreDamaged, StoreMissing, StoreProblem, StoreUnwritable, Writer

if TYPE_CHECKING:
    from rag.settings import Settings

__all__ = ["Backend", "Store", "Writer", "StoreProblem", "StoreMissing", "StoreDamaged", "StoreUnwritable",
           "BACKENDS", "backend_for"]


def _local(settings: "Settings") -> Backend:
    from rag.store.local import LocalBackend

    return LocalBackend(settings.index_dir, settings.bm25_k1, settings.bm25_b)


def _memory(settings: "Settings") -> Backend:
    from rag.store.memory import MemoryBackend

    return MemoryBackend(settings.bm25_k1, settings.bm25_b)


def _postgres(settings: "Settings") -> Backend:
    from rag.store.postgres import PostgresBackend

    return PostgresBackend(settings.store, settings.bm25_k1, settings.bm25_b, ef_search=settings.pg_ef_search)


#: Scheme -> factory of a backend from the settings.
BACKENDS: dict[str, Callable[["Settings"], Backend]] = {"local": _local, "memory": _memory, "postgresql": _postgres}
#: Other names of a scheme: libpq takes ``postgres://`` as well as ``postgresql://``.
ALIASES = {"postgres": "postgresql"}


def backend_for(settings: "Settings") -> Backend:
    """The backend the ``store`` setting names (its scheme: ``local``, ``memory``, ...)."""
    scheme = settings.store.split(":", 1)[0].lower()
    factory = BACKENDS.get(ALIASES.get(scheme, scheme))
    if factory is None:
        from rag.settings import SettingsError

        raise SettingsError(f"unknown store {scheme!r} (RAG_STORE); choose one of {', '.join(BACKENDS)}")
    return factory(settings)
