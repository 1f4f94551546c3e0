"""``rag index`` end to end, the torch path against the ONNX document encoder, in one run.

    python benchmarks/index_speed.py [--repeat 1] [--pages 50] [--out FILE]

Three corpora, each indexed from scratch (``rag index --rebuild``, the real console script in
a new process, so imports and model loading count) by the old path (``RAG_ENCODER=torch``:
sentence-transformers, a second pass over the sentences) and the new one (the default:
``onnx-int8``, sentence vectors pooled from the chunks' pass), alternately, so both see the
same load on a shared machine:

- text: the 24 Wikipedia articles of ``../shared/data/qa/squad-open.json``, a file each;
- pdf: two real PDFs from /usr/share/doc and a ``--pages``-page PDF of those articles'
  paragraphs written by fpdf2 (tests/make_pdf.py);
- book: that PDF alone (the issue's "a 50-page PDF").

Per run: wall seconds, CPU seconds (user + system of the process: steadier than wall when
other jobs share the cores), chunks/s and sentences/s (over the wall time), peak RSS (the
process's own, from ``wait4``). Per corpus: the ratio old / new of wall and CPU time. The
encoders' one-off exports run first, untimed, in the benchmark's own cache folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SQUAD = ROOT.parent / "shared" / "data" / "qa" / "squad-open.json"
REAL_PDFS = [Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
             Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")]
RAG = Path(sys.executable).parent / "rag"
PATHS = {"old (torch)": {"RAG_ENCODER": "torch"}, "new (onnx-int8)": {"RAG_ENCODER": "onnx-int8"}}
COUNTS = re.compile(r"([\d,]+) chunks, ([\d,]+) sentences")


def articles() -> dict[str, list[str]]:
    """Title -> paragraphs of the 24 SQuAD articles."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    return {a["title"]: [p["context"] for p in a["paragraphs"]] for a in data}


def make_corpora(tmp: Path, pages: int) -> dict[str, Path]:
    from make_pdf import Layout, layout_pdf

    text = tmp / "text"
    text.mkdir()
    found = articles()
    for title, paragraphs in found.items():
        (text / f"{title}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    book_dir, pdf = tmp / "book", tmp / "pdf"
    book_dir.mkdir()
    pdf.mkdir()
    paragraphs = [p for ps in found.values() for p in ps]
    count = pages * 4  # SQuAD paragraphs: about four to a page
    while len(layout_pdf(book_dir / "book.pdf", paragraphs[:count], Layout(header="Articles"))) > pages:
        count -= 4
    (pdf / "book.pdf").write_bytes((book_dir / "book.pdf").read_bytes())
    for p in REAL_PDFS:
        if p.exists():
            (pdf / p.name).write_bytes(p.read_bytes())
    return {"text": text, "pdf": pdf, "book": book_dir}


def index_once(corpus: Path, index: Path, env: dict[str, str]) -> dict:
    """One ``rag index --rebuild`` in a new process: its wall and CPU time, RSS, counts."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(RAG), "index", "--rebuild", "--corpus", str(corpus), "--index", str(index)],
                                env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS and CPU time
        wall = time.perf_counter() - t0
        log.seek(0)
        err = log.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"rag index failed ({code}): {err.strip().splitlines()[-1:]}")
    found = COUNTS.search(err)
    chunks, sentences = (int(x.replace(",", "")) for x in found.groups()) if found else (0, 0)
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "chunks": chunks, "sentences": sentences,
            "chunks_per_s": round(chunks / wall, 1), "sentences_per_s": round(sentences / wall, 1)}


def pdf_pages(folder: Path) -> int:
    import pypdfium2

    return sum(len(pypdfium2.PdfDocument(p)) for p in folder.glob("*.pdf"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="runs of each path per corpus (alternating)")
    p.add_argument("--pages", type=int, default=50, help="pages of the written PDF")
    p.add_argument("--only", nargs="*", choices=["text", "pdf", "book"], help="corpora to run (default: all)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here too")
    a = p.parse_args(argv)
    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "load_before": os.getloadavg(), "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="rag-index-speed-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["RAG_CACHE_DIR"] = str(tmp / "cache")
        corpora = make_corpora(tmp, a.pages)
        warm = {}
        for name, env in PATHS.items():  # one-off exports (document / query encoder), untimed below
            t0 = time.perf_counter()
            index_once(ROOT / "seeds", tmp / "warm", env)
            warm[name] = round(time.perf_counter() - t0, 1)
        results["first_run_with_export_s"] = warm
        for corpus_name, folder in corpora.items():
            if a.only and corpus_name not in a.only:
                continue
            runs: dict[str, list[dict]] = {name: [] for name in PATHS}
            for r in range(a.repeat):
                order = list(PATHS) if r % 2 == 0 else list(PATHS)[::-1]
                for name in order:
                    runs[name].append(index_once(folder, tmp / f"index-{corpus_name}", PATHS[name]))
                    print(f"{corpus_name} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
            entry = {"files": len(list(folder.iterdir())), "runs": runs}
            if corpus_name != "text":
                entry["pages"] = pdf_pages(folder)
            old, new = (min(runs[n], key=lambda x: x["wall_s"]) for n in PATHS)
            entry["ratio_wall"] = round(old["wall_s"] / new["wall_s"], 2)
            entry["ratio_cpu"] = round(old["cpu_s"] / new["cpu_s"], 2)
            results["corpora"][corpus_name] = entry
    results["load_after"] = os.getloadavg()
    print(report(results))
    if a.out:
        a.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def report(r: dict) -> str:
    """The figures as Markdown, for the terminal and RESULTS.md."""
    lines = [f"Machine: {r['machine']}; load average {r['load_before'][0]:.2f} before, "
             f"{r['load_after'][0]:.2f} after; first runs with the one-off export: {r['first_run_with_export_s']}",
             "", "| corpus | path | wall s | CPU s | chunks | sentences | chunks/s | sentences/s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, entry in r["corpora"].items():
        label = f"{name} ({entry['files']} files" + (f", {entry['pages']} pages)" if "pages" in entry else ")")
        for path, runs in entry["runs"].items():
            best = min(runs, key=lambda x: x["wall_s"])
            lines.append(f"| {label} | {path} | {best['wall_s']:.1f} | {best['cpu_s']:.1f} | {best['chunks']:,} | "
                         f"{best['sentences']:,} | {best['chunks_per_s']:.1f} | {best['sentences_per_s']:.1f} | "
                         f"{max(x['peak_rss_mb'] for x in runs):.0f} |")
        lines.append(f"| {label} | **old / new** | **{entry['ratio_wall']:.2f}x** | **{entry['ratio_cpu']:.2f}x** "
                     "| | | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
