"""HTTP/1.1 connections with a deadline for the first request.

uvicorn closes a keep-alive connection that sits idle after a response, but not one that
never sends a complete request: 1,100 such sockets from a client without the key filled
the connection table and blocked every keyed request. Here a connection whose first
request has not fully arrived within ``header_timeout`` seconds (the ``header_timeout``
setting, ``RAG_HEADER_TIMEOUT``) is closed.
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


class TimedH11Protocol(H11Protocol):
    #: Seconds a new connection has to deliver its first request; set from the settings by
    #: ``rag.server.launch`` in each server process.
    header_timeout = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._first_request_timer = self.loop.call_later(self.header_timeout, self._no_request_in_time)

    def _no_request_in_time(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self._first_request_timer.cancel()
        super().connection_lost(exc)


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
