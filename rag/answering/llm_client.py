"""A chat model behind any OpenAI-compatible endpoint, streamed token by token, within deadlines.

Ollama, llama.cpp's server, vLLM, LM Studio and hosted APIs all speak the chat-completions
protocol; the official ``openai`` client talks to them. Three deadlines bound a request:
connecting, the first token, and the whole answer. A watchdog thread closes the stream
when one passes, so a server that accepts and then says nothing, or trickles, cannot
hang an answer. Every failure is one :class:`LLMError` with a plain reason (the API key is
never in it); the answerer then falls back to the offline answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.errors import RagError


class LLMError(RagError):
    """The language model could not give an answer: unreachable, slow, an error, or garbage."""


@dataclass(frozen=True)
class Endpoint:
    """Where the model is and how long to wait for it (from the ``llm_*`` settings)."""

    url: str
    model: str = ""
    api_key: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    first_token_timeout: float = 30.0
    timeout: float = 120.0
    max_tokens: int = 400

    @classmethod
    def from_settings(cls, settings) -> "Endpoint":
        """The endpoint the settings name. Credentials in the URL (``https://user:key@host/v1``)
        are never sent as Basic auth nor printed: the URL is used without them, and its password
        is the API key (a bearer token) when ``RAG_LLM_API_KEY`` is not set."""
        url, password = without_credentials(settings.llm_url)
        return cls(url=url.rstrip("/"), model=settings.llm_model, api_key=settings.llm_api_key or password,
                   connect_timeout=settings.llm_connect_timeout,
                   first_token_timeout=settings.llm_first_token_timeout, timeout=settings.llm_timeout,
                   max_tokens=settings.llm_max_tokens)

    def redact(self, text: str) -> str:
        """``text`` without the API key (a server may echo what it was sent)."""
        return text.replace(self.api_key, "***") if self.api_key else text


def without_credentials(url: str) -> tuple[str, str]:
    """``url`` without any ``user:password@`` part, and the password ("" when none). The host
    follows the last "@", so a password with an unencoded "/", "#", "?" or "@" is cut whole."""
    from urllib.parse import unquote

    scheme, sep, rest = url.partition("://")
    userinfo, at, host = (rest if sep else url).rpartition("@")
    if not at or ":" not in userinfo:
        return url, ""
    return (f"{scheme}://{host}" if sep else host), unquote(userinfo.partition(":")[2])


class LLMClient:
    """Streams chat completions from one endpoint; safe to share between threads."""

    def __init__(self, endpoint: Endpoint) -> None:
        try:
            from openai import OpenAI, Timeout  # the HTTP library's Timeout, whichever openai uses (httpx2 from 3.63)
        except ImportError as e:
            raise LLMError(f"answers from a language model need the {e.name} package: pip install 'rag[llm]'") from None

        self.endpoint = endpoint
        timeout = Timeout(endpoint.timeout, connect=endpoint.connect_timeout,
                                read=min(endpoint.first_token_timeout, endpoint.timeout))
        # No retries: a second wait would break the deadlines; the offline answer is the fallback.
        self.client = OpenAI(base_url=endpoint.url, api_key=endpoint.api_key or "none", timeout=timeout,
                             max_retries=0)
        self._model: str | None = endpoint.model or None
        self._lock = threading.Lock()

    def model(self) -> str:
        """The configured model name, or the first the endpoint lists."""
        with self._lock:
            if self._model is None:
                with self._errors("listing the models"):
                    listed = [m.id for m in self.client.models.list()]
                if not listed:
                    raise LLMError(f"the language model server at {self.endpoint.url} lists no models; "
                                   "set RAG_LLM_MODEL")
                self._model = listed[0]
            return self._model

    def stream(self, messages: list[dict]) -> Iterator[str]:
        """The reply's text as it arrives, piece by piece; LLMError when a deadline passes or
        the server fails. Yields at least one non-empty piece, or raises."""
        started = time.monotonic()
        model = self.model()
        with self._errors("starting the answer"):
            response = self.client.chat.completions.create(
                model=model, messages=messages, stream=True, temperature=0, max_tokens=self.endpoint.max_tokens)
        kind = response.response.headers.get("content-type", "")
        if "event-stream" not in kind:
            response.close()
            raise LLMError(f"the language model at {self.endpoint.url} sent {kind or 'something untyped'}, "
                           "not a chat stream")
        watchdog = _Watchdog(response, started, self.endpoint)
        got = False
        try:
            with self._errors("reading the answer", watchdog):
                for chunk in response:
                    text = _text_of(chunk)
                    if text:
                        got = True
                        watchdog.first_token()
                        yield text
            watchdog.check()
        finally:
            watchdog.stop()
            response.close()
        if not got:
            raise LLMError(f"the language model at {self.endpoint.url} sent an empty answer")

    def _errors(self, doing: str, watchdog: "_Watchdog | None" = None):
        return _Translate(self.endpoint, doing, watchdog)


def _text_of(chunk) -> str:
    """The text of one streamed chunk ("" for role-only, usage or empty chunks)."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)
    if content is not None and not isinstance(content, str):
        raise LLMError("the language model sent content that is not text")
    return content or ""


class _Watchdog:
    """Closes a response whose first token or whole answer is late, from a thread of its own."""

    def __init__(self, response, started: float, endpoint: Endpoint) -> None:
        self.response, self.endpoint = response, endpoint
        self.first_deadline = started + endpoint.first_token_timeout
        self.deadline = started + endpoint.timeout
        self.late: str | None = None
        self._got_token = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rag-llm-watchdog", daemon=True)
        self._thread.start()

    def first_token(self) -> None:
        self._got_token = True
        self.check()

    def check(self) -> None:
        """Raise LLMError if a deadline has passed (between tokens, without waiting for the thread)."""
        now = time.monotonic()
        if not self._got_token and now > self.first_deadline:
            self.late = f"no first token within {self.endpoint.first_token_timeout:g} s"
        elif now > self.deadline:
            self.late = f"the answer was not complete within {self.endpoint.timeout:g} s"
        if self.late:
            raise LLMError(f"the language model at {self.endpoint.url} is too slow: {self.late}")

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.is_set():
            now = time.monotonic()
            until = self.deadline if self._got_token else min(self.first_deadline, self.deadline)
            if now >= until:
                self.late = (f"the answer was not complete within {self.endpoint.timeout:g} s" if self._got_token
                             else f"no first token within {self.endpoint.first_token_timeout:g} s")
                try:
                    self.response.close()  # the reading thread's next read fails at once
                except Exception:  # closing a half-read response may itself complain
                    pass
                return
            self._done.wait(min(0.2, until - now))


class _Translate:
    """Turns what the client, httpx or a broken stream raise into one LLMError with a plain reason."""

    def __init__(self, endpoint: Endpoint, doing: str, watchdog: _Watchdog | None) -> None:
        self.endpoint, self.doing, self.watchdog = endpoint, doing, watchdog

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or isinstance(error, (GeneratorExit, KeyboardInterrupt)):
            return False
        where = self.endpoint.url
        if self.watchdog is not None and self.watchdog.late:
            raise LLMError(f"the language model at {where} is too slow: {self.watchdog.late}") from None
        if isinstance(error, LLMError):
            return False
        raise LLMError(self.endpoint.redact(_reason(error, where, self.doing, self.endpoint))) from None


def _reason(error: BaseException, where: str, doing: str, endpoint: Endpoint) -> str:
    import openai

    if isinstance(error, openai.APITimeoutError) or "Timeout" in type(error).__name__:
        wait = min(endpoint.first_token_timeout, endpoint.timeout)
        if doing == "reading the answer":
            return f"the language model at {where} stopped sending for {wait:g} s"
        return f"the language model at {where} did not answer within {wait:g} s ({doing})"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return f"cannot reach the language model at {where} ({type(cause).__name__}: {_short(cause)})"
    if isinstance(error, openai.AuthenticationError):
        return f"the language model at {where} refused the API key (HTTP 401; RAG_LLM_API_KEY)"
    if isinstance(error, openai.APIStatusError):
        return f"the language model at {where} answered HTTP {error.status_code} ({doing}): {_short(error.message)}"
    return f"the language model at {where} sent something that is not a chat stream ({doing}: " \
           f"{type(error).__name__}: {_short(error)})"


def _short(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"
