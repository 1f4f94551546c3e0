"""The BEIR benchmark path end to end on a small slice of SciFact (the full run is not CI's).

benchmarks/beir.py runs as users run it, in a subprocess: the product's loader, chunker,
embedder (the real model) and local store, then the benchmark's document ranker
(benchmarks/doc_ranking.py) and ranx. The slice is 200 documents: the relevant ones of as
many test queries as fit in half of that, plus distractors, so the figures are real
retrieval on a small corpus. The ranker's MaxP and tie order are checked on their own too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import fusion

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCIFACT = PROJECT_ROOT.parent / "shared" / "data" / "scifact"
BENCH = PROJECT_ROOT / "benchmarks" / "beir.py"
sys.path.insert(0, str(BENCH.parent))  # benchmarks/ is not a package: beir.py imports doc_ranking beside it

import doc_ranking  # noqa: E402

needs_scifact = pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(),
                                   reason=f"SciFact is not staged at {SCIFACT}")


def bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT_ROOT)


@needs_scifact
def test_small_slice_end_to_end(tmp_path):
    out = tmp_path / "beir.json"
    proc = bench(str(SCIFACT), "--split", "test", "--max-docs", "200", "--no-overhead", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())

    index = result["index"]
    assert index["docs"] == 200
    assert index["chunks"] >= index["docs"]  # long abstracts are split, not cut
    assert index["max_chunk_tokens"] <= 254  # MiniLM's 256-token window less [CLS]/[SEP]
    assert index["chunks_per_second"] > 0 and index["tokens_per_second"] > 0
    assert result["peak_rss_mb"] > 0
    assert result["queries"] >= 20

    metrics = result["metrics"]
    assert set(metrics) == {"dense", "bm25", "chars", "fused"}
    for mode, m in metrics.items():
        assert set(m) == {"ndcg@10", "recall@100", "mrr@10"}
        assert all(0.0 <= v <= 1.0 for v in m.values()), (mode, m)
    # On 200 documents half of which are relevant to some query, each retriever finds most
    # answers near the top (measured about 0.88-0.90 nDCG@10); a broken path scores far lower.
    for mode in metrics:
        assert metrics[mode]["ndcg@10"] >= 0.7, (mode, metrics[mode])
        assert metrics[mode]["recall@100"] >= 0.9, (mode, metrics[mode])
    assert "fused" in proc.stdout and "ndcg@10" in proc.stdout


def test_not_a_beir_folder(tmp_path):
    proc = bench(str(tmp_path), "--split", "test", timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: not a BEIR folder: {tmp_path / 'corpus.jsonl'} is missing"]


@needs_scifact
def test_sweep_refuses_the_test_split():
    proc = bench(str(SCIFACT), "--split", "test", "--sweep", timeout=120)
    assert proc.returncode == 1
    assert "train split" in proc.stderr


def test_a_document_scores_as_its_best_chunk_and_ties_go_by_number():
    of_chunk = np.array([1, 0, 1, 0])
    ranking, best = doc_ranking.max_per_document([(2, 0.9), (1, 0.9), (0, 0.5), (3, 0.4)], of_chunk)
    assert ranking == [(1, 0.9), (0, 0.9)] and best == {1: 2, 0: 1}
    # Fused, a tie goes to the lower document number, whatever order the rankings list them in.
    assert [d for d, _ in fusion.minmax([ranking, [(1, 2.0), (0, 2.0)]], [1.0, 1.0])] == [0, 1]


def test_document_ranker_over_a_local_store(small_index, embedder):
    from rag.store.local import LocalBackend

    store = LocalBackend(small_index.index_dir).open()
    chunks = store.generation.chunks
    table = doc_ranking.documents(store)
    assert table.ids == list(dict.fromkeys(c.doc_id for c in chunks)) and len(table.ids) == 2
    assert all(table.ids[table.of_chunk[i]] == c.doc_id for i, c in enumerate(chunks))
    assert table.texts[0] == " ".join(s.text for s in store.generation.sentences if s.doc_id == table.ids[0])

    ranker = doc_ranking.DocumentRanker.from_settings(store, small_index)
    query = "Who chairs the integrated care board?"
    vector = embedder.encode([query])[0]
    cosines = store.generation.chunk_vectors() @ vector
    dense = ranker.search(query, vector, 10, mode="dense")
    assert [h.rank for h in dense] == [1, 2]
    for hit in dense:  # MaxP: the document's best chunk, and its score
        rows = [i for i, c in enumerate(chunks) if c.doc_id == hit.doc_id]
        assert hit.chunk_row == max(rows, key=lambda i: cosines[i])
        assert hit.score == pytest.approx(float(cosines[hit.chunk_row]), abs=1e-5)
    fused = ranker.search(query, vector, 10)
    assert {h.doc_id for h in fused} == set(table.ids) and fused[0].score >= fused[1].score
    with pytest.raises(doc_ranking.RankingError, match="unknown mode"):
        ranker.search(query, vector, 10, mode="sparse")
