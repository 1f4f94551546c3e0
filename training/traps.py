"""Unanswerable questions made from answerable ones, in the manner of SQuAD 2.0's traps.

SQuAD 2.0's writers made most of its unanswerable questions by changing one thing in a
question the article answers: a name, a number or a word swapped for another from the same
article ("When is the oldest armed seal of Sigilium from?" where the article dates Warsaw's).
The sentence that answered still looks like the answer, but is not. The open data holds
only 884 such questions for training; this script makes more, the same way, from answerable
questions of training/reader_data.py's files:

- pick a span of the question that the answering sentence also contains: a run of
  capitalised words, a number, or a noun (a word of five letters or more after an article,
  a possessive or a quantifier);
- swap it for a span of the same kind (same shape of number; same plural ending) that
  occurs elsewhere in the article's candidates but not in the answering sentence;
- drop the trap when a candidate holds both the new span and a gold answer (it may be
  answered after all).

Every candidate of a trap is a negative. With ``--pairs`` the source question is written
too, so the model sees the same sentence answer one question and not the other. Seeded.

    python training/traps.py --source /tmp/rag-reader/squad-train.jsonl \
        --out /tmp/rag-reader/traps-v11.jsonl --n 1200 --pairs
    python training/traps.py --source /tmp/rag-reader/train.jsonl --out /tmp/rag-reader/traps-open.jsonl --n 800
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

SEED = 13
CAPITALISED = re.compile(r"\b[A-Z][\w'\-]*(?:\s+(?:of\s+|the\s+|de\s+)?[A-Z][\w'\-]*)*")
NUMBER = re.compile(r"\b\d[\d,.]*\b")
#: A noun, near enough: a word of five letters or more after an article, a possessive or a quantifier.
WORD = re.compile(r"\b(?:the|a|an|its|their|his|her|this|these|that|many|much|of)\s+([a-z]{5,})\b")
#: Words too common or too grammatical to make a trap by swapping.
COMMON = frozenset("""which where there their these those about after again against among because
before being below between could during every first other should since still through under until
while whose would years often always never people called known later large small began""".split())


def shape(kind: str, span: str) -> tuple:
    """What a replacement must share with the span it replaces."""
    if kind == "number":
        return kind, len(span.replace(",", "").split(".")[0])
    if kind == "name":
        return kind, min(len(span.split()), 3)
    return kind, span.endswith("s")


def spans(text: str) -> list[tuple[str, str]]:
    """(kind, span) of every number, name (not the first word: it may be capitalised only for
    starting the sentence) and noun in ``text``."""
    out = [("number", m.group()) for m in NUMBER.finditer(text)]
    out += [("name", m.group()) for m in CAPITALISED.finditer(text) if m.start() > 0]
    out += [("word", m.group(1)) for m in WORD.finditer(text) if m.group(1) not in COMMON]
    return out


def trap(q: dict, rng: random.Random) -> dict | None:
    """One unanswerable variant of answerable question ``q``, or None when none is safe."""
    gold = [c["text"] for c in q["candidates"] if c["label"]]
    if q["impossible"] or not gold:
        return None
    in_gold = " ".join(gold)
    choices = [(k, s) for k, s in spans(q["question"])
               if s in in_gold and not any(s in a or a in s for a in q["answers"])]
    if not choices:
        return None
    kind, old = rng.choice(choices)
    pool = sorted({s for c in q["candidates"] if not c["label"] for k, s in spans(c["text"])
                   if k == kind and shape(k, s) == shape(kind, old) and s not in in_gold
                   and s not in q["question"] and old not in s and s not in old})
    rng.shuffle(pool)
    for new in pool:
        if any(new in c["text"] and any(a in c["text"] for a in q["answers"]) for c in q["candidates"]):
            continue
        question = re.sub(rf"\b{re.escape(old)}\b", lambda _, new=new: new, q["question"], count=1)
        if question == q["question"]:
            continue
        return {**q, "qid": q["qid"] + "-trap", "question": question, "answers": [], "impossible": True,
                "trap": {"kind": kind, "old": old, "new": new, "source": q["question"]},
                "candidates": [{**c, "label": 0} for c in q["candidates"]]}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a training/reader_data.py file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=1000, help="traps to make (at most)")
    parser.add_argument("--pairs", action="store_true", help="write each trap's source question too")
    args = parser.parse_args()
    rng = random.Random(SEED)
    questions = [json.loads(line) for line in args.source.open(encoding="utf-8")]
    rng.shuffle(questions)
    kinds: Counter[str] = Counter()
    with args.out.open("w", encoding="utf-8") as f:
        for q in questions:
            if kinds.total() >= args.n:
                break
            t = trap(q, rng)
            if t is None:
                continue
            kinds[t["trap"]["kind"]] += 1
            f.write(json.dumps(t) + "\n")
            if args.pairs:
                f.write(json.dumps(q) + "\n")
    print(f"{kinds.total()} traps from {args.source.name} ({dict(kinds)}) -> {args.out}")


if __name__ == "__main__":
    main()
