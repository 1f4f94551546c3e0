"""The request bodies the server accepts, as pydantic models (their errors become 400s)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Upper bound for ``top_k`` over HTTP, so one request cannot ask to score the whole corpus.
MAX_TOP_K = 100


class ChatMessage(BaseModel):
    """One message of an OpenAI chat; only text content is understood."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> str | None:
        """Plain text, or the text parts of a content list (``[{"type": "text", "text": ...}]``)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list):
            texts = []
            for part in value:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise ValueError(f"only text content parts are supported, not {kind!r}")
                texts.append(part["text"])
            return "\n".join(texts)
        raise ValueError("content must be a string or a list of text parts")


class ChatCompletionRequest(BaseModel):
    """The chat-completions request. Sampling options (temperature, max_tokens, ...) are
    accepted and ignored: answers are extractive and deterministic."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    n: int | None = Field(None, ge=1, le=1)
    #: Extension: passages to retrieve (default from settings).
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)


class AskRequest(BaseModel):
    """``POST /api/ask``: the arguments of ``rag ask``, plus the user's earlier questions."""

    model_config = ConfigDict(extra="forbid")

    question: str
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)
    history: list[str] = Field(default_factory=list)
