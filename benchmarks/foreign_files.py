"""Planted facts in PDFs and Word files from other generators, asked through the real path (issue 25).

Measures the issue's "Done when" on a corpus built at run time: six PDFs from four generators
(groff -ms via Ghostscript, groff's gropdf, headless Chromium, LibreOffice), two real pdfTeX
manuals from Debian packages (copied unedited; their facts are sentences already in them), Word
from pandoc and LibreOffice. Facts sit in the hard spots (left column running into the right,
short last right column, right after a heading with no gap, wrapped list item, line-end hyphen,
Word heading and bullet); the filler before a spot is sized by bisection until the file has it,
and ``spots`` reports what each file really has. Expected pages and lines are counted apart from
rag, from poppler's ``pdftotext -bbox-layout`` (head once, each column top to bottom, foot), and
for Word as the n-th body paragraph (python-docx). PDF citations carry no heading: ``ok`` leaves
it out for PDFs, ``ok_strict`` does not.

    .venv/bin/python benchmarks/foreign_files.py [--out FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from make_foreign import chromium_pdf, groff_pdf, libreoffice_docx, pandoc_docx  # noqa: E402

# (file, generator, two columns, title, heads, headings, {slot: (fact, question)})
ARTICLES = [
    ("skerrow.pdf", "groff-ps2pdf", True, "The Skerrow Survey", ("Skerrow Island Review", "Weather and Water"),
     ("Weather records", "The lighthouse keepers", "The ferry"), {
         "heading": ("The Tarn Moss weather station recorded 2,310 millimetres of rain in 1998.",
                     "How much rain did the Tarn Moss weather station record in 1998?"),
         "break": ("The Brackwater sluice gate was rebuilt by the Orkney ironfounder Peter Rendall for 460 guineas.",
                   "Who rebuilt the Brackwater sluice gate?"),
         "list": ("The second keeper, Osla Flett, logged forty-two shipwrecks along the northern skerries between "
                  "the two world wars.", "How many shipwrecks did Osla Flett log?"),
         "last": ("The Skerrow ferry made its last crossing under sail on the fourteenth of March 1936.",
                  "When did the Skerrow ferry make its last crossing under sail?")}),
    ("lowmoor.pdf", "chromium", True, "Lowmoor Waterworks", ("Lowmoor Parish Notes", "Water Supply"),
     ("The pumping engine", "Reservoirs", "Carts and carters"), {
         "heading": ("The Lowmoor pumping engine lifted 5,400 gallons of water a minute from the Calder mine.",
                     "How much water did the Lowmoor pumping engine lift a minute?"),
         "break": ("The ultraviolet disinfection plant at Hesketh Bank was commissioned by the engineer Winifred "
                   "Ashworth.", "Who commissioned the ultraviolet disinfection plant at Hesketh Bank?"),
         "list": ("The Calder reservoir embankment was raised by eleven feet after the great flood, using puddled "
                  "clay carted from Whalley.", "By how much was the Calder reservoir embankment raised?"),
         "last": ("The last horse-drawn water cart in Lowmoor was retired in 1927 and sold to a Clitheroe dairy.",
                  "When was the last horse-drawn water cart in Lowmoor retired?")}),
    ("fenwick.pdf", "groff-gropdf", True, "The Fenwick Branch", ("Border Railways", "The Fenwick Line"),
     ("Traffic", "Structures", "Closure"), {
         "heading": ("The Fenwick branch line carried 38,000 tons of limestone in its busiest year.",
                     "How much limestone did the Fenwick branch line carry in its busiest year?"),
         "break": ("The signal box at Garth Junction was staffed by the porter-signalman Hugh Prothero for "
                   "twenty-six years.", "Who staffed the signal box at Garth Junction?"),
         "list": ("The Fenwick viaduct has nineteen arches built of blue engineering brick from Ruabon, each "
                  "pier founded on rock.", "How many arches does the Fenwick viaduct have?"),
         "last": ("Passenger trains stopped running to Fenwick on the second of January 1951.",
                  "When did passenger trains stop running to Fenwick?")}),
    ("ashby.pdf", "chromium", False, "Ashby Grange Orchards", ("Ashby Grange", "Orchard Book"),
     ("Planting", "The cider house", "Frost"), {
         "heading": ("The Ashby orchard grafted 1,150 Bramley apple trees onto dwarfing rootstock.",
                     "How many Bramley apple trees did the Ashby orchard graft?"),
         "break": ("Frost protection at Ashby relied on paraffin smudgepots, which the orchardmen refilled every "
                   "evening throughout April.", "What did frost protection at Ashby rely on?"),
         "list": ("The cider press at Ashby Grange was built by the wheelwright Tobias Greenhalgh from seasoned "
                  "elm and oak.", "Who built the cider press at Ashby Grange?")}),
    ("penrhos.pdf", "groff-ps2pdf", False, "Penrhos Slate", ("Penrhos Quarry History", "Slate and Steam"),
     ("Employment", "The incline", "Housing"), {
         "heading": ("The Penrhos slate quarry employed 2,700 quarrymen at its peak.",
                     "How many quarrymen did the Penrhos slate quarry employ at its peak?"),
         "break": ("Quarrymen's barracks at Penrhos were condemned as uninhabitable by the county sanitary "
                   "inspector in 1948.", "Who condemned the quarrymen's barracks at Penrhos?"),
         "list": ("The incline railway lowered wagons 340 feet to the harbour at Port Dinorwic using "
                  "counterbalanced wire cables.", "How far did the incline railway lower wagons?")}),
    ("greyfriars.pdf", "libreoffice", False, "Greyfriars Mill", ("", ""), ("Milling", "The waterwheel", "Later"), {
         "heading": ("The Greyfriars corn mill ground 96 sacks of barley a week during the hard winter.",
                     "How many sacks of barley did the Greyfriars corn mill grind a week?"),
         "list": ("The overshot waterwheel at Greyfriars measured twenty-eight feet across and was cast at the "
                  "Coalbrookdale foundry.", "How wide was the overshot waterwheel at Greyfriars?")}),
]
# (file, generator, title, [(heading, "p" or "li", fact, question)])
WORD = [("kelling.docx", "pandoc", "Kelling Physic Garden", [
            ("Opening hours", "p", "The Kelling physic garden opens at half past nine and closes at dusk from March "
             "to October.", "When does the Kelling physic garden open?"),
            ("The alpine house", "li", "The alpine house holds 340 species of saxifrage collected in the Pyrenees "
             "by the botanist Edith Marlow.", "How many species of saxifrage does the alpine house hold?")]),
        ("thornbury.docx", "libreoffice", "Thornbury Lace Museum", [
            ("Admission", "p", "Admission to the Thornbury lace museum costs four pounds, and children under twelve "
             "go free.", "How much does admission to the Thornbury lace museum cost?"),
            ("The collection", "li", "The oldest bobbin in the collection was turned from bone by a Honiton "
             "lacemaker in 1742.", "When was the oldest bobbin in the collection turned?")])]
# (file, Debian path, [(heading, fact as printed, question)])
MANUALS = [("libtasn1.pdf", "/usr/share/doc/libtasn1-doc/libtasn1.pdf", [
               ("2.1 ASN.1 syntax", "The comments begin with -- and end either with another --, or at the end of "
                "the respective line, whichever comes first.", "Where do comments end in libtasn1's ASN.1 syntax?"),
               ("2.4 Library Notes", "ASN1_MAX_NAME_SIZE is the maximum number of characters allowed for an ASN.1 "
                "identifier.", "What is the maximum number of characters allowed for an ASN.1 identifier?")]),
           ("bzip2.pdf", "/usr/share/doc/bzip2/manual.pdf.gz", [
               ("2.3. DESCRIPTION", "The chances of data corruption going undetected is microscopic, about one "
                "chance in four billion for each file processed.", "How likely is undetected corruption in bzip2?"),
               ("2.8. CAVEATS", "bzip2recover versions prior to 1.0.2 used 32-bit integers to represent bit "
                "positions in compressed files, so it could not handle compressed files more than 512 megabytes long.",
                "Why could old versions of bzip2recover not handle compressed files over 512 megabytes?")])]
_FILL = ("The {a} {n} beside the {p} was {d} by the parish {w} before the autumn storms, and nobody recorded the "
         "{x} of the work.")
_WORDS = {"a": ("old", "western", "lower", "northern", "disused", "narrow"), "p": ("churchyard", "boathouse",
          "tollgate", "schoolroom", "marketplace", "parsonage"), "n": ("wall", "embankment", "footbridge", "culvert",
          "storehouse", "gatehouse"), "d": ("whitewashed", "catalogued", "strengthened", "reconstructed",
          "photographed"), "w": ("commissioners", "administrators", "surveyors", "parishioners"),
          "x": ("expenditure", "particulars", "circumstances", "consequences")}


def filler(seed: str, n: int) -> str:
    """``n`` words of fact-free sentences (the knob that moves a planted fact down the page)."""
    rnd = random.Random(seed)
    words: list[str] = []
    while len(words) < n:
        words += _FILL.format(**{k: rnd.choice(v) for k, v in _WORDS.items()}).split()
    return " ".join(words[:n]).rstrip(".,") + "." if n else ""


def norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("\xad", "").replace("\u2010", "-").replace("\u2019", "'").lower()


def alnum(s: str) -> str:
    return "".join(c for c in norm(s) if c.isalnum())


def tokens(s: str) -> list[str]:
    return re.findall(r"\w+(?:[-'.]\w+)*", norm(s))


def blocks(art: tuple, k: int, m: int) -> list[tuple]:
    name, _, _, title, _, heads, facts = art
    fact = {slot: f[0] for slot, f in facts.items()}
    out = [("title", title), ("h", heads[0]), ("p", fact["heading"] + " " + filler(name + "a", 40)),
           ("p", " ".join(x for x in (filler(name + "b", k), fact.get("break", ""), filler(name + "c", 30)) if x))]
    out += [("h", heads[1]), ("p", filler(name + "d", 40)), ("ul", [filler(name + "e", 18), fact["list"],
            filler(name + "f", 22)]), ("p", filler(name + "g", m)), ("h", heads[2])]
    return out + [("p", fact.get("last") or filler(name + "h", 60))]


def to_ms(blk: list[tuple], art: tuple) -> str:
    ms = [".ds LH " + art[4][0], ".ds RH " + art[4][1], ".ds CH", ".ds CF \\\\n(PN", ".nr PS 10", ".nr VS 12",
          ".nr PD 0"] + ([".2C"] if art[2] else [])
    for kind, text in blk:
        ms += {"title": [".TL", text], "h": [".SH", text, ".LP"], "p": [".PP", text] if text else [],
               "ul": [x for item in text for x in (".IP \\(bu 3", item)]}[kind]
    return "\n".join(ms) + "\n"


def to_html(blk: list[tuple], art: tuple | None = None, shy: bool = False) -> str:
    def esc(text: str) -> str:
        return " ".join(w[:len(w) // 2] + "&shy;" + w[len(w) // 2:] if shy and len(w) >= 8 and w.isalpha() else w
                        for w in text.split(" "))
    tag = {"title": "h1", "h": "h2", "p": "p"}
    body = "".join(f"<ul>{''.join(f'<li>{esc(i)}</li>' for i in t)}</ul>" if k == "ul" else
                   f"<{tag[k]}>{esc(t)}</{tag[k]}>" for k, t in blk if t)
    if art is None:
        return f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    cols = ".cols { columns: 2; column-gap: 9mm; column-fill: auto }" if art[2] else "@page { margin: 22mm 45mm }"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 22mm 18mm; @top-left {{ content: "{art[4][0]}" }} @top-right {{ content: "{art[4][1]}" }}
  @bottom-center {{ content: counter(page) }} }} {cols}
body {{ font: 11pt/1.3 serif; text-align: justify; orphans: 1; widows: 1 }} h2 {{ font-size: 11pt; margin: 0 }}
p, ul {{ margin: 0 0 5pt 0 }}</style></head><body><div class="cols">{body}</div></body></html>"""


def render(art: tuple, k: int, m: int, path: Path) -> Path:
    blk, gen = blocks(art, k, m), art[1]
    if gen == "groff-ps2pdf":
        return groff_pdf(path, to_ms(blk, art))
    if gen == "groff-gropdf":
        path.write_bytes(subprocess.run(["groff", "-ms", "-Tpdf"], input=to_ms(blk, art).encode(),
                                        capture_output=True, check=True).stdout)
        return path
    if gen == "chromium":
        return chromium_pdf(path, to_html(blk, art, shy=True))
    page = path.with_suffix(".html")
    page.write_text(to_html(blk), encoding="utf-8")
    subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation={(path.parent / '.lo').as_uri()}",
                    "--infilter=HTML (StarWriter)", "--convert-to", "pdf:writer_pdf_Export", "--outdir",
                    str(path.parent), str(page)], capture_output=True, check=True)
    page.unlink()
    return path


def merge(parts: list[dict], col: str) -> dict:
    parts = sorted(parts, key=lambda p: p["x0"])
    return {**parts[0], "col": col, "text": " ".join(p["text"] for p in parts)}


def reader_pages(pdf: Path) -> list[list[dict]]:
    """Each page's text lines as a reader counts them, from poppler's boxes: rows at one height are
    merged per side; a first or last row set apart (head, foot) and any row crossing the middle
    count once in place; between them, the left side's lines top to bottom, then the right side's."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True).stdout
    pages = []
    for page in ET.fromstring(xml).findall(".//{*}page"):
        raw = []
        for ln in page.findall(".//{*}line"):
            x0, y0, x1, y1 = (float(ln.get(a)) for a in ("xMin", "yMin", "xMax", "yMax"))
            raw.append({"x0": x0, "x1": x1, "c": (y0 + y1) / 2, "h": y1 - y0,
                        "text": " ".join(w.text or "" for w in ln.findall("{*}word"))})
        mid = (min((r["x0"] for r in raw), default=0) + max((r["x1"] for r in raw), default=0)) / 2
        for r in raw:  # the middle of the text block, not of the paper: groff centres on its line length
            r["col"] = "L" if r["x1"] < mid - 1 else "R" if r["x0"] > mid + 1 else "F"
        rows: list[list[dict]] = []
        for ln in sorted(raw, key=lambda r: r["c"]):
            if rows and abs(ln["c"] - rows[-1][0]["c"]) < 0.5 * min(ln["h"], rows[-1][0]["h"]):
                rows[-1].append(ln)
            else:
                rows.append([ln])
        gaps = [b[0]["c"] - a[0]["c"] for a, b in zip(rows, rows[1:])]
        step = median(gaps) if gaps else 0
        both = [len({p["col"] for p in row}) > 1 or row[0]["col"] == "F" for row in rows]
        apart = {0} if gaps and gaps[0] > 1.6 * step and both[0] else set()
        apart |= {len(rows) - 1} if len(gaps) > 1 and gaps[-1] > 1.6 * step and both[-1] else set()
        out: list[dict] = []
        band: list[list[dict]] = []
        for i, row in enumerate([*rows, None]):
            if row is None or i in apart or any(p["col"] == "F" for p in row):
                out += [merge([p for p in r if p["col"] == side], side) for side in "LR" for r in band
                        if any(p["col"] == side for p in r)]
                band = []
                out += [merge(row, "F")] if row else []
            else:
                band.append(row)
        pages.append([{**ln, "no": n} for n, ln in enumerate(out, 1)])
    return pages


def locate(pages: list[list[dict]], fact: str) -> dict | None:
    """The page and reader-counted lines that hold ``fact`` (hyphens, spaces and case aside)."""
    key = alnum(fact)
    for p, lines in enumerate(pages, 1):
        text, owner = "", []
        for i, ln in enumerate(lines):
            a = alnum(ln["text"])
            text, owner = text + a, owner + [i] * len(a)
        at = text.find(key)
        if at >= 0:
            found = [lines[i] for i in sorted(set(owner[at:at + len(key)]))]
            return {"page": p, "lines": found, "first": found[0]["no"], "last": found[-1]["no"]}
    return None


def hyphen_break(lines: list[dict]) -> bool:
    return any(ln["text"].rstrip()[-1:] in "-\u2010\xad" for ln in lines[:-1])


def spots(pages: list[list[dict]], loc: dict | None, heading: str) -> dict:
    """Which hard spots the fact really sits in, as poppler reads the file."""
    if loc is None:
        return {"found": False}
    lines, page = loc["lines"], pages[loc["page"] - 1]
    cols = {ln["col"] for ln in lines}
    left = sum(ln["col"] == "L" for ln in page)
    right = sum(ln["col"] == "R" for ln in page)
    above = page[loc["first"] - 2]["text"] if loc["first"] > 1 else ""
    return {"found": True, "left_to_right": cols == {"L", "R"}, "wrapped": len(lines) > 1,
            "short_last_right": cols == {"R"} and loc["page"] == len(pages) and right <= left / 2,
            "hyphen_break": hyphen_break(lines),
            "right_after_heading": bool(heading) and alnum(above).endswith(alnum(heading))}


def position(path: Path, fact: str) -> tuple[int, int]:
    """(first, last) line of the fact as 2 * page, + 1 in the right column; (0, 0) when not found."""
    loc = locate(reader_pages(path), fact)
    return (0, 0) if loc is None else tuple(2 * loc["page"] + (x["col"] == "R") for x in
                                            (loc["lines"][0], loc["lines"][-1]))


def first_at(art: tuple, path: Path, fact: str, want, k: int | None = None) -> int:
    """The least filler (before the break fact; before the last heading when ``k`` is given) whose
    file has ``want(position)``: the fact moves down as the filler grows."""
    lo, hi = 0, 700
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if want(position(render(art, *((mid, 0) if k is None else (k, mid)), path), fact)) \
            else (mid + 1, hi)
    return lo


def build(folder: Path) -> list[dict]:
    """Write the corpus into ``folder``; return the facts with where they are."""
    facts = []
    for art in ARTICLES:
        name, gen, two, f = art[0], art[1], art[2], art[6]
        path = folder / name
        k, m = 20, 0
        if two:  # the second fact from the bottom of page 1's left column into its right one
            k = first_at(art, path, f["break"][0], lambda p: p[1] >= 3)
            p0 = position(render(art, k, 0, path), f["last"][0])[0]
            m = first_at(art, path, f["last"][0], lambda p, p0=p0: p[0] > p0 + (p0 % 2), k)
        elif "break" in f:  # a line-end hyphen inside the fact, when some filler length gives one
            for k in range(20, 44):
                loc = locate(reader_pages(render(art, k, 0, path)), f["break"][0])
                if loc and hyphen_break(loc["lines"]):
                    break
        render(art, k, m, path)
        pages = reader_pages(path)
        heads = {"heading": art[5][0], "break": art[5][0], "list": art[5][1], "last": art[5][2]}
        for slot, (fact, question) in f.items():
            loc = locate(pages, fact)
            facts.append({"id": f"{name}:{slot}", "file": name, "generator": gen, "slot": slot, "fact": fact,
                          "question": question, "heading": heads[slot], "loc": loc,
                          "spots": spots(pages, loc, heads[slot] if slot == "heading" else "")})
    for name, gen, title, items in WORD:
        blk = [("title", title)] + [x for h, kind, fact, _ in items for x in (
            ("h", h), ("p", filler(name + h, 30)), ("ul", [filler(h, 12), fact, filler(h + "z", 14)]) if kind == "li"
            else ("p", fact), ("p", filler(name + h + "y", 40)))]
        md = "\n\n".join(f"# {t}" if k == "title" else f"## {t}" if k == "h" else "\n".join(f"- {i}" for i in t)
                         if k == "ul" else t for k, t in blk if t)
        path = pandoc_docx(folder / name, md) if gen == "pandoc" else libreoffice_docx(folder / name, to_html(blk))
        import docx
        paras = [p.text for p in docx.Document(str(path)).paragraphs]
        for h, kind, fact, question in items:
            no = next((i for i, t in enumerate(paras, 1) if alnum(fact) in alnum(t)), None)
            facts.append({"id": f"{name}:{kind}", "file": name, "generator": gen, "slot": kind, "fact": fact,
                          "question": question, "heading": h, "loc": no and {"page": None, "first": no, "last": no},
                          "spots": {"found": no is not None}})
    for name, src, items in MANUALS:
        data = Path(src).read_bytes()
        (folder / name).write_bytes(gzip.decompress(data) if src.endswith(".gz") else data)
        pages = reader_pages(folder / name)
        for h, fact, question in items:
            loc = locate(pages, fact)
            facts.append({"id": f"{name}:{h}", "file": name, "generator": "pdfTeX (Debian)", "slot": "manual",
                          "fact": fact, "question": question, "heading": h, "loc": loc,
                          "spots": spots(pages, loc, h)})
    return facts


def judge(assistant, f: dict, pages: dict) -> dict:
    """One question through ``assistant.ask`` and ``assistant.search``, scored against where the fact is."""
    answer = assistant.ask(f["question"])
    want = tokens(f["fact"])
    cites = sorted(answer.citations, key=lambda c: (not c.source.endswith(f["file"]),
                                                    -len(set(want) & set(tokens(c.quote)))))
    c, loc = (cites[0] if cites else None), f["loc"] or {}
    got = {"answered": not answer.abstained, "answer": answer.answer.split("\n\nSources:")[0]}
    checks: dict = {"answered": not answer.abstained}
    if c is not None:
        got.update(source=c.source, page=c.page, lines=[c.start_line, c.end_line], section=c.section, quote=c.quote)
        quote = tokens(c.quote)
        n = len(want)
        checks.update(file=c.source.endswith(f["file"]), page=loc.get("page") == c.page,
                      heading=bool(c.section) and alnum(f["heading"]) == alnum(c.section),
                      lines_exact=[c.start_line, c.end_line] == [loc.get("first"), loc.get("last")],
                      lines_cover=bool(loc) and c.start_line <= loc["first"] and c.end_line >= loc["last"],
                      quote_has_fact=alnum(f["fact"]) in alnum(c.quote),
                      words_whole=any(quote[i:i + n] == want for i in range(len(quote) - n + 1)),
                      run_together=sorted({q for q in quote if q not in want and any(
                          q == a + b for a, b in zip(want, want[1:]))}),
                      split_words=[w for w in want if w not in quote])
        # the other column's lines beside the fact's (same row, not cited): three words of one in the quote
        page = pages[f["file"]][c.page - 1] if f["file"] in pages and c.page else []
        beside = [o["text"] for x in loc.get("lines", []) for o in page
                  if {x["col"], o["col"]} == {"L", "R"} and abs(o["c"] - x["c"]) < x["h"] / 2
                  and not c.start_line <= o["no"] <= c.end_line]
        grams = {tuple(quote[i:i + 3]) for i in range(len(quote) - 2)}
        checks["mixed_columns"] = [t for t in beside if any(tuple(tokens(t)[i:i + 3]) in grams for i in range(
            len(tokens(t)) - 2))]
    hits = assistant.search(f["question"], top_k=5)
    rank = next((i for i, h in enumerate(hits, 1) if h.chunk.source.endswith(f["file"]) and
                 alnum(f["fact"]) in alnum(h.chunk.text)), None)
    pdf = f["file"].endswith(".pdf")
    ok = bool(c) and checks["answered"] and checks["file"] and (checks["page"] or not pdf) and \
        checks["lines_cover"] and checks["quote_has_fact"] and checks["words_whole"] and not checks["mixed_columns"]
    checks.update(ok=ok and (checks["heading"] or pdf), ok_strict=ok and checks["heading"],
                  in_top5=rank is not None)
    return {"id": f["id"], "generator": f["generator"], "spots": f["spots"], "question": f["question"],
            "fact": f["fact"], "expected": {"page": loc.get("page"), "lines": [loc.get("first"), loc.get("last")],
                                            "heading": f["heading"]},
            "got": got, "checks": checks, "search_rank": rank}


def totals(results: list[dict]) -> dict:
    keys = ("answered", "file", "page", "heading", "lines_exact", "lines_cover", "quote_has_fact", "words_whole",
            "mixed_columns", "run_together", "in_top5", "ok", "ok_strict")
    return {"facts": len(results), **{k: sum(bool(r["checks"].get(k)) for r in results) for k in keys}}


def main() -> None:
    from rag.assistant import Assistant
    from rag.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the report here too (JSON)")
    parser.add_argument("--keep", type=Path, help="copy the generated corpus here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        t0 = time.perf_counter()
        facts = build(folder)
        shutil.rmtree(folder / ".lo", ignore_errors=True)
        built = time.perf_counter() - t0
        if args.keep:
            shutil.copytree(folder, args.keep, dirs_exist_ok=True)
        pages = {p.name: reader_pages(p) for p in folder.glob("*.pdf")}
        assistant = Assistant(Settings.load(corpus=folder, index_dir=Path(tmp) / "index"))
        t1 = time.perf_counter()
        assistant.index()
        indexed = time.perf_counter() - t1
        results = [judge(assistant, f, pages) for f in facts]
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r["generator"], []).append(r)
    report = {"totals": totals(results), "by_generator": {g: totals(rs) for g, rs in groups.items()},
              "failed": [r["id"] for r in results if not r["checks"]["ok"]],
              "seconds": {"build": round(built, 1), "index": round(indexed, 1)}, "facts": results}
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
