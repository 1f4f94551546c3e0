"""The assistant as a Model Context Protocol server: tools for desktop assistants, IDEs and agents.

Two tools, ``search`` and ``ask``, return what ``rag search --json`` and ``rag ask --json``
print (``Hit.to_dict()``, ``Answer.to_dict()``) as structured content under a published
output schema, each passage and citation with the URI of its file; the indexed files are
resources (``rag://files/<source>``, read with line numbers), so a client can open what a
citation points to. Bad arguments and unanswerable calls are tool errors, never a crash.

``rag mcp`` serves it over stdio (rag/mcp_stdio.py); ``rag serve`` at ``/mcp`` over
streamable HTTP (:func:`mount`), behind the server's guard and its readiness. Built on the
official SDK's ``MCPServer``; nothing here retrieves or answers: that is the Assistant's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote, unquote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, Resource, ResourceLink, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from rag.assistant import Assistant
from rag.conversation import MAX_HISTORY
from rag.errors import RagError, first_line
from rag.file_view import numbered_text
from rag.store import StoreProblem

log = logging.getLogger("rag")

#: Resource URIs: this prefix, then the citation's ``source`` percent-encoded (``/`` kept).
URI_PREFIX = "rag://files/"
#: Where ``rag serve`` answers MCP clients.
HTTP_PATH = "/mcp"
#: As over HTTP: one call cannot ask to score the whole corpus.
MAX_TOP_K = 100
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

#: ``run(fn, *args, **kwargs)``: ``fn`` in a worker thread, or a RagError saying why it cannot run now.
Runner = Callable[..., Awaitable[Any]]


class Unavailable(RagError):
    """The server cannot answer yet (the index is loading) or at all (it cannot be loaded)."""


# -- the output schemas: the JSON of `rag search --json` and `rag ask --json`, plus `uri` ----------------------
class Passage(BaseModel):
    rank: int
    id: str
    source: str = Field(description="The file, relative to the corpus folder's parent")
    uri: str = Field(description="The file as a resource (resources/read)")
    page: int | None = Field(description="Page of a PDF that the lines count within")
    start_line: int
    end_line: int
    section: str | None = Field(description="Heading the passage sits under (Word)")
    score: float = Field(description="Fused retrieval score; higher is better")
    evidence: float | None
    dense: float | None
    bm25: float | None
    chars: float | None
    text: str


class SearchOutput(BaseModel):
    query: str
    hits: list[Passage]


class CitationOut(BaseModel):
    id: int = Field(description="The n of the [n] markers in the answer")
    source: str
    uri: str
    start_line: int
    end_line: int
    quote: str = Field(description="Verbatim text of the cited lines")
    score: float
    page: int | None = None
    section: str | None = None


class SentenceOut(BaseModel):
    text: str
    citations: list[int] = Field(description="Ids of the citations the sentence rests on")


class AskOutput(BaseModel):
    question: str
    answer: str = Field(description="The answer with [n] markers and its Sources list")
    abstained: bool = Field(description="True when the articles do not answer the question")
    citations: list[CitationOut]
    timings_ms: dict[str, float]
    support: float
    sentences: list[SentenceOut]
    body: str = Field(description="The answer without its Sources list")


#: Strict: ``true``, ``"5"`` and ``3.0`` are refused, as the schema's "integer" says.
TopK = Annotated[int | None, Field(ge=1, le=MAX_TOP_K, strict=True,
                                   description="Passages to retrieve (default: the setting)")]


class RagServer(MCPServer):
    """The SDK's server with the indexed files as its resources (the list changes with the index)."""

    def __init__(self, assistant: Assistant, run: Runner) -> None:
        from rag import __version__

        corpus = assistant.settings.corpus.name or str(assistant.settings.corpus)
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        super().__init__("rag", version=__version__, log_level="WARNING", instructions=(
            f"Grounded answers from the articles in {corpus}. `ask` answers a question in sentences quoted "
            "from the articles, each cited to a file and its lines, or abstains when they do not say; "
            "`search` shows the passages found. Cited files are resources: read a citation's `uri`."))
        root.handlers[:], root.level = saved  # the SDK sets up the root logger when it has no handler: not its call
        self.assistant, self.runner = assistant, run  # not `run`: MCPServer.run is its own
        self.add_tool(self.search, annotations=READ_ONLY, structured_output=True)
        self.add_tool(self.ask, annotations=READ_ONLY, structured_output=True)

    # -- tools (their docstrings are the descriptions clients show) --------------------------------------------
    async def search(self, query: Annotated[str, Field(description="What to look for, in plain words")],
                     top_k: TopK = None) -> Annotated[CallToolResult, SearchOutput]:
        """The passages of the articles that best match the query, best first: file, lines (and page), scores, text."""
        hits = await self._call(self.assistant.search, query, top_k=top_k)
        data = {"query": query, "hits": [_with_uri(h.to_dict()) for h in hits]}
        return _result(data, [h.chunk.source for h in hits])

    async def ask(self, question: Annotated[str, Field(description="The question, in plain English")],
                  history: Annotated[list[str], Field(max_length=MAX_HISTORY, description=(
                      "The user's earlier questions in this conversation, oldest first: a follow-up "
                      "('and when was that?') leans on them"))] = [],  # noqa: B006 (the schema's default; never mutated)
                  top_k: TopK = None) -> Annotated[CallToolResult, AskOutput]:
        """Answer from the articles in quoted sentences, each cited [n] to a file and lines, or abstain."""
        answer = await self._call(self.assistant.ask, question, top_k=top_k, history=list(history))
        data = answer.to_dict()
        data["citations"] = [_with_uri(c) for c in data["citations"]]
        return _result(data, [c.source for c in answer.citations])

    async def _call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.runner(fn, *args, **kwargs)
        except RagError as e:  # a bad question, an index that cannot be loaded: the caller reads why
            raise ToolError(first_line(e)) from None

    # -- resources ---------------------------------------------------------------------------------------------
    async def list_resources(self) -> list[Resource]:
        """The indexed files; over stdio, once the first index is built (it was empty until then,
        and the server does not announce changes to its list)."""
        manifest = await self._ready_manifest()
        pages = manifest.get("pages", {})
        return [Resource(uri=uri_for(source), name=source, mime_type="text/plain",
                         description=f"{pages[source]} pages" if pages.get(source) else None)
                for source in manifest.get("files", {})]

    async def read_resource(self, uri: Any, context: Any = None) -> Iterable[ReadResourceContents]:
        source = source_of(str(uri))
        if source is None or source not in (await self._ready_manifest()).get("files", {}):
            raise ResourceNotFoundError(f"not an indexed file: {uri}")
        path = self.assistant.settings.corpus.parent / source
        try:
            text = await anyio.to_thread.run_sync(numbered_text, path, source)
        except RagError as e:
            raise ResourceError(first_line(e)) from None
        return [ReadResourceContents(content=text, mime_type="text/plain")]

    async def _ready_manifest(self) -> dict:
        """The manifest once calls may run (the index loaded or built); empty when it cannot be."""
        try:
            return await self.runner(self._manifest)
        except RagError:
            return {}

    def _manifest(self) -> dict:
        """The current index's manifest; empty when there is none yet (nothing is indexed)."""
        try:
            return self.assistant.backend.manifest()
        except StoreProblem:
            return {}


def uri_for(source: str) -> str:
    """The resource URI of a citation's ``source``: any file name survives the round trip."""
    return URI_PREFIX + quote(source, safe="/")


def source_of(uri: str) -> str | None:
    """The ``source`` a URI names, or None when it is not one of ours."""
    if not uri.startswith(URI_PREFIX) or len(uri) == len(URI_PREFIX):
        return None
    try:
        return unquote(uri[len(URI_PREFIX):], errors="strict")
    except UnicodeDecodeError:
        return None


def _with_uri(item: dict) -> dict:
    return {**item, "uri": uri_for(item["source"])}


def _result(data: dict, sources: list[str]) -> CallToolResult:
    """Structured content, the same JSON as text (for clients that read only text), and a link per file."""
    links = [ResourceLink(uri=uri_for(s), name=s, mime_type="text/plain") for s in dict.fromkeys(sources)]
    text = TextContent(text=json.dumps(data, ensure_ascii=False))
    return CallToolResult(content=[text, *links], structured_content=data)


# -- streamable HTTP: `rag serve` ------------------------------------------------------------------------------
def mount(app, service) -> RagServer:
    """Answer MCP clients at ``/mcp`` of the HTTP app, over its Service (threads, readiness, reloads).

    Stateless (every request stands alone), so it works the same with several worker
    processes; JSON responses. Host, other-site and API-key checks are the app's Guard's, so
    the SDK's own host check is off. The app's lifespan must run ``server.session_manager.run()``.
    """
    from rag.server.errors import ApiError

    async def run(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            service.require_ready()
        except ApiError as e:
            raise Unavailable(e.message) from None
        return await service.in_thread(fn, *args, **kwargs)

    server = RagServer(service.assistant, run)
    http = server.streamable_http_app(streamable_http_path=HTTP_PATH, stateless_http=True, json_response=True,
                                      transport_security=TransportSecuritySettings(
                                          enable_dns_rebinding_protection=False))
    app.router.routes.extend(http.routes)
    return server
