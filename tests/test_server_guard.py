"""What the server refuses before any answering: hosts it was not bound to, other sites'
pages, requests that never arrive, text that is not text (issue 18's probing)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import pytest
from conftest import free_port

from rag.settings import Settings

LOCAL = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(scope="module")
def base_url(serve, seed_assistant):
    from rag.server import create_app

    with serve(create_app(seed_assistant, allowed_hosts=LOCAL)) as url:
        yield url


@pytest.mark.parametrize("path, body", [
    ("/api/ask", '{"question": "Who chairs \\ud800 the committee?"}'),
    ("/v1/chat/completions", '{"model": "rag", "messages": [{"role": "user", "content": "Who \\udfff?"}]}'),
    ("/v1/chat/completions", '{"model": "rag", "stream": true, "messages": [{"role": "user", "content": "\\ud800"}]}'),
])
def test_a_lone_surrogate_is_a_400_not_a_500(base_url, path, body):
    reply = httpx.post(base_url + path, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert "surrogate" in reply.json()["error"]["message"]


def test_only_the_bound_host_names_are_served(base_url):
    port = base_url.rsplit(":", 1)[1]
    assert httpx.get(base_url + "/healthz", headers={"Host": f"localhost:{port}"}).status_code == 200
    rebound = httpx.get(base_url + "/api/search", params={"q": "GP"}, headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "host_not_allowed"
    assert httpx.get(base_url + "/", headers={"Host": "attacker.test"}).status_code == 400


def test_another_sites_page_cannot_post(base_url):
    cross = httpx.post(base_url + "/api/reload", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
    blind = httpx.post(base_url + "/api/reload", headers={"Sec-Fetch-Site": "cross-site"})
    assert blind.status_code == 403
    same = httpx.post(base_url + "/api/reload", headers={"Origin": base_url})
    assert same.status_code == 200


def test_every_file_of_the_page_carries_its_csp(base_url):
    for path in ("/", "/static/index.html", "/static/chat.js"):
        reply = httpx.get(base_url + path)
        assert reply.status_code == 200 and "default-src 'none'" in reply.headers["content-security-policy"], path


@contextlib.contextmanager
def timed_server(app, header_timeout: float, **config):
    """``app`` under uvicorn with rag's protocol and a short request deadline; yields the port."""
    import uvicorn

    from rag.server.protocol import TimedH11Protocol

    TimedH11Protocol.header_timeout = header_timeout
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          http=TimedH11Protocol, log_config=None, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield port
    finally:
        TimedH11Protocol.header_timeout = 10.0
        server.should_exit = True
        thread.join(15)


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` while one byte of ``trickle`` is sent every 0.1 s;
    fails past ``seconds``."""
    t0 = time.monotonic()
    sock.settimeout(0.1)
    for i in range(int(seconds / 0.1)):
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.monotonic() - t0
        try:
            sock.sendall(trickle[i:i + 1] if trickle else b"")
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
    raise AssertionError(f"still open after {seconds} s")


def test_connections_that_send_no_request_are_closed(seed_assistant):
    """Idle sockets are closed after the header timeout while real requests are served."""
    from rag.server import create_app

    with timed_server(create_app(seed_assistant, reload_interval=None), 0.5) as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
        idle[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code in (200, 503)
        time.sleep(1.5)
        for s in idle:
            s.settimeout(2)
            assert s.recv(1) == b""  # closed by the server
            s.close()


def test_a_trickled_body_or_second_request_does_not_extend_the_deadline(seed_assistant):
    """One byte every 0.1 s kept a socket open forever: uvicorn's keep-alive timer restarts at
    every byte, and the body had no deadline (issue 27)."""
    from rag.server import create_app

    with timed_server(create_app(seed_assistant, reload_interval=None), 1.0) as port:
        body = socket.create_connection(("127.0.0.1", port))
        body.sendall(b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n")
        assert closed_within(body, 5, trickle=b"x" * 100) < 2.5
        second = socket.create_connection(("127.0.0.1", port))
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        second.settimeout(5)
        assert second.recv(4096).startswith(b"HTTP/1.1 ")  # the first request is answered
        assert closed_within(second, 5, trickle=b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"y" * 100) < 2.5
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:  # patient clients are served
            for _ in range(3):
                assert client.get("/healthz").status_code in (200, 503)
                time.sleep(0.4)


def test_connections_past_the_cap_get_a_503(seed_assistant):
    from rag.server import create_app

    with timed_server(create_app(seed_assistant, reload_interval=None), 3.0, limit_concurrency=4) as port:
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        time.sleep(0.3)
        refused = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert refused.status_code == 503 and refused.text == "Service Unavailable"  # uvicorn's, not /healthz's
        for s in held:
            s.close()
        time.sleep(0.3)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code in (200, 503)


def test_the_server_caps_connections_from_the_settings(monkeypatch):
    monkeypatch.setenv("RAG_MAX_CONNECTIONS", "40")
    assert Settings.load().max_connections == 40
    with pytest.raises(Exception, match="max connections"):
        Settings.load(max_connections=0)


@pytest.mark.parametrize("host, setting, want", [
    ("127.0.0.1", (), ("127.0.0.1", "localhost", "::1")),
    ("localhost", (), ("localhost", "127.0.0.1", "::1")),
    ("0.0.0.0", (), None),
    ("rag.internal", (), ("rag.internal",)),
    ("0.0.0.0", ("rag.example.org",), ("rag.example.org",)),
    ("127.0.0.1", ("*",), None),
])
def test_allowed_hosts_follow_the_bound_address_or_the_setting(host, setting, want):
    from rag.server.launch import allowed_hosts

    assert allowed_hosts(Settings.load(allowed_hosts=setting or None), host) == want


def test_the_allowed_hosts_setting_is_a_comma_list(monkeypatch):
    monkeypatch.setenv("RAG_ALLOWED_HOSTS", "Rag.Example.org, localhost")
    assert Settings.load().allowed_hosts == ("rag.example.org", "localhost")
