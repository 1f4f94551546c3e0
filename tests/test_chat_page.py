"""The chat page in a real browser: Debian's headless Chromium driven by Playwright, against
the real server, model and seed index. Skipped only when Chromium is not installed
(``apt-get install chromium``; ``.ci/run`` installs it)."""

from __future__ import annotations

import shutil

import pytest

from rag.rendering import SECTION_SEPARATOR, SENTENCE_SEPARATOR

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (apt-get install chromium)")

PLAIN = "What has replaced clinical commissioning groups?"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.problems = problems
    page.requested = []
    page.on("request", lambda r: page.requested.append(r.url))
    yield page
    context.close()


def ask(page, question: str):
    """Type a question, press Enter, wait for the reply to finish; the reply's element."""
    before = page.locator(".msg.assistant").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    reply = page.locator(".msg.assistant").nth(before)
    reply.and_(page.locator("[data-state=done], [data-state=error]")).wait_for()
    return reply


def test_chat_page_streams_an_answer_with_expandable_citations(serve, seed_assistant, page):
    from rag.server import create_app

    want = seed_assistant.ask(PLAIN)
    first = want.citations[0]
    with serve(create_app(seed_assistant)) as url:
        page.goto(url)
        assert page.title().startswith("rag")
        # Record every text the reply showed (mutation records keep the nodes they added).
        page.evaluate("""() => {
            window.shown = [];
            new MutationObserver((records) => {
                for (const r of records)
                    if (r.target.matches && r.target.matches('.msg.assistant .text'))
                        for (const n of r.addedNodes) if (n.nodeType === Node.TEXT_NODE) window.shown.push(n.data);
            }).observe(document.getElementById('log'), {subtree: true, childList: true});
        }""")
        reply = ask(page, PLAIN)
        assert reply.get_attribute("data-state") == "done"
        # Streamed a sentence at a time: the page showed the answer growing by each piece the
        # server sent (each sentence, then the Sources list), not set once at the end.
        pieces = [(SENTENCE_SEPARATOR if i else "") + seed_assistant.renderer.sentence(s)
                  for i, s in enumerate(want.sentences)] + [SECTION_SEPARATOR + seed_assistant.renderer.sources(want)]
        grown = ["".join(pieces[:n]) for n in range(1, len(pieces) + 1)]
        assert len(grown) >= 2 and grown[-1] == want.answer
        assert [t for t in page.evaluate("window.shown") if t in grown] == grown
        text = reply.locator(".text").inner_text()
        assert " ".join(first.quote.split()) in " ".join(text.split()) and "[1]" in text
        # Laid out from the structured answer: its sentences and markers, the Sources as cards below.
        assert " ".join(text.split()) == " ".join(want.body.split()) and "Sources:" not in text
        assert reply.locator(".text a.marker").count() == sum(len(s.citations) for s in want.sentences)

        citations = reply.locator("details.citation")
        assert citations.count() == len(want.citations)
        card = citations.nth(0)
        lines = f"line {first.start_line}" if first.start_line == first.end_line else \
            f"lines {first.start_line}-{first.end_line}"
        assert f"{first.source}, {lines}" in card.locator("summary").inner_text()
        quote = card.locator("blockquote")
        assert not quote.is_visible()  # collapsed until asked for
        reply.locator(".text a.marker", has_text="[1]").click()
        quote.wait_for(state="visible")
        assert " ".join(quote.inner_text().split()) == " ".join(first.quote.split())

        # A follow-up leans on the conversation the page keeps.
        assert "Sajid Javid" in ask(page, "Who floated the idea of GP nationalisation?").inner_text()
        follow = ask(page, "And when was that?")
        assert "early 2022" in follow.locator(".text").inner_text()

        off = ask(page, "What is the capital of France?")
        assert "abstained" in off.get_attribute("class")
        off_text = off.locator(".text").inner_text()
        assert off_text.startswith("The documents don't say")
        assert off_text.strip() == seed_assistant.ask("What is the capital of France?").body

    assert not page.problems, page.problems
    assert all(u.startswith((url, "data:")) for u in page.requested), page.requested


def test_chat_page_with_an_api_key(serve, seed_assistant, page):
    from rag.server import create_app

    with serve(create_app(seed_assistant, api_key="page-key")) as url:
        page.goto(url)
        reply = ask(page, PLAIN)
        assert reply.get_attribute("data-state") == "error"
        assert "API key" in reply.inner_text()
        page.click("#settings summary")
        page.fill("#api-key", "page-key")
        page.press("#api-key", "Tab")  # "change" stores it
        reply = ask(page, PLAIN)
        assert reply.get_attribute("data-state") == "done" and reply.locator("details.citation").count() >= 1
    # The 401 shows up in the console as a failed resource; nothing else may.
    assert all("401" in p for p in page.problems), page.problems
