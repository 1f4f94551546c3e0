"""Load test of ``rag serve`` on loopback: requests per second and latency percentiles.

Starts the real server (``rag serve``, 1 or more worker processes) on a free 127.0.0.1
port, waits until every worker has loaded the model and index, then drives it with
concurrent HTTP clients at each concurrency level, bounded by a request count and a time
limit per level:

- ``/api/ask`` (native JSON): latency of the whole answer;
- ``/v1/chat/completions`` with ``stream: true``: time to first token (the first content
  delta) and time to ``[DONE]``;
- ``/healthz`` polled meanwhile: how responsive the event loop stays under load.

The clients run in this process (asyncio + httpx), on the same cores as the server, so
figures are pessimistic, more so at high concurrency. Usage:

    python benchmarks/load_test.py --workers 1 2 --concurrency 1 8 32 --out /tmp/server-results.md
    (then paste into benchmarks/RESULTS.md)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: Questions with answers in different articles, and one the articles do not answer.
QUESTIONS = [
    "What has replaced clinical commissioning groups?",
    "What are the four aims of ICSs?",
    "When did the internal market begin?",
    "Who floated the idea of GP nationalisation?",
    "How many practices are there in some areas?",
    "What is the capital of France?",
]


@dataclass
class Level:
    endpoint: str
    workers: int
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, whole request
    first_token: list[float] = field(default_factory=list)  # seconds, streaming only
    answering: list[float] = field(default_factory=list)  # seconds inside Assistant.ask (/api/ask only)
    health: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server used during the level

    def row(self) -> dict:
        ms = lambda xs, q: float(np.percentile(xs, q) * 1000) if xs else float("nan")  # noqa: E731
        return {"endpoint": self.endpoint, "workers": self.workers, "concurrency": self.concurrency,
                "requests": len(self.latencies), "errors": self.errors,
                "rps": len(self.latencies) / self.wall if self.wall else 0.0,
                "server_cores": self.server_cpu / self.wall if self.wall else 0.0,
                "server_cpu_ms_per_request": self.server_cpu / len(self.latencies) * 1000 if self.latencies else 0.0,
                "p50_ms": ms(self.latencies, 50), "p99_ms": ms(self.latencies, 99),
                "answer_p50_ms": ms(self.answering, 50),
                "ttft_p50_ms": ms(self.first_token, 50), "ttft_p99_ms": ms(self.first_token, 99),
                "healthz_p50_ms": ms(self.health, 50),
                "healthz_max_ms": max(self.health) * 1000 if self.health else float("nan")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``rag serve`` in a subprocess; ready once every worker logged that it is."""

    def __init__(self, workers: int, corpus: Path | None, index: Path | None, threads: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        env = {k: v for k, v in os.environ.items() if k != "RAG_API_KEY"}
        env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        if corpus:
            env["RAG_CORPUS"] = str(corpus)
        if index:
            env["RAG_INDEX_DIR"] = str(index)
        if threads:
            env["RAG_SERVE_THREADS"] = str(threads)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="rag-serve-", suffix=".log", delete=False)
        self.command = [sys.executable, "-m", "rag.cli", "-v", "serve", "--port", str(self.port),
                        "--workers", str(workers)]
        self.proc = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while Path(self.log.name).read_text().count("ready: index") < self.workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{Path(self.log.name).read_text()[-3000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far."""
        tick = os.sysconf("SC_CLK_TCK")
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
        tree = {self.proc.pid}
        for _ in range(3):  # parent -> workers -> their helpers
            tree |= {pid for pid, (ppid, _) in stats.items() if ppid in tree}
        return sum(stats[pid][1] for pid in tree if pid in stats)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.log.name)


async def ask_once(client: httpx.AsyncClient, question: str, level: Level) -> None:
    t0 = time.perf_counter()
    r = await client.post("/api/ask", json={"question": question})
    elapsed = time.perf_counter() - t0
    if r.status_code != 200 or "answer" not in r.json():
        level.errors += 1
        return
    level.latencies.append(elapsed)
    level.answering.append(r.json()["timings_ms"]["total"] / 1000)


async def stream_once(client: httpx.AsyncClient, question: str, level: Level) -> None:
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": question}]}
    t0 = time.perf_counter()
    first = None
    done = False
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            level.errors += 1
            await r.aread()
            return
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            if first is None and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - t0
    if not done or first is None:
        level.errors += 1
        return
    level.latencies.append(time.perf_counter() - t0)
    level.first_token.append(first)



async def run_level(url: str, level: Level, max_requests: int, max_seconds: float) -> None:
    once = ask_once if level.endpoint == "/api/ask" else stream_once
    limits = httpx.Limits(max_connections=level.concurrency + 2, max_keepalive_connections=level.concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        for q in QUESTIONS[:2]:  # warm connections and caches; not counted
            await once(client, q, Level(level.endpoint, level.workers, 1))
        counter = iter(range(max_requests))
        deadline = time.perf_counter() + max_seconds
        stop = asyncio.Event()

        async def user(n: int) -> None:
            for i in counter:
                if time.perf_counter() > deadline:
                    break
                try:
                    await once(client, QUESTIONS[(n + i) % len(QUESTIONS)], level)
                except httpx.HTTPError:
                    level.errors += 1

        async def watch_health() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=60) as h:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    await h.get("/healthz")
                    level.health.append(time.perf_counter() - t0)
                    try:
                        await asyncio.wait_for(stop.wait(), 0.1)
                    except asyncio.TimeoutError:
                        pass

        watcher = asyncio.create_task(watch_health())
        t0 = time.perf_counter()
        await asyncio.gather(*(user(n) for n in range(level.concurrency)))
        level.wall = time.perf_counter() - t0
        stop.set()
        await watcher


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} "
            f"{platform.release()}")


def table(rows: list[dict]) -> str:
    lines = ["| endpoint | workers | concurrency | requests | errors | req/s | p50 ms | p99 ms | in ask() p50 ms | "
             "TTFT p50 ms | TTFT p99 ms | /healthz p50 ms | /healthz max ms | server cores busy | server CPU ms/req |",
             "| --- " + "| ---: " * 14 + "|"]
    f = lambda x: "-" if x != x else f"{x:.1f}"  # noqa: E731  (nan -> "-")
    for r in rows:
        lines.append(f"| `{r['endpoint']}` | {r['workers']} | {r['concurrency']} | {r['requests']} | {r['errors']} | "
                     f"{r['rps']:.1f} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | {f(r['answer_p50_ms'])} | "
                     f"{f(r['ttft_p50_ms'])} | "
                     f"{f(r['ttft_p99_ms'])} | {f(r['healthz_p50_ms'])} | {f(r['healthz_max_ms'])} | "
                     f"{r['server_cores']:.2f} | {r['server_cpu_ms_per_request']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server processes to compare")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="at most this many requests per level")
    parser.add_argument("--seconds", type=float, default=20, help="at most this long per level")
    parser.add_argument("--threads", type=int, default=None, help="answers computed at once per worker")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()

    rows = []
    load_before = os.getloadavg()
    for workers in args.workers:
        server = Server(workers, args.corpus, args.index, args.threads)
        try:
            server.wait_ready()
            for endpoint in ("/api/ask", "/v1/chat/completions"):
                for c in args.concurrency:
                    level = Level(endpoint, workers, c)
                    cpu = server.cpu_seconds()
                    asyncio.run(run_level(server.url, level, args.requests, args.seconds))
                    level.server_cpu = server.cpu_seconds() - cpu  # includes the uncounted warm-up requests
                    rows.append(level.row())
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
        finally:
            server.stop()
    load_after = os.getloadavg()
    command = "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0]))] + sys.argv[1:])
    report = "\n".join([
        "# `rag serve` under load",
        "",
        f"Command: `{command}`",
        f"Machine: {machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(the load generator runs on the same cores).",
        f"Bounds: at most {args.requests} requests or {args.seconds:.0f} s per level; questions rotate over "
        f"{len(QUESTIONS)} (one declined). TTFT = time to the first content delta of the stream.",
        "",
        table(rows),
        "",
    ])
    print()
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
