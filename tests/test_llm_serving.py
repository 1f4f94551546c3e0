"""Written answers through the product's shells: ``rag ask --llm``, ``rag serve`` with the LLM
answerer, over the seed index, with a real local HTTP server playing the model
(tests/llm_server.py). The real model is in tests/test_llm_model.py."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import assert_one_line_error, file_lines
from llm_server import ScriptedModel, closed_port_url

from rag.settings import PROJECT_ROOT

#: A sentence the seeds support, with no marker (as small models write), then one they do not.
TRUE = "Clinical commissioning groups have been replaced by integrated care systems."
INVENTED = "The NHS budget for 2025 is £1.3 billion."
QUESTION = "What has replaced clinical commissioning groups?"


def check_quotes(response: dict) -> None:
    """CONTRACT.md: every citation's quote is verbatim in the cited lines."""
    for c in response["citations"]:
        assert " ".join(c["quote"].split()) in file_lines(PROJECT_ROOT / c["source"], c["start_line"], c["end_line"])


def test_ask_llm_json_keeps_the_supported_sentence_and_removes_the_invented_one(run_rag, seed_settings,
                                                                                seed_index_dir):
    with ScriptedModel(reply=f"{TRUE} {INVENTED}") as model:
        proc = run_rag("ask", QUESTION, "--llm", "--json", corpus=seed_settings.corpus, index=seed_index_dir,
                       env={"RAG_LLM_URL": model.url, "RAG_LLM_API_KEY": "sk-very-secret"})
        sent = model.requests[0]
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["written_by"] == "llm:scripted" and not data["abstained"]
    assert [s["text"] for s in data["sentences"]] == [TRUE] and data["sentences"][0]["supported"] is True
    assert data["sentences"][0]["citations"] == [1] and data["answer"].startswith(TRUE + " [1]")
    assert [s["text"] for s in data["removed"]] == [INVENTED] and data["removed"][0]["supported"] is False
    check_quotes(data)
    assert "sk-very-secret" not in proc.stderr + proc.stdout
    assert sent["messages"][0]["role"] == "system" and QUESTION in sent["messages"][1]["content"]


def test_ask_llm_without_an_endpoint_is_a_one_line_error(run_rag, seed_settings, seed_index_dir):
    proc = run_rag("ask", QUESTION, "--llm", corpus=seed_settings.corpus, index=seed_index_dir)
    assert_one_line_error(proc, "RAG_LLM_URL")


def test_ask_llm_with_the_endpoint_down_answers_offline_and_says_why(run_rag, seed_settings, seed_index_dir):
    proc = run_rag("ask", QUESTION, "--llm", "--json", corpus=seed_settings.corpus, index=seed_index_dir,
                   env={"RAG_LLM_URL": closed_port_url()})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    data = json.loads(proc.stdout)
    assert "cannot reach" in data["notice"] and "cannot reach" in proc.stderr
    assert data["sentences"] and not data["abstained"]
    check_quotes(data)


@pytest.fixture
def llm_server(serve, seed_settings, seed_index_dir, make_assistant):
    from rag.server import create_app

    with ScriptedModel(reply=f"{TRUE} {INVENTED}", delay=0.01) as model:
        assistant = make_assistant(seed_settings.replace(answerer="llm", llm_url=model.url))
        with serve(create_app(assistant, reload_interval=None)) as base_url:
            yield base_url


def test_serve_streams_tokens_retracts_visibly_and_ends_with_the_checked_answer(llm_server):
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", llm_server + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    payloads = [json.loads(e.removeprefix("data: ")) for e in raw.split("\n\n")[:-2]]
    contents = [p["choices"][0]["delta"].get("content") for p in payloads[1:-1]]
    text = "".join(contents)
    assert len(contents) > 5  # token by token, not a sentence at a time
    assert TRUE in text and "[1]" in text and "[removed:" in text
    assert text.index(TRUE) < text.index("[1]") < text.index("[removed:")
    last = payloads[-1]["choices"][0]["delta"]
    assert [s["text"] for s in last["sentences"]] == [TRUE] and [s["text"] for s in last["removed"]] == [INVENTED]
    assert last["written_by"] == "llm:scripted" and last["citations"][0]["id"] == 1
    check_quotes(last)


def test_serve_answers_whole_with_the_llm(llm_server):
    r = httpx.post(llm_server + "/api/ask", json={"question": QUESTION}, timeout=60)
    data = r.json()
    assert r.status_code == 200 and [s["text"] for s in data["sentences"]] == [TRUE]
    assert data["removed"][0]["text"] == INVENTED


def test_warming_up_does_not_ask_the_model(seed_settings, seed_index_dir, make_assistant):
    with ScriptedModel(reply=TRUE) as model:
        assistant = make_assistant(seed_settings.replace(answerer="llm", llm_url=model.url))
        assistant.warm_up()  # what rag serve does at start: no request to a (maybe paid) endpoint
        assert model.requests == []


def test_eval_llm_reports_removed_sentences_citation_support_and_recall(run_rag, seed_settings, seed_index_dir,
                                                                       tmp_path):
    questions = tmp_path / "two.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": QUESTION, "sources": ["000_5f02ec8ebbba9bda.txt"],
                    "facts": [["integrated care system"]], "answerable": True}) + "\n"
        + json.dumps({"id": "b", "question": "What is the capital of Peru?", "sources": [], "facts": [],
                      "answerable": False}) + "\n", encoding="utf-8")
    with ScriptedModel(reply=f"{TRUE} {INVENTED}") as model:
        proc = run_rag("eval", "--llm", "--questions", str(questions), "--json", corpus=seed_settings.corpus,
                       index=seed_index_dir, env={"RAG_LLM_URL": model.url})
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert summary["written"] == 2 and summary["citation_support"] == 1.0
    assert 0 < summary["sentences_removed"] < 1 and summary["citation_recall"] == 0.0  # the model wrote no markers
    assert summary["quote_validity"] == 1.0
