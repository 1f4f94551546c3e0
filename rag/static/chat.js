// The chat page: sends the conversation to /v1/chat/completions with stream=true, shows the
// answer as it arrives (a sentence at a time, or a language model's tokens with a note after
// each sentence it takes back), then lays it out again from the structured answer of the
// final chunk (sentences, body, citations; removed sentences and a notice when a model wrote
// it), its [n] markers linked to expandable quotes.
// Plain DOM, no libraries; text is only ever set with textContent.
"use strict";

const MODEL = "rag";
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const clear = document.getElementById("clear");
const keyInput = document.getElementById("api-key");
let conversation = [];  // [{role, content}], what OpenAI clients send
let turn = 0;

keyInput.value = localStorage.getItem("rag-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("rag-api-key", keyInput.value.trim()));

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Where a citation points: its page (PDF), its lines (within the page), its heading (Word).
function lines(c) {
  const span = c.start_line === c.end_line ? `line ${c.start_line}` : `lines ${c.start_line}-${c.end_line}`;
  const page = c.page ? `p. ${c.page}, ` : "";
  const section = c.section ? `, under "${c.section}"` : "";
  return `${page}${span}${section}`;
}

function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }

// A link to citation n of this reply: opens its quote and brings it into view.
function marker(prefix, id) {
  const a = el("a", "marker", `[${id}]`);
  a.href = `#${prefix}-${id}`;
  a.addEventListener("click", (event) => {
    event.preventDefault();
    const target = document.getElementById(`${prefix}-${id}`);
    if (!target) return;
    target.open = true;
    target.scrollIntoView({ block: "nearest" });
  });
  return a;
}

// The answer from its structured form: each sentence, then links to the citations it rests
// on, laid out as the server renders them ("text [1] [2] text [3]"). An abstention (no
// sentences) shows the server's body as it is. Nothing is parsed out of rendered text.
function renderAnswer(target, answer, prefix) {
  target.textContent = "";
  const known = new Set(answer.citations.map((c) => c.id));
  if (answer.abstained || !answer.sentences.length) {
    target.textContent = answer.body;
    return;
  }
  answer.sentences.forEach((sentence, i) => {
    target.appendChild(document.createTextNode((i ? " " : "") + sentence.text));
    for (const id of sentence.citations) {
      target.appendChild(document.createTextNode(" "));
      target.appendChild(known.has(id) ? marker(prefix, id) : el("span", "marker", `[${id}]`));
    }
    if (sentence.supported === false) target.appendChild(el("span", "unverified", " [unverified]"));
  });
}

// A written answer (a language model's, checked sentence by sentence): why the offline answer
// replaced it, if it did, and the sentences taken out because no passage supports them.
function renderChecks(box, answer) {
  if (answer.notice) box.insertBefore(el("div", "notice", answer.notice), box.querySelector(".text"));
  if (!answer.removed.length) return;
  const list = el("div", "removed");
  list.appendChild(el("div", "citations-title", "Removed: no passage supports these sentences"));
  for (const s of answer.removed) list.appendChild(el("del", "removed-sentence", s.text));
  box.appendChild(list);
}

// The reply's final form: the answer, then its citations as expandable quotes.
function renderReply(box, answer) {
  const prefix = `cite-${box.dataset.turn}`;
  renderAnswer(box.querySelector(".text"), answer, prefix);
  renderChecks(box, answer);
  if (!answer.citations.length) return;
  box.appendChild(el("div", "citations-title",
    answer.abstained ? "Nearest sources (they do not answer the question):" : "Sources:"));
  const list = el("div", "citations");
  for (const c of answer.citations) {
    const item = el("details", "citation");
    item.id = `${prefix}-${c.id}`;
    const summary = el("summary");
    summary.appendChild(el("span", "marker", `[${c.id}] `));
    summary.appendChild(el("span", "where", `${c.source}, ${lines(c)}`));
    item.appendChild(summary);
    item.appendChild(el("blockquote", "quote", c.quote));
    item.appendChild(el("div", "score", `evidence ${Number(c.score).toFixed(2)}`));
    list.appendChild(item);
  }
  box.appendChild(list);
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `the server answered ${response.status}`;
}

// Yields each parsed `data:` payload of a server-sent event stream.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart()).join("\n");
      if (data === "[DONE]") return;
      if (data) yield JSON.parse(data);
    }
  }
}

async function ask(question) {
  turn += 1;
  const userBox = el("div", "msg user", question);
  const box = el("div", "msg assistant");
  box.dataset.turn = String(turn);
  box.dataset.state = "streaming";
  const textNode = el("div", "text pending");
  box.appendChild(textNode);
  log.append(userBox, box);
  scrollDown();

  const messages = conversation.concat([{ role: "user", content: question }]);
  const headers = { "Content-Type": "application/json" };
  const key = keyInput.value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  let text = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers, body: JSON.stringify({ model: MODEL, stream: true, messages }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    let answer = null;  // the final chunk's structured answer
    for await (const chunk of events(response)) {
      if (chunk.error) throw new Error(chunk.error.message);
      const choice = (chunk.choices && chunk.choices[0]) || {};
      const delta = choice.delta || {};
      if (delta.content) {
        text += delta.content;
        textNode.textContent = text;
        scrollDown();
      }
      if (choice.finish_reason === "stop") {
        answer = {
          body: typeof delta.body === "string" ? delta.body : text,
          sentences: Array.isArray(delta.sentences) ? delta.sentences : [],
          citations: Array.isArray(delta.citations) ? delta.citations : [],
          abstained: delta.abstained === true,
          removed: Array.isArray(delta.removed) ? delta.removed : [],
          notice: typeof delta.notice === "string" ? delta.notice : "",
        };
      }
    }
    if (!answer) throw new Error("the answer stream ended early");
    textNode.classList.remove("pending");
    if (answer.abstained) box.classList.add("abstained");
    renderReply(box, answer);
    conversation = messages.concat([{ role: "assistant", content: text }]);
    box.dataset.state = "done";
  } catch (error) {
    textNode.classList.remove("pending");
    box.classList.add("error");
    textNode.textContent = `Error: ${error.message}`;
    box.dataset.state = "error";
  }
  scrollDown();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  send.disabled = true;
  try {
    await ask(question);
  } finally {
    send.disabled = false;
    input.focus();
  }
});

clear.addEventListener("click", () => {
  conversation = [];
  log.textContent = "";
  input.focus();
});

input.focus();
