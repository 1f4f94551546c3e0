"""A real local HTTP server that plays an OpenAI-compatible chat model, and misbehaves on request.

``ScriptedModel(behaviour, reply)`` listens on 127.0.0.1 in a thread of its own. Behaviours:

- ``ok``: streams ``reply`` a few characters a chunk, like a model (``delay`` seconds apart);
- ``error``: HTTP 500 with an OpenAI error body; ``auth``: HTTP 401;
- ``silent``: accepts the request and never answers (headers never come);
- ``stall``: sends the headers and one token, then nothing;
- ``trickle``: a token every ``delay`` seconds, forever;
- ``empty``: a stream with no content, then ``[DONE]``;
- ``malformed``: ``data:`` lines that are not JSON;
- ``html``: a 200 page of HTML instead of a stream.

Every request's JSON body is kept in ``requests`` so tests can read the prompt it was sent,
and its headers in ``headers`` (what credentials came with it).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedModel:
    def __init__(self, behaviour: str = "ok", reply: str = "", delay: float = 0.0, model: str = "scripted") -> None:
        self.behaviour, self.reply, self.delay, self.model = behaviour, reply, delay, model
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model",
                                                                  "created": 0, "owned_by": "test"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append(body)
                owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                owner.serve(self, body)

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client hanging up is no news
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "ScriptedModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- behaviours ---------------------------------------------------------------------
    def serve(self, h, body: dict) -> None:
        b = self.behaviour
        if b == "error":
            return h._json(500, {"error": {"message": "the model crashed", "type": "server_error"}})
        if b == "auth":
            return h._json(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
        if b == "silent":
            self.stop.wait(60)
            return None
        if b == "html":
            return self._html(h)
        return self._stream(h, b)

    def _html(self, h) -> None:
        data = b"<html><body>Welcome to nginx!</body></html>"
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _stream(self, h, b: str) -> None:
        self._start_stream(h)
        try:
            if b == "ok":
                for i in range(0, len(self.reply), 4):
                    self._chunk(h, {"content": self.reply[i:i + 4]})
                    if self.delay:
                        time.sleep(self.delay)
            elif b == "stall":
                self._chunk(h, {"content": "The"})
                self.stop.wait(60)
                return None
            elif b == "trickle":
                while not self.stop.is_set():
                    self._chunk(h, {"content": " and"})
                    self.stop.wait(self.delay or 0.5)
                return None
            elif b == "empty":
                self._chunk(h, {"role": "assistant", "content": ""})
            elif b == "malformed":
                self._raw(h, b"data: {this is not json\n\n")
                self._raw(h, b"data: <<<>>>\n\n")
            self._chunk(h, {}, finish="stop")
            self._raw(h, b"data: [DONE]\n\n")
            self._raw(h, b"")
        except (BrokenPipeError, ConnectionResetError):
            return None
        return None

    def _start_stream(self, h) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

    def _raw(self, h, data: bytes) -> None:
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.flush()

    def _chunk(self, h, delta: dict, finish: str | None = None) -> None:
        payload = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": self.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        self._raw(h, f"data: {json.dumps(payload)}\n\n".encode())


def closed_port_url() -> str:
    """The URL of a port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
