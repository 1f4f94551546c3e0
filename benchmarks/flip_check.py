"""The check on the flip set: faithful claims kept, flipped ones removed, through the real path.

``eval/flips/claims.jsonl`` holds claims written from sentences of the seed articles and of
the foreign articles (eval/flips/SOURCE.md): faithful (copied, paraphrased, a right verdict)
and flipped (negation, antonym, modality, quantity, with/without, actor swap, a wrong
verdict). Both folders are indexed together; a scripted OpenAI-compatible server
(tests/llm_server.py) "writes" each claim, citing the retrieved passage its evidence comes
from, and ``rag`` answers with ``--llm`` as a user's would: retrieval, the stream, the check.
A claim is kept when it is among the answer's sentences, removed when it is among ``removed``.

    .venv/bin/python benchmarks/flip_check.py [--split test] [--fail-under faithful_kept=0.95 ...]

The test split is measured and gated (.ci/run); nothing is tuned on it. Exit 1 when a
``--fail-under`` figure is not met.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import ScriptedModel  # noqa: E402

CLAIMS = ROOT / "eval" / "flips" / "claims.jsonl"
FOLDERS = (ROOT / "seeds", ROOT / "eval" / "foreign" / "articles")


def corpus(into: Path) -> Path:
    """The seed and foreign articles in one folder (copies: links out of a corpus are not followed)."""
    into.mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        for f in sorted(folder.glob("*.txt")):
            shutil.copyfile(f, into / f.name)
    return into


def marker_for(record: dict, hits) -> str:
    """`` [n]`` for the retrieved passage that holds the claim's evidence ("" when none does)."""
    head = record["evidence"].split(". ")[0]
    for n, hit in enumerate(hits, 1):
        if hit.chunk.source.endswith(record["source"]) and head in " ".join(hit.chunk.text.split()):
            return f" [{n}]"
    return ""


def judge(assistant, model: ScriptedModel, record: dict) -> dict:
    """One claim through ``rag``: kept, removed, or neither (left out), with its support."""
    question = record.get("question") or record["claim"]
    hits = assistant.search(question)
    cited = "" if record["kind"] == "verdict" else marker_for(record, hits)
    claim = record["claim"]
    model.reply = claim[:-1] + cited + claim[-1] if cited and claim[-1] in ".!?" else claim + cited
    answer = assistant.ask(question)
    kept = [s for s in answer.sentences if s.supported and not answer.notice and claim in s.text]
    removed = [s for s in answer.removed if claim in s.text]
    said = kept or removed
    return {"id": record["id"], "label": record["label"], "kind": record["kind"], "kept": bool(kept),
            "removed": bool(removed), "support": round(said[0].support, 4) if said and said[0].support is not None
            else None, "verify_ms": answer.timings_ms.get("verify")}


def figures(results: list[dict]) -> dict:
    faithful = [r for r in results if r["label"] == "faithful"]
    flipped = [r for r in results if r["label"] == "flipped"]
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_kind[f"{r['label']}/{r['kind']}"].append(r)
    return {"claims": len(results),
            "faithful_kept": round(sum(r["kept"] for r in faithful) / max(1, len(faithful)), 4),
            "flipped_removed": round(sum(r["removed"] for r in flipped) / max(1, len(flipped)), 4),
            "by_kind": {k: {"n": len(v), "kept": sum(r["kept"] for r in v), "removed": sum(r["removed"] for r in v)}
                        for k, v in sorted(by_kind.items())}}


def main() -> None:
    from rag.assistant import Assistant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=Path, default=CLAIMS)
    parser.add_argument("--split", default="test", help="dev, test or all")
    parser.add_argument("--out", type=Path, help="write every claim's result here (JSON)")
    parser.add_argument("--fail-under", action="append", default=[], metavar="FIGURE=VALUE")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.claims.open(encoding="utf-8")]
    records = [r for r in records if args.split == "all" or r["split"] == args.split]
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel(reply="") as model:
        assistant = Assistant(corpus=corpus(Path(tmp) / "corpus"), index_dir=Path(tmp) / "index",
                              answerer="llm", llm_url=model.url)
        assistant.index()
        assistant.warm_up()
        t0 = time.perf_counter()
        results = [judge(assistant, model, r) for r in records]
    report = {"split": args.split, **figures(results), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"report": report, "results": results}, indent=1) + "\n", encoding="utf-8")
    failed = [f for f in args.fail_under
              if report[f.split("=")[0]] < float(f.split("=")[1])]
    if failed:
        print(f"flip check below its gate: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
