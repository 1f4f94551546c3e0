"""The request bodies the server accepts, as pydantic models (their errors become 400s).

Numbers and switches are strict: ``"top_k": "5"`` or ``"stream": "yes"`` is refused, not guessed at.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.conversation import MAX_HISTORY

#: What the schema says of a question, as the Assistant checks it (in words of its own): not blank,
#: no control characters but tab and line breaks.
NOT_BLANK = {"minLength": 1,
             "pattern": r"^(?=[\s\S]*\S)[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"}
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
    #: The last must be the user's question (a 400 otherwise): more than JSON Schema can say.
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation; the last message must be "
                                        "the user's question (role user)")
    stream: bool | None = Field(False, strict=True)
    n: int | None = Field(None, ge=1, le=1, strict=True)
    #: Extension: passages to retrieve (default from settings).
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, strict=True)


class AskRequest(BaseModel):
    """``POST /api/ask``: the arguments of ``rag ask``, plus the user's earlier questions."""

    model_config = ConfigDict(extra="forbid")

    #: Checked by the Assistant (its messages are clearer than pydantic's); the schema says it too.
    question: str = Field(json_schema_extra=NOT_BLANK)
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, strict=True)
    #: The user's earlier questions, oldest first; at most as many as MCP's ``ask`` takes.
    history: list[Annotated[str, Field(json_schema_extra=NOT_BLANK)]] = Field(default_factory=list,
                                                                             max_length=MAX_HISTORY)
