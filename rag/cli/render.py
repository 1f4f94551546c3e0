"""How answers and passages look in a terminal: colours and layout only, words from the renderer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from rag.rendering import Renderer
    from rag.types import Answer, Hit

#: Characters of a passage shown under its heading in ``rag search``.
PASSAGE_CHARS = 300


def safe(text: str) -> str:
    """``text`` for the terminal: control characters shown as escapes, newlines and tabs kept."""
    from rag.rendering import oneline

    return oneline(text, keep="\n\t")


def print_answer(console: "Console", renderer: "Renderer", answer: "Answer") -> None:
    """The answer with its markers highlighted, then its sources, dimmed."""
    from rich.text import Text

    body = Text(safe(answer.body))
    body.highlight_regex(r"\[\d+\]", "bold cyan")
    console.print(body, style="yellow" if answer.abstained else None)
    sources = renderer.sources(answer)
    if sources:
        console.print()
        console.print(Text(safe(sources), style="dim"))


def _score(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_hits(console: "Console", hits: list["Hit"]) -> None:
    """One block a passage: where it is and its scores on one line, its text wrapped below.

    A table of nine columns left the passage a few characters wide in 80 columns."""
    import textwrap

    from rich.text import Text

    from rag.rendering import oneline

    for h in hits:
        c = h.chunk
        lines = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
        page = f"page {c.page}, " if c.page is not None else ""
        under = f' under "{oneline(c.section)}"' if c.section else ""
        head = Text.assemble((f"#{h.rank} ", "bold"), (f"{oneline(c.source)}, {page}{lines}{under}", "cyan"))
        scores = (f"evidence {_score(h.evidence, 3)}  fused {h.score:.4f}  dense {_score(h.dense, 3)}  "
                  f"bm25 {_score(h.bm25, 2)}  chars {_score(h.chars, 2)}")
        text = safe(" ".join(c.text.split()))
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
        width = max(20, console.width - 1)
        console.print(head)
        console.print(Text(textwrap.fill(scores, width, initial_indent="   ", subsequent_indent="   "), style="dim"))
        console.print(Text(textwrap.fill(text, width, initial_indent="   ", subsequent_indent="   ")))
        console.print()


def print_info(console: "Console", data: dict) -> None:
    """``rag info``: the index, the model, the corpus by file type, and every file."""
    from rag.rendering import oneline

    counts, pages = data["counts"], data.get("pages", {})
    console.print(f"index      {data['index']} ({data['generation']}, {data['bytes'] / 1e6:.2f} MB)")
    console.print(f"model      {data['model']} ({data['dim']} dimensions)")
    console.print(f"chunking   {data['chunk_tokens']} tokens, {data['chunk_overlap']} overlap")
    console.print(f"corpus     {data['corpus']}: {plural(len(data['files']), 'file')} indexed, "
                  f"{counts.get('chunks', 0)} chunks, {counts.get('sentences', 0)} sentences")
    kinds = [f"{suffix} {plural(n['files'], 'file')}" + (f" ({plural(n['pages'], 'page')})" if n["pages"] else "")
             for suffix, n in data.get("by_type", {}).items()]
    console.print(f"types      {', '.join(kinds) or '-'}")
    console.print(f"built      {data['built_at']}")
    console.print(f"status     {'stale: ' + data['stale'] if data['stale'] else 'up to date'}")
    for source in data["files"]:
        more = f" ({plural(pages[source], 'page')})" if source in pages else ""
        console.print(f"  {oneline(source)}{more}", markup=False, highlight=False)
    print_skipped(console, data.get("skipped", {}))


def print_index_report(console: "Console", report, skipped: dict[str, str], target: str) -> None:
    """``rag index``'s summary: files indexed (the skipped ones not among them), then the skipped with why."""
    embedded, reused = ([s for s in sources if s not in skipped] for sources in (report.embedded, report.reused))
    console.print(f"indexed {plural(len(embedded) + len(reused), 'file')}: {len(embedded)} embedded, "
                  f"{len(reused)} unchanged, {len(report.removed)} removed; {report.chunks} chunks, "
                  f"{report.sentences} sentences in {report.seconds:.1f}s -> {target}", markup=False, highlight=False)
    print_skipped(console, skipped)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_skipped(console: "Console", skipped: dict[str, str]) -> None:
    """The files that gave nothing to index, each with why: said every time, not only when first read."""
    from rag.rendering import oneline

    if skipped:
        console.print(f"skipped    {plural(len(skipped), 'file')} (nothing indexed from them):",
                      markup=False, highlight=False)
    for source, why in skipped.items():
        console.print(f"  {oneline(source)}: {oneline(why)}", markup=False, highlight=False)
