"""The values that pass between stages: small, frozen, and free of behaviour beyond their shape.

files -> :class:`Document` -> :class:`Sentence`, :class:`Chunk` -> store -> :class:`Hit`
-> :class:`Answer` (its :class:`AnswerSentence` s, each citing :class:`Citation` s by id).

Chunks and sentences are addressed by stable string ids (file, document and character
offset), never by a position in some table, so any store can hold them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Document:
    """One document of a file: its kept text, and the original line of every text line.

    ``text`` is the kept lines joined by ``\\n``; ``line_numbers[i]`` is the 1-based line in
    the file that text line ``i`` came from, so any character range maps back to lines.
    """

    doc_id: str
    #: Path shown in citations: relative to the corpus folder's parent.
    source: str
    text: str
    line_numbers: tuple[int, ...]
    title: str = ""
    #: The page of a paged format (PDF), 1-based; its line numbers then count within the page.
    page: int | None = None
    #: The heading the text sits under, where the format has headings (Word).
    section: str = ""

    def lines_of(self, start: int, end: int) -> tuple[int, int]:
        """Original first and last line of the character range ``[start, end)``.

        A binary search in the text lines' offsets: counting newlines from the start for
        every sentence made indexing quadratic in a file's length."""
        starts = self._line_starts
        first = bisect_right(starts, start) - 1
        last = bisect_right(starts, max(start, end - 1)) - 1
        return self.line_numbers[first], self.line_numbers[last]

    @cached_property
    def _line_starts(self) -> list[int]:
        """Offset of the first character of each text line."""
        return [0] + [m.end() for m in re.finditer("\n", self.text)]


def _prefix(source: str, doc_id: str) -> str:
    return source if doc_id == source else f"{source}#{doc_id}"


@dataclass(frozen=True)
class Sentence:
    """A sentence (or a list, or a signature block kept whole) with the lines it came from."""

    doc_id: str
    source: str
    start: int  # character range in the document's text
    end: int
    start_line: int  # original lines, 1-based, inclusive
    end_line: int
    text: str  # the document's characters, whitespace collapsed
    tokens: int
    page: int | None = None  # the document's page and section (see Document)
    section: str = ""

    @property
    def id(self) -> str:
        """Stable across builds while the file is unchanged: file, document, offset."""
        return f"{_prefix(self.source, self.doc_id)}:s{self.start}"

    @property
    def order(self) -> tuple[str, str, int]:
        """Reading order across the corpus (file, document, offset): breaks ties."""
        return (self.source, self.doc_id, self.start)


@dataclass(frozen=True)
class Chunk:
    """A passage: a run of whole sentences of one document, sized in model tokens."""

    doc_id: str
    source: str
    start: int
    end: int
    start_line: int
    end_line: int
    text: str
    tokens: int
    #: The chunk's sentences as a range of the store's sentence table, ``[first, last)``
    #: (how the local store finds them; other stores may number them their own way).
    first_sentence: int
    last_sentence: int
    page: int | None = None
    section: str = ""

    @property
    def id(self) -> str:
        return f"{_prefix(self.source, self.doc_id)}:c{self.start}"

    @property
    def order(self) -> tuple[str, str, int]:
        return (self.source, self.doc_id, self.start)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the scores that put it where it is."""

    chunk: Chunk
    score: float  # fused score; higher is better
    dense: float | None  # cosine similarity, when the dense search found it
    bm25: float | None
    rank: int  # 1-based
    #: BM25 over character 4-grams, when that ranking is on and found it.
    chars: float | None = None
    #: Best evidence of the passage's sentences, when the answerer reranked the hits.
    evidence: float | None = None

    @property
    def id(self) -> str:
        return self.chunk.id

    def to_dict(self) -> dict:
        """The JSON shape of one passage in ``rag search --json`` and ``GET /api/search``."""
        c = self.chunk
        return {"rank": self.rank, "id": c.id, "source": c.source, "page": c.page, "start_line": c.start_line,
                "end_line": c.end_line, "section": c.section or None, "score": round(self.score, 6),
                "evidence": _round(self.evidence, 4), "dense": _round(self.dense, 4),
                "bm25": _round(self.bm25, 4), "chars": _round(self.chars, 4), "text": c.text}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Citation:
    """Where a claim comes from: a file, its lines, and the verbatim quote found there."""

    id: int
    source: str
    start_line: int
    end_line: int
    quote: str
    score: float
    #: The page (PDF) the lines count within, or None; the heading they sit under (Word), or None.
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer and the ids of the citations that support it."""

    text: str
    citations: tuple[int, ...]
    #: A written answer's sentence (rag.answering.llm) after checking: whether what it cites
    #: supports it, the support score, and whether the model wrote its markers itself.
    #: ``support`` is None for quoted sentences, which are their own support.
    supported: bool = True
    support: float | None = None
    cited_by_model: bool = False

    def to_dict(self) -> dict:
        d: dict = {"text": self.text, "citations": list(self.citations)}
        if self.support is not None:
            d.update(supported=self.supported, support=round(self.support, 4), cited_by_model=self.cited_by_model)
        return d


@dataclass(frozen=True)
class Answer:
    """An answer as data; :class:`rag.rendering.Renderer` turns it into text.

    ``answer`` and ``body`` are the rendered text (with and without the Sources list),
    filled in by the renderer; code never reads anything back out of them.
    """

    question: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    #: Best support score: what the abstention threshold was compared with.
    support: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    body: str = ""
    #: Sentences a language model wrote that no passage supports, taken out (rag.answering.llm).
    removed: tuple[AnswerSentence, ...] = ()
    #: What the user should know about how this answer was made ("the language model did not
    #: answer in 20 s: this is the offline answer"); "" when nothing.
    notice: str = ""
    #: Who wrote it: "" for the configured offline answerer, else e.g. "llm:<model>".
    written_by: str = ""

    def to_dict(self) -> dict:
        """The ``rag ask --json`` shape of ../shared/CONTRACT.md, plus ``sentences`` and ``body``."""
        return {"question": self.question, "answer": self.answer, "abstained": self.abstained,
                "citations": [asdict(c) for c in self.citations],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "support": round(self.support, 4),
                "sentences": [s.to_dict() for s in self.sentences],
                "body": self.body, **self._written()}

    def _written(self) -> dict:
        """The fields of a written (language-model) answer; none for a quoted one."""
        if not self.written_by:
            return {}
        return {"written_by": self.written_by, "removed": [s.to_dict() for s in self.removed],
                "notice": self.notice or None}


@dataclass(frozen=True)
class SentenceEvent:
    """Streaming: one more sentence of the answer is ready."""

    sentence: AnswerSentence


@dataclass(frozen=True)
class AnswerDone:
    """Streaming: the answer is complete (the last event)."""

    answer: Answer


@dataclass(frozen=True)
class TokenEvent:
    """Streaming: a piece of a language model's draft, as it arrived (not yet checked)."""

    text: str


@dataclass(frozen=True)
class RetractEvent:
    """Streaming: a drafted sentence that no passage supports; shown as taken back, not silently dropped.

    ``draft`` is the drafted text it covers (markers included), as the tokens streamed it."""

    sentence: AnswerSentence
    draft: str = ""


@dataclass(frozen=True)
class NoticeEvent:
    """Streaming: something the user should know now ("the language model is not answering: ...")."""

    text: str


AnswerEvent = Union[SentenceEvent, AnswerDone, TokenEvent, RetractEvent, NoticeEvent]


@dataclass(frozen=True, eq=False)
class Query:
    """A question as the answerer receives it."""

    #: As the user asked it: shown in the answer.
    question: str
    #: What was searched: the question, or a follow-up made standalone (rag.conversation).
    text: str
    #: The unit vector of ``text``.
    vector: "np.ndarray"
    #: The user's earlier questions in this conversation, oldest first.
    history: tuple[str, ...] = ()
