"""Latency over the seeds: index build, a cold one-off ``rag ask``, and warm questions.

What a person at the terminal waits for is a whole new process, so the cold figure is the
real ``rag`` command started afresh each time (median of --runs after one warm-up), with
its CPU time and peak memory taken from the kernel (``wait4``). Variants are run in turn
within each round, so a busy machine slows them alike:

- ``fast``: the default: queries encoded by the ONNX export of the model (rag.embeddings.onnx_query);
- ``full``: the same code with ``RAG_FAST_QUERY=0`` (sentence-transformers encodes queries);
- ``before``: optionally, an older source tree (``--before DIR``, e.g. from ``git archive``);
- ``NAME``: optionally, the fast path with other packages first on the path (``--variant NAME=DIR``).

Warm latency is ``Assistant.ask`` per question in one long-lived process, over the shipped
questions, after one untimed pass (p50/p95), for ``fast`` and ``full``.

    python benchmarks/latency.py --runs 7 --out benchmarks/latency.json
    python benchmarks/latency.py --smoke --no-warm   # does it still run? (no figures to keep)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
QUESTION = "What has replaced clinical commissioning groups?"
SMOKE_QUESTIONS = 3
RAG_BIN = shutil.which("rag", path=str(Path(sys.executable).parent)) or shutil.which("rag")


def run_process(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd``; its wall time, CPU time and peak RSS as the kernel saw them."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "stdout": stdout, "stderr": stderr}


def instructions(cmd: list[str], env: dict[str, str]) -> int | None:
    """User-space instructions ``cmd`` retires (perf stat), or None where perf cannot count them."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".perf") as out:
        proc = subprocess.run(["perf", "stat", "-x", ",", "-e", "instructions:u", "-o", out.name, *cmd],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in Path(out.name).read_text().splitlines():
            if "instructions" in line and line.split(",")[0].isdigit():
                return int(line.split(",")[0]) if proc.returncode == 0 else None
    return None


def base_env(index_dir: Path, cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_CORPUS=str(SEEDS), RAG_INDEX_DIR=str(index_dir), RAG_CACHE_DIR=str(cache_dir),
               HF_HUB_OFFLINE="1", COLUMNS="200")
    return env


def summary(runs: list[dict]) -> dict:
    walls = sorted(r["wall_s"] for r in runs)
    return {"runs": len(runs), "wall_median_s": statistics.median(walls), "wall_min_s": walls[0],
            "wall_max_s": walls[-1], "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q * 100))


def warm_worker(fast: bool, index_dir: str, cache_dir: str, limit: int | None = None) -> None:
    """In a process of its own: per-question latency of ``Assistant.ask`` once warm (of the
    first ``limit`` questions, when given)."""
    from rag.assistant import Assistant
    from rag.evaluation import load_questions
    from rag.settings import Settings

    questions = [q.question for q in load_questions(QUESTIONS)] if QUESTIONS.exists() else [QUESTION]
    questions = questions[:limit] if limit else questions
    assistant = Assistant(Settings.load(corpus=SEEDS, index_dir=Path(index_dir), cache_dir=Path(cache_dir),
                                        fast_query=fast))
    for q in questions:  # warm-up pass: model, index, BM25 and templates loaded
        assistant.ask(q)
    times, encode = [], []
    for q in questions:
        t0 = time.perf_counter()
        assistant.ask(q)
        times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.embedder.encode_query(q)
        encode.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"questions": len(questions), "p50_ms": percentile(times, 0.5),
                      "p95_ms": percentile(times, 0.95), "mean_ms": statistics.fmean(times),
                      "encode_p50_ms": percentile(encode, 0.5), "encode_p95_ms": percentile(encode, 0.95),
                      "fast_path_used": assistant.embedder.query_encoder is not None}))


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg()}


def main() -> None:
    """The command line (and, hidden, the warm worker it starts)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed cold runs per variant (after one warm-up)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--before", type=Path, help="an older source tree to time as the 'before' variant")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="also time the fast path with DIR first on PYTHONPATH (e.g. other library versions)")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm per-question figures")
    parser.add_argument("--smoke", action="store_true",
                        help=f"check the script works: one cold run, {SMOKE_QUESTIONS} warm questions (no figures)")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--warm-worker", choices=["fast", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--index-dir", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_worker:
        warm_worker(args.warm_worker == "fast", args.index_dir, args.cache_dir, args.limit)
        return
    if args.smoke:
        args.runs = 1
    elif args.runs < 5:
        parser.error("--runs must be at least 5 (or use --smoke)")
    if not RAG_BIN:
        raise SystemExit("error: the rag console script is not installed (pip install -e .)")

    work = Path(tempfile.mkdtemp(prefix="rag-latency-"))
    index_dir, cache_dir = work / "index", work / "cache"
    report: dict = {"question": args.question, "machine_before": machine(), "commands": {}, "smoke": args.smoke}
    try:
        env = base_env(index_dir, cache_dir)
        report["index"] = time_index(env, cache_dir)
        report["commands"]["index"] = "RAG_CORPUS=seeds RAG_INDEX_DIR=<tmp> RAG_CACHE_DIR=<tmp> rag index --rebuild"
        variants = cold_variants(args, env, work, cache_dir)
        report["commands"]["cold"] = {"fast": f"rag ask {args.question!r}",
                                      "full": f"RAG_FAST_QUERY=0 rag ask {args.question!r}",
                                      "before": f"PYTHONPATH=<before tree> rag ask {args.question!r}"}
        time_cold(report, variants, args.runs, count_instructions=not args.smoke)
        if not args.no_warm:
            report["warm"] = {name: time_warm(name, index_dir, cache_dir, SMOKE_QUESTIONS if args.smoke else None)
                              for name in ("fast", "full")}
            report["commands"]["warm"] = ("Assistant.ask per question of eval/questions.jsonl, one process, "
                                          "after one untimed pass")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["machine_after"] = machine()
    print_markdown(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def time_index(env: dict[str, str], cache_dir: Path) -> dict:
    """Index build, in a new process: first with an empty encoder cache (the export to ONNX
    happens once per model), then a full rebuild with the cache in place."""
    cmd = [RAG_BIN, "index", "--rebuild"]
    first = run_process(cmd, env)
    again = run_process(cmd, env)
    meta = next((cache_dir / "query-encoders").glob("*/meta.json"), None)
    return {
        "first_build_with_export": {k: v for k, v in first.items() if k not in ("stdout", "stderr")},
        "rebuild": {k: v for k, v in again.items() if k not in ("stdout", "stderr")},
        "export_seconds": json.loads(meta.read_text())["export_seconds"] if meta else None,
        "encoder_bytes": sum(p.stat().st_size for p in meta.parent.iterdir()) if meta else None,
    }


def cold_variants(args: argparse.Namespace, env: dict[str, str], work: Path,
                  cache_dir: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name -> (command, environment) of each cold ``rag ask`` variant."""
    ask = [RAG_BIN, "ask", args.question]
    variants = {"fast": (ask, env), "full": (ask, dict(env, RAG_FAST_QUERY="0"))}
    if args.before:
        before_env = dict(base_env(work / "index-before", cache_dir), PYTHONPATH=str(args.before.resolve()))
        run_process([RAG_BIN, "index"], before_env)
        variants["before"] = (ask, before_env)
    for spec in args.variant:
        name, _, where = spec.partition("=")
        variants[name] = (ask, dict(env, PYTHONPATH=str(Path(where).resolve())))
    return variants


def time_cold(report: dict, variants: dict[str, tuple[list[str], dict[str, str]]], runs: int,
              count_instructions: bool = True) -> None:
    """Cold one-off asks, variants interleaved per round (round 0 warms the page cache)."""
    timed: dict[str, list[dict]] = {name: [] for name in variants}
    answers: dict[str, set[str]] = {name: set() for name in variants}
    for round_ in range(runs + 1):
        for name, (cmd, venv) in variants.items():
            result = run_process(cmd, venv)
            answers[name].add(result["stdout"])
            if round_ > 0:
                timed[name].append(result)
            print(f"round {round_} {name:6s} {result['wall_s']:.2f}s wall {result['cpu_s']:.2f}s cpu "
                  f"{result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    report["cold"] = {name: dict(summary(r), walls_s=[round(x["wall_s"], 3) for x in r])
                      for name, r in timed.items()}
    # Instructions do not depend on how busy the machine is, unlike seconds.
    if count_instructions and shutil.which("perf"):
        for name, (cmd, venv) in variants.items():
            counts = [instructions(cmd, venv) for _ in range(3)]
            if all(counts):
                report["cold"][name]["instructions_median"] = statistics.median(counts)
    distinct = {out for name in ("fast", "full") for out in answers[name]}
    report["cold_same_output_fast_and_full"] = len(distinct) == 1


def time_warm(name: str, index_dir: Path, cache_dir: Path, limit: int | None) -> dict:
    """Warm per-question latency of one variant, in a process of its own."""
    cmd = [sys.executable, __file__, "--warm-worker", name, "--index-dir", str(index_dir), "--cache-dir",
           str(cache_dir)] + (["--limit", str(limit)] if limit else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=base_env(index_dir, cache_dir), cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"warm worker {name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_markdown(r: dict) -> None:
    """The figures as Markdown tables, for the terminal and RESULTS.md."""
    if r.get("smoke"):
        print("Smoke run (--smoke): one cold run per variant, a few warm questions; not figures to keep.\n")
    m = r["machine_before"]
    print(f"Machine: {m['cpus']} cores ({m['cpu']}), Python {m['python']}; load average "
          f"{m['load_average'][0]:.1f} before, {r['machine_after']['load_average'][0]:.1f} after.\n")
    ix = r["index"]
    print("| index build (new process, seeds) | wall s | CPU s | peak RSS MB |\n|---|---|---|---|")
    for name, row in (("first build, exports the query encoder", ix["first_build_with_export"]),
                      ("rebuild, encoder cached", ix["rebuild"])):
        print(f"| {name} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['peak_rss_mb']:.0f} |")
    print(f"\nONNX export and verification: {ix['export_seconds']} s inside the first build; "
          f"cache entry {ix['encoder_bytes'] / 1e6:.0f} MB.\n")
    print("| cold `rag ask` (new process) | median wall s | min-max wall s | median CPU s | peak RSS MB "
          "| instructions (G) |\n|---|---|---|---|---|---|")
    for name, row in r["cold"].items():
        ins = row.get("instructions_median")
        print(f"| {name} | {row['wall_median_s']:.2f} | {row['wall_min_s']:.2f}-{row['wall_max_s']:.2f} | "
              f"{row['cpu_median_s']:.2f} | {row['peak_rss_mb']:.0f} | {ins / 1e9:.2f} |" if ins else
              f"| {name} | {row['wall_median_s']:.2f} | {row['wall_min_s']:.2f}-{row['wall_max_s']:.2f} | "
              f"{row['cpu_median_s']:.2f} | {row['peak_rss_mb']:.0f} | - |")
    print(f"\nSame output, fast and full: {r['cold_same_output_fast_and_full']}")
    if "warm" in r:
        print("\n| warm, one process | questions | p50 ms | p95 ms | query encode p50 ms |\n|---|---|---|---|---|")
        for name, row in r["warm"].items():
            print(f"| {name} | {row['questions']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
                  f"{row['encode_p50_ms']:.1f} |")


if __name__ == "__main__":
    main()
