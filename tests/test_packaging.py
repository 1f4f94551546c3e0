"""A non-editable install answers: templates, rules and defaults ship inside the package.

The project is built from a copy of its tracked files into a separate folder (no editable
finder, no checkout beside it), which then answers a question over a folder given with
``--corpus`` from a working directory outside the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import PROJECT_ROOT, SEEDS, SMALL_FILES, rag_env


def test_a_non_editable_install_answers_over_a_corpus_folder(tmp_path):
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        if name.startswith(("rag/", "pyproject.toml", "README.md")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    corpus = tmp_path / "work" / "articles"
    corpus.mkdir(parents=True)
    for name in SMALL_FILES:
        shutil.copy2(SEEDS / name, corpus / name)
    env = rag_env(PYTHONPATH=str(target), RAG_CACHE_DIR=str(tmp_path / "cache"))
    where = subprocess.run([sys.executable, "-c", "import rag.rendering as r; print(r.__file__, r.PROMPTS_DIR)"],
                           cwd=corpus.parent, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)) and str(PROJECT_ROOT) not in where
    proc = subprocess.run([sys.executable, "-m", "rag.cli.app", "ask", "Who chairs the Health and Social Care "
                           "Committee?", "--corpus", "articles"], cwd=corpus.parent, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Jeremy Hunt" in proc.stdout and "articles/004_24a63785afbf6050.txt" in proc.stdout
    indexes = list((tmp_path / "cache" / "indexes").iterdir())
    assert len(indexes) == 1 and indexes[0].name.startswith("articles-")  # not inside site-packages
    assert not (target / "index").exists() and sorted(os.listdir(corpus)) == sorted(SMALL_FILES)
