"""MCP latency over the seeds: ``rag mcp`` from launch to first answer, and warm tool calls.

Measured as a client sees it, with the official SDK's ``Client``:

- **start-up**: ``rag mcp`` launched afresh over stdio each run (median of --runs): until the
  handshake is answered, and until the first ``ask`` is answered (that one waits for the
  index to be opened and the model warmed up in the background);
- **warm**: one long-lived session, the shipped questions through ``tools/call ask`` (and the
  same texts through ``search``) after one untimed pass: round trip p50/p95, beside the
  answer's own ``timings_ms.total``, so the protocol's share shows; over stdio (``rag mcp``)
  and over streamable HTTP (``/mcp`` of ``rag serve``).

The seeds are indexed once into a temporary folder first (untimed).

    python benchmarks/mcp_latency.py --runs 5 --questions 30 --out /tmp/mcp_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
RAG_BIN = shutil.which("rag", path=str(Path(sys.executable).parent)) or shutil.which("rag")


def environment(index: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_CORPUS=str(SEEDS), RAG_INDEX_DIR=str(index), RAG_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1")
    return env


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50": round(statistics.median(values), 1), "p95": round(values[max(0, round(0.95 * len(values)) - 1)], 1),
            "n": len(values)}


async def start_up(env: dict[str, str], question: str) -> dict[str, float]:
    """One fresh ``rag mcp``: ms to the handshake's answer, and to the first answer."""
    params = StdioServerParameters(command=RAG_BIN, args=["mcp"], env=env, cwd=str(ROOT))
    t0 = time.perf_counter()
    async with Client(params, read_timeout_seconds=300) as client:
        t1 = time.perf_counter()
        result = await client.call_tool("ask", {"question": question})
        t2 = time.perf_counter()
    assert not result.is_error, result.content
    return {"handshake": ms(t1 - t0), "first_answer": ms(t2 - t0)}


async def warm(target, questions: list[str]) -> dict[str, dict]:
    """Round trips of ``ask`` and ``search`` in one session, after one untimed pass."""
    out: dict[str, dict] = {}
    async with Client(target, read_timeout_seconds=300) as client:
        for tool, key in (("ask", "question"), ("search", "query")):
            for q in questions:  # untimed: lazy tables, caches
                await client.call_tool(tool, {key: q})
            trips, inside = [], []
            for q in questions:
                t0 = time.perf_counter()
                result = await client.call_tool(tool, {key: q})
                trips.append(ms(time.perf_counter() - t0))
                assert not result.is_error, result.content
                if tool == "ask":
                    inside.append(result.structured_content["timings_ms"]["total"])
            out[tool] = {"round_trip_ms": summary(trips)}
            if inside:
                out[tool]["answer_total_ms"] = summary(inside)
    return out


def serve(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([RAG_BIN, "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("rag serve did not become ready")
        time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh rag mcp processes for the start-up figures")
    parser.add_argument("--questions", type=int, default=30, help="shipped questions for the warm figures")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip()][:args.questions]
    with tempfile.TemporaryDirectory(prefix="mcp-latency-") as tmp:
        env = environment(Path(tmp) / "index", Path(tmp) / "cache")
        subprocess.run([RAG_BIN, "index"], env=env, cwd=ROOT, check=True, capture_output=True)
        anyio.run(start_up, env, questions[0])  # untimed: the OS's file cache
        runs = [anyio.run(start_up, env, questions[0]) for _ in range(args.runs)]
        figures = {"start_up_ms": {k: summary([r[k] for r in runs]) for k in runs[0]},
                   "stdio": anyio.run(warm, StdioServerParameters(command=RAG_BIN, args=["mcp"], env=env,
                                                                  cwd=str(ROOT)), questions)}
        port = free_port()
        server = serve(env, port)
        try:
            figures["http"] = anyio.run(warm, f"http://127.0.0.1:{port}/mcp", questions)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    figures["machine"] = {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
