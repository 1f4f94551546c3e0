"""The NLI pairs of ``../shared/data/nli/`` split for training the entailment judge.

Splits (see that folder's SOURCE.md for the sets and their overlaps):

- TEST: MultiNLI dev_mismatched, and the negation pairs built from MultiNLI dev (the
  negation set does not say which half a pair came from, so all of its MultiNLI part is held
  out). Nothing in training/ reads them; benchmarks/nli_test.py measures on them.
- CALIBRATION: MultiNLI dev_matched pairs of one prompt in seven (by promptID, so no
  premise is in two splits), and FEVER-symmetric's test half: early figures and the
  threshold the check uses.
- TRAIN: the rest: MultiNLI dev_matched's other prompts, SNLI dev and test, counterfactual
  SNLI (all splits: its originals are SNLI pairs, which train anyway), Breaking NLI (its
  contradictions thinned to 3,000, it is 87% contradiction), the SNLI part of the negation
  set, SciFact train (rationale pairs; whole abstracts only as neutral, since an abstract cut
  to the model's length may lose its rationale), SciTail test (two labels: its "neutral" is
  "not entailed") and FEVER-symmetric's dev half. Exact repeats are dropped.

Plus pairs made by rule from TRAIN premises (:func:`made`): a premise entails itself, and
contradicts itself negated ("is" -> "is not"). Real answers quote their passages, and the
human sets rarely do. :func:`flips` makes the kinds of wrong sentence a language model
writes in a passage's own words: one word for its opposite (from Breaking NLI's antonym
pairs and :data:`OPPOSITES`, common English pairs), "with" for "without", a possibility
made a certainty ("may" -> "will"), two named parties swapped; and one faithful kind, the
premise without its opening discourse word ("However, ..."). None reads a seed article or
the flip set.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nli"
LABELS = ("entailment", "neutral", "contradiction")
SEED = 29
#: One MultiNLI dev_matched prompt in this many calibrates.
CALIBRATION_EVERY = 7
BREAKING_CONTRADICTIONS = 3000

Pair = tuple[str, str, int]  # premise, hypothesis, label index


def read(name: str, folder: Path = DATA) -> list[dict]:
    with gzip.open(folder / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def prompt_of(row: dict) -> int:
    """MultiNLI's promptID: the pairID without its label letter (pairs of one premise share it)."""
    return int(re.match(r"\d+", row["pairID"]).group())


def is_calibration(row: dict) -> bool:
    if row["source"] == "multinli":
        return row["split"] == "dev_matched" and prompt_of(row) % CALIBRATION_EVERY == 0
    return row["source"] == "fever_symmetric" and row["split"] == "test"


def is_test(row: dict) -> bool:
    return ((row["source"] == "multinli" and row["split"] == "dev_mismatched")
            or (row["source"] == "negation_nli" and row["subset"] == "mnli"))


def keep_for_training(row: dict, rng: random.Random) -> bool:
    if row["source"] == "scifact" and row["granularity"] == "abstract":
        return row["label"] == "neutral"
    if row["source"] == "breaking_nli" and row["label"] == "contradiction":
        return rng.random() < BREAKING_CONTRADICTIONS / 7164
    return True


def pair(row: dict) -> Pair:
    return (row["premise"].strip(), row["hypothesis"].strip(), LABELS.index(row["label"]))


def splits(folder: Path = DATA) -> dict[str, list[Pair]]:
    """TRAIN and CALIBRATION pairs (TEST is left out: see :func:`test_pairs`)."""
    rng = random.Random(SEED)
    out: dict[str, list[Pair]] = {"train": [], "calibration": []}
    seen: set[tuple[str, str]] = set()
    for name in ("multinli", "snli", "cad_snli", "breaking_nli", "negation_nli", "scifact_train",
                 "scitail_test", "fever_symmetric"):
        for row in read(name, folder):
            if is_test(row):
                continue
            split = "calibration" if is_calibration(row) else "train"
            if split == "train" and not keep_for_training(row, rng):
                continue
            p = pair(row)
            if p[:2] in seen:
                continue
            seen.add(p[:2])
            out[split].append(p)
    return out


def test_pairs(folder: Path = DATA) -> dict[str, list[Pair]]:
    """The held-out TEST sets, for benchmarks only."""
    out: dict[str, list[Pair]] = {"multinli_dev_mismatched": [], "negation_multinli": []}
    for row in read("multinli", folder):
        if row["split"] == "dev_mismatched":
            out["multinli_dev_mismatched"].append(pair(row))
    for row in read("negation_nli", folder):
        if row["subset"] == "mnli":
            out["negation_multinli"].append(pair(row))
    return out


#: A finite auxiliary and what it becomes negated.
NEGATE = {"is": "is not", "are": "are not", "was": "was not", "were": "were not", "has": "has not",
          "have": "have not", "had": "had not", "can": "cannot", "will": "will not", "would": "would not",
          "could": "could not", "should": "should not", "must": "must not", "may": "may not"}
AUX = re.compile(r"\b(" + "|".join(NEGATE) + r")\b(?!\s+(?:not|n't|never|no)\b)", re.I)


def negated(text: str) -> str | None:
    """``text`` with its first auxiliary negated, or None when it has none (or is negated already)."""
    if re.search(r"\b(not|n't|never|no)\b", text, re.I):
        return None
    m = AUX.search(text)
    if not m:
        return None
    word = m.group(1)
    neg = NEGATE[word.lower()]
    neg = neg[0].upper() + neg[1:] if word[0].isupper() else neg
    return text[:m.start()] + neg + text[m.end():]


def made(train: list[Pair], n: int, seed: int = SEED) -> list[Pair]:
    """Up to ``n`` rule-made pairs from TRAIN premises: a premise entails itself, and
    contradicts itself negated. Half of each."""
    rng = random.Random(seed)
    premises = sorted({p for p, _, _ in train if 20 <= len(p) <= 400})
    rng.shuffle(premises)
    copies, flips = [], []
    for p in premises:
        if len(copies) < n // 2:
            copies.append((p, p, LABELS.index("entailment")))
        neg = negated(p)
        if neg and len(flips) < n - n // 2:
            flips.append((p, neg, LABELS.index("contradiction")))
        if len(copies) + len(flips) >= n:
            break
    return copies + flips


#: Common English opposites (both ways), beside those Breaking NLI's annotators labelled.
OPPOSITES = [tuple(p.split("/")) for p in """
increase/decrease increased/decreased increases/decreases rise/fall rose/fell rising/falling more/less
higher/lower larger/smaller largest/smallest before/after likely/unlikely easy/difficult success/failure
strong/weak stronger/weaker first/last local/national public/private accept/reject accepted/rejected
allow/prevent allowed/prevented support/oppose supported/opposed gain/lose gained/lost win/lose won/lost
agree/disagree agreed/disagreed include/exclude included/excluded including/excluding always/never
begin/end began/ended rich/poor positive/negative benefit/harm beneficial/harmful cheap/expensive
quickly/slowly quick/slow grew/shrank improve/worsen improved/worsened maximum/minimum major/minor
internal/external legal/illegal possible/impossible formal/informal direct/indirect above/below
earlier/later early/late many/few most/least increasing/decreasing growth/decline strengthen/weaken
approve/reject approved/rejected true/false same/different similar/different open/closed opened/closed
rarely/often common/rare expanded/reduced expand/reduce raised/lowered raise/lower start/stop
started/stopped entered/left import/export imported/exported imports/exports buy/sell bought/sold
""".split()]
OPENERS = re.compile(r"^(However|In contrast|Indeed|Moreover|Also|Meanwhile|In addition|Furthermore|"
                     r"For example|Instead|Still|Yet|Nevertheless|Similarly|In fact|Overall|Today|Now),\s+")
CONDITION = re.compile(r"^(If|Unless|Although|Though|When|While|Whether|Even|Because|Since|As)\b")
MODAL = re.compile(r"\b(may|might|could)\b")
NAME = re.compile(r"(?<=[a-z,] )((?:[A-Z][\w'-]+)(?: [A-Z][\w'-]+)*)")


def opposites(folder: Path = DATA) -> dict[str, str]:
    """Word -> its opposite: :data:`OPPOSITES` and the one-word antonym swaps of Breaking NLI."""
    pairs = list(OPPOSITES)
    for row in read("breaking_nli", folder):
        if row["label"] == "contradiction" and row["category"].startswith("antonyms"):
            p, h = row["premise"].lower().split(), row["hypothesis"].lower().split()
            a, b = [w for w in p if w not in h], [w for w in h if w not in p]
            if len(a) == 1 and len(b) == 1 and a[0].isalpha() and b[0].isalpha():
                pairs.append((a[0], b[0]))
    out: dict[str, str] = {}
    for a, b in pairs:
        out.setdefault(a, b)
        out.setdefault(b, a)
    return out


def _swap_word(premise: str, table: dict[str, str], rng: random.Random) -> str | None:
    words = [m for m in re.finditer(r"[A-Za-z]+", premise) if m.group().lower() in table]
    if not words:
        return None
    m = rng.choice(words)
    new = table[m.group().lower()]
    new = new[0].upper() + new[1:] if m.group()[0].isupper() else new
    return premise[:m.start()] + new + premise[m.end():]


def _swap_names(premise: str) -> str | None:
    words = premise.split()
    if "-LRB-" in premise or sum(w[:1].isupper() for w in words) > 0.3 * len(words):
        return None  # tokenised FEVER text, or a title: not a sentence about two parties
    names = list(dict.fromkeys(m.group(1) for m in NAME.finditer(premise)))
    if len(names) < 2 or names[0].lower() in names[1].lower() or names[1].lower() in names[0].lower():
        return None
    a, b = names[0], names[1]
    return re.sub(rf"\b({re.escape(a)}|{re.escape(b)})\b", lambda m: b if m.group(1) == a else a, premise)


def _first_clause(premise: str) -> str | None:
    """"X, and Y." -> "X." (entailed), unless X is a condition or a concession."""
    m = re.search(r"[,;] (?:and|but|while|which|so) ", premise)
    if not m or len(premise[:m.start()].split()) < 5 or CONDITION.match(premise):
        return None
    return premise[:m.start()].rstrip(" ,;") + "."


def in_context(pairs: list[Pair], share: float, pool: list[str], seed: int = SEED) -> list[Pair]:
    """``pairs`` with another premise put before a ``share`` of their premises, as a passage's
    sentence is read after the one before it: what follows still decides."""
    rng = random.Random(seed)
    return [(f"{rng.choice(pool)} {p}", h, y) if rng.random() < share else (p, h, y) for p, h, y in pairs]


def flips(train: list[Pair], n: int, seed: int = SEED) -> list[Pair]:
    """Up to ``n`` rule-made pairs, a sixth of each kind: an opposite (contradiction),
    "with"/"without" (contradiction), "may" -> "will" (neutral), two names swapped (neutral),
    the opening discourse word dropped and the first of two clauses kept (entailment)."""
    rng = random.Random(seed)
    table = opposites()
    premises = sorted({p for p, _, _ in train if 30 <= len(p) <= 400})
    rng.shuffle(premises)
    e, n_, c = (LABELS.index(label) for label in LABELS)
    kinds = {
        "opposite": (lambda p: _swap_word(p, table, rng), c),
        "without": (lambda p: _swap_word(p, {"with": "without", "without": "with"}, rng), c),
        "modal": (lambda p: MODAL.sub("will", p, count=1) if MODAL.search(p) else None, n_),
        "names": (_swap_names, n_),
        "opener": (lambda p: OPENERS.sub("", p, count=1) if OPENERS.search(p) else None, e),
        "clause": (_first_clause, e),
    }
    out: list[Pair] = []
    for make, label in kinds.values():
        made_here = 0
        for p in premises:
            if made_here >= n // len(kinds):
                break
            h = make(p)
            if h and h != p:
                out.append((p, h[0].upper() + h[1:], label))
                made_here += 1
    return out


if __name__ == "__main__":
    from collections import Counter

    parts = splits()
    for name, rows in {**parts, "made": made(parts["train"], 4000), "flips": flips(parts["train"], 8000)}.items():
        print(name, len(rows), Counter(LABELS[y] for *_, y in rows))
    for p, h, y in random.Random(1).sample(flips(parts["train"], 8000), 8):
        print(LABELS[y], "|", p, "|", h)
