"""``/openapi.json`` says what the server does: it promised 422 where the server sends 400, and
listed none of 401, 403, 404, 413 or 503 (issue 27)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

KEY = "openapi-test-key"


@pytest.fixture(scope="module")
def base_url(serve, seed_assistant):
    from rag.server import create_app

    with serve(create_app(seed_assistant, api_key=KEY)) as url:
        yield url


def test_no_operation_promises_fastapis_422(base_url):
    schema = httpx.get(base_url + "/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            assert "400" in operation["responses"], (method, path)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    question = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]
    pattern = re.compile(question["pattern"])  # the server refuses "", " " and control characters
    assert question["minLength"] == 1 and pattern.search("Who chairs it?\n") and pattern.search("Où?")
    assert not any(pattern.search(q) for q in ("", "  \n", "a\x00b", "a\x1cb", "a\x7fb"))


def test_every_status_the_server_sends_is_documented(base_url):
    schema = httpx.get(base_url + "/openapi.json").json()
    key = {"Authorization": f"Bearer {KEY}"}
    big = json.dumps({"question": "x" * (2 << 20)})
    sent = [
        ("post", "/api/ask", httpx.post(base_url + "/api/ask", json={"question": ""}, headers=key)),
        ("post", "/api/ask", httpx.post(base_url + "/api/ask", json={"question": "Who?"})),
        ("post", "/api/ask", httpx.post(base_url + "/api/ask", json={"question": "Who?"},
                                        headers={**key, "Origin": "https://elsewhere.example"})),
        ("post", "/api/ask", httpx.post(base_url + "/api/ask", content=big,
                                        headers={**key, "Content-Type": "application/json"})),
        ("post", "/v1/chat/completions", httpx.post(base_url + "/v1/chat/completions", json={"messages": []},
                                                    headers=key)),
        ("get", "/v1/models/{name}", httpx.get(base_url + "/v1/models/gpt-4", headers=key)),
        ("get", "/api/search", httpx.get(base_url + "/api/search", params={"q": " "}, headers=key)),
    ]
    assert {r.status_code for _, _, r in sent} == {400, 401, 403, 404, 413}
    for method, path, response in sent:
        documented = schema["paths"][path][method]["responses"]
        assert str(response.status_code) in documented, (method, path, response.status_code)
        assert set(response.json()) == {"error"}
