"""The local store on disk: generations, the atomic CURRENT pointer, checksums, damage detection."""

from __future__ import annotations

import hashlib
import json
import os

import bm25s
import numpy as np
import pytest
from conftest import SEEDS, current_generation

from rag.store import StoreDamaged, StoreMissing, generations


def resave(index_dir):
    """Write the current index again as a new generation (same content)."""
    idx = generations.load(index_dir)
    manifest = {k: v for k, v in idx.manifest.items() if k not in ("checksums", "counts")}
    return generations.save(index_dir, manifest, idx.chunks, idx.sentences, idx.chunk_vectors(),
                            idx.sentence_vectors)


def test_manifest_records_what_the_index_depends_on(seed_index_dir):
    idx = generations.load(seed_index_dir)
    m = idx.manifest
    assert m["format_version"] == generations.FORMAT_VERSION
    assert m["model"] == "all-MiniLM-L6-v2" and m["dim"] == 384
    assert (m["chunk_tokens"], m["chunk_overlap"]) == (128, 32)
    assert m["files"] == {f"seeds/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                          for p in sorted(SEEDS.glob("*.txt"))}
    bm25 = {f"bm25-{t}/{f}" for t in ("words", "chars") for f in (
        "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "params.index.json", "vocab.index.json")}
    assert set(m["checksums"]) == {"chunks.faiss", "tables.json", "sentences.npy"} | bm25
    assert m["bm25"] == {"tokens_version": 1, "bm25s": bm25s.__version__, "k1": 1.2, "b": 0.75,
                         "tokens": ["chars", "words"]}
    assert m["counts"] == {"chunks": len(idx.chunks), "sentences": len(idx.sentences)}
    assert idx.vectors.ntotal == len(idx.chunks) and idx.sentence_vectors.shape == (len(idx.sentences), 384)
    assert np.allclose(np.linalg.norm(idx.chunk_vectors(), axis=1), 1.0, atol=1e-4)
    assert {c.source for c in idx.chunks} == set(m["files"])


def test_save_then_load_round_trips(seed_index_copy):
    before = generations.load(seed_index_copy)
    gen = resave(seed_index_copy)
    after = generations.load(seed_index_copy)
    assert after.path == gen and after.path.name != before.path.name
    assert after.chunks == before.chunks and after.sentences == before.sentences
    assert np.array_equal(after.chunk_vectors(), before.chunk_vectors())
    assert np.array_equal(after.sentence_vectors, before.sentence_vectors)


def test_old_generations_are_pruned_keeping_one_previous(seed_index_copy):
    for _ in range(3):
        resave(seed_index_copy)
    gens = sorted(p.name for p in seed_index_copy.glob("gen-*"))
    assert len(gens) == 2 and current_generation(seed_index_copy) in gens


def test_no_index_is_missing_not_damaged(tmp_path):
    with pytest.raises(StoreMissing):
        generations.load(tmp_path / "nothing-here")
    with pytest.raises(StoreMissing):
        generations.read_manifest(tmp_path)


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


DAMAGE = {
    "chunks.faiss truncated": (lambda gen: truncate(gen / "chunks.faiss"), "chunks.faiss"),
    "tables.json truncated": (lambda gen: truncate(gen / "tables.json"), "tables.json"),
    "sentences.npy truncated": (lambda gen: truncate(gen / "sentences.npy", 0.9), "sentences.npy"),
    "chunks.faiss missing": (lambda gen: (gen / "chunks.faiss").unlink(), "chunks.faiss"),
    "saved BM25 vocabulary truncated": (lambda gen: truncate(gen / "bm25-chars" / "vocab.index.json"),
                                        "bm25-chars/vocab.index.json"),
    "manifest.json truncated": (lambda gen: truncate(gen / "manifest.json"), "manifest.json"),
    "manifest.json empty": (lambda gen: (gen / "manifest.json").write_text(""), "manifest.json"),
    "manifest.json of another format": (
        lambda gen: (gen / "manifest.json").write_text(json.dumps({"format_version": 99})), "manifest.json"),
    "CURRENT garbage": (lambda gen: (gen.parent / "CURRENT").write_bytes(b"\x00\xff garbage/../x\n"), "CURRENT"),
    "CURRENT empty": (lambda gen: (gen.parent / "CURRENT").write_text(""), "CURRENT"),
    "CURRENT names a missing generation": (
        lambda gen: (gen.parent / "CURRENT").write_text("gen-19700101-000000-1-1\n"), "manifest.json"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_detected_with_a_clear_message(seed_index_copy, damage):
    do, names = DAMAGE[damage]
    do(seed_index_copy / current_generation(seed_index_copy))
    with pytest.raises(StoreDamaged, match=names) as info:
        generations.load(seed_index_copy)
    assert "\n" not in str(info.value)


def test_crash_while_writing_keeps_the_previous_index(seed_index_copy, monkeypatch):
    """A build that dies after writing part of its files (here: at the first fsync)."""
    before = current_generation(seed_index_copy)

    def die(path):
        raise KeyboardInterrupt  # what Ctrl-C looks like mid-write

    monkeypatch.setattr(generations, "fsync", die)
    with pytest.raises(KeyboardInterrupt):
        resave(seed_index_copy)
    monkeypatch.undo()
    assert current_generation(seed_index_copy) == before
    assert not list(seed_index_copy.glob(".tmp-gen-*"))  # the half-written folder is gone
    assert len(generations.load(seed_index_copy).chunks) > 0


def test_crash_before_the_pointer_switch_keeps_the_previous_index(seed_index_copy, monkeypatch):
    before = current_generation(seed_index_copy)
    real_replace = os.replace

    def die(src, dst):
        if str(dst).endswith("CURRENT"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(generations.os, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        resave(seed_index_copy)
    monkeypatch.undo()
    assert current_generation(seed_index_copy) == before
    assert generations.load(seed_index_copy).path.name == before
    resave(seed_index_copy)  # and the next build still works, tidying up
    assert generations.load(seed_index_copy).path.name != before


def test_leftovers_of_a_killed_build_are_ignored(seed_index_copy):
    """SIGKILL gives no chance to clean up: a half-written folder and pointer stay behind."""
    before = current_generation(seed_index_copy)
    half = seed_index_copy / ".tmp-gen-20991231-235959-4242-1"
    half.mkdir()
    (half / "chunks.faiss").write_bytes(b"\x00" * 100)
    (half / "tables.json").write_text('{"chunks": [', encoding="utf-8")
    (seed_index_copy / ".CURRENT.4242.tmp").write_text(".tmp-gen-20991231", encoding="utf-8")
    assert generations.load(seed_index_copy).path.name == before
    resave(seed_index_copy)
    assert generations.load(seed_index_copy).path.name != before


def test_load_reads_one_generation_even_if_current_moves(seed_index_copy, monkeypatch):
    """A build switching CURRENT while a reader loads must not look like damage."""
    old_gen = current_generation(seed_index_copy)
    new_gen = resave(seed_index_copy).name
    (seed_index_copy / "CURRENT").write_text(old_gen + "\n")
    real = generations.current
    calls = []

    def moving(index_dir):
        calls.append(1)
        if len(calls) > 1:  # the pointer moves right after the first read
            (index_dir / "CURRENT").write_text(new_gen + "\n")
        return real(index_dir)

    # Make the two generations' files differ, so mixing them would fail the checksums.
    tables = seed_index_copy / new_gen / "tables.json"
    tables.write_text(json.dumps(json.loads(tables.read_text(encoding="utf-8")), indent=1), encoding="utf-8")
    monkeypatch.setattr(generations, "current", moving)
    idx = generations.load(seed_index_copy)
    assert idx.path.name == old_gen


def test_the_next_build_reclaims_what_killed_builds_left(seed_index_copy):
    """kill -9 leaves a half-written folder, a pointer never renamed, or generations a build had
    no time to prune: the next builder, holding the lock, removes them at once (not after an hour)."""
    current = current_generation(seed_index_copy)
    half = seed_index_copy / ".tmp-gen-20991231-235959-4242-1"
    half.mkdir()
    (half / "chunks.faiss").write_bytes(b"\x00" * 100)
    (seed_index_copy / ".CURRENT.4242.tmp").write_text("gen-x\n", encoding="utf-8")
    for n in range(3):  # older generations a killed build did not prune
        old = seed_index_copy / f"gen-20000101-00000{n}-1-1"
        old.mkdir()
        (old / "tables.json").write_text("{}", encoding="utf-8")
        os.utime(old, (n, n))
    with generations.BuildLock(seed_index_copy):
        pass
    assert not half.exists() and not (seed_index_copy / ".CURRENT.4242.tmp").exists()
    left = sorted(p.name for p in seed_index_copy.glob("gen-*"))
    assert current in left and len(left) == 2  # the current one and the newest previous one
    assert generations.load(seed_index_copy).path.name == current
