"""Documents -> sentences -> chunks, sized in the embedding model's own tokens.

Sentences never cross a paragraph; a heading or a list item is a unit of its own, a
line ending in ``:`` followed by bullet lines is kept whole (so a list can be quoted as
one passage), and so is a block of short lines without sentence punctuation (a
signature: a name, then a role a line). A chunk is a run of whole sentences up to
``size`` tokens, overlapping the previous chunk by up to ``overlap`` tokens of whole
sentences. A sentence longer than ``size`` is cut at token boundaries, so nothing is ever
truncated away by the model.
"""

from __future__ import annotations

import re
from typing import Protocol

from rag.types import Chunk, Document, Sentence

TERMINAL = tuple('.!?:;"”’)]')
SHORT_LINE_WORDS = 10
#: Hard-wrapped text is wrapped at 20 to 120 characters (``fold -w 30`` and narrow PDF columns
#: too); a line at least this share of the width was broken by the wrapping, not by the writer.
MIN_WRAP, MAX_WRAP, FULL_LINE = 20, 120, 0.6
SENTENCE_END = re.compile(r"[.!?]\s")
BULLET = re.compile(r"\s*([•·▪◦*+\-–]|\d{1,2}[.)])\s+\S")


class TokenCounter(Protocol):
    def count_tokens(self, texts: list[str]) -> list[int]: ...
    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...


def collapse(text: str) -> str:
    return " ".join(text.split())


def paragraphs(text: str) -> list[tuple[int, int, bool]]:
    """Character spans of paragraphs, and whether each is kept whole (an introduced list,
    a block of short lines).

    Two layouts of plain text: a paragraph a line (the seeds, most exports), where a line
    continues the one before only when it starts in lower case after an unfinished line;
    and hard-wrapped text (e-mails, RFCs, Project Gutenberg, PDF pages), where lines inside
    a block continue each other whatever they start with ("... signed by" / "King Charles
    III"), unless the line before stopped well short of the wrap width at a sentence end, or
    before a capital (a heading with no gap after it). A wrapped list item goes on over its
    lines.
    """
    lines = text.split("\n")
    width = wrap_width(lines)
    headings = _headings(lines, width)
    spans: list[list] = []  # [start, end, "text" | "list" | "block"]
    prev_line = ""
    pos = 0
    blank_since = False
    for i, line in enumerate(lines):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        if not stripped:
            blank_since = True
            continue
        lead = start + (len(line) - len(line.lstrip()))
        bullet = bool(BULLET.match(line))
        cur = spans[-1] if spans else None
        joins = cur is not None and not blank_since
        full = width is not None and len(stripped) >= FULL_LINE * width
        if cur and bullet and (cur[2] == "list" or prev_line.endswith(":")):
            cur[1], cur[2] = end, "list"  # intro line plus its bullets: one unit
        elif joins and cur[2] == "list" and not bullet and _continues(prev_line, stripped, width):
            cur[1] = end  # a list item wrapped onto another line
        elif (joins and cur[2] != "list" and not bullet and _short_line(prev_line) and _short_line(stripped)
              and not (width and len(prev_line) >= FULL_LINE * width) and not full):
            cur[1], cur[2] = end, "block"  # short lines (a signature, an address): one unit
        elif joins and cur[2] == "text" and not bullet and i not in headings and _continues(prev_line, stripped, width):
            cur[1] = end  # a hard-wrapped line continues the paragraph
        else:
            spans.append([lead, end, "text"])
        prev_line = stripped
        blank_since = False
    return [(s, e, kind != "text") for s, e, kind in spans]


def wrap_width(lines: list[str]) -> int | None:
    """The width a hard-wrapped text was wrapped at, or None for a paragraph a line.

    Wrapped: most lines have a non-blank line after them, the longest lines (90th
    percentile) are at most ``MAX_WRAP`` characters, most lines inside blocks come near
    that width (half of them at least: the rest end paragraphs or sign off), and half of them
    at least stop mid-sentence (in a paragraph a line, each line ends a sentence).
    """
    lengths = [len(line.rstrip()) for line in lines if line.strip()]
    if len(lengths) < 4:
        return None
    width = sorted(lengths)[int(0.9 * (len(lengths) - 1))]
    inner = [a.rstrip() for a, b in zip(lines, lines[1:]) if a.strip() and b.strip()]
    if not MIN_WRAP <= width <= MAX_WRAP or len(inner) < 0.5 * len(lengths):
        return None
    if sum(not a.endswith(TERMINAL) for a in inner) < len(inner) / 2:
        return None  # nearly every line ends a sentence: a paragraph a line
    return width if sum(len(a) >= FULL_LINE * width for a in inner) >= 0.5 * len(inner) else None


def _headings(lines: list[str], width: int | None) -> set[int]:
    """Indexes of the headings of hard-wrapped text: a short line without sentence punctuation,
    after a sentence's end, before a full line of prose that starts with a capital or a digit
    (before another short line it is a signature or an address: a block)."""
    if width is None:
        return set()
    out = set()
    for i in range(1, len(lines) - 1):
        prev, line, nxt = lines[i - 1].strip(), lines[i].strip(), lines[i + 1].strip()
        if (line and len(line) < FULL_LINE * width and not line.endswith(TERMINAL) and not BULLET.match(line)
                and (not prev or prev.endswith(TERMINAL)) and len(nxt) >= FULL_LINE * width
                and (nxt[:1].isupper() or nxt[:1].isdigit())):
            out.add(i)
    return out


def _continues(prev: str, line: str, width: int | None) -> bool:
    """Whether ``line`` goes on with the paragraph ``prev`` belongs to."""
    if width is None:
        return not prev.endswith(TERMINAL) and line[0].islower()
    if len(prev) >= FULL_LINE * width:
        return True
    return not prev.endswith(TERMINAL) and not line[0].isupper()  # a short line before a capital: a heading


def _short_line(line: str) -> bool:
    """A line that is not prose: a few words, no sentence punctuation, not the lower-case
    continuation of a hard-wrapped sentence."""
    return (len(line.split()) <= SHORT_LINE_WORDS and not line.endswith(TERMINAL)
            and not SENTENCE_END.search(line) and not line[0].islower())


def split_sentences(doc: Document, counter: TokenCounter, max_tokens: int) -> list[Sentence]:
    """Every sentence of a document with its lines and token count, none over ``max_tokens``."""
    import blingfire

    spans: list[tuple[int, int]] = []
    for start, end, is_list in paragraphs(doc.text):
        if is_list:
            spans.append((start, end))
            continue
        flat = doc.text[start:end].replace("\n", " ")
        _, offsets = blingfire.text_to_sentences_and_offsets(flat)
        for a, b in offsets:
            piece = flat[a:b]
            a += len(piece) - len(piece.lstrip())
            b -= len(piece) - len(piece.rstrip())
            if b > a:
                spans.append((start + a, start + b))
    texts = [collapse(doc.text[a:b]) for a, b in spans]
    counts = counter.count_tokens(texts)
    out: list[Sentence] = []
    for (a, b), n in zip(spans, counts):
        if n <= max_tokens:
            out.append(_sentence(doc, a, b, n))
        else:
            for pa, pb in _cut(doc.text[a:b], counter, max_tokens):
                piece = doc.text[a + pa:a + pb]
                out.append(_sentence(doc, a + pa, a + pb, counter.count_tokens([collapse(piece)])[0]))
    return out


def chunk_sentences(doc: Document, sentences: list[Sentence], size: int, overlap: int,
                    offset: int = 0) -> list[Chunk]:
    """Pack a document's sentences into overlapping chunks of at most ``size`` tokens.

    ``offset`` is the position of ``sentences[0]`` in the index's sentence table.
    """
    chunks: list[Chunk] = []
    n, i = len(sentences), 0
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + sentences[j].tokens <= size):
            total += sentences[j].tokens
            j += 1
        first, last = sentences[i], sentences[j - 1]
        chunks.append(Chunk(doc_id=doc.doc_id, source=doc.source, start=first.start, end=last.end,
                            start_line=first.start_line, end_line=last.end_line,
                            text=doc.text[first.start:last.end], tokens=total,
                            first_sentence=offset + i, last_sentence=offset + j, page=doc.page,
                            section=doc.section))
        if j >= n:
            break
        k, back = j, 0
        while k - 1 > i and back + sentences[k - 1].tokens <= overlap:
            k -= 1
            back += sentences[k].tokens
        i = k
    return chunks


def _sentence(doc: Document, a: int, b: int, tokens: int) -> Sentence:
    start_line, end_line = doc.lines_of(a, b)
    return Sentence(doc_id=doc.doc_id, source=doc.source, start=a, end=b, start_line=start_line,
                    end_line=end_line, text=collapse(doc.text[a:b]), tokens=tokens, page=doc.page,
                    section=doc.section)


def _cut(text: str, counter: TokenCounter, max_tokens: int) -> list[tuple[int, int]]:
    """Split an over-long sentence into pieces of at most ``max_tokens`` tokens.

    Cuts fall between words where the window has a space: a cut inside a word would
    re-tokenize its tail differently (``##able`` becomes ``able``) and could overflow the
    size. Each piece is re-counted and shrunk until it fits, so nothing is ever truncated.
    """
    offsets = counter.token_offsets(text)
    n = len(offsets)
    pieces: list[tuple[int, int]] = []
    k = 0
    while k < n:
        e = min(k + max_tokens, n)
        if e < n:
            cut = e
            while cut > k + 1 and offsets[cut][0] == offsets[cut - 1][1]:
                cut -= 1  # token ``cut`` continues the word before it
            if offsets[cut][0] != offsets[cut - 1][1]:
                e = cut  # else one enormous word: cut it at a token boundary
        a = offsets[k][0] if k else 0
        while True:
            b = offsets[e][0] if e < n else len(text)
            b = a + len(text[a:b].rstrip())
            if e - k <= 1 or counter.count_tokens([collapse(text[a:b])])[0] <= max_tokens:
                break
            e -= 1
        if b > a:
            pieces.append((a, b))
        k = e
    return pieces
