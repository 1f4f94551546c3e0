"""Test files from generators other than fpdf2: groff through Ghostscript, headless Chromium, pandoc.

Each maker writes a real file with the Debian tool a user would have used; a test that needs a
tool missing here is skipped by :func:`need` with the package to install (``.ci/run`` installs them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

#: Tool -> the Debian package that has it.
PACKAGES = {"groff": "groff", "ps2pdf": "ghostscript", "chromium": "chromium", "pandoc": "pandoc",
            "soffice": "libreoffice-writer-nogui"}


def need(*tools: str) -> None:
    """Skip the calling test, saying what to install, when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: apt-get install {' '.join(PACKAGES[t] for t in missing)}")


def groff_pdf(path: Path, source: str) -> Path:
    """A PDF typeset by groff (``-ms`` macros) and converted by Ghostscript's ps2pdf."""
    need("groff", "ps2pdf")
    if subprocess.run(["groff", "-ms", "-Z"], input=b"", capture_output=True).returncode:
        pytest.skip("needs groff's -ms macros (groff-base lacks them): apt-get install groff")
    ps = subprocess.run(["groff", "-ms", "-Tps"], input=source.encode(), capture_output=True, check=True).stdout
    subprocess.run(["ps2pdf", "-", str(path)], input=ps, capture_output=True, check=True)
    return path


def chromium_pdf(path: Path, html: str) -> Path:
    """A PDF printed by headless Chromium from ``html`` (CSS columns, @page rules, hyphenation)."""
    need("chromium")
    return _from_html(path, html, "chromium", lambda page, profile: [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
        f"--user-data-dir={profile}", f"--print-to-pdf={path}", page.as_uri()])


def pandoc_docx(path: Path, markdown: str) -> Path:
    """A Word file written by pandoc from Markdown."""
    need("pandoc")
    subprocess.run(["pandoc", "-f", "markdown", "-o", str(path)], input=markdown.encode(), capture_output=True,
                   check=True)
    return path


def libreoffice_docx(path: Path, html: str) -> Path:
    """A Word file written by LibreOffice (headless) from ``html``."""
    need("soffice")
    return _from_html(path, html, "lo", lambda page, profile: [
        "soffice", "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(path.parent), str(page)])


def _from_html(path: Path, html: str, tool: str, command) -> Path:
    """``path`` made from ``html`` by a program that reads a page and keeps a profile folder of
    its own (both removed after): ``command(page, profile)`` is its command line."""
    page = path.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    profile = path.parent / f".{tool}-{path.stem}"
    subprocess.run(command(page, profile), capture_output=True, check=True, timeout=120)
    page.unlink()
    shutil.rmtree(profile, ignore_errors=True)
    return path


def pdf_lines(path: Path) -> list[list[tuple[int, str]]]:
    """``(line number, text)`` of each page as the loader reads it (no boilerplate rules)."""
    from rag.loaders import SourceFile
    from rag.loaders.pdf import read_pdf

    pages: dict[int, list[tuple[int, str]]] = {}
    for doc in read_pdf(SourceFile(path=path, source=path.name, sha256=""), []):
        pages[doc.page] = list(zip(doc.line_numbers, doc.text.split("\n")))
    return [pages.get(n, []) for n in range(1, max(pages, default=0) + 1)]


# -- one article, typeset by groff and by Chromium ------------------------------------------------------------------

TITLE = "The Tarn Moss Survey"
HEADINGS = ("Weather records", "Lights and navigation", "The tarn")
FIRST = "The Tarn Moss weather station recorded 2,310 millimetres of rain in the wettest year on record."
LENS = "The lighthouse on Skerrow Point has a lens made by Chance Brothers in 1874."
ITEMS = ("The first keeper, Magnus Tulloch, kept the light for thirty-one years without a single night dark.",
         "His daughter Ingrid took the post after him.", "The third keeper left after one season.")
#: A compound broken at its own hyphen: the file uses both halves as words elsewhere.
COMPOUND = ("The lighthouse-", "keeper wrote the weather down twice a day.")
LAST = "The tarn itself is shallow, nowhere deeper than four metres, and freezes over in most winters."
_THINGS = ("harbour wall", "slow sand filter", "breakwater", "reservoir inlet", "ultraviolet disinfection plant",
           "chlorine store", "pumping station", "signal mast", "boat shed", "peat bank", "ferry slipway")
_DEEDS = ("rebuilt in dressed granite", "cleaned of silt and weed", "painted against the salt",
          "inspected by the island council", "extended towards the skerries", "repaired after the winter gales",
          "measured by the county surveyor")


def sentences(n: int) -> list[str]:
    """``n`` sentences, each told once, about the island's works."""
    return [f"In {1850 + 7 * i} the {_THINGS[i % len(_THINGS)]} number {i + 1} was {_DEEDS[i % len(_DEEDS)]} "
            f"and any other repair waited for the summer." for i in range(n)]


def body(paragraphs: int) -> list[list[str]]:
    return [sentences(3 * paragraphs)[3 * k:3 * k + 3] for k in range(paragraphs)]


def every_sentence(paragraphs: int) -> list[str]:
    """What a reader finds whole in either typesetting of :func:`groff_article` / :func:`chromium_article`."""
    return [FIRST, LENS, *ITEMS, COMPOUND[0] + COMPOUND[1], *[s for p in body(paragraphs) for s in p], LAST]


def groff_article(path: Path, paragraphs: int = 18) -> Path:
    """Two columns by groff -ms: running heads in halves, centred page numbers, headings set in
    bold with no gap after them, a bulleted list, justified and hyphenated text."""
    ms = [".P1", ".ds LH Skerrow Island Review", ".ds RH Weather and Water", ".ds CH", ".ds CF \\\\n(PN",
          ".nr PS 10", ".nr VS 12", ".nr PD 0", ".2C", ".TL", TITLE, ".SH", HEADINGS[0], ".LP", FIRST,
          ".SH", HEADINGS[1], ".LP", LENS] + [x for item in ITEMS for x in (".IP \\(bu 3", item)]
    ms += [".LP", COMPOUND[0], ".br", COMPOUND[1]]
    ms += [x for para in body(paragraphs) for x in (".PP", " ".join(para))] + [".SH", HEADINGS[2], ".LP", LAST]
    return groff_pdf(path, "\n".join(ms) + "\n")


def chromium_article(path: Path, paragraphs: int = 16) -> Path:
    """Two CSS columns printed by Chromium: @page running heads in halves and a centred page
    number, headings with no margin, soft hyphens; columns filled in turn, so the last right one is short."""
    def shy(text: str) -> str:
        return " ".join(w[:len(w) // 2] + "&shy;" + w[len(w) // 2:] if len(w) >= 8 and w.isalpha() else w
                        for w in text.split(" "))

    paras = "".join(f"<p>{shy(' '.join(p))}</p>" for p in body(paragraphs))
    items = "".join(f"<li>{shy(item)}</li>" for item in ITEMS)
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 22mm 18mm; @top-left {{ content: "Skerrow Island Review" }}
  @top-right {{ content: "Weather and Water" }} @bottom-center {{ content: counter(page) }} }}
body {{ font: 11pt/1.3 serif }} h2 {{ font-size: 11pt; margin: 0 }} p, ul {{ margin: 0 0 5pt 0 }}
.cols {{ columns: 2; column-gap: 9mm; column-fill: auto; text-align: justify }}
</style></head><body><h1>{TITLE}</h1><div class="cols"><h2>{HEADINGS[0]}</h2><p>{shy(FIRST)}</p>
<h2>{HEADINGS[1]}</h2><p>{shy(LENS)}</p><ul>{items}</ul><p>{COMPOUND[0]}<br>{COMPOUND[1]}</p>{paras}
<h2>{HEADINGS[2]}</h2><p>{shy(LAST)}</p></div></body></html>"""
    return chromium_pdf(path, html)
