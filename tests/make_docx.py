"""Word files written with python-docx for the Word loader's tests: real files, block by block.

A file is a list of blocks -- ``("h1", text)``, ``("p", text)``, ``("bullet", text)``,
``("number", text)``, ``("empty", "")``, ``("table", rows)`` -- and the writer says which
"line" (the loader's block number: a paragraph, or a table row) each one became, so a
test knows what every citation must point at. ``seed_docx`` turns a seed article into
such a file: its title and the short lines that head prose become headings, its bullet
lines a bulleted list. ``DAMAGED`` makes files a loader must skip with a reason: truncated,
a bad checksum, plain text, an old .doc, a zip of something else, a workbook, broken XML,
no text at all, nothing but boilerplate.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import docx

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
STYLES = {"title": "Title", "p": None, "bullet": "List Bullet", "number": "List Number", "empty": None,
          **{f"h{n}": f"Heading {n}" for n in range(1, 10)}}
BULLET_LINE = re.compile(r"\s*[•·]\s+")
#: A short line without sentence punctuation (a headline): a heading in the Word version.
HEADLINE_WORDS = 12


@dataclass
class Written:
    """What was written: every block's line number, the text Word shows there, and its heading."""

    path: Path
    #: Line (block) number -> the text Word shows (no list marker; cells joined by " | ").
    texts: dict[int, str] = field(default_factory=dict)
    #: Line number -> the heading it sits under ("" before the first one).
    sections: dict[int, str] = field(default_factory=dict)
    #: Line numbers of table rows.
    rows: list[int] = field(default_factory=list)
    #: For ``seed_docx``: seed line number -> line number in the Word file.
    seed_lines: dict[int, int] = field(default_factory=dict)


def write_docx(path: Path, blocks: list[tuple[str, object]]) -> Written:
    """Write ``blocks`` to ``path`` as a .docx; headings are styles ``Heading n`` / ``Title``."""
    document = docx.Document()
    out, heading, n = Written(path), "", 0
    for kind, payload in blocks:
        if kind == "table":
            rows = list(payload)
            table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            table.style = "Table Grid"
            for i, cells in enumerate(rows):
                for j, text in enumerate(cells):
                    table.cell(i, j).text = text
                n += 1
                out.texts[n], out.sections[n] = " | ".join(c for c in cells if c), heading
                out.rows.append(n)
            continue
        text = str(payload)
        document.add_paragraph(text, style=STYLES[kind])
        n += 1
        if (kind.startswith("h") or kind == "title") and text:
            heading = text
        out.texts[n], out.sections[n] = text, heading
    document.save(path)
    return out


def sample_docx(path: Path) -> Written:
    """A small document for the loader contract: text before any heading, headings,
    paragraphs, an introduced list, a table, an empty paragraph and boilerplate."""
    return write_docx(path, [
        ("p", "Briefing note for practice managers."),
        ("h1", "Integrated care"),
        ("p", "Integrated care systems replaced clinical commissioning groups in July 2022."),
        ("empty", ""),
        ("p", "They exist to achieve four aims:"),
        ("bullet", "improve population health and healthcare"),
        ("bullet", "tackle unequal access, experience and outcomes"),
        ("h2", "Who chairs what"),
        ("table", [("Body", "Chair"), ("Health and Social Care Committee", "Jeremy Hunt")]),
        ("p", "Leave a Reply"),
    ])


def seed_blocks(text: str, title: str | None = None, keep_blank: bool = True) -> tuple[list, dict[int, int]]:
    """The blocks of a seed article, and which block each of its lines became."""
    from rag.loaders import is_boilerplate, load_rules, split_lines

    rules = load_rules()
    lines = [line.strip() for line in split_lines(text)]
    blocks: list[tuple[str, object]] = [("h1", title)] if title else []
    where: dict[int, int] = {}
    for n, line in enumerate(lines, 1):
        if not line:
            if keep_blank:
                blocks.append(("empty", ""))
            continue
        after = next((later for later in lines[n:] if later), "")  # a headline heads prose
        if BULLET_LINE.match(line):
            kind, line = "bullet", BULLET_LINE.sub("", line, count=1)
        elif is_boilerplate(line, rules) or not _headline(line) or not after or _headline(after):
            kind = "p"
        else:
            kind = "h1" if not any(k.startswith("h") for k, _ in blocks) else "h2"
        blocks.append((kind, line))
        where[n] = len(blocks)
    return blocks, where


def seed_docx(seed: Path | str, path: Path, *, title: str | None = None, keep_blank: bool = True,
              table: list[tuple[str, ...]] | None = None, table_heading: str | None = None) -> Written:
    """The Word version of a seed article (a name in seeds/ or a path): its first headline
    (a short line before prose) a Heading 1 (or ``title`` put first), later ones Heading 2,
    bullet lines a bulleted list, blank lines empty paragraphs (``keep_blank``); ``table``
    rows appended at the end, under ``table_heading`` when given."""
    seed = Path(seed) if Path(seed).is_file() else SEEDS / str(seed)
    blocks, where = seed_blocks(seed.read_text(encoding="utf-8"), title, keep_blank)
    if table:
        blocks += ([("h2", table_heading)] if table_heading else []) + [("table", table)]
    written = write_docx(path, blocks)
    written.seed_lines = where  # tables come last, so a seed line's block is its line
    return written


def _headline(line: str) -> bool:
    return (len(line.split()) <= HEADLINE_WORDS and not line.endswith(tuple(".!?:;,\"”’)"))
            and line[0].isupper())


# -- damaged files: each maker writes ``bad`` from a good .docx ``good`` --------------------------------

def zip_of(path: Path, members: dict[str, bytes], stored: bool = False) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _spreadsheet(good: Path, bad: Path) -> None:
    """A workbook's content type on the main part (an .xlsx renamed .docx reads this way)."""
    parts = members(good)
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"wordprocessingml.document.main+xml", b"spreadsheetml.sheet.main+xml")
    zip_of(bad, parts)


def _bad_crc(good: Path, bad: Path) -> None:
    """A byte changed inside the (stored) document part: its checksum no longer matches."""
    zip_of(bad, members(good), stored=True)
    bad.write_bytes(bad.read_bytes().replace(b"<w:body>", b"<w:bodx>", 1))


DAMAGED: dict[str, Callable[[Path, Path], object]] = {
    "truncated": lambda good, bad: bad.write_bytes(good.read_bytes()[:good.stat().st_size // 2]),
    "bad crc": _bad_crc,
    "text": lambda good, bad: bad.write_text("just some text\n" * 20),
    "old word": lambda good, bad: bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)),
    "other zip": lambda good, bad: zip_of(bad, {"notes.txt": b"hello"}),
    "spreadsheet": _spreadsheet,
    "broken xml": lambda good, bad: zip_of(bad, {**members(good), "word/document.xml": b"<w:document"}),
    "no text": lambda good, bad: docx.Document().save(bad),
    "only boilerplate": lambda good, bad: write_docx(bad, [("p", "Leave a Reply")]),
}
