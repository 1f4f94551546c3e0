"""The real ``rag`` command in a subprocess: bad input, JSON contract, rebuilds, interrupts, chat.

Each command that loads the model costs ~10-20 s, so those are few; bad input that is
refused before the model loads is checked in quick subprocesses of its own. Every
subprocess points RAG_CORPUS / RAG_INDEX_DIR at tmp folders (never at index/).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import (
    PROJECT_ROOT,
    RAG_BIN,
    SEEDS,
    assert_one_line_error,
    collapse,
    current_generation,
    file_lines,
    rag_env,
)

from rag.store import generations


def snapshot(index_dir):
    """Every file of an index folder with its bytes, to show a command left it alone."""
    return {p.relative_to(index_dir).as_posix(): p.read_bytes()
            for p in sorted(index_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def no_traceback(proc):
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr


# -- bad input refused before any model loads --------------------------------------------------

BAD_ASK = {
    "empty question": (["ask", ""], "question is empty"),
    "blank question": (["ask", "  \t  "], "question is empty"),
    "30 kB question": (["ask", "What is an ICS? " * 1920], "too long"),
    "control characters": (["ask", "Who floated \x07GP\x1b[2J nationalisation?"], "control characters"),
    "zero top-k": (["ask", "What is an ICS?", "--top-k", "0"], "top-k must be at least 1"),
    "negative top-k": (["ask", "What is an ICS?", "--top-k=-3"], "top-k must be at least 1"),
    "search with zero top-k": (["search", "ICS", "--top-k", "0"], "top-k must be at least 1"),
    "json with empty question": (["ask", "", "--json"], "question is empty"),
}


@pytest.mark.parametrize("case", list(BAD_ASK))
def test_bad_question_gets_one_line_and_keeps_the_index(run_rag, seed_index_copy, case):
    args, message = BAD_ASK[case]
    before = snapshot(seed_index_copy)
    t0 = time.perf_counter()
    proc = run_rag(*args, corpus=SEEDS, index=seed_index_copy)
    assert_one_line_error(proc, message)
    assert proc.stdout == ""
    assert snapshot(seed_index_copy) == before
    assert time.perf_counter() - t0 < 60  # refused without loading the model (loose: busy machine)


def test_empty_corpus_folder_is_refused_and_keeps_the_index(run_rag, seed_index_copy, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(seed_index_copy)
    assert_one_line_error(run_rag("ask", "What is an ICS?", corpus=empty, index=seed_index_copy), "no articles")
    assert_one_line_error(run_rag("index", corpus=empty, index=seed_index_copy), "no articles")
    assert snapshot(seed_index_copy) == before


def test_warnings_are_one_line_each(run_rag, seed_index_copy, tmp_path):
    (seed_index_copy / "CURRENT").write_text("not a generation\n", encoding="utf-8")
    empty = tmp_path / "an-empty-corpus-folder-with-a-rather-long-name"
    empty.mkdir()
    proc = run_rag("ask", "What is an ICS?", corpus=empty, index=seed_index_copy)
    assert_one_line_error(proc, "no articles")
    warning = next(l for l in proc.stderr.splitlines() if "building the index" in l)
    assert "does not name a generation" in warning and warning == warning.rstrip(), proc.stderr


def test_missing_corpus_folder(run_rag, tmp_path):
    proc = run_rag("index", corpus=tmp_path / "nowhere", index=tmp_path / "idx")
    assert_one_line_error(proc, "corpus folder not found")
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_unwritable_index_folder_is_one_line(run_rag, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    for where in (blocker, blocker / "index"):
        assert_one_line_error(run_rag("index", corpus=SEEDS, index=where), "cannot write the index")


@pytest.mark.parametrize("env, message", [
    ({"RAG_TOP_K": "0"}, "top-k must be at least 1"),
    ({"RAG_CHUNK_TOKENS": "lots"}, "chunk_tokens.*bad value"),
    ({"RAG_ABSTAIN_THRESHOLD": "high"}, "abstain_threshold.*bad value"),
])
def test_bad_settings_are_one_line(run_rag, seed_index_copy, env, message):
    proc = run_rag("ask", "What is an ICS?", corpus=SEEDS, index=seed_index_copy, env=env)
    assert_one_line_error(proc, message)


def test_info_describes_the_index(run_rag, seed_index_copy):
    proc = run_rag("info", "--json", corpus=SEEDS, index=seed_index_copy)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["model"] == "all-MiniLM-L6-v2" and info["dim"] == 384
    assert sorted(info["files"]) == sorted(f"seeds/{p.name}" for p in SEEDS.glob("*.txt"))
    assert info["stale"] is None and info["counts"]["chunks"] > 0
    generation = seed_index_copy / current_generation(seed_index_copy)  # its BM25 folders count too
    assert info["bytes"] == sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())
    text = run_rag("info", corpus=SEEDS, index=seed_index_copy)
    assert text.returncode == 0 and "up to date" in text.stdout


def test_info_without_an_index_is_one_line(run_rag, tmp_path):
    assert_one_line_error(run_rag("info", corpus=SEEDS, index=tmp_path / "none"), "no index")


def test_no_arguments_shows_help(run_rag):
    proc = run_rag()
    no_traceback(proc)
    assert "ask" in proc.stdout + proc.stderr and "index" in proc.stdout + proc.stderr


# -- commands that load the model -------------------------------------------------------------

@pytest.fixture(scope="module")
def ask_json(run_rag, seed_index_dir, tmp_path_factory):
    """One ``rag ask --json`` on an up-to-date copy of the seed index, shared by the checks below."""
    import shutil

    index = tmp_path_factory.mktemp("cli-ask") / "index"
    shutil.copytree(seed_index_dir, index, ignore=shutil.ignore_patterns(".lock"))
    before = current_generation(index)
    proc = run_rag("ask", "What has replaced clinical commissioning groups?", "--json", "--top-k", "4",
                   corpus=SEEDS, index=index)
    return proc, index, before


def test_ask_json_follows_the_contract(ask_json):
    proc, index, before = ask_json
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert proc.stdout.strip().count("\n") == 0
    assert data["question"] == "What has replaced clinical commissioning groups?"
    assert isinstance(data["answer"], str) and data["abstained"] is False
    assert set(data["timings_ms"]) >= {"retrieve", "answer", "total"}
    assert all(isinstance(v, (int, float)) for v in data["timings_ms"].values())
    assert data["citations"]
    for i, c in enumerate(data["citations"], 1):
        assert c["id"] == i
        assert isinstance(c["source"], str) and isinstance(c["quote"], str)
        assert isinstance(c["start_line"], int) and isinstance(c["end_line"], int)
        assert isinstance(c["score"], (int, float))
        assert c["source"].startswith("seeds/") and (PROJECT_ROOT / c["source"]).is_file()
        assert collapse(c["quote"]) in file_lines(PROJECT_ROOT / c["source"], c["start_line"], c["end_line"])
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", data["answer"])}
    assert markers and markers <= {c["id"] for c in data["citations"]}
    assert re.search(r"integrated care system|ICS", data["answer"], re.IGNORECASE)
    assert current_generation(index) == before  # an up-to-date index is not rebuilt


def test_ask_on_an_up_to_date_index_says_nothing_on_stderr(ask_json):
    proc, _, _ = ask_json
    assert "building the index" not in proc.stderr
    assert not [l for l in proc.stderr.splitlines() if "DEBUG" in l], proc.stderr


def test_ask_json_when_the_documents_do_not_say(run_rag, seed_index_copy):
    proc = run_rag("ask", "What is the capital of France?", "--json", corpus=SEEDS, index=seed_index_copy)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["abstained"] is True and data["answer"].startswith("The documents don't say")
    assert {int(m) for m in re.findall(r"\[(\d+)\]", data["answer"])} <= {c["id"] for c in data["citations"]}
    for c in data["citations"]:  # the nearest passages, still verbatim
        assert collapse(c["quote"]) in file_lines(PROJECT_ROOT / c["source"], c["start_line"], c["end_line"])


def test_ask_rebuilds_a_stale_index_saying_so_and_skips_bad_files(run_rag, seed_workspace):
    corpus, index = seed_workspace.corpus, seed_workspace.index_dir
    changed = corpus / "004_24a63785afbf6050.txt"
    changed.write_text(changed.read_text(encoding="utf-8") +
                       "\nThe Cheshire pilot cut waiting lists by a third in 2023.\n", encoding="utf-8")
    (corpus / "zz_picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4)
    (corpus / "zz_empty.md").write_bytes(b"")
    (corpus / "zz_windows.txt").write_bytes(
        "Dispensing doctors in Cheshire\u2019s villages \u2013 about 40 of them \u2013 met the LMC.".encode("cp1252"))
    before = current_generation(index)
    proc = run_rag("ask", "By how much did the Cheshire pilot cut waiting lists?", "--json",
                   corpus=corpus, index=index)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    stderr = collapse(proc.stderr)
    assert "building the index" in stderr and "articles were added, changed or removed" in stderr
    for name in ("zz_picture.txt", "zz_empty.md", "zz_windows.txt"):
        assert name in stderr, (name, proc.stderr)
    data = json.loads(proc.stdout)
    assert not data["abstained"] and "a third" in data["answer"]
    assert data["citations"][0]["source"] == "seeds/004_24a63785afbf6050.txt"
    assert current_generation(index) != before
    report = generations.load(index)
    assert any("Cheshire\u2019s villages" in s.text for s in report.sentences)  # cp1252 decoded


def test_ask_rebuilds_a_damaged_index_with_a_clear_message(run_rag, small_workspace):
    index = small_workspace.index_dir
    gen = index / current_generation(index)
    data = (gen / "chunks.faiss").read_bytes()
    (gen / "chunks.faiss").write_bytes(data[:len(data) // 2])  # a half-written file
    proc = run_rag("ask", "Who floated GP nationalisation?", corpus=small_workspace.corpus, index=index)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    stderr = collapse(proc.stderr)
    assert "damaged" in stderr and "chunks.faiss" in stderr and "building the index" in stderr
    assert "Sajid Javid" in proc.stdout and "[1]" in proc.stdout
    assert generations.load(index).path.name != gen.name


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_rebuild_keeps_the_previous_index(small_workspace, make_assistant, sig):
    """Ctrl-C (or a kill) while ``rag index --rebuild`` is embedding leaves the old index current."""
    index = small_workspace.index_dir
    before, generation = snapshot(index), current_generation(index)
    # The torch encoder, one text a batch: the two files take seconds to embed, so the signal
    # lands mid-way (the int8 encoder takes well under a second).
    env = rag_env(small_workspace.corpus, index, RAG_PROGRESS="1", RAG_BATCH_SIZE="1", RAG_ENCODER="torch")
    # Ctrl-C as from a terminal: a child inherits an ignored SIGINT, and the tests themselves
    # may run with SIGINT ignored (a non-interactive shell's background job ignores it: POSIX).
    proc = subprocess.Popen([RAG_BIN, "index", "--rebuild"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=PROJECT_ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Wait for the encoder's progress bar: the model is loaded and encoding. Read bytes, not
    # lines: the bar redraws with "\r" and ends its line only when encoding is done.
    seen, deadline = b"", time.monotonic() + 240
    while b"Batches" not in seen and time.monotonic() < deadline:
        chunk = os.read(proc.stderr.fileno(), 1024)
        if not chunk:
            break
        seen += chunk
    assert b"Batches" in seen, seen.decode(errors="replace")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    stderr = seen.decode(errors="replace") + err
    assert "Traceback" not in stderr, stderr
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err, (proc.returncode, stderr)
    else:
        assert proc.returncode == -signal.SIGKILL
    # The previous generation is still current, intact, and answers.
    assert {k: v for k, v in snapshot(index).items() if not k.startswith(".tmp-")} == before
    answer = make_assistant(small_workspace).ask("Who floated GP nationalisation?")
    assert "Sajid Javid" in answer.answer
    assert current_generation(index) == generation  # no rebuild was needed


def test_chat_answers_follow_ups_and_survives_bad_input(run_rag, seed_index_copy):
    script = "Who floated GP nationalisation?\nWhen did he float it?\n\x07\nexit\n"
    proc = run_rag("chat", corpus=SEEDS, index=seed_index_copy, input=script)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Sajid Javid floated the idea of GP nationalisation in early 2022") == 2
    assert "seeds/000_5f02ec8ebbba9bda.txt, line 17" in proc.stdout
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "control characters" in errors[0]


def test_search_json_lists_passages_with_scores(run_rag, seed_index_copy):
    proc = run_rag("search", "GP nationalisation", "--json", "-k", "3", corpus=SEEDS, index=seed_index_copy)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3]
    # Passages come in the order answers use: best sentence evidence first (fused score kept).
    evidence = [h["evidence"] for h in data["hits"]]
    assert all(e is not None for e in evidence) and evidence == sorted(evidence, reverse=True)
    assert all(isinstance(h["score"], float) for h in data["hits"])
    assert all(isinstance(h[k], float) for h in data["hits"] for k in ("dense", "bm25", "chars"))
    assert "Sajid Javid floated" in data["hits"][0]["text"]


def test_search_is_readable_in_80_columns(run_rag, seed_index_copy):
    """Each passage under a heading line, wrapped to the terminal: no column a few characters wide."""
    proc = run_rag("search", "GP nationalisation", "-k", "3", corpus=SEEDS, index=seed_index_copy,
                   env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert [line.split(",")[0] for line in lines if line.startswith("#")][:1] == ["#1 seeds/000_5f02ec8ebbba9bda.txt"]
    passage = [line for line in lines if line.startswith("   ") and "evidence" not in line]
    assert passage and sum(len(line.split()) >= 5 for line in passage) >= 0.7 * len(passage)


def test_search_text_shows_page_and_heading_as_the_json_does():
    """A PDF passage says its page, a Word one the heading it sits under (issue 25, 11)."""
    from rich.console import Console

    from rag.cli.render import print_hits
    from rag.types import Chunk, Hit

    pdf = Chunk("p3", "c/tarn.pdf", 0, 10, 12, 14, "The tarn is shallow.", 5, 0, 1, page=3)
    word = Chunk("2", "c/harbour.docx", 0, 10, 7, 7, "It opens at nine.", 5, 1, 2, section="Opening hours")
    console = Console(record=True, width=100)
    print_hits(console, [Hit(pdf, 0.5, 0.6, 1.0, 1), Hit(word, 0.4, 0.5, 1.0, 2)])
    heads = [line for line in console.export_text().splitlines() if line.startswith("#")]
    assert heads == ["#1 c/tarn.pdf, page 3, lines 12-14", '#2 c/harbour.docx, line 7 under "Opening hours"']


def test_info_names_skipped_files_and_counts_in_the_right_number():
    from rich.console import Console

    from rag.cli.render import print_info

    data = {"index": "i", "generation": "gen-1", "bytes": 1000, "model": "m", "dim": 3, "chunk_tokens": 9,
            "chunk_overlap": 1, "corpus": "c", "counts": {"chunks": 2, "sentences": 2}, "built_at": "now",
            "stale": None, "files": {"c/a.pdf": "h"}, "pages": {"c/a.pdf": 1},
            "by_type": {".pdf": {"files": 1, "pages": 1}}, "skipped": {"c/empty.pdf": "it is empty"}}
    console = Console(record=True, width=100)
    print_info(console, data)
    text = console.export_text()
    assert "c: 1 file indexed" in text and ".pdf 1 file (1 page)" in text and "c/a.pdf (1 page)" in text
    assert "skipped    1 file (nothing indexed from them):\n  c/empty.pdf: it is empty" in text


def test_index_and_info_name_the_skipped_files_every_time(run_rag, tmp_path):
    """Not only on the first `rag index`, when the file is read (issue 25, 10)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferries.txt").write_text("Ferries cross the Hamoaze every fifteen minutes.\n", encoding="utf-8")
    (corpus / "scan.pdf").write_bytes(b"")
    index = tmp_path / "index"
    for _ in range(2):
        proc = run_rag("index", corpus=corpus, index=index)
        assert proc.returncode == 0, proc.stderr
        assert "indexed 1 file: " in proc.stderr
        assert "skipped    1 file (nothing indexed from them):\n  corpus/scan.pdf: it is empty" in proc.stderr
    info = run_rag("info", corpus=corpus, index=index)
    assert "corpus/ferries.txt" in info.stdout and ": 1 file indexed" in info.stdout
    assert "  corpus/scan.pdf: it is empty" in info.stdout
    data = json.loads(run_rag("info", "--json", corpus=corpus, index=index).stdout)
    assert list(data["files"]) == ["corpus/ferries.txt"] and data["skipped"] == {"corpus/scan.pdf": "it is empty"}


def test_terminal_escapes_and_line_breaks_from_articles_are_shown_not_obeyed(run_rag, tmp_path):
    """An article's ESC sequences reach the terminal as visible escapes; a newline in a file
    name cannot fake a line of the Sources list."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil\n[9] fake.txt").write_text(
        "The red bridge \x1b[31mwas painted\x1b[0m in 1990 by the council workers.\n"
        "\x1b]0;pwned\x07The bridge crosses the river Tamar at Saltash.\n", encoding="utf-8")
    (corpus / "plain.txt").write_text("Ferries cross the Hamoaze every fifteen minutes.\n", encoding="utf-8")
    index = tmp_path / "index"
    ask = run_rag("ask", "When was the red bridge painted?", corpus=corpus, index=index)
    search = run_rag("search", "red bridge", "-k", "1", corpus=corpus, index=index)
    for proc in (ask, search):
        assert proc.returncode == 0, proc.stderr
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
        assert "\\x1b[31m" in proc.stdout
        assert not any(line.startswith("[9] fake") for line in proc.stdout.splitlines())
    assert "[1] corpus/evil\\n[9] fake.txt, line 1" in ask.stdout
    data = json.loads(run_rag("ask", "When was the red bridge painted?", "--json", corpus=corpus, index=index).stdout)
    assert data["citations"][0]["source"] == "corpus/evil\n[9] fake.txt"  # JSON keeps the real name


def test_log_lines_need_no_import_once_logging_is_set_up(monkeypatch):
    """A server out of file descriptors could not import the formatter's helper, and every
    record then logged a traceback instead (issue 27)."""
    import builtins
    import logging

    from rag.cli.console import _SafeFormatter

    formatter = _SafeFormatter("%(levelname)s: %(message)s")

    def no_imports(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(builtins, "__import__", no_imports)
    record = logging.LogRecord("rag", logging.WARNING, __file__, 1, "file \x1b[31mred", None, None)
    line = formatter.format(record)
    monkeypatch.undo()
    assert line.startswith("WARNING: file ") and "\x1b" not in line
