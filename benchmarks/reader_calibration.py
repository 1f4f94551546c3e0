"""Fit the reader answerer's threshold on held-out data: one for the seeds and for foreign articles.

    python benchmarks/reader_calibration.py [--step 0.01]

Runs two development sets through the real ``rag eval`` once each, answering everything
(threshold 0), and reads each question's support (the reader's best probability) from the
report:
- the CALIBRATION articles of the open SQuAD data (training/squad_corpus.py; not trained on);
- the seeds' development set eval/calibration.jsonl (never the shipped eval/questions.jsonl).
For every threshold it prints answered-when-answerable, declined-when-unanswerable and
fact recall on both, and picks the threshold with the best mean of the four rates
(answered and declined on each set), the middle of the widest run of equal best ones.
The TEST articles and eval/questions.jsonl measure the result afterwards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import squad_open

ROOT = Path(__file__).resolve().parents[1]


def rows(report: dict) -> list[tuple[bool, float, bool]]:
    """(answerable, support, holds its facts when answered) per question."""
    return [(r["answerable"], float(r["response"]["support"]), not r["facts_missing"]) for r in report["results"]]


def rates(data: list[tuple[bool, float, bool]], t: float) -> dict[str, float]:
    answerable = [r for r in data if r[0]]
    unanswerable = [r for r in data if not r[0]]
    return {"answered": sum(s >= t for _, s, _ in answerable) / len(answerable),
            "declined": sum(s < t for _, s, _ in unanswerable) / len(unanswerable),
            "fact_recall": sum(s >= t and ok for _, s, ok in answerable) / len(answerable)}


def choose(curve: list[tuple[float, float]]) -> float:
    """Middle of the widest run of thresholds with the best objective."""
    best = max(v for _, v in curve)
    runs, run = [], []
    for t, v in curve:
        if abs(v - best) < 1e-12:
            run.append(t)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    widest = max(runs, key=len)
    return round(widest[len(widest) // 2], 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--save", type=Path, help="write both reports and the curve here (a folder)")
    parser.add_argument("--work", type=Path, help="keep articles and indexes here between runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.work or Path(tmp)
        save = args.save or tmp
        save.mkdir(parents=True, exist_ok=True)
        questions = squad_open.write_lines(squad_open.question_lines("calibration"), tmp / "squad.jsonl")
        corpus = squad_open.squad_corpus.write_corpus(squad_open.squad_corpus.SPLITS["calibration"], tmp / "articles")
        squad = rows(squad_open.run_eval(questions, corpus, tmp / "index-squad", save / "squad-calibration.json", 0.0,
                                         "reader"))
        seeds = rows(squad_open.run_eval(ROOT / "eval" / "calibration.jsonl", ROOT / "seeds", tmp / "index-seeds",
                                         save / "seeds-calibration.json", 0.0, "reader"))
    curve, table = [], []
    t = 0.0
    while t <= 1.0 + 1e-9:
        a, b = rates(squad, t), rates(seeds, t)
        objective = (a["answered"] + a["declined"] + b["answered"] + b["declined"]) / 4
        curve.append((round(t, 4), objective))
        table.append((t, a, b, objective))
        t += args.step
    chosen = choose(curve)
    print("| threshold | SQuAD answered | SQuAD declined | SQuAD fact recall | seeds answered | seeds declined "
          "| seeds fact recall | mean of four |")
    print("|---|---|---|---|---|---|---|---|")
    for t, a, b, objective in table:
        if round(t * 100) % 5 == 0 or abs(t - chosen) < 1e-9:
            print(f"| {t:.2f}{' (chosen)' if abs(t - chosen) < 1e-9 else ''} | {a['answered']:.3f} | "
                  f"{a['declined']:.3f} | {a['fact_recall']:.3f} | {b['answered']:.3f} | {b['declined']:.3f} | "
                  f"{b['fact_recall']:.3f} | {objective:.3f} |")
    print(f"chosen threshold: {chosen}")
    (save / "curve.json").write_text(json.dumps({"chosen": chosen, "curve": [
        {"threshold": round(t, 4), "squad": a, "seeds": b} for t, a, b, _ in table]}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
