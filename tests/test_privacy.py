"""Nothing phones home: no connection leaves the machine and no telemetry is recorded while
rag indexes, answers or serves (issue 18: onnxruntime 1.29+ records usage events and looks
up an upload host unless told not to).

The real ``rag`` command runs under strace with a fresh HOME: every connect() and sendto()
is logged, and any to an address other than loopback, or any DNS query, fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import RAG_BIN, free_port, rag_env

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed (apt-get install strace)")
CALL = re.compile(r"\b(connect|sendto)\(\d+, \{sa_family=(AF_INET6?),[^}]*?"
                  r"(?:sin6?_port=htons\((\d+)\))[^}]*?(?:inet_addr\(\"([^\"]+)\"\)|inet_pton\(AF_INET6, \"([^\"]+)\")")


def outside_calls(log: Path) -> list[str]:
    """The logged connect()/sendto() calls that leave the machine or ask a name server."""
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        m = CALL.search(line)
        if not m:
            continue
        port, address = int(m.group(3)), m.group(4) or m.group(5)
        loopback = address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1")
        if not loopback or port == 53:
            bad.append(line)
    return bad


def traced(tmp_path: Path, name: str, *args: str) -> list[str]:
    return [STRACE, "-f", "-qq", "-e", "trace=connect,sendto", "-o", str(tmp_path / f"{name}.strace"),
            RAG_BIN, *args]


def test_index_ask_and_serve_stay_on_the_machine(tmp_path, small_workspace):
    home = tmp_path / "home"
    home.mkdir()
    env = rag_env(small_workspace.corpus, tmp_path / "index", HOME=str(home),
                  RAG_CACHE_DIR=str(tmp_path / "cache"))
    for name, args in (("index", ["index"]), ("ask", ["ask", "Who chairs the Health and Social Care Committee?"])):
        proc = subprocess.run(traced(tmp_path, name, *args), env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    port = free_port()
    server = subprocess.Popen(traced(tmp_path, "serve", "serve", "--port", str(port)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "rag serve did not become ready"
            time.sleep(0.2)
        reply = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": "Who chairs the committee?"})
        assert reply.status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # rag under strace, not only strace
        server.wait(60)
    for name in ("index", "ask", "serve"):
        assert outside_calls(tmp_path / f"{name}.strace") == [], name
    recorded = [p for p in home.rglob("*") if "onnxruntime" in p.as_posix().lower() or "Microsoft" in p.parts]
    assert recorded == [], recorded
