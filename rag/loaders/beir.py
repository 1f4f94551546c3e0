"""BEIR ``corpus.jsonl``: one document a record, ``{"_id", "title", "text"}``.

Title and text both cite the record's line.
"""

from __future__ import annotations

import json
import logging
import re

from rag.loaders.base import SourceFile, read_text, split_lines
from rag.types import Document

log = logging.getLogger("rag")


class BeirLoader:
    suffixes = (".jsonl",)

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        text = read_text(f)
        if text is None:
            return []
        docs = []
        for n, line in enumerate(split_lines(text), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                doc_id, title, body = str(rec["_id"]), str(rec.get("title") or ""), str(rec.get("text") or "")
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: not a BEIR corpus record; skipped", f.source, n)
                continue
            parts = [p for p in (title.strip(), body.strip()) if p]
            if parts:
                docs.append(Document(doc_id=doc_id, source=f.source, text="\n".join(parts),
                                     line_numbers=(n,) * len(parts), title=title.strip()))
        if not docs:
            log.warning("skipping %s: no records with text in it", f.source)
        return docs
