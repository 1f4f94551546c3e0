"""A written answer in the terminal as it streams: the model's tokens as they come, each checked
sentence's markers after it, a struck-out note after a sentence taken back, a notice before an
offline answer that replaces it, then the Sources list. Words come from the templates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from rag.types import Answer, AnswerDone, AnswerEvent, NoticeEvent, RetractEvent, SentenceEvent, TokenEvent

if TYPE_CHECKING:
    from rich.console import Console

    from rag.rendering import Renderer


def print_stream(console: "Console", renderer: "Renderer", events: Iterator[AnswerEvent]) -> Answer | None:
    """Print ``events`` as they come; the answer they end with (None if they end early)."""
    from rich.text import Text

    from rag.cli.render import safe
    from rag.rendering import SECTION_SEPARATOR, SENTENCE_SEPARATOR

    sent = drafting = False
    for event in events:
        if isinstance(event, TokenEvent):
            console.print(Text(safe(event.text)), end="")
            sent = drafting = True
        elif isinstance(event, SentenceEvent) and drafting:
            marks = renderer.render("markers.md.j2", sentence=event.sentence)
            if marks:
                console.print(Text(SENTENCE_SEPARATOR + marks, style="bold cyan"), end="")
        elif isinstance(event, SentenceEvent):
            line = Text((SENTENCE_SEPARATOR if sent else "") + safe(renderer.sentence(event.sentence)))
            line.highlight_regex(r"\[\d+\]", "bold cyan")
            console.print(line, end="")
            sent = True
        elif isinstance(event, RetractEvent):
            note = renderer.render("retract.md.j2", sentence=event.sentence)
            console.print(Text(SENTENCE_SEPARATOR + note, style="red"), end="")
        elif isinstance(event, NoticeEvent):
            console.print(Text((SECTION_SEPARATOR if sent else "") + safe(event.text) + SECTION_SEPARATOR,
                               style="yellow"), end="")
            sent = drafting = False
        elif isinstance(event, AnswerDone):
            answer = event.answer
            if not sent and answer.body:
                console.print(Text(safe(answer.body), style="yellow" if answer.abstained else ""), end="")
            console.print()
            sources = renderer.sources(answer)
            if sources:
                console.print()
                console.print(Text(safe(sources), style="dim"))
            return answer
    console.print()
    return None


def need_endpoint(settings) -> None:
    """``--llm`` (or RAG_ANSWERER=llm) with no endpoint is a mistake worth one line, not a silent offline answer."""
    from rag.errors import RagError

    if settings.answerer == "llm" and not settings.llm_url:
        raise RagError("--llm needs a language model: set RAG_LLM_URL to an OpenAI-compatible endpoint "
                       "(e.g. http://localhost:11434/v1 for Ollama), and RAG_LLM_MODEL if it serves several")
