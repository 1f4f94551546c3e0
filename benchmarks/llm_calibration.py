"""Fit the cheap signals of the written-answer check (rag/answering/verify.py) on SQuAD calibration articles.

Since issue 29 these weights only rank the passage sentences the entailment judge reads
(its threshold decides); this script refits them and reports how they alone would judge.

Data: the CALIBRATION articles of training/squad_corpus.py (never TEST, never eval/), split
by article into a FIT half (weights and threshold are fitted there) and a CHECK half (only
measured). From each answerable question, claims judged against a passage:

- true: the question made a statement with its gold answer ("Who chaired X?" -> "Jeremy Hunt
  chaired X"), and the gold sentence cut to the words around the answer, each against its
  own paragraph;
- false: the same two claims with the answer swapped for another answer of the same article
  (of the same kind: a number for a number), against the same paragraph; and the true
  sentence claim against another paragraph of the article that lacks the answer (a wrong
  citation).

A claim's support is the best over the paragraph's sentences, so the weights are fitted by
alternating: pick each claim's best sentence under the current weights, refit a logistic
regression on those sentences' signals, repeat. The threshold maximises balanced accuracy
on FIT.

    nice -n 10 .venv/bin/python benchmarks/llm_calibration.py [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT))

import squad_corpus as squad  # noqa: E402

from rag.analysis import content_terms  # noqa: E402
from rag.answering.verify import WEIGHTS, signals  # noqa: E402

FIT = ("Islamism", "Private_school", "Rhine")
CHECK = tuple(t for t in squad.CALIBRATION if t not in FIT)
WH = re.compile(r"\b(how many|how much|how long|how old|what|which|who|whom|whose|when|where|how)\b", re.I)
KEYS = ("coverage", "missing", "cosine", "uncovered")


def sentences_of(text: str) -> list[str]:
    import blingfire

    return [s for s in blingfire.text_to_sentences(text).split("\n") if s.strip()]


def statement(question: str, answer: str) -> str | None:
    """The question with its wh-word replaced by the answer (crude, but worded like a paraphrase)."""
    m = WH.search(question)
    if not m:
        return None
    return (question[:m.start()] + answer + question[m.end():]).rstrip(" ?") + "."


def window(sentence: str, answer: str, words: int = 8) -> str | None:
    """The words of ``sentence`` around ``answer`` (a light rewrite: the clause that says it)."""
    at = sentence.find(answer)
    if at < 0:
        return None
    before = sentence[:at].split()[-words:]
    after = sentence[at + len(answer):].split()[:words]
    return " ".join(before + [answer] + after).rstrip(" ,;.") + "."


def kind(answer: str) -> str:
    return "number" if re.search(r"\d", answer) else "name" if answer[:1].isupper() else "other"


def examples(titles: tuple[str, ...], seed: int = 0) -> list[dict]:
    """Claims with their label, what made them, and the paragraph sentences they are judged against."""
    rng = random.Random(seed)
    data = squad.load()
    out = []
    for title in titles:
        article = data[title]
        paragraphs = [squad.clean(p["context"]) for p in article["paragraphs"]]
        split = [sentences_of(p) for p in paragraphs]
        qas = [q for q in squad.questions(article) if not q.impossible and q.answers]
        answers = sorted({a for q in qas for a in q.answers})
        for q in qas:
            answer = q.answers[0]
            sents = split[q.paragraph]
            gold = next((s for s in sents if answer in s), None)
            if gold is None:
                continue
            others = [a for a in answers if kind(a) == kind(answer) and a.lower() not in paragraphs[q.paragraph].lower()
                      and answer.lower() not in a.lower()]
            wrong = rng.choice(others) if others else None
            other_p = [i for i, p in enumerate(paragraphs) if i != q.paragraph and answer.lower() not in p.lower()]
            for how, claim in (("statement", statement(q.question, answer)), ("window", window(gold, answer))):
                if not claim:
                    continue
                out.append({"claim": claim, "label": 1, "how": how, "paragraph": sents})
                if wrong:
                    out.append({"claim": claim.replace(answer, wrong), "label": 0, "how": how + " swapped",
                                "paragraph": sents})
                if how == "window" and other_p:
                    out.append({"claim": claim, "label": 0, "how": "other paragraph",
                                "paragraph": split[rng.choice(other_p)]})
    return out


def featurise(items: list[dict], encode) -> None:
    """Each item's signals against every sentence of its paragraph (cosines from the real model)."""
    texts = sorted({i["claim"] for i in items} | {s for i in items for s in i["paragraph"]})
    vectors = dict(zip(texts, encode(texts)))
    for item in items:
        terms = set(content_terms([item["claim"]])[0])
        vc = vectors[item["claim"]]
        sents = item["paragraph"]
        item["signals"] = [signals(item["claim"], s, sents[j - 1] if j else "", float(vectors[s] @ vc), terms)
                           for j, s in enumerate(sents)]


def matrix(items: list[dict], weights: dict[str, float]) -> np.ndarray:
    """The signals of each item's best sentence under ``weights``."""
    rows = []
    for item in items:
        best = max(item["signals"], key=lambda s: s.score(weights))
        rows.append([best.coverage, min(best.missing, 3), best.cosine, min(best.uncovered, 4)])
    return np.array(rows)


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Newton's method for L2-regularised logistic regression; returns [bias, w...]."""
    X = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def fit(items: list[dict], rounds: int = 6) -> dict[str, float]:
    weights = dict(WEIGHTS)
    y = np.array([i["label"] for i in items], dtype=float)
    for _ in range(rounds):
        w = logistic(matrix(items, weights), y)
        weights = {"bias": float(w[0]), **{k: float(v) for k, v in zip(KEYS, w[1:])}}
    return weights


def supports(items: list[dict], weights: dict[str, float]) -> np.ndarray:
    return np.array([max(s.score(weights) for s in i["signals"]) for i in items])


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the best balanced accuracy (mean of true kept and false removed)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    accuracy = [((scores[labels == 1] >= t).mean() + (scores[labels == 0] < t).mean()) / 2 for t in grid]
    return float(grid[int(np.argmax(accuracy))])


def report(items: list[dict], weights: dict[str, float], threshold: float) -> dict:
    scores = supports(items, weights)
    labels = np.array([i["label"] for i in items])
    by_how = {}
    for how in sorted({i["how"] for i in items}):
        mask = np.array([i["how"] == how for i in items])
        by_how[how] = {"claims": int(mask.sum()), "kept": round(float((scores[mask] >= threshold).mean()), 3)}
    kept_true = float((scores[labels == 1] >= threshold).mean())
    kept_false = float((scores[labels == 0] >= threshold).mean())
    return {"claims": len(items), "true_kept": round(kept_true, 3), "false_kept": round(kept_false, 3),
            "balanced_accuracy": round((kept_true + 1 - kept_false) / 2, 3), "by_kind": by_how}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine
    from rag.embeddings import Embedder

    embedder = Embedder()
    t0 = time.perf_counter()
    fit_items, check_items = examples(FIT), examples(CHECK, seed=1)
    featurise(fit_items + check_items, lambda texts: embedder.encode(texts))
    weights = fit(fit_items)
    scores = supports(fit_items, weights)
    threshold = best_threshold(scores, np.array([i["label"] for i in fit_items]))
    result = {"fit_articles": FIT, "check_articles": CHECK, "weights": {k: round(v, 3) for k, v in weights.items()},
              "threshold": threshold, "fit": report(fit_items, weights, threshold),
              "check": report(check_items, weights, threshold),
              "shipped": {"weights": WEIGHTS, "check": report(check_items, WEIGHTS, threshold)},
              "seconds": round(time.perf_counter() - t0, 1)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
