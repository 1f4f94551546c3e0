"""Word (.docx) indexing throughput: extraction alone, and ``rag index`` end to end.

    python benchmarks/docx_throughput.py [--docs 200] [--e2e-docs 20] [--repeat 3] [--json FILE]

Writes ``--docs`` Word files made from the seed articles (tests/make_docx.py: headings, a
bulleted list, empty paragraphs, and a table of five rows added to each), then times

- extraction: ``load_file`` on every file (python-docx opens the package, the loader walks
  its XML), best of ``--repeat``; also python-docx's open alone, to show where time goes;
- end to end: ``indexing.build`` (read, split, chunk, embed, store) of the first
  ``--e2e-docs`` files, and of the same text as plain .txt files for comparison, each built
  afresh ``--e2e-rounds`` times in alternating order (the fastest counts), the model loaded
  beforehand (a warm-up build exports the query encoder first).

Documents and paragraphs per second count Word files and their blocks with text
(paragraphs, list items, headings, table rows).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

TABLE = [("Organisation", "Role", "Since"), ("Integrated care board", "Plans and funds services", "2022"),
         ("Primary care network", "Groups practices for 30-50,000 people", "2019"),
         ("Health and Social Care Committee", "Scrutinises the department", "2010"),
         ("Local medical committee", "Represents GPs locally", "1911")]


def make_corpus(folder: Path, n: int) -> tuple[list[Path], int]:
    """``n`` Word files cycling through the seeds (each with its own title), their .txt twins
    under ``folder/txt`` (the loader's lines, a paragraph each: the same text without the
    sections), and the number of blocks with text in them."""
    from make_docx import SEEDS, seed_docx

    from rag.loaders import SourceFile, load_file

    seeds = sorted(SEEDS.glob("*.txt"))
    (folder / "docx").mkdir(parents=True)
    (folder / "txt").mkdir()
    paths, blocks = [], 0
    for i in range(n):
        seed = seeds[i % len(seeds)]
        w = seed_docx(seed, folder / "docx" / f"{i:04d}_{seed.stem}.docx", title=f"Article {i}: {seed.stem}",
                      table=TABLE, table_heading="At a glance")
        blocks += sum(1 for t in w.texts.values() if t)
        lines = [t for d in load_file(SourceFile(w.path, w.path.name, ""), []) for t in d.text.split("\n") if t]
        (folder / "txt" / f"{i:04d}_{seed.stem}.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        paths.append(w.path)
    return paths, blocks


def extraction(paths: list[Path], repeat: int) -> dict:
    import docx

    from rag.loaders import SourceFile, load_file, load_rules

    rules = load_rules()
    files = [SourceFile(path=p, source=f"docx/{p.name}", sha256="") for p in paths]
    data = [p.read_bytes() for p in paths]
    load_s, open_s, docs = [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        docs = sum(len(load_file(f, rules)) for f in files)
        load_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for d in data:
            docx.Document(io.BytesIO(d))
        open_s.append(time.perf_counter() - t0)
    return {"seconds": min(load_s), "open_seconds": min(open_s), "sections": docs,
            "mb": sum(map(len, data)) / 1e6}


def end_to_end(folder: Path, n: int, embedder, rounds: int) -> dict:
    """Fresh builds of both corpora, alternating which goes first; the fastest of ``rounds`` each."""
    from rag import indexing
    from rag.settings import Settings

    out: dict[str, dict] = {}
    for kind in ("docx", "txt"):
        corpus = folder / f"e2e-{kind}" / "docs"
        corpus.mkdir(parents=True)
        for p in sorted((folder / kind).iterdir())[:n]:
            shutil.copy2(p, corpus / p.name)
    for r in range(rounds):
        for kind in ("docx", "txt")[::1 if r % 2 == 0 else -1]:
            settings = Settings.load(corpus=folder / f"e2e-{kind}" / "docs", index_dir=folder / f"index-{kind}-{r}")
            report = indexing.build(settings, embedder)
            runs = out.setdefault(kind, {"chunks": report.chunks, "sentences": report.sentences, "runs": []})["runs"]
            runs.append(report.seconds)
    for r in out.values():
        r["seconds"] = min(r["runs"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=200, help="Word files for the extraction timing")
    p.add_argument("--e2e-docs", type=int, default=20, help="of them, indexed end to end (0: skip)")
    p.add_argument("--repeat", type=int, default=3, help="extraction timings (the fastest counts)")
    p.add_argument("--e2e-rounds", type=int, default=2, help="end-to-end builds of each corpus")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["RAG_CACHE_DIR"] = str(folder / "cache")
        paths, blocks = make_corpus(folder, a.docs)
        ex = extraction(paths, a.repeat)
        result = {"docs": a.docs, "blocks": blocks, "extraction": ex}
        print(f"extraction: {a.docs} Word files ({ex['mb']:.1f} MB, {blocks} paragraphs/rows, {ex['sections']} "
              f"sections) in {ex['seconds']:.2f} s: {a.docs / ex['seconds']:.0f} docs/s, "
              f"{blocks / ex['seconds']:.0f} paragraphs/s, {1000 * ex['seconds'] / a.docs:.1f} ms/doc "
              f"(python-docx open alone {1000 * ex['open_seconds'] / a.docs:.1f} ms/doc)")
        if a.e2e_docs:
            result["end_to_end"] = e2e = timed_builds(folder, min(a.e2e_docs, a.docs), a.e2e_rounds)
            per_doc = blocks / a.docs
            for kind, r in e2e.items():
                n = min(a.e2e_docs, a.docs)
                print(f"end to end ({kind}): {n} files, {r['chunks']} chunks in {r['seconds']:.1f} s "
                      f"(runs: {', '.join(f'{x:.1f}' for x in r['runs'])}): "
                      f"{n / r['seconds']:.2f} docs/s, {n * per_doc / r['seconds']:.0f} paragraphs/s")
        if a.json:
            a.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


def timed_builds(folder: Path, n: int, rounds: int) -> dict:
    """Warm up (model loaded, query encoder exported), then the two end-to-end builds."""
    from rag import indexing
    from rag.embeddings import Embedder
    from rag.settings import Settings

    embedder = Embedder()
    warm = folder / "warm" / "docs"
    warm.mkdir(parents=True)
    shutil.copy2(next((folder / "txt").iterdir()), warm)
    indexing.build(Settings.load(corpus=warm, index_dir=folder / "warm" / "index"), embedder)
    return end_to_end(folder, n, embedder, rounds)


if __name__ == "__main__":
    main()
