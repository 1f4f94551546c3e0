"""What every loader shares: the corpus listing, decoding, boilerplate rules, the protocol.

A document's ``text`` is its kept lines joined by ``\\n`` and ``line_numbers`` says which
original line each came from (see :class:`rag.types.Document`), so every format cites
the lines (or records) a reader can find in the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.errors import RagError
from rag.types import Document

log = logging.getLogger("rag")

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
BUILTIN_BOILERPLATE = Path(__file__).resolve().parent.parent / "boilerplate.txt"


class CorpusError(RagError):
    """The corpus folder cannot be used (missing, or holds no readable article)."""


@dataclass(frozen=True)
class SourceFile:
    """One file of the corpus, with the hash the index uses to notice changes."""

    path: Path
    source: str
    sha256: str


class Loader(Protocol):
    """Reads one format: a file in, its documents out, each line traced to the file."""

    suffixes: tuple[str, ...]
    #: True for formats whose bytes are not text (PDF, Word): quotes are checked against the
    #: loader's text only. Optional; absent means False.
    binary: bool

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        """The documents of ``f``, boilerplate lines (``rules``) dropped; [] with a warning
        naming the file when it holds none."""
        ...


def load_rules(extra: Path | None = None) -> list[re.Pattern[str]]:
    """The built-in boilerplate rules plus a user's own file of them."""
    files = [BUILTIN_BOILERPLATE] + ([extra] if extra else [])
    rules = []
    for f in files:
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise CorpusError(f"cannot read boilerplate rules {f}: {e.strerror}") from None
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                try:
                    rules.append(re.compile(line, re.IGNORECASE))
                except re.error as e:
                    raise CorpusError(f"{f}:{n}: bad boilerplate rule {line!r}: {e}") from None
    return rules


def list_sources(corpus: Path, extensions: tuple[str, ...], max_bytes: int | None = None,
                 follow_links: bool = False) -> list[SourceFile]:
    """Every article file under ``corpus`` (sorted), with its content hash.

    Skipped with a warning naming them: files over ``max_bytes``, names that are not valid
    UTF-8 (they cannot be cited or stored as text), and links that lead out of the corpus
    folder unless ``follow_links`` (a link to /etc/passwd must not be indexed by accident).
    """
    if not corpus.exists():
        raise CorpusError(f"corpus folder not found: {corpus}")
    paths = [corpus] if corpus.is_file() else sorted(
        p for p in _walk(corpus, follow_links)
        if p.suffix.lower() in extensions and p.is_file())
    base, root = corpus.parent, corpus.resolve()
    files = []
    for p in paths:
        source = p.relative_to(base).as_posix()
        problem = _unusable(p, source, root, max_bytes, follow_links)
        if problem:
            log.warning("skipping %s: %s", printable(source), problem)
            continue
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError as e:
            log.warning("skipping %s: cannot read it (%s)", printable(source), e.strerror)
            continue
        files.append(SourceFile(path=p, source=source, sha256=digest))
    return files


def _walk(corpus: Path, follow_links: bool) -> list[Path]:
    """The files under ``corpus``, hidden ones left out. A linked folder is entered when it lies
    inside the corpus folder (once: its files are found under their own name too) or with
    ``follow_links``; one leading out of the corpus folder is otherwise skipped with a warning."""
    import os

    root = corpus.resolve()
    seen = {root}
    found: list[Path] = []
    for folder, dirs, files in os.walk(corpus, followlinks=True):
        here = Path(folder)
        keep = []
        for d in sorted(dirs):
            path = here / d
            real = path.resolve()
            if d.startswith(".") or real in seen:
                continue
            if path.is_symlink() and not real.is_relative_to(root):
                if not follow_links:
                    log.warning("skipping %s: it is a link to a folder outside the corpus folder "
                                "(RAG_FOLLOW_LINKS=1 follows such links)",
                                printable(path.relative_to(corpus.parent).as_posix()))
                    continue
            elif path.is_symlink():
                continue  # inside the corpus: its files are found where they are
            seen.add(real)
            keep.append(d)
        dirs[:] = keep
        found += [here / f for f in files if not f.startswith(".")]
    return found


def _unusable(path: Path, source: str, root: Path, max_bytes: int | None, follow_links: bool) -> str | None:
    """Why a corpus file must be skipped, or None."""
    if any("\udc80" <= ch <= "\udcff" for ch in source):
        return "its name is not valid UTF-8; rename it"
    if not follow_links and path != root and not path.resolve().is_relative_to(root):
        return "it is a link to a file outside the corpus folder (RAG_FOLLOW_LINKS=1 follows such links)"
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"cannot read it ({e.strerror})"
    if max_bytes is not None and size > max_bytes:
        return f"it is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit (RAG_MAX_FILE_MB)"
    return None


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes shown as escapes, for one line
    of a log or a terminal (a file name may hold a newline or an escape sequence)."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def read_text(f: SourceFile) -> str | None:
    """The file's text, or None (with a warning naming it) when it is unreadable or binary."""
    try:
        data = f.path.read_bytes()
    except OSError as e:
        log.warning("skipping %s: cannot read it (%s)", f.source, e.strerror)
        return None
    text = None if b"\x00" in data[:8192] and not data.startswith(UTF16_BOMS) else decode(data, f.source)
    if text is None or "\x00" in text[:8192]:  # NULs in text: binary, or broken UTF-16
        log.warning("skipping %s: it looks like a binary file, not text", f.source)
        return None
    return text


def decode(data: bytes, name: str) -> str:
    """UTF-8 (or UTF-16 with a byte-order mark) when it is; otherwise the most likely
    encoding, said in a warning.

    charset-normalizer cannot tell the Latin code pages apart on a short English text
    (it guesses cp1250 for cp1252 curly quotes, mangling accents), so when its guess is a
    Latin script and the bytes are valid cp1252 -- the de facto default of Western text
    and of the web (WHATWG) -- cp1252 wins.
    """
    for encoding in (["utf-16"] if data.startswith(UTF16_BOMS) else []) + ["utf-8-sig"]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    encoding = best.encoding if best else "cp1252"
    if encoding != "cp1252" and (best is None or _mostly_latin(str(best))):
        try:
            data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            pass
    log.warning("%s is not UTF-8; reading it as %s", name, encoding)
    return data.decode(encoding, errors="replace")


def _mostly_latin(text: str) -> bool:
    """Whether the non-ASCII letters of ``text`` are mostly Latin ones (or there are none)."""
    import unicodedata

    letters = [c for c in text if ord(c) > 127 and c.isalpha()]
    latin = sum(unicodedata.name(c, "").startswith("LATIN") for c in letters)
    return latin >= len(letters) / 2


def is_boilerplate(line: str, rules: list[re.Pattern[str]]) -> bool:
    stripped = line.strip()
    return bool(stripped) and any(r.fullmatch(stripped) for r in rules)


def split_lines(text: str) -> list[str]:
    """Lines as editors number them: broken at \\n, \\r\\n or \\r only.

    ``str.splitlines`` also breaks at form feeds, U+2028 and others, which would shift
    every citation after them.
    """
    lines = re.split(r"\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def document_from_lines(f: SourceFile, lines: list[tuple[int, str]],
                        rules: list[re.Pattern[str]]) -> list[Document]:
    """One document of ``(line number, text)`` pairs: boilerplate and repeated or outer
    blank lines dropped, inner blank lines kept (they mark paragraphs)."""
    kept: list[tuple[int, str]] = []
    for n, line in lines:
        if is_boilerplate(line, rules) or (not line.strip() and kept and not kept[-1][1].strip()):
            continue  # boilerplate, or a second blank line left where boilerplate was
        kept.append((n, line))
    while kept and not kept[0][1].strip():
        kept.pop(0)
    while kept and not kept[-1][1].strip():
        kept.pop()
    if not kept:
        log.warning("skipping %s: no text left in it", f.source)
        return []
    title = next(line.strip() for _, line in kept if line.strip())
    return [Document(doc_id=f.source, source=f.source, text="\n".join(line for _, line in kept),
                     line_numbers=tuple(n for n, _ in kept), title=title)]
