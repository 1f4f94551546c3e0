"""``rag serve``: the assistant over HTTP, for chat front ends, scripts and a small chat page.

- ``POST /v1/chat/completions`` speaks the OpenAI chat-completions protocol (plain and
  ``"stream": true``, one event per answer sentence), so any OpenAI-compatible front end or
  client can ask (:mod:`.openai_api`, :mod:`.streaming`).
- ``POST /api/ask`` and ``GET /api/search`` return the JSON of ``rag ask --json`` and
  ``rag search --json`` (:mod:`.native_api`); ``GET /healthz`` is 200 only once the index
  is loaded; ``GET /`` is the chat page (``rag/static``) (:mod:`.app`).
- ``/mcp`` answers MCP clients over streamable HTTP: tools ``search`` and ``ask``, the
  indexed files as resources (:mod:`rag.mcp_server`).

One Assistant serves every request, in worker threads (:mod:`.service`). The API key and
the body-size limit are checked before anything is parsed (:mod:`.guard`); every error a
client can cause is a 4xx with an OpenAI-style error object, never a traceback
(:mod:`.errors`). :mod:`.launch` runs it, in one process or several.
"""

from rag.server.app import create_app
from rag.server.launch import ServeError, app_from_environment, check_port, run

__all__ = ["ServeError", "app_from_environment", "check_port", "create_app", "run"]
