"""The local store on disk: generation folders, the atomic ``CURRENT`` pointer, checksums.

Each write makes a complete new *generation* folder, then switches the one-line
``CURRENT`` file to it with an atomic rename. A crash or Ctrl-C mid-write leaves the old
generation current; readers (a live server among them) never see a mix. The manifest
records a SHA-256 of every file in its generation, so a damaged or truncated file is
detected on load instead of surfacing as a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rag.files import fsync, sha256, write_text_atomic
from rag.store.base import StoreDamaged, StoreMissing, StoreUnwritable
from rag.types import Chunk, Sentence

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
POINTER = "CURRENT"
LOCK = ".lock"


@dataclass
class Generation:
    """One generation's contents, loaded and verified."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    sentences: list[Sentence]
    vectors: Any  # faiss.Index over chunk vectors, inner product on unit vectors
    sentence_vectors: "np.ndarray | None"

    def chunk_vectors(self) -> "np.ndarray":
        """Every chunk vector, in row order (FAISS holds them; this copies them out)."""
        return self.vectors.reconstruct_n(0, self.vectors.ntotal)


def unwritable(index_dir: Path, error: OSError) -> StoreUnwritable:
    return StoreUnwritable(f"cannot write the index in {index_dir}: {error.strerror or error}")


def current(index_dir: Path) -> Path | None:
    """The current generation's folder, or None when nothing was built."""
    try:
        name = (index_dir / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StoreDamaged(f"cannot read {index_dir / POINTER}: {e.strerror}") from None
    except UnicodeDecodeError:
        name = ""
    if not re.fullmatch(r"gen-[A-Za-z0-9_-]+", name):
        raise StoreDamaged(f"{index_dir / POINTER} does not name a generation")
    return index_dir / name


def read_manifest(index_dir: Path, gen: Path | None = None) -> dict[str, Any]:
    """The manifest of generation ``gen`` (default: the current one)."""
    gen = gen or current(index_dir)
    if gen is None:
        raise StoreMissing(f"no index in {index_dir}")
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreDamaged(f"{gen.name}/manifest.json is missing") from None
    except (OSError, ValueError):
        raise StoreDamaged(f"{gen.name}/manifest.json is not readable JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise StoreDamaged(f"{gen.name}/manifest.json is not a format {FORMAT_VERSION} manifest")
    return manifest


def load(index_dir: Path) -> Generation:
    """Load and verify the current generation; raise StoreMissing or StoreDamaged."""
    import faiss
    import numpy as np

    # Read CURRENT once: a build switching it mid-load must not pair one generation's
    # manifest with another's files (that would look like damage and force a rebuild).
    gen = current(index_dir)
    if gen is None:
        raise StoreMissing(f"no index in {index_dir}")
    manifest = read_manifest(index_dir, gen)
    for name, digest in manifest.get("checksums", {}).items():
        try:
            actual = sha256(gen / name)
        except OSError:
            raise StoreDamaged(f"{gen.name}/{name} is missing") from None
        if actual != digest:
            raise StoreDamaged(f"{gen.name}/{name} is damaged (checksum mismatch)")
    try:
        tables = json.loads((gen / "tables.json").read_text(encoding="utf-8"))
        chunks = [Chunk(**c) for c in tables["chunks"]]
        sentences = [Sentence(**s) for s in tables["sentences"]]
        vectors = faiss.read_index(str(gen / "chunks.faiss"))
        svec = np.load(gen / "sentences.npy") if (gen / "sentences.npy").exists() else None
    except Exception as e:  # corrupt content that still matched (or had no) checksum
        raise StoreDamaged(f"{gen.name} cannot be read: {type(e).__name__}") from None
    if vectors.ntotal != len(chunks) or (svec is not None and len(svec) != len(sentences)):
        raise StoreDamaged(f"{gen.name}: vector and table counts disagree")
    return Generation(path=gen, manifest=manifest, chunks=chunks, sentences=sentences, vectors=vectors,
                      sentence_vectors=svec)


def save(index_dir: Path, manifest: dict[str, Any], chunks: list[Chunk], sentences: list[Sentence],
         chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None",
         extras: Callable[[Path], list[str]] | None = None) -> Path:
    """Write a new generation and make it current atomically; return its folder.

    ``extras(folder)`` writes more files into the generation before it is made current
    (BM25 models) and returns their paths relative to it, to be checksummed like the rest.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        gen = _write(index_dir, manifest, chunks, sentences, chunk_vectors, sentence_vectors, extras)
    except OSError as e:
        raise unwritable(index_dir, e) from None
    prune(index_dir, keep=gen.name)
    return gen


def _write(index_dir: Path, manifest: dict[str, Any], chunks: list[Chunk], sentences: list[Sentence],
           chunk_vectors: "np.ndarray", sentence_vectors: "np.ndarray | None",
           extras: Callable[[Path], list[str]] | None) -> Path:
    import faiss
    import numpy as np

    gen = index_dir / f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = index_dir / f".tmp-{gen.name}"
    tmp.mkdir()
    try:
        vectors = faiss.IndexFlatIP(int(manifest["dim"]))
        if len(chunk_vectors):
            vectors.add(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
        faiss.write_index(vectors, str(tmp / "chunks.faiss"))
        tables = {"chunks": [dataclasses.asdict(c) for c in chunks],
                  "sentences": [dataclasses.asdict(s) for s in sentences]}
        (tmp / "tables.json").write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")
        names = ["chunks.faiss", "tables.json"]
        if sentence_vectors is not None:
            with open(tmp / "sentences.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(sentence_vectors, dtype=np.float32))
            names.append("sentences.npy")
        if extras is not None:
            names += extras(tmp)
        manifest = dict(manifest, format_version=FORMAT_VERSION,
                        checksums={n: sha256(tmp / n) for n in names},
                        counts={"chunks": len(chunks), "sentences": len(sentences)})
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        for n in names + ["manifest.json"]:
            fsync(tmp / n)
        for folder in {(tmp / n).parent for n in names} | {tmp}:
            fsync(folder)  # their entries too, before the rename makes the generation visible
        os.rename(tmp, gen)
        write_text_atomic(index_dir / POINTER, gen.name + "\n")  # makes the renames durable too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return gen


class BuildLock:
    """One builder at a time per index folder (other builders wait)."""

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / LOCK
        self._fh = None

    def __enter__(self) -> "BuildLock":
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a")
        except OSError as e:
            raise unwritable(self.path.parent, e) from None
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        reclaim(self.path.parent)
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def reclaim(index_dir: Path) -> None:
    """What a killed build left (a half-written folder, a pointer never renamed, generations
    it had no time to prune): only a builder holding the lock writes them, so a builder that
    holds it now can remove them at once instead of waiting an hour."""
    try:
        for p in [*index_dir.glob(".tmp-gen-*"), *index_dir.glob(f".{POINTER}.*")]:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        gen = current(index_dir)
    except (OSError, StoreDamaged):
        return
    if gen is not None:
        prune(index_dir, keep=gen.name)


def prune(index_dir: Path, keep: str) -> None:
    """Drop old generations, keeping the newest previous one for live readers (what a killed
    build leaves is :func:`reclaim`'s, at the next build).

    Best effort: the new generation is already current, so a failure here is not an error.
    """
    try:
        gens = sorted((p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != keep),
                      key=lambda p: p.stat().st_mtime)
        for p in gens[:-1]:
            shutil.rmtree(p, ignore_errors=True)
    except OSError:
        pass
