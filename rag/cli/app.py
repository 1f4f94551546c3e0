"""The ``rag`` command: a thin Typer shell over :class:`rag.Assistant`.

Answers go to stdout; logs, warnings and progress to stderr. Every error a user can
cause ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from rag.cli.console import command, err, error, out, setup_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Grounded answers with line-level citations over a folder of articles.")

CorpusOpt = typer.Option(None, "--corpus", help="Folder of articles [RAG_CORPUS; default: seeds/]")
IndexOpt = typer.Option(None, "--index", help="Index folder [RAG_INDEX_DIR; default: index/]")
ModelOpt = typer.Option(None, "--model", help="sentence-transformers model name or path [RAG_MODEL]")
TopKOpt = typer.Option(None, "--top-k", "-k", help="Passages to retrieve [RAG_TOP_K; default 5]")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object (see CONTRACT.md)")
LlmOpt = typer.Option(False, "--llm", help="Have the language model at RAG_LLM_URL write the answer; every sentence "
                      "is checked against what it cites")
UnverifiedOpt = typer.Option(None, "--unverified", help="With --llm: remove (default) or show a sentence no passage "
                             "supports [RAG_UNVERIFIED]")


def _assistant(corpus: Optional[Path] = None, index: Optional[Path] = None, model: Optional[str] = None,
               **more: object):
    from rag.assistant import Assistant
    from rag.settings import Settings

    return Assistant(Settings.load(corpus=corpus, index_dir=index, model=model, **more))


@app.callback()
def main_options(verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output on stderr"),
                 store: Optional[str] = typer.Option(None, "--store", help="Where the index lives: local, or a "
                                                     "postgresql:// URL [RAG_STORE]")) -> None:
    setup_logging(verbose)
    if store:  # for every command, and for the worker processes `rag serve` starts
        os.environ["RAG_STORE"] = store


@app.command()
@command
def index(rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed every file"),
          corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
          model: Optional[str] = ModelOpt,
          chunk_tokens: Optional[int] = typer.Option(None, "--chunk-tokens", help="Chunk size in model tokens"),
          boilerplate: Optional[Path] = typer.Option(None, "--boilerplate",
                                                     help="File of extra boilerplate rules")) -> None:
    """Index the articles: only new or changed files are embedded again."""
    assistant = _assistant(corpus, index, model, chunk_tokens=chunk_tokens, boilerplate_file=boilerplate)
    show = err.is_terminal or bool(os.environ.get("RAG_PROGRESS"))

    def reading(n: int, total: int, source: str) -> None:
        from rag.rendering import oneline

        err.print(f"reading {n}/{total}: {oneline(source)}", markup=False, highlight=False)

    report = assistant.index(rebuild=rebuild, progress=show, on_file=reading if show else None)
    from rag.cli.render import print_index_report

    print_index_report(err, report, assistant.skipped, _target(assistant, report.generation))


@app.command()
@command
def ask(question: str = typer.Argument(..., help="The question, in plain English"),
        top_k: Optional[int] = TopKOpt, as_json: bool = JsonOpt,
        corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
        model: Optional[str] = ModelOpt, llm: bool = LlmOpt, unverified: Optional[str] = UnverifiedOpt) -> None:
    """Answer a question from the articles, citing file and lines, or say they don't say."""
    assistant = _assistant(corpus, index, model, **_llm(llm, unverified))
    if _streams(assistant, as_json):
        from rag.cli.stream_view import print_stream

        print_stream(out, assistant.renderer, assistant.stream(question, top_k=top_k))
        return
    answer = assistant.ask(question, top_k=top_k)
    _notice(answer)
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(assistant, answer)


@app.command()
@command
def search(query: str = typer.Argument(..., help="What to look for"), top_k: Optional[int] = TopKOpt,
           as_json: bool = JsonOpt, corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
           model: Optional[str] = ModelOpt) -> None:
    """Show the passages retrieval finds, with their scores."""
    hits = _assistant(corpus, index, model).search(query, top_k=top_k)
    if as_json:
        print(json.dumps({"query": query, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        return
    from rag.cli.render import print_hits

    print_hits(out, hits)


@app.command()
@command
def chat(top_k: Optional[int] = TopKOpt, corpus: Optional[Path] = CorpusOpt,
         index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt, llm: bool = LlmOpt,
         unverified: Optional[str] = UnverifiedOpt) -> None:
    """Ask questions in a loop; a follow-up may lean on the previous question."""
    from rag.errors import RagError

    assistant = _assistant(corpus, index, model, **_llm(llm, unverified))
    assistant.state()
    history: list[str] = []
    err.print("Ask about the articles. An empty line or Ctrl-D ends the chat.")
    while True:
        try:
            question = out.input("[bold]you>[/] ", markup=True) if sys.stdin.isatty() else input()
        except EOFError:
            break
        if not question.strip() or question.strip().lower() in {"exit", "quit", ":q"}:
            break
        try:
            if _streams(assistant, False):
                from rag.cli.stream_view import print_stream

                print_stream(out, assistant.renderer, assistant.stream(question, top_k=top_k, history=history))
                history.append(question)
                out.print()
                continue
            answer = assistant.ask(question, top_k=top_k, history=history)
        except RagError as e:
            error(e)
            continue
        history.append(question)
        _notice(answer)
        _print_answer(assistant, answer)
        out.print()


@app.command()
@command
def info(as_json: bool = JsonOpt, corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
         model: Optional[str] = ModelOpt) -> None:
    """What is indexed: files, model, sizes, and whether it is up to date."""
    data = _assistant(corpus, index, model).info()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    from rag.cli.render import print_info

    print_info(out, data)


@app.command("eval")
@command
def eval_(questions: Optional[Path] = typer.Option(None, "--questions", "-q",
                                                   help="Question set, JSON Lines [default: eval/questions.jsonl]"),
          top_k: Optional[int] = TopKOpt, as_json: bool = JsonOpt,
          out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the JSON report to this file"),
          baseline: Optional[Path] = typer.Option(None, "--baseline", help="Earlier report to compare with"),
          fail_under: Optional[list[str]] = typer.Option(
              None, "--fail-under", help="METRIC=VALUE: exit non-zero when METRIC is below VALUE (repeatable)"),
          corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
          model: Optional[str] = ModelOpt, llm: bool = LlmOpt, unverified: Optional[str] = UnverifiedOpt) -> None:
    """Run a question set through the same path as `ask` and score retrieval, answers and abstention."""
    from rag import evaluation as ev
    from rag.cli import eval_view as view

    thresholds = ev.parse_fail_under(fail_under or [])
    path = questions or ev.DEFAULT_QUESTIONS
    if questions is None and not path.is_file():  # the shipped set is only in a source checkout
        raise ev.EvalError(f"no question set given and the default {path} does not exist: pass --questions FILE")
    question_set = ev.load_questions(path)
    old = ev.load_report(baseline) if baseline else None
    assistant = _assistant(corpus, index, model, **_llm(llm, unverified))
    _need_endpoint(assistant.settings)
    show = err.is_terminal or bool(os.environ.get("RAG_PROGRESS"))
    with view.progress_bar(err, enabled=show) as progress:
        report = ev.run(assistant, question_set, top_k=top_k, progress=progress, questions_file=path)
    data = report.to_dict()
    if out_file:
        ev.save_report(data, out_file)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        view.render_summary(out, report)
        out.print()
        view.render_failures(out, report)
    if old is not None:
        view.render_comparison(err if as_json else out, ev.compare(data, old))
    failures = ev.check(data["summary"], thresholds)
    if failures:
        raise ev.EvalError("below the threshold: " + "; ".join(view.describe_failure(f) for f in failures))


@app.command()
@command
def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)"),
          port: int = typer.Option(8000, "--port", help="Port to listen on"),
          workers: int = typer.Option(1, "--workers", help="Server processes, each loading the model"),
          corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
          model: Optional[str] = ModelOpt, llm: bool = LlmOpt, unverified: Optional[str] = UnverifiedOpt) -> None:
    """Serve answers over HTTP: an OpenAI-compatible API, JSON endpoints and a chat page [RAG_API_KEY]."""
    from rag.errors import RagError
    from rag.settings import Settings

    try:
        from rag.server import run
    except ImportError as e:
        raise RagError(f"rag serve needs its extra packages ({e.name} is missing): pip install -e '.[serve]'") from None
    settings = Settings.load(corpus=corpus, index_dir=index, model=model, **_llm(llm, unverified))
    _need_endpoint(settings)
    run(settings, host=host, port=port, workers=workers)


@app.command("mcp")
@command
def mcp_(corpus: Optional[Path] = CorpusOpt, index: Optional[Path] = IndexOpt,
         model: Optional[str] = ModelOpt) -> None:
    """Serve the articles to MCP clients (desktop assistants, IDEs) over stdio: tools search and ask, files as
    resources."""
    from rag.errors import RagError
    from rag.settings import Settings

    try:
        from rag.mcp_stdio import run_stdio
    except ImportError as e:
        raise RagError(f"rag mcp needs the mcp package ({e.name} is missing): pip install -e '.[mcp]'") from None
    run_stdio(Settings.load(corpus=corpus, index_dir=index, model=model))


def _target(assistant, generation: str) -> str:
    """Where an index was written: the local generation folder, or the store (never its password)."""
    where = getattr(assistant.backend, "where", None)
    return f"{where} ({generation})" if where else str(assistant.settings.index_dir / generation)


def _llm(llm: bool, unverified: Optional[str]) -> dict:
    """Settings overrides for ``--llm`` and ``--unverified``."""
    return {"answerer": "llm" if llm else None, "unverified": unverified}


def _need_endpoint(settings) -> None:
    from rag.cli.stream_view import need_endpoint

    need_endpoint(settings)


def _streams(assistant, as_json: bool) -> bool:
    """Whether to show a written answer as it streams: a person is watching, and a model writes it."""
    _need_endpoint(assistant.settings)
    return not as_json and out.is_terminal and assistant.settings.answerer == "llm"


def _notice(answer) -> None:
    if answer.notice:  # why a model's answer was replaced by the offline one
        from rag.cli.render import safe

        err.print(safe(answer.notice), style="yellow", markup=False, highlight=False)


def _print_answer(assistant, answer) -> None:
    from rag.cli.render import print_answer

    print_answer(out, assistant.renderer, answer)


if __name__ == "__main__":
    app()


from rag.cli.pg import pg_app  # noqa: E402 (a group of its own: rag pg start|url|status|stop)

app.add_typer(pg_app, name="pg")
