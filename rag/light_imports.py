"""Imports that would otherwise drag unused heavy modules into a one-off ``rag ask``.

``bm25s`` imports numba, scipy, jax and tqdm eagerly whenever they are installed (numba
comes with ``ranx``, scipy with sentence-transformers), which costs ~0.7 s of CPU. The
project only uses bm25s's default numpy backends with progress bars off, so none of them
is needed and results are the same without them.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

#: Modules bm25s tries to import at import time and can do without.
BM25S_OPTIONAL = ("numba", "scipy", "jax", "tqdm")


def bm25s() -> ModuleType:
    """The bm25s module, imported without its optional accelerators when that is safe.

    Hiding a module means a ``None`` entry in ``sys.modules`` for the length of the
    import; a second thread importing one of them at that moment would fail, so this is
    done only while the process has a single thread (a CLI run). Otherwise a plain import.
    """
    if "bm25s" in sys.modules or threading.active_count() > 1:
        # A plain import: it waits for another thread's import of bm25s to finish, where
        # returning sys.modules["bm25s"] could hand out a half-initialised module.
        import bm25s as module

        return module
    hidden = [name for name in BM25S_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes "import name" raise ImportError
    try:
        import bm25s as module
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return module
