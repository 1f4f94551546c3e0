"""Reading and splitting one large text file: time against size, to show it grows linearly.

    python benchmarks/big_file.py [--mb 1 2 4 8] [--tree DIR]

Generates a hard-wrapped text of the given sizes (paragraphs of a few sentences), then
times what ``rag index`` does before embedding: load the file, split it into sentences
with their lines, pack the chunks, with the real tokenizer. ``--tree`` runs the same with
another source tree first on the path (e.g. the code before a change), for a ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAGRAPH = ("The committee met on a Tuesday to discuss the budget for the coming year. Members asked "
             "how the new clinics would be staffed, and the chair promised figures by the spring. "
             "Nobody mentioned the car park.\n\n")

CHILD = r"""
import sys, time, json
from pathlib import Path
path, = sys.argv[1:]
from rag.embeddings import Embedder
from rag.chunking import chunk_sentences, split_sentences
import rag
if (Path(rag.__file__).parent / "loaders").is_dir():
    from rag.loaders import SourceFile, load_file, load_rules
else:  # the code before rag/loaders existed (an editable install would lend it the new package)
    from rag.documents import SourceFile, load_file, load_rules
e = Embedder()
e.count_tokens(["warm up the tokenizer"])
t0 = time.perf_counter()
docs = load_file(SourceFile(path=Path(path), source="big.txt", sha256=""), load_rules())
sentences = split_sentences(docs[0], e, 126)
chunks = chunk_sentences(docs[0], sentences, 126, 32)
print(json.dumps({"seconds": time.perf_counter() - t0, "sentences": len(sentences), "chunks": len(chunks)}))
"""


def measure(path: Path, tree: Path | None) -> dict:
    env_path = [str(tree)] if tree else []
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": ":".join(env_path), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
                          cwd=tree or ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--tree", type=Path, help="another source tree to time the same way")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mb in a.mb:
            path = Path(tmp) / f"big-{mb}.txt"
            path.write_text(PARAGRAPH * int(mb * 1e6 / len(PARAGRAPH)), encoding="utf-8")
            rows = {"now": measure(path, None)}
            if a.tree:
                rows["tree"] = measure(path, a.tree)
            print(json.dumps({"mb": mb, **rows}), flush=True)


if __name__ == "__main__":
    main()
