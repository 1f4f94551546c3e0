"""The open SQuAD articles as a corpus of text files, split by article.

``../shared/data/qa/squad-open.json`` holds 24 SQuAD dev articles (CC BY-SA 4.0; see its
SOURCE.md). Each article becomes one text file (its title, then one paragraph per block),
the form a user's folder of articles would have. Whole articles are kept apart:

- TRAIN trains the reader (training/reader.py);
- CALIBRATION picks the abstention threshold (benchmarks/reader_calibration.py);
- TEST measures, and nothing is fitted on it; eval/foreign/ is cut from it.

Four of the eight articles with SQuAD 2.0's unanswerable questions train, two calibrate and
two test; of the sixteen answerable-only ones ten train, three calibrate and three test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa" / "squad-open.json"

TRAIN = ("Huguenot", "European_Union_law", "Immune_system", "Warsaw",
         "Super_Bowl_50", "Nikola_Tesla", "Martin_Luther", "Southern_California", "Newcastle_upon_Tyne",
         "American_Broadcasting_Company", "University_of_Chicago", "Intergovernmental_Panel_on_Climate_Change",
         "Chloroplast", "United_Methodist_Church")
CALIBRATION = ("Islamism", "French_and_Indian_War", "Private_school", "Civil_disobedience", "Rhine")
TEST = ("1973_oil_crisis", "Packet_switching", "Ctenophora", "Pharmacy", "Sky_(United_Kingdom)")
SPLITS = {"train": TRAIN, "calibration": CALIBRATION, "test": TEST}


@dataclass(frozen=True)
class QA:
    id: str
    article: str
    question: str
    answers: tuple[str, ...]  # gold answer texts (empty when unanswerable)
    paragraph: int  # index of the paragraph in the article
    offsets: tuple[int, ...]  # answer starts within the paragraph
    impossible: bool


def sample_titles(data: dict[str, dict], n: int, seed: int = 13) -> tuple[str, ...]:
    """``n`` articles of another SQuAD file (training data beyond the open articles), seeded;
    never one of the open articles, whatever the file holds."""
    import random

    open_titles = {t for split in SPLITS.values() for t in split}
    titles = sorted(t for t in data if t not in open_titles)
    return tuple(sorted(random.Random(seed).sample(titles, min(n, len(titles)))))


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load(path: Path = DATA) -> dict[str, dict]:
    return {a["title"]: a for a in json.loads(path.read_text(encoding="utf-8"))["data"]}


def article_text(article: dict) -> str:
    """Title line, then the paragraphs separated by blank lines."""
    title = article["title"].replace("_", " ")
    return "\n\n".join([title] + [clean(p["context"]) for p in article["paragraphs"]]) + "\n"


def questions(article: dict) -> list[QA]:
    out = []
    for n, p in enumerate(article["paragraphs"]):
        for q in p["qas"]:
            answers = q.get("answers") or []
            out.append(QA(id=q["id"], article=article["title"], question=clean(q["question"]),
                          answers=tuple(dict.fromkeys(a["text"] for a in answers)), paragraph=n,
                          offsets=tuple(sorted({a["answer_start"] for a in answers})),
                          impossible=bool(q.get("is_impossible"))))
    return out


def write_corpus(titles: tuple[str, ...], folder: Path, data: dict[str, dict] | None = None) -> Path:
    """Write the articles ``titles`` as ``folder/<title>.txt``."""
    data = data or load()
    folder.mkdir(parents=True, exist_ok=True)
    for t in titles:
        (folder / f"{t}.txt").write_text(article_text(data[t]), encoding="utf-8")
    return folder


def paragraph_offsets(article: dict) -> list[int]:
    """Where each paragraph starts in :func:`article_text`."""
    text = article_text(article)
    offsets, at = [], 0
    for p in article["paragraphs"]:
        at = text.index(clean(p["context"]), at)
        offsets.append(at)
    return offsets


def answer_offsets(article: dict, qa: QA) -> list[int]:
    """Character offsets of the gold answers in :func:`article_text` (contexts are collapsed)."""
    raw = article["paragraphs"][qa.paragraph]["context"]
    base = paragraph_offsets(article)[qa.paragraph]
    lead = len(raw) - len(raw.lstrip())
    return [base + len(clean(raw[:o]) + (" " if o > lead and raw[o - 1].isspace() else "")) for o in qa.offsets]
