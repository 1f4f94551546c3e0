"""The MCP server (rag/mcp_server.py), tested as MCP clients use it: the official SDK's own
``Client`` against ``rag mcp`` launched as a real subprocess over stdio, and against ``/mcp``
of a real ``rag serve`` subprocess (API key on), both over the seed index. Nothing is mocked;
raw bytes where the point is the wire (a client that vanishes mid-call, the guard).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from conftest import PROJECT_ROOT, RAG_BIN, assert_one_line_error, file_lines, free_port, rag_env
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from rag.file_view import numbered_text
from rag.mcp_server import URI_PREFIX, source_of, uri_for

pytestmark = pytest.mark.anyio
KEY = "s3cret"
PLAIN = "What has replaced clinical commissioning groups?"
FOLLOW_UP = ("Who floated the idea of GP nationalisation?", "And when was that?")
TRANSPORTS = ["stdio", "http"]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def http_server(seed_settings, seed_index_dir, tmp_path_factory):
    """A real ``rag serve`` over the seed index, API key required; its log must stay free of tracebacks."""
    assert RAG_BIN, "the rag console script is not installed (pip install -e .)"
    port, log_path = free_port(), tmp_path_factory.mktemp("mcp-serve") / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([RAG_BIN, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                env=rag_env(seed_settings.corpus, seed_index_dir, RAG_API_KEY=KEY), cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()


#: The handshake's first message, as a client writes it on ``rag mcp``'s stdin.
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": LATEST_HANDSHAKE_VERSION, "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}


def stdio_params(corpus: Path, index: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=RAG_BIN, args=["mcp", *args], env=rag_env(corpus, index),
                                 cwd=str(PROJECT_ROOT))


@contextlib.asynccontextmanager
async def connect(request, kind: str, key: str | None = KEY):
    """The SDK's Client on ``rag mcp`` (a new process) or on the module's ``rag serve``."""
    if kind == "stdio":
        settings, index = request.getfixturevalue("seed_settings"), request.getfixturevalue("seed_index_dir")
        target = stdio_params(settings.corpus, index)
    else:
        url, _ = request.getfixturevalue("http_server")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        target = streamable_http_client(url + "/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=120))
    async with Client(target, read_timeout_seconds=120) as client:
        yield client


def expected_answer(seed_assistant, question: str, history: list[str] | None = None) -> dict:
    d = seed_assistant.ask(question, history=history).to_dict()
    d.pop("timings_ms")
    return d


def without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# -- tools -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_tools_answer_as_the_cli_does(request, kind, seed_assistant):
    async with connect(request, kind) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"search", "ask"}
        assert tools["ask"].input_schema["required"] == ["question"]
        assert {"question", "history", "top_k"} <= set(tools["ask"].input_schema["properties"])
        assert tools["search"].input_schema["required"] == ["query"]
        assert tools["ask"].output_schema and tools["search"].output_schema
        assert tools["ask"].annotations.read_only_hint is True

        result = await client.call_tool("ask", {"question": PLAIN})
        assert not result.is_error
        got = result.structured_content
        want = expected_answer(seed_assistant, PLAIN)
        assert without(got, "timings_ms", "citations") == without(want, "citations")
        assert [without(c, "uri") for c in got["citations"]] == want["citations"] and not got["abstained"]
        assert json.loads(result.content[0].text) == got  # the same JSON for clients that read text only
        links = [c for c in result.content if c.type == "resource_link"]
        assert {link.uri for link in links} == {c["uri"] for c in got["citations"]}
        for c in got["citations"]:  # verbatim quotes, and a URI that names the cited file
            assert c["uri"] == uri_for(c["source"]) and source_of(c["uri"]) == c["source"]
            assert " ".join(c["quote"].split()) in file_lines(PROJECT_ROOT / c["source"], c["start_line"],
                                                             c["end_line"])

        follow = await client.call_tool("ask", {"question": FOLLOW_UP[1], "history": [FOLLOW_UP[0]]})
        assert without(follow.structured_content, "timings_ms", "citations") == without(
            expected_answer(seed_assistant, FOLLOW_UP[1], [FOLLOW_UP[0]]), "citations")

        search = await client.call_tool("search", {"query": "GP nationalisation", "top_k": 3})
        hits = search.structured_content["hits"]
        assert [without(h, "uri") for h in hits] == [h.to_dict() for h in seed_assistant.search("GP nationalisation",
                                                                                                top_k=3)]
        assert len(hits) == 3 and all(h["uri"] == uri_for(h["source"]) for h in hits)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_bad_arguments_are_tool_errors(request, kind):
    async with connect(request, kind) as client:
        for name, arguments, says in [("ask", {"question": "   "}, "the question is empty"),
                                      ("ask", {}, "question"),
                                      ("ask", {"question": "Who?", "history": "not a list"}, "history"),
                                      ("ask", {"question": "Who chairs it?\x00"}, "control characters"),
                                      ("search", {"query": "GP", "top_k": 0}, "top_k"),
                                      ("search", {"query": "GP", "top_k": "many"}, "top_k"),
                                      ("search", {"query": "GP", "top_k": "5"}, "top_k"),  # strict (issue 27)
                                      ("search", {"query": "GP", "top_k": True}, "top_k"),
                                      ("search", {"query": "GP", "top_k": 3.0}, "top_k"),
                                      ("search", {"query": 42}, "query")]:
            result = await client.call_tool(name, arguments)
            assert result.is_error, (name, arguments)
            assert says in result.content[0].text and "Traceback" not in result.content[0].text
        unknown = await client.call_tool("delete_everything", {})
        assert unknown.is_error and "delete_everything" in unknown.content[0].text
        assert not (await client.call_tool("search", {"query": "GP"})).is_error  # still serving


# -- resources ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_indexed_files_are_resources(request, kind, seed_assistant):
    async with connect(request, kind) as client:
        resources = (await client.list_resources()).resources
        indexed = sorted(seed_assistant.state().store.manifest["files"])
        assert sorted(r.name for r in resources) == indexed
        assert {r.uri for r in resources} == {uri_for(s) for s in indexed}

        answer = (await client.call_tool("ask", {"question": PLAIN})).structured_content
        cited = answer["citations"][0]
        text = (await client.read_resource(cited["uri"])).contents[0].text
        rows = {int(row.split(None, 1)[0]): row.split(None, 1)[1] if " " in row.strip() else ""
                for row in text.splitlines()}
        lines = (PROJECT_ROOT / cited["source"]).read_text(encoding="utf-8").splitlines()
        assert len(rows) == len(lines) and rows[cited["start_line"]] == lines[cited["start_line"] - 1].strip()
        cited_text = " ".join(rows[n] for n in range(cited["start_line"], cited["end_line"] + 1))
        assert " ".join(cited["quote"].split()) in " ".join(cited_text.split())

        for uri in [URI_PREFIX + "seeds/../pyproject.toml", URI_PREFIX + "pyproject.toml", "file:///etc/passwd",
                    URI_PREFIX + "seeds/000_5f02ec8ebbba9bda.txt%00", URI_PREFIX, URI_PREFIX + "%ff"]:
            with pytest.raises(MCPError, match="not an indexed file"):
                await client.read_resource(uri)


def test_uris_round_trip_any_file_name():
    for source in ["seeds/a b.txt", "seeds/#1?.md", "seeds/100%.txt", "seeds/ünï/cödé.txt", "c/new\nline.txt",
                   "seeds/%2F.txt", "x/a+b=c&d;e.txt"]:
        uri = uri_for(source)
        assert uri.startswith(URI_PREFIX) and source_of(uri) == source
        assert not any(ch in uri for ch in " #?\n")
    assert source_of("rag://other/x.txt") is None and source_of(URI_PREFIX) is None


def test_a_word_file_reads_under_its_headings(tmp_path):
    from make_docx import write_docx

    path = tmp_path / "minutes.docx"
    write_docx(path, [("h1", "Budget"), ("p", "The budget is ten pounds."), ("h1", "Staff"), ("p", "Two nurses.")])
    text = numbered_text(path, "minutes.docx")
    assert '[under "Budget"]' in text and '[under "Staff"]' in text
    assert text.index("Budget") < text.index("ten pounds") < text.index("Staff") < text.index("Two nurses")
    assert any(row.split(None, 1)[-1] == "The budget is ten pounds." and row.split()[0].isdigit()
               for row in text.splitlines())


# -- no index ----------------------------------------------------------------------------------------------------
def test_rag_mcp_without_a_corpus_fails_at_start(run_rag, tmp_path):
    proc = run_rag("mcp", corpus=tmp_path / "nowhere", index=tmp_path / "index", input="", timeout=120)
    assert_one_line_error(proc, "corpus folder not found")
    assert proc.stdout == ""  # stdout is the protocol's: nothing else goes there


async def test_rag_mcp_with_nothing_to_index_says_why_in_a_tool_error(tmp_path):
    (tmp_path / "empty").mkdir()
    async with Client(stdio_params(tmp_path / "empty", tmp_path / "index"), read_timeout_seconds=120) as client:
        assert (await client.list_resources()).resources == []
        result = await client.call_tool("ask", {"question": PLAIN})
        assert result.is_error and "no articles" in result.content[0].text
        assert (await client.call_tool("search", {"query": "GP"})).is_error


async def test_http_without_an_index_says_why_in_a_tool_error(tmp_path, serve, make_assistant):
    from rag.server import create_app
    from rag.settings import Settings

    (tmp_path / "empty").mkdir()
    app = create_app(make_assistant(Settings.load(corpus=tmp_path / "empty", index_dir=tmp_path / "index")))
    with serve(app, ready=False) as url:
        deadline = time.monotonic() + 60
        while httpx.get(url + "/healthz").json().get("status") != "error":
            assert time.monotonic() < deadline, "the load did not fail"
            await anyio.sleep(0.1)
        async with Client(url + "/mcp", read_timeout_seconds=60) as client:
            result = await client.call_tool("ask", {"question": PLAIN})
    assert result.is_error and "cannot answer" in result.content[0].text and "no articles" in result.content[0].text


# -- the HTTP guard ----------------------------------------------------------------------------------------------
async def test_http_needs_the_key_and_the_bound_host(request, http_server):
    url, _ = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": LATEST_HANDSHAKE_VERSION}
    assert httpx.post(url + "/mcp", json=body, headers=headers).status_code == 401
    wrong = httpx.post(url + "/mcp", json=body, headers={**headers, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    port = url.rsplit(":", 1)[1]
    rebound = httpx.post(url + "/mcp", json=body, headers={**headers, "Authorization": f"Bearer {KEY}",
                                                           "Host": f"evil.example:{port}"})
    assert rebound.status_code == 400
    cross = httpx.post(url + "/mcp", json=body, headers={**headers, "Authorization": f"Bearer {KEY}",
                                                         "Origin": "http://evil.example"})
    assert cross.status_code == 403
    with pytest.raises(Exception):  # noqa: B017 (the SDK's error for a 401 is its own business)
        async with connect(request, "http", key=None) as client:
            await client.list_tools()
    # A GET opened an event stream that never sent nor ended (issue 27): stateless, so 405.
    for extra in ({"Authorization": f"Bearer {KEY}"}, {"Origin": "http://evil.example"}):
        got = httpx.get(url + "/mcp", headers={"Accept": "text/event-stream", **extra}, timeout=10)
        assert got.status_code in (401, 405), got.status_code
        assert got.status_code == 405 or "Authorization" not in extra
    assert httpx.get(url + "/mcp", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).headers["allow"] == "POST"


# -- clients that vanish -----------------------------------------------------------------------------------------
async def test_http_client_gone_mid_call_leaves_the_server_serving(request, http_server, seed_assistant):
    url, proc = http_server
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "ask", "arguments": {"question": PLAIN, "top_k": 100}}}).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {LATEST_HANDSHAKE_VERSION}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    for abort in (False, True, False, True):  # the whole call sent, then the client hangs up (or resets)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + body)
            if abort:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    async with connect(request, "http") as client:
        with anyio.move_on_after(0.005):  # the SDK's own client, cancelled mid-call
            await client.call_tool("ask", {"question": PLAIN, "top_k": 100})
    async with connect(request, "http") as client:
        result = await client.call_tool("ask", {"question": PLAIN})
    assert not result.is_error and proc.poll() is None
    assert without(result.structured_content, "timings_ms", "citations") == without(
        expected_answer(seed_assistant, PLAIN), "citations")


def ended(proc: subprocess.Popen, seconds: float) -> str:
    """``proc``'s stderr once it has exited (killed after ``seconds``)."""
    try:
        proc.wait(seconds)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    return proc.stderr.read()


def test_stdio_client_gone_mid_call_ends_rag_mcp_cleanly(seed_settings, seed_index_dir):
    """A client that closes the pipe right after a call: ``rag mcp`` exits 0, without a traceback."""
    proc = subprocess.Popen([RAG_BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=rag_env(seed_settings.corpus, seed_index_dir), cwd=PROJECT_ROOT, text=True)
    messages = [INITIALIZE, {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    for m in messages:
        proc.stdin.write(json.dumps(m) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["id"] == 1  # the handshake is answered
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                 "params": {"name": "ask", "arguments": {"question": PLAIN}}}) + "\n")
    proc.stdin.close()  # gone mid-call
    stderr = ended(proc, 60)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr


def test_stdio_client_gone_during_the_first_build_exits_at_once_and_cleanly(tmp_path, seed_settings):
    """A client that left while the warm-up was inside ONNX Runtime made ``rag mcp`` abort
    (SIGABRT) in some runs; it exits 0 at once, and the next build finds nothing broken."""
    import shutil

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in sorted(seed_settings.corpus.glob("*.txt"))[:2]:
        shutil.copyfile(f, corpus / f.name)
    env = rag_env(corpus, tmp_path / "index")
    proc = subprocess.Popen([RAG_BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=PROJECT_ROOT, text=True)
    proc.stdin.write(json.dumps(INITIALIZE) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["id"] == 1
    proc.stdin.close()  # gone while the index is being built
    stderr = ended(proc, 30)
    assert proc.returncode == 0 and "terminate called" not in stderr and "Traceback" not in stderr, stderr
    index = subprocess.run([RAG_BIN, "index"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert index.returncode == 0, index.stderr


def test_stdio_lines_that_are_not_json_rpc_get_errors_not_silence(seed_settings, seed_index_dir):
    """The SDK dropped bad JSON, batches and messages without ``jsonrpc`` with no reply and no
    log line; a line with an id now gets a JSON-RPC error, and each is logged (issue 27)."""
    proc = subprocess.Popen([RAG_BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=rag_env(seed_settings.corpus, seed_index_dir), cwd=PROJECT_ROOT, text=True)
    lines = [json.dumps(INITIALIZE), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             "{not json", json.dumps([{"jsonrpc": "2.0", "id": 5, "method": "ping"}]),
             json.dumps({"id": 7, "method": "ping"}), json.dumps({"method": "ping"}),
             json.dumps({"jsonrpc": "2.0", "id": 9, "method": "ping"})]
    try:
        out, err = proc.communicate("\n".join(lines) + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    replies = {r.get("id"): r for r in map(json.loads, out.splitlines())}
    assert replies[7]["error"]["code"] == -32600
    assert "result" in replies[9]  # still serving after them
    assert set(replies) == {1, 7, 9}  # a parse error, a batch and a message with no id have none to answer to
    assert err.count("parse error") == 1 and "batches are not supported" in err and err.count("invalid request") >= 3
    assert proc.returncode == 0

