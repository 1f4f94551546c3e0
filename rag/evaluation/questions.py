"""Question sets: JSON Lines files of questions with their sources and facts (CONTRACT.md).

Every line is checked on its own, and any problem is reported as ``file:line: what``, so a
typo in a hand-written set is found before a model or index is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rag.evaluation.errors import EvalError
from rag.settings import PROJECT_ROOT

#: The shipped question set. It exists only in a source checkout; elsewhere ``rag eval``
#: needs ``--questions``.
DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
#: Fields of a question line (../shared/CONTRACT.md) and the JSON type each must have.
FIELDS: dict[str, type] = {"id": str, "question": str, "sources": list, "facts": list, "answerable": bool}
#: Optional fields a question may carry: its kind (fact, paraphrase, list, ...) groups
#: results in the report; notes are for people.
OPTIONAL_FIELDS: dict[str, type] = {"kind": str, "notes": str}


@dataclass(frozen=True)
class Question:
    """One checked question line: what to ask, where the answer is, and what it must say."""

    id: str
    question: str
    sources: tuple[str, ...]
    #: Each fact is a tuple of accepted spellings; one of them must appear in the answer.
    facts: tuple[tuple[str, ...], ...]
    answerable: bool
    kind: str = ""
    #: ``file:line`` the question came from, for messages.
    where: str = ""

    @property
    def source_names(self) -> frozenset[str]:
        """The sources' base names: what retrieved passages and citations are matched against."""
        return frozenset(base_name(s) for s in self.sources)

    def to_dict(self) -> dict:
        """The question's line as the report repeats it (``notes`` and ``where`` left out)."""
        data = {"id": self.id, "question": self.question, "sources": list(self.sources),
                "facts": [list(f) for f in self.facts], "answerable": self.answerable}
        if self.kind:
            data["kind"] = self.kind
        return data


def base_name(source: str) -> str:
    """A source's file name: sources may be given as paths (``seeds/a.txt``), with either slash."""
    return PurePosixPath(source.replace("\\", "/")).name


def load_questions(path: Path | str) -> list[Question]:
    """The question set in ``path`` (JSON Lines), checked line by line; blank lines are skipped."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EvalError(f"question file not found: {path}") from None
    except IsADirectoryError:
        raise EvalError(f"question file {path} is a folder, not a file") from None
    except OSError as e:
        raise EvalError(f"cannot read question file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise EvalError(f"{path}:{line}: not UTF-8 text") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        q = parse_question(line, f"{path}:{n}")
        if q.id in first_line:
            raise EvalError(f"{path}:{n}: duplicate id {q.id!r} (first on line {first_line[q.id]})")
        first_line[q.id] = n
        questions.append(q)
    if not questions:
        raise EvalError(f"{path}: the question set is empty")
    return questions


def parse_question(line: str, where: str) -> Question:
    """One line of a question set; ``where`` (``file:line``) starts every error message."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise EvalError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
    _check_fields(data, where)
    qid, question = data["id"].strip(), data["question"]
    if not qid:
        raise EvalError(f"{where}: field 'id' is empty")
    if not question.strip():
        raise EvalError(f"{where}: field 'question' is empty")
    sources, facts = data["sources"], data["facts"]
    _check_sources_and_facts(sources, facts, data["answerable"], where)
    return Question(id=qid, question=question, sources=tuple(s.strip() for s in sources),
                    facts=tuple(tuple(s.strip() for s in fact) for fact in facts),
                    answerable=data["answerable"], kind=data.get("kind", "").strip(), where=where)


def _check_fields(data: object, where: str) -> None:
    """A JSON object with every required field, no unknown one, and each of its type."""
    if not isinstance(data, dict):
        raise EvalError(f"{where}: expected a JSON object, got {_json_type(data)}")
    unknown = sorted(set(data) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise EvalError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} (expected {', '.join(FIELDS)})")
    missing = [f for f in FIELDS if f not in data]
    if missing:
        raise EvalError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    for name, kind in {**FIELDS, **OPTIONAL_FIELDS}.items():
        if name in data and not isinstance(data[name], kind):
            raise EvalError(f"{where}: field {name!r} must be {_type_name(kind)}, got {_json_type(data[name])}")


def _check_sources_and_facts(sources: list, facts: list, answerable: bool, where: str) -> None:
    """Non-empty strings; an answerable question has both, an unanswerable one neither."""
    if not all(isinstance(s, str) and s.strip() for s in sources):
        raise EvalError(f"{where}: field 'sources' must be a list of file names")
    for fact in facts:
        if not isinstance(fact, list) or not fact or not all(isinstance(s, str) and s.strip() for s in fact):
            raise EvalError(f"{where}: field 'facts' must be a list of facts, each a non-empty list of spellings")
    if answerable:
        if not sources or not facts:
            raise EvalError(f"{where}: an answerable question needs at least one source and one fact")
    elif sources or facts:
        raise EvalError(f"{where}: an unanswerable question must have empty 'sources' and 'facts'")


def _type_name(kind: type) -> str:
    return {str: "a string", list: "a list", bool: "true or false"}[kind]


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)
