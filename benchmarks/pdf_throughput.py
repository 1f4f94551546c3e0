"""PDF indexing throughput: the PDF libraries compared, the loader, its child process, end to end.

    python benchmarks/pdf_throughput.py [--pdf FILE ...] [--book-pages 200] [--no-e2e] [--repeat 3]

Files: real PDFs given with ``--pdf`` (default: TeX manuals found under /usr/share/doc), the
seed articles written by fpdf2 (tests/make_pdf.py) in one and two columns, and a "book" of
seed paragraphs (``--book-pages``). Printed as markdown:

1. each library's own page text (pypdf, pypdf layout mode, pdfminer.six, pypdfium2 and pypdfium2
   with the character boxes the loader reads): pages per second, and whether a two-column page
   drawn row by row comes out in column order (the share of its consecutive lines, in reading
   order, that stay next to each other);
2. the loader itself in-process (``read_pdf``: extraction, columns, headers, hyphens);
3. the child process (``PdfLoader.isolated``): its start and its cost per file;
4. end to end: ``indexing.build`` over the real PDFs and the seeds, with the real model.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
REAL = [Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
        Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")]


def _pypdf(path: Path, layout: bool = False) -> list[str]:
    import pypdf

    mode = {"extraction_mode": "layout"} if layout else {}
    return [page.extract_text(**mode) for page in pypdf.PdfReader(path).pages]


def _pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return ["".join(e.get_text() for e in page if isinstance(e, LTTextContainer)) for page in extract_pages(path)]


def _pdfium(path: Path, boxes: bool = False) -> list[str]:
    import pypdfium2

    pdf, texts = pypdfium2.PdfDocument(path), []
    for page in pdf:
        textpage = page.get_textpage()
        texts.append(textpage.get_text_range())
        if boxes:
            for i in range(textpage.count_chars()):
                textpage.get_charbox(i, loose=True)
    pdf.close()
    return texts


def _loader(path: Path) -> list[str]:
    from rag.loaders import SourceFile
    from rag.loaders.pdf import read_pdf

    return [d.text for d in read_pdf(SourceFile(path=path, source=path.name, sha256=""), [])]


LIBRARIES = {"pypdf": ("pypdf", _pypdf), "pypdf (layout mode)": ("pypdf", lambda p: _pypdf(p, True)),
             "pdfminer.six": ("pdfminer", _pdfminer), "pypdfium2": ("pypdfium2", _pdfium),
             "pypdfium2 + char boxes": ("pypdfium2", lambda p: _pdfium(p, True)),
             "rag loader (pypdfium2)": ("pypdfium2", _loader)}


def make_files(tmp: Path, book_pages: int) -> tuple[list[Path], Path, list[list[str]]]:
    """The seed PDFs (one and two columns), a book, and a two-column page's reading order."""
    from make_pdf import Layout, layout_pdf, seed_paragraphs, seed_pdf

    files = []
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        for name, layout in (("1col", Layout(header="GP Voice")), ("2col", Layout(columns=2, header="GP Voice"))):
            files.append(tmp / f"{seed.stem}-{name}.pdf")
            reading = seed_pdf(files[-1], seed.name, layout)
            if seed.name.startswith("004") and name == "2col":
                two_column = reading
    paragraphs = [p for seed in sorted((ROOT / "seeds").glob("*.txt")) for p in seed_paragraphs(seed.name)]
    book = tmp / "book.pdf"
    layout_pdf(book, (paragraphs * (book_pages * 8 // len(paragraphs) + 1))[:book_pages * 8],
               Layout(header="A book of seeds"))  # about 8 paragraphs a page
    return files, book, two_column


def timed(fn, paths: list[Path], repeat: int) -> tuple[float, int, list[list[str]]]:
    """Best seconds over ``repeat`` runs, pages, and the texts."""
    best, texts = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        texts = [fn(p) for p in paths]
        best = min(best, time.perf_counter() - t0)
    return best, sum(len(t) for t in texts), texts


def column_order(text: str, reading: list[str]) -> float:
    """Share of the consecutive lines of a two-column page (in reading order) read next to each other."""
    flat = " ".join(text.split())
    lines = [line for line in reading if line]
    return sum(f"{a} {b}" in flat for a, b in zip(lines, lines[1:])) / max(1, len(lines) - 1)


def compare(real: list[Path], seeds: list[Path], book: Path, two_column: list[list[str]], repeat: int) -> None:
    print("| library | real PDFs (pages/s) | seed PDFs (pages/s) | book (pages/s) | two-column order |")
    print("|---|---:|---:|---:|---:|")
    for name, (module, fn) in LIBRARIES.items():
        if importlib.util.find_spec(module) is None:
            print(f"| {name} | not installed | | | |")
            continue
        cells = []
        for paths in (real, seeds, [book]):
            seconds, pages, _ = timed(fn, paths, repeat) if paths else (0, 0, [])
            cells.append(f"{pages / seconds:,.0f} ({pages} p.)" if paths else "-")
        two = [p for p in seeds if p.name.startswith("004") and "2col" in p.name][0]
        order = column_order(fn(two)[0], two_column[0])
        print(f"| {name} | {' | '.join(cells)} | {order:.0%} |")


def isolation(paths: list[Path], repeat: int) -> None:
    from rag.loaders import SourceFile
    from rag.loaders import isolation as iso
    from rag.loaders.pdf import read_pdf

    t0 = time.perf_counter()
    iso.run_isolated(len, ((),), "-", timeout=60, default=None)
    start = time.perf_counter() - t0
    overhead = []
    for _ in range(repeat):
        for p in paths:
            f = SourceFile(path=p, source=p.name, sha256="")
            t0 = time.perf_counter()
            read_pdf(f, [])
            t1 = time.perf_counter()
            iso.run_isolated(read_pdf, (f, []), p.name, timeout=60, default=[])
            overhead.append((time.perf_counter() - t1) - (t1 - t0))
    print(f"\nchild process: starts in {start * 1000:.0f} ms (once per run); costs "
          f"{statistics.median(overhead) * 1000:.1f} ms per file over in-process reading (median of {len(overhead)})")


def end_to_end(paths: list[Path]) -> None:
    import shutil

    from rag import indexing
    from rag.embeddings import Embedder
    from rag.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "pdfs"
        corpus.mkdir()
        for p in paths:
            shutil.copy2(p, corpus / p.name)
        pages = sum(len(_pdfium(p)) for p in paths)
        embedder = Embedder()
        embedder.encode(["warm up the model"])
        extract = timed(_loader, paths, 1)[0]
        report = indexing.build(Settings.load(corpus=corpus, index_dir=Path(tmp) / "index"), embedder)
        seconds = report.seconds  # reading, splitting, embedding, writing (not the query encoder's export)
        print(f"\nend to end (`indexing.build`, {len(paths)} PDFs, {pages} pages, {report.chunks} chunks, "
              f"{report.sentences} sentences): {seconds:.1f} s, {pages / seconds:.2f} pages/s; text extraction "
              f"alone {extract:.2f} s ({pages / extract:,.0f} pages/s, {extract / seconds:.1%} of the build)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pdf", type=Path, nargs="*", default=[f for f in REAL if f.exists()])
    p.add_argument("--book-pages", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-e2e", action="store_true", help="skip the index build with the real model")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seeds, book, two_column = make_files(Path(tmp), a.book_pages)
        compare(a.pdf, seeds, book, two_column, a.repeat)
        isolation(seeds, a.repeat)
        if not a.no_e2e:
            end_to_end(a.pdf + [s for s in seeds if "1col" in s.name])


if __name__ == "__main__":
    main()
