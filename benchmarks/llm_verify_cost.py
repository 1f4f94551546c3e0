"""The cost of checking a written answer, without a model: a scripted local server "writes" each answer.

For every question of a set, over the seed index, the scripted model (tests/llm_server.py)
replies with three sentences and no markers, as small models write: a sentence of the top
retrieved passage (true), an invented one with a figure and a name no article has, and a
generic one. The answer's own ``timings_ms["verify"]`` is what judging them cost (each
unsupported sentence is judged against every retrieved passage, so this is the dear case);
the kept and removed counts check the check on the seeds.

    nice -n 10 .venv/bin/python benchmarks/llm_verify_cost.py [--questions eval/questions.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import ScriptedModel  # noqa: E402

INVENTED = "The programme cost £4.2 billion in 2019, according to Dr Alan Pemberton."
GENERIC = "This is an important change for everyone involved."


def main() -> None:
    import numpy as np

    from rag.assistant import Assistant
    from rag.evaluation import load_questions

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    args = parser.parse_args()
    questions = [q for q in load_questions(args.questions) if q.answerable]
    with ScriptedModel(reply="") as model:
        assistant = Assistant(answerer="llm", llm_url=model.url)
        assistant.warm_up()
        verify, true_kept, invented_removed, generic_removed = [], 0, 0, 0
        t0 = time.perf_counter()
        for q in questions:
            top = assistant.state().store.sentences(assistant.search(q.question)[0].id)
            true = max(top, key=lambda s: len(s.text)).text
            model.reply = f"{true} {INVENTED} {GENERIC}"
            answer = assistant.ask(q.question)
            verify.append(answer.timings_ms["verify"])
            kept = {s.text for s in answer.sentences} if not answer.notice else set()
            removed = {s.text for s in answer.removed}
            true_kept += " ".join(true.split()) in kept
            invented_removed += INVENTED in removed
            generic_removed += GENERIC in removed
    n = len(questions)
    print(json.dumps({"questions": n, "questions_file": str(args.questions.relative_to(ROOT)),
                      "verify_ms_per_answer": {"p50": round(float(np.percentile(verify, 50)), 1),
                                               "p95": round(float(np.percentile(verify, 95)), 1),
                                               "mean": round(float(np.mean(verify)), 1)},
                      "sentences_per_answer": 3, "true_kept": round(true_kept / n, 3),
                      "invented_removed": round(invented_removed / n, 3),
                      "generic_removed": round(generic_removed / n, 3),
                      "seconds": round(time.perf_counter() - t0, 1)}, indent=2))


if __name__ == "__main__":
    main()
