"""Running the server: ``rag serve`` in one process, or several sharing one socket."""

from __future__ import annotations

import base64
import logging
import os
import pickle
import socket
import sys

from fastapi import FastAPI

from rag.assistant import Assistant
from rag.errors import RagError
from rag.server.app import create_app
from rag.settings import Settings

log = logging.getLogger("rag")

#: How ``run`` hands its Settings to worker processes (base64 of a pickle).
ENV_SETTINGS = "RAG_SERVE_SETTINGS"
#: And the host names they answer to ("*": any).
ENV_HOSTS = "RAG_SERVE_HOSTS"


class ServeError(RagError):
    """The server cannot start as asked (port taken, bad option)."""


def run(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        threads: int | None = None, log_level: str = "info") -> None:
    """Serve until interrupted. ``RAG_API_KEY`` set: clients need ``Authorization: Bearer``.

    ``workers > 1`` starts that many processes, each loading the model and index (uvicorn
    shares the socket between them); torch then gets ``cores / workers`` threads apiece.
    """
    import uvicorn

    if workers < 1:
        raise ServeError(f"workers must be at least 1, got {workers}")
    check_port(host, port)
    api_key = os.environ.get("RAG_API_KEY") or None
    print(f"rag: serving on http://{host}:{port}/ (OpenAI base URL http://{host}:{port}/v1)"
          f"{'; API key required' if api_key else ''}; /healthz says when the index is loaded",
          file=sys.stderr, flush=True)
    if not api_key and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"rag: warning: {host} may be reachable from other machines and RAG_API_KEY is not set",
              file=sys.stderr, flush=True)
    from rag.server.protocol import TimedH11Protocol, raise_open_file_limit

    raise_open_file_limit()
    TimedH11Protocol.header_timeout = settings.header_timeout
    options = {"host": host, "port": port, "log_level": log_level, "server_header": False,
               "timeout_graceful_shutdown": 5, "timeout_keep_alive": 5, "http": TimedH11Protocol,
               "limit_concurrency": settings.max_connections}
    hosts = allowed_hosts(settings, host)
    if workers == 1:
        uvicorn.run(create_app(Assistant(settings), api_key, threads=threads, allowed_hosts=hosts), **options)
        return
    os.environ[ENV_HOSTS] = ",".join(hosts) if hosts is not None else "*"
    os.environ[ENV_SETTINGS] = base64.b64encode(pickle.dumps(settings)).decode()
    os.environ["RAG_SERVE_LOG_LEVEL"] = logging.getLevelName(log.getEffectiveLevel())
    if threads:
        os.environ["RAG_SERVE_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("rag.server:app_from_environment", factory=True, workers=workers, **options)
    sock = config.bind_socket()
    # uvicorn binds with protocol 0, so asyncio leaves Nagle on for accepted connections and
    # each small response waits ~40 ms for a delayed ACK; Linux copies TCP_NODELAY from the listener.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


def app_from_environment() -> FastAPI:
    """The app a worker process builds (uvicorn ``--factory``), from what ``run`` put in the
    environment: the parent's Settings, pickled (same code, same machine, set by the parent)."""
    level = os.environ.get("RAG_SERVE_LOG_LEVEL")
    if level and not log.handlers:  # a spawned worker: log as the parent's CLI was asked to
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     [%(process)d] %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False
    from rag.server.protocol import TimedH11Protocol

    raw = os.environ.get(ENV_SETTINGS)
    settings = pickle.loads(base64.b64decode(raw)) if raw else Settings.load()
    TimedH11Protocol.header_timeout = settings.header_timeout
    threads = os.environ.get("RAG_SERVE_THREADS")
    hosts = os.environ.get(ENV_HOSTS, "*")
    return create_app(Assistant(settings), os.environ.get("RAG_API_KEY") or None,
                      threads=int(threads) if threads else None,
                      allowed_hosts=None if hosts == "*" else tuple(hosts.split(",")))


#: Names a server bound to a loopback address answers to.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(settings: Settings, host: str) -> tuple[str, ...] | None:
    """The Host header values to accept (None: any): the setting, else the bound address's own
    names, so a web page cannot reach a local server through DNS rebinding."""
    if settings.allowed_hosts:
        return None if "*" in settings.allowed_hosts else settings.allowed_hosts
    if host in ("0.0.0.0", "::", ""):
        return None  # every address of the machine: its names are not known here
    if host in LOOPBACK_NAMES or host.startswith("127."):
        return tuple(dict.fromkeys((host.lower(), *LOOPBACK_NAMES)))
    return (host.lower(),)


def check_port(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's log lines after the model has loaded."""
    if not 0 <= port <= 65535:
        raise ServeError(f"port must be between 0 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ServeError(f"cannot serve on {host}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            raise ServeError(f"cannot serve on {host}:{port}: {e.strerror}") from None
