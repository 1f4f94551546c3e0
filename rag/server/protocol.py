"""HTTP/1.1 connections with one deadline for each request's headers and body.

uvicorn closes a keep-alive connection that sits idle after a response, but its timer is
reset by any byte, and nothing bounds how long a request's body may take: 1,100 sockets
that never finished a request filled the connection table and blocked every keyed request,
and 50 that sent a body one byte every 2 s stayed open for a whole run. Here each request
(the first, and each after a response on a kept-alive connection) must arrive whole, headers
and body, within ``header_timeout`` seconds (the ``header_timeout`` setting,
``RAG_HEADER_TIMEOUT``) of when the server began to wait for it; trickled bytes do not
extend it. A connection that misses it is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class TimedH11Protocol(H11Protocol):
    #: Seconds a request has to arrive whole, headers and body; set from the settings by
    #: ``rag.server.launch`` in each server process.
    header_timeout = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.more_body and not self._waiting_for_next():
            self._disarm()  # the request is in: answering it may take as long as it takes

    def on_response_complete(self) -> None:
        self._arm()  # the next request on this connection gets a deadline of its own
        super().on_response_complete()  # (which handles a pipelined one already here)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_next(self) -> bool:
        """The cycle held is the previous request's, answered: the next has not begun."""
        return self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def raise_open_file_limit() -> None:
    """Up to the hard limit: each client connection is a file descriptor, and running out made
    asyncio log an accept error many times a second."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        except (ValueError, OSError):
            pass
