"""Answers as text: the Jinja2 templates in ``rag/prompts/`` hold every word, code only the layout.

An :class:`~rag.types.Answer` is data; :meth:`Renderer.finish` fills in its ``answer``
(the text with its Sources list) and ``body`` (without). Streams render each sentence as
it comes with :meth:`Renderer.sentence`, so what a stream sends joins up to ``answer``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rag.types import Answer, AnswerSentence

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
#: Between the sentences of an answer, and between the answer and its Sources list.
SENTENCE_SEPARATOR = " "
SECTION_SEPARATOR = "\n\n"


def oneline(text: str, keep: str = "") -> str:
    """``text`` as one line: line breaks and other control characters (but those in ``keep``)
    shown as escapes, so a file named "a\\n[2] b.txt" cannot fake a line of a Sources list,
    nor an article's ESC sequences recolour or retitle a terminal."""
    import unicodedata

    return "".join(ascii(ch)[1:-1] if ch not in keep and unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text)


class Renderer:
    """Renders answers with the templates of one folder (the package's ``prompts/`` by default)."""

    def __init__(self, prompts_dir: Path = PROMPTS_DIR) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        self.env = Environment(loader=FileSystemLoader(str(prompts_dir)), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                               autoescape=False)
        self.env.filters["oneline"] = oneline

    def render(self, name: str, **context: object) -> str:
        return self.env.get_template(name).render(**context).strip()

    def sentence(self, sentence: AnswerSentence) -> str:
        return self.render("sentence.md.j2", sentence=sentence)

    def body(self, answer: Answer) -> str:
        """The answer without its sources: its sentences, or the abstention."""
        if answer.abstained:
            return self.render("abstain.md.j2", question=answer.question)
        return SENTENCE_SEPARATOR.join(self.sentence(s) for s in answer.sentences)

    def sources(self, answer: Answer) -> str:
        """The Sources list ("" when nothing is cited)."""
        if not answer.citations:
            return ""
        return self.render("sources.md.j2", citations=answer.citations, abstained=answer.abstained)

    def finish(self, answer: Answer) -> Answer:
        """``answer`` with its ``answer`` and ``body`` text filled in."""
        body, sources = self.body(answer), self.sources(answer)
        return replace(answer, body=body, answer=body + (SECTION_SEPARATOR + sources if sources else ""))
