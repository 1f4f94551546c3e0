"""The HTTP server, tested as front ends use it: a real uvicorn server on a free loopback
port, the real model and seed index, and the official ``openai`` client (or raw HTTP where
the point is the bytes on the wire). Nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from conftest import PROJECT_ROOT, RAG_BIN, file_lines, free_port, rag_env

PLAIN = "What has replaced clinical commissioning groups?"
FOLLOW_UP = ("Who floated the idea of GP nationalisation?", "And when was that?")
OFF_TOPIC = "What is the capital of France?"
#: Questions with answers in different seed files, plus one the articles do not answer.
MIX = [PLAIN, "What are the four aims of ICSs?", "When did the internal market begin?",
       "How many practices are there in some areas?", OFF_TOPIC]


@pytest.fixture(scope="module")
def app(seed_assistant):
    from rag.server import create_app

    return create_app(seed_assistant)


@pytest.fixture(scope="module")
def base_url(serve, app):
    with serve(app) as url:
        yield url


@pytest.fixture
def client(base_url) -> openai.OpenAI:
    # The server has no key; the client sends one anyway, as every OpenAI client does.
    return openai.OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0, timeout=60)


def expected(seed_assistant, question: str, history: list[str] | None = None) -> dict:
    """What the Assistant itself answers, without timings."""
    d = seed_assistant.ask(question, history=history).to_dict()
    d.pop("timings_ms")
    return d


def assert_error(response: httpx.Response, status: int, fragment: str = "", param: str | None = "any") -> dict:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert fragment.lower() in body["error"]["message"].lower(), body
    if param != "any":
        assert body["error"]["param"] == param, body
    return body["error"]


# -- OpenAI-compatible ------------------------------------------------------------------
def test_models_lists_the_assistant(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["rag"]
    assert client.models.retrieve("rag").id == "rag"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_chat_completion_answers_with_citations(client, seed_assistant):
    completion = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": PLAIN}])
    want = expected(seed_assistant, PLAIN)
    assert completion.object == "chat.completion" and completion.model == "rag"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == want["answer"]
    assert "[1]" in choice.message.content and "Sources:" in choice.message.content
    extra = choice.message.model_extra
    citations = extra["citations"]
    assert citations == want["citations"] and extra["abstained"] is False
    # The structured answer rides along, so a front end never parses the text.
    assert extra["sentences"] == want["sentences"] and extra["sentences"]
    assert extra["body"] == want["body"] and choice.message.content.startswith(want["body"] + "\n\n")
    assert "seeds/000_5f02ec8ebbba9bda.txt" in {c["source"] for c in citations}
    for c in citations:  # the quotes are verbatim in the cited lines
        assert " ".join(c["quote"].split()) in file_lines(PROJECT_ROOT / c["source"], c["start_line"], c["end_line"])
        assert f"[{c['id']}]" in choice.message.content


def stream_chunks(client, question: str) -> list:
    return list(client.chat.completions.create(model="rag", stream=True,
                                               messages=[{"role": "user", "content": question}]))


def test_streaming_sends_the_same_answer_in_chunks(client, seed_assistant):
    chunks = stream_chunks(client, PLAIN)
    want = expected(seed_assistant, PLAIN)
    assert len(chunks) > 3 and {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == want["answer"]
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop" and not last.delta.content
    extra = last.delta.model_extra
    assert extra["citations"] == want["citations"] and extra["abstained"] is False
    assert extra["sentences"] == want["sentences"] and extra["body"] == want["body"]


@pytest.mark.parametrize("question", [PLAIN, FOLLOW_UP[0], OFF_TOPIC])
def test_streaming_sends_one_piece_per_sentence(client, seed_assistant, question):
    """One content delta per answer sentence, rendered as the whole answer renders it (an
    abstention's text in one piece), then the Sources list: together exactly ``answer``."""
    from rag.rendering import SECTION_SEPARATOR, SENTENCE_SEPARATOR

    answer = seed_assistant.ask(question)
    renderer = seed_assistant.renderer
    if answer.abstained:
        assert not answer.sentences
        wanted = [answer.body]
    else:
        wanted = [(SENTENCE_SEPARATOR if i else "") + renderer.sentence(s) for i, s in enumerate(answer.sentences)]
    if answer.citations:
        wanted.append(SECTION_SEPARATOR + renderer.sources(answer))
    chunks = stream_chunks(client, question)
    contents = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert contents == wanted and "".join(contents) == answer.answer
    last = chunks[-1].choices[0].delta.model_extra
    assert last["abstained"] is answer.abstained
    assert last["sentences"] == [{"text": s.text, "citations": list(s.citations)} for s in answer.sentences]
    assert last["body"] == answer.body


def test_stream_wire_format(base_url):
    """Server-sent events exactly as OpenAI sends them: ``data: {json}`` blocks, then ``data: [DONE]``."""
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": PLAIN}]}
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"
    assert set(payloads[-1]["choices"][0]["delta"]) == {"citations", "abstained", "sentences", "body"}
    # Every piece between the first and the last chunk is content, and nothing else.
    assert all(set(p["choices"][0]["delta"]) == {"content"} for p in payloads[1:-1])


def test_follow_up_uses_the_earlier_user_turns(client, seed_assistant):
    first, follow_up = FOLLOW_UP
    alone = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": follow_up}])
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": first},
                {"role": "assistant", "content": "Sajid Javid floated the idea ... [1]"},
                {"role": "user", "content": follow_up}]
    reply = client.chat.completions.create(model="rag", messages=messages).choices[0].message
    want = expected(seed_assistant, follow_up, history=[first])
    assert reply.content == want["answer"] and not want["abstained"]
    assert "early 2022" in reply.content
    # On its own the follow-up has no topic; the history is what makes it answerable.
    assert alone.choices[0].message.content != reply.content


def test_off_topic_question_is_declined(client):
    message = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": OFF_TOPIC}]
                                             ).choices[0].message
    assert message.model_extra["abstained"] is True
    assert message.content.startswith("The documents don't say")


def test_client_errors_reach_the_openai_client(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rag", messages=[])
    assert e.value.status_code == 400 and e.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "hi"},
                                                              {"role": "assistant", "content": "hello"}])
    assert "last message" in e.value.message and e.value.param == "messages[1].role"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rag", stream=True, messages=[{"role": "user", "content": " "}])
    assert "empty" in e.value.message
    # The Assistant checks a streamed question before the stream starts: still a 400 on the message.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rag", stream=True, messages=[{"role": "user", "content": "a\x00b"}])
    assert "control" in e.value.message and e.value.param == "messages[0].content"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="rag", stream=True, messages=[{"role": "user", "content": "why " * 1000}])
    assert "too long" in e.value.message


USER = {"role": "user", "content": PLAIN}


@pytest.mark.parametrize("content, status, fragment, param", [
    (b"{not json", 400, "not valid JSON", None),
    (b"", 400, "missing", None),
    (b"[1, 2]", 400, "JSON object", None),
    (b"{}", 400, "messages", "messages"),
    (b'{"messages": []}', 400, "at least 1", "messages"),
    (b'{"messages": "hello"}', 400, "list", "messages"),
    (b'{"messages": [{"role": "assistant", "content": "hi"}]}', 400, "user", "messages[0].role"),
    (b'{"messages": [{"role": "wizard", "content": "hi"}]}', 400, "role", "messages[0].role"),
    (b'{"messages": [{"content": "hi"}]}', 400, "missing", "messages[0].role"),
    (b'{"messages": [{"role": "user", "content": ""}]}', 400, "empty", "messages[0].content"),
    (b'{"messages": [{"role": "user"}]}', 400, "empty", "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": 42}]}', 400, "content", "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}',
     400, "text", "messages[0].content"),
    (b'{"messages": [{"role": "user", "content": "a\\u0000b"}]}', 400, "control", "messages[0].content"),
    (json.dumps({"messages": [{"role": "user", "content": "why " * 1000}]}).encode(), 400, "too long",
     "messages[0].content"),
    (json.dumps({"messages": [USER], "top_k": 0}).encode(), 400, "greater than", "top_k"),
    (json.dumps({"messages": [USER], "n": 2}).encode(), 400, "", "n"),
    # strict: a string is not converted (issue 27)
    (json.dumps({"messages": [USER], "top_k": "5"}).encode(), 400, "integer", "top_k"),
    (json.dumps({"messages": [USER], "stream": "yes"}).encode(), 400, "boolean", "stream"),
    # a bad earlier message is named, not the question
    (json.dumps({"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "fine"},
                              {"role": "user", "content": "a\u0000b"}, {"role": "assistant", "content": "x"},
                              USER]}).encode(), 400, "earlier question 2", "messages[2].content"),
])
def test_bad_chat_requests_get_openai_errors(base_url, content, status, fragment, param):
    r = httpx.post(base_url + "/v1/chat/completions", content=content,
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert_error(r, status, fragment, param)


def test_text_content_parts_are_understood(base_url, seed_assistant):
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": PLAIN}]}]}
    r = httpx.post(base_url + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == expected(seed_assistant, PLAIN)["answer"]


def test_oversized_bodies_are_refused_before_parsing(base_url):
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (2 << 20)}]}).encode()
    r = httpx.post(base_url + "/v1/chat/completions", content=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "larger than")
    # Without a Content-Length (chunked upload) the limit holds as well.
    pieces = iter([big[i:i + 65536] for i in range(0, len(big), 65536)])
    r = httpx.post(base_url + "/v1/chat/completions", content=pieces,
                   headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "larger than")


def test_wrong_content_type_and_unknown_paths(base_url):
    r = httpx.post(base_url + "/v1/chat/completions", content=json.dumps({"messages": [USER]}),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "Content-Type: application/json")
    assert_error(httpx.get(base_url + "/v1/nothing"), 404, "no such endpoint")
    assert_error(httpx.delete(base_url + "/v1/chat/completions"), 405, "not allowed")


# -- native JSON ------------------------------------------------------------------------
def test_api_ask_has_the_cli_json_shape(base_url, seed_assistant):
    r = httpx.post(base_url + "/api/ask", json={"question": "What are the four aims of ICSs?", "top_k": 3},
                   timeout=60)
    assert r.status_code == 200
    body = r.json()
    want = seed_assistant.ask("What are the four aims of ICSs?", top_k=3).to_dict()
    assert set(body) == set(want) and set(body["timings_ms"]) == {"retrieve", "answer", "total"}
    body.pop("timings_ms"), want.pop("timings_ms")
    assert body == want and body["citations"]
    assert body["sentences"] and body["body"] and body["answer"].startswith(body["body"])
    # history resolves follow-ups here too
    first, follow_up = FOLLOW_UP
    r = httpx.post(base_url + "/api/ask", json={"question": follow_up, "history": [first]}, timeout=60)
    assert "early 2022" in r.json()["answer"]


@pytest.mark.parametrize("body, fragment, param", [
    ({"question": ""}, "empty", "question"),
    ({"question": "   "}, "empty", "question"),
    ({}, "missing", "question"),
    ({"question": 7}, "string", "question"),
    ({"question": PLAIN, "top_k": 0}, "greater than", "top_k"),
    ({"question": PLAIN, "top_k": 10_000}, "less than", "top_k"),
    ({"question": PLAIN, "history": "not a list"}, "list", "history"),
    ({"question": PLAIN, "colour": "blue"}, "unknown parameter", "colour"),
    ({"question": PLAIN, "top_k": "5"}, "integer", "top_k"),
    ({"question": PLAIN, "history": ["fine", "a\u0000b"]}, "earlier question 2", "history[1]"),
    ({"question": PLAIN, "history": ["why?"] * 51}, "at most 50", "history"),  # as MCP's ask
])
def test_api_ask_bad_input(base_url, body, fragment, param):
    assert_error(httpx.post(base_url + "/api/ask", json=body, timeout=60), 400, fragment, param)


def test_api_search_has_the_cli_json_shape(base_url, seed_assistant):
    r = httpx.get(base_url + "/api/search", params={"q": "integrated care systems", "top_k": 4}, timeout=60)
    assert r.status_code == 200
    want = {"query": "integrated care systems",
            "hits": [h.to_dict() for h in seed_assistant.search("integrated care systems", top_k=4)]}
    assert r.json() == want and len(want["hits"]) == 4
    assert all(h["id"] for h in want["hits"])
    assert_error(httpx.get(base_url + "/api/search"), 400, "missing", "q")
    assert_error(httpx.get(base_url + "/api/search", params={"q": " "}), 400, "empty", "q")
    assert_error(httpx.get(base_url + "/api/search", params={"q": "x", "top_k": "many"}), 400, "integer", "top_k")


def test_healthz_and_reload(base_url, seed_assistant):
    r = httpx.get(base_url + "/healthz")
    store = seed_assistant.state().store
    generation = store.version
    assert r.status_code == 200 and r.json() == {"status": "ok", "model": "rag", "generation": generation,
                                                 "chunks": store.manifest["counts"]["chunks"]}
    assert r.json()["chunks"] > 0
    r = httpx.post(base_url + "/api/reload")
    assert r.json() == {"reloaded": False, "generation": generation}


def test_healthz_is_503_while_the_store_stops_answering(tmp_path, caplog):
    """/healthz said 200 "ok" while every answer was 503 in a database outage, and the poller
    logged a warning a second; now health follows the store, and only changes are logged."""
    from fakes import FakeEmbedder
    from fastapi.testclient import TestClient

    from rag.assistant import Assistant
    from rag.server import create_app
    from rag.settings import Settings
    from rag.store.postgres_db import StoreUnavailable

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "note.txt").write_text("The Quillby clinic opens on Mondays at nine.\n")
    assistant = Assistant(Settings.load(corpus=tmp_path / "corpus", index_dir=tmp_path / "index"),
                          embedder=FakeEmbedder())
    down = threading.Event()
    real_version = assistant.backend.current_version

    def current_version():
        if down.is_set():
            raise StoreUnavailable("the database at postgresql://u:***@db/rag is unreachable")
        return real_version()

    assistant.backend.current_version = current_version

    def health_until(status: str) -> dict:
        deadline = time.monotonic() + 30
        while (health := client.get("/healthz")).json()["status"] != status:
            assert time.monotonic() < deadline, health.text
            time.sleep(0.05)
        return health

    with TestClient(create_app(assistant, reload_interval=0.02)) as client, caplog.at_level(logging.INFO, "rag"):
        assert health_until("ok").status_code == 200
        down.set()
        health = health_until("unavailable")
        assert health.status_code == 503 and "unreachable" in health.json()["error"]
        time.sleep(0.5)  # ~25 failed polls
        down.clear()
        assert health_until("ok").status_code == 200
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([m for m in said if "unreachable" in m]) == 1, said
    assert any("answering again" in m for m in said), said


def test_not_ready_is_503_with_a_reason(serve, make_assistant, tmp_path):
    """An index that cannot be built (an empty corpus) keeps the server unready, and says why,
    until there is something to index."""
    from rag.server import create_app
    from rag.settings import Settings

    (tmp_path / "empty").mkdir()
    assistant = make_assistant(Settings.load(corpus=tmp_path / "empty", index_dir=tmp_path / "index"))
    with serve(create_app(assistant), ready=False) as url:
        deadline = time.monotonic() + 60
        while (health := httpx.get(url + "/healthz").json())["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health["status"] == "error" and "no articles" in health["error"]
        assert httpx.get(url + "/healthz").status_code == 503
        r = httpx.post(url + "/v1/chat/completions", json={"messages": [USER]})
        assert_error(r, 503, "no articles")
        r = httpx.post(url + "/v1/chat/completions", json={"messages": [USER], "stream": True})
        assert_error(r, 503, "no articles")
        # Once there is something to index, the server retries by itself and becomes ready.
        (tmp_path / "empty" / "note.txt").write_text("The Quillby clinic opens on Mondays at nine.\n")
        while httpx.get(url + "/healthz").status_code != 200:
            assert time.monotonic() < deadline + 60, httpx.get(url + "/healthz").text
            time.sleep(0.2)
        r = httpx.post(url + "/api/ask", json={"question": "When does the Quillby clinic open?"})
        assert r.status_code == 200 and "Mondays" in r.json()["answer"]


def test_a_stream_that_fails_midway_ends_with_an_error_event(serve, seed_settings, seed_index_dir, embedder,
                                                             tmp_path, caplog):
    """Once the 200 is sent a failure cannot be a status: the stream ends with an OpenAI error
    event, which clients raise. Here the sentence template is broken, so the first sentence fails."""
    import shutil

    from rag.assistant import Assistant
    from rag.rendering import PROMPTS_DIR, Renderer
    from rag.server import create_app

    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, prompts)
    (prompts / "sentence.md.j2").write_text("{{ sentence.no_such_field }}", encoding="utf-8")
    assistant = Assistant(seed_settings, embedder=embedder, renderer=Renderer(prompts))
    body = {"stream": True, "messages": [USER]}
    with caplog.at_level(logging.ERROR, logger="rag"), serve(create_app(assistant)) as url:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
            assert r.status_code == 200
            events = r.read().decode().split("\n\n")
        assert events[-1] == "" and "data: [DONE]" not in events
        payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
        assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
        error = payloads[-1]["error"]
        assert error["type"] == "server_error" and "internal error" in error["message"]
        assert "Traceback" not in events[-2]
        with pytest.raises(openai.APIError, match="internal error"):
            list(openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0).chat.completions.create(
                model="rag", stream=True, messages=[USER]))
        # The server lives on: what does not render a sentence still answers.
        assert httpx.get(url + "/api/search", params={"q": "ICS"}).status_code == 200
    assert any("answer stream failed" in r.getMessage() for r in caplog.records), caplog.text


# -- API key ------------------------------------------------------------------------------
def test_api_key_is_required_when_set(serve, seed_assistant):
    from rag.server import create_app

    with serve(create_app(seed_assistant, api_key="s3cret-key")) as url:
        good = openai.OpenAI(base_url=url + "/v1", api_key="s3cret-key", max_retries=0, timeout=60)
        assert good.chat.completions.create(model="rag", messages=[USER]).choices[0].message.content
        bad = openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0, timeout=60)
        with pytest.raises(openai.AuthenticationError) as e:
            bad.chat.completions.create(model="rag", messages=[USER])
        assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        # The key is checked before the body is even parsed.
        assert_error(httpx.post(url + "/v1/chat/completions", content=b"{broken"), 401, "missing API key")
        assert_error(httpx.post(url + "/api/ask", json={"question": PLAIN},
                                headers={"Authorization": "Basic czNjcmV0LWtleQ=="}), 401, "API key")
        assert_error(httpx.get(url + "/api/search", params={"q": "ICS"},
                               headers={"Authorization": "Bearer s3cret-key-but-longer"}), 401, "incorrect")
        assert httpx.get(url + "/api/search", params={"q": "ICS"},
                         headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        # Health checks and the page itself stay open; the page asks for the key.
        assert httpx.get(url + "/healthz").status_code == 200
        assert httpx.get(url + "/").status_code == 200


# -- robustness ----------------------------------------------------------------------------
def _raw_request(base_url: str, body: dict) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def test_clients_that_disconnect_do_not_hurt_the_server(base_url, client, caplog):
    host, port = base_url.removeprefix("http://").split(":")
    request = _raw_request(base_url, {"model": "rag", "stream": True, "messages": [USER]})
    with caplog.at_level(logging.WARNING):
        for read_first in (True, False, True, False):
            with socket.create_connection((host, int(port)), timeout=30) as s:
                s.sendall(request)
                if read_first:  # mid-stream: after the first chunk arrived
                    assert s.recv(200).startswith(b"HTTP/1.1 200")
                s.shutdown(socket.SHUT_RDWR)
        # Half a body, then gone.
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(request[:-10])
        time.sleep(1.0)
        completion = client.chat.completions.create(model="rag", messages=[USER])
        assert completion.choices[0].message.model_extra["citations"]
        assert httpx.get(base_url + "/healthz").status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_32_concurrent_clients_all_get_correct_answers(base_url, seed_assistant):
    """32 clients asking for a bounded time; every answer equals the Assistant's own, and
    /healthz keeps answering meanwhile (answers run in worker threads, not on the event loop)."""
    wanted = {q: expected(seed_assistant, q) for q in MIX}
    stop = time.monotonic() + 15
    checked: list[int] = []
    health_waits: list[float] = []

    def worker(n: int) -> int:
        c = openai.OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0, timeout=120)
        done = 0
        while time.monotonic() < stop and done < 50:
            q = MIX[(n + done) % len(MIX)]
            if (n + done) % 2:
                chunks = list(c.chat.completions.create(model="rag", stream=True,
                                                        messages=[{"role": "user", "content": q}]))
                text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
                citations = chunks[-1].choices[0].delta.model_extra["citations"]
            else:
                message = c.chat.completions.create(model="rag", messages=[{"role": "user", "content": q}]
                                                    ).choices[0].message
                text, citations = message.content, message.model_extra["citations"]
            assert text == wanted[q]["answer"] and citations == wanted[q]["citations"], q
            done += 1
        return done

    def watch_health() -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            assert httpx.get(base_url + "/healthz", timeout=30).status_code == 200
            health_waits.append(time.perf_counter() - t0)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    with ThreadPoolExecutor(32) as pool:
        checked = list(pool.map(worker, range(32)))
    watcher.join()
    assert all(n >= 1 for n in checked) and sum(checked) >= 32
    assert len(health_waits) >= 5  # /healthz kept answering during the load (its latency: benchmarks/)


def test_reindexing_while_serving_switches_without_failed_or_mixed_requests(
        serve, make_assistant, seed_workspace, seed_corpus_copy, seed_index_copy, run_rag, seed_assistant):
    """``rag index`` in another process writes a new generation; the live server picks it up
    while clients keep asking, and no request fails or sees half of each index."""
    from rag.server import create_app
    assistant = make_assistant(seed_workspace)  # the copied index, up to date with the copied corpus
    new_question = "Which river flooded the Quillby marshes?"
    with serve(create_app(assistant, reload_interval=0.2)) as url:
        before = expected(assistant, PLAIN)
        assert before["answer"] == expected(seed_assistant, PLAIN)["answer"]
        assert expected(assistant, new_question)["abstained"]
        old_generation = httpx.get(url + "/healthz").json()["generation"]
        (seed_corpus_copy / "005_new.txt").write_text(
            "Flooding in the Quillby marshes\n\nThe river Wendle flooded the Quillby marshes in the spring of "
            "2021, cutting off three villages for a week.\n", encoding="utf-8")
        results: list[tuple[str, dict]] = []
        errors: list[str] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                for q in (PLAIN, new_question):
                    r = httpx.post(url + "/api/ask", json={"question": q}, timeout=60)
                    (results if r.status_code == 200 else errors).append((q, r.json()) if r.status_code == 200
                                                                         else f"{r.status_code} {r.text}")
                    stop.wait(0.05)  # leave the indexer some CPU

        askers = [threading.Thread(target=keep_asking) for _ in range(2)]
        for t in askers:
            t.start()
        try:
            proc = run_rag("index", corpus=seed_corpus_copy, index=seed_index_copy)
            assert proc.returncode == 0, proc.stderr
            deadline = time.monotonic() + 30
            while httpx.get(url + "/healthz").json()["generation"] == old_generation:
                assert time.monotonic() < deadline, "the new generation was not picked up"
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in askers:
                t.join()
    assert not errors, errors[:3]
    new_answers = [d for q, d in results if q == new_question]
    # Every answer comes whole from one generation: the old one declines, the new one cites the new file.
    for d in new_answers:
        assert d["abstained"] or {c["source"] for c in d["citations"]} == {"seeds/005_new.txt"}, d
    assert not new_answers[-1]["abstained"] and "Wendle" in new_answers[-1]["answer"]
    for q, d in results:
        if q == PLAIN:
            assert d["answer"] == before["answer"]


# -- the command ------------------------------------------------------------------------------
def test_rag_serve_command(seed_settings, seed_index_dir, tmp_path):
    """``rag serve --workers 2``: 503 while loading, then every worker answers; Ctrl-C stops it cleanly."""
    assert RAG_BIN, "the rag console script is not installed (pip install -e .)"
    port = free_port()
    env = rag_env(seed_settings.corpus, seed_index_dir, RAG_API_KEY="k3y")
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([RAG_BIN, "-v", "serve", "--port", str(port), "--workers", "2"], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while log_path.read_text().count("ready: index") < 2:  # both workers have loaded
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            try:
                statuses.append(httpx.get(url + "/healthz", timeout=5).status_code)
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        assert 503 in statuses, statuses  # the server answers while the model loads, but is not ready
        assert all(httpx.get(url + "/healthz").status_code == 200 for _ in range(4))
        for _ in range(4):  # new connections, spread over the workers by the kernel
            client = openai.OpenAI(base_url=url + "/v1", api_key="k3y", max_retries=0, timeout=60)
            reply = client.chat.completions.create(model="rag", messages=[USER]).choices[0].message
            assert "seeds/000_5f02ec8ebbba9bda.txt" in reply.content
            client.close()
        assert httpx.get(url + "/v1/models").status_code == 401
        # A second server on the same port: one line, no traceback.
        second = subprocess.run([RAG_BIN, "serve", "--port", str(port)], capture_output=True, text=True, check=False,
                                env=env, timeout=60)
        assert second.returncode != 0 and "Traceback" not in second.stderr
        assert "error:" in second.stderr and str(port) in second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    output = log_path.read_text()
    assert "Traceback" not in output, output
