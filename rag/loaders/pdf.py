"""PDF: text per page (placeholder until the PDF loader lands)."""

from __future__ import annotations

import logging
import re

from rag.loaders.base import SourceFile
from rag.types import Document

log = logging.getLogger("rag")


class PdfLoader:
    suffixes = (".pdf",)
    binary = True

    def load(self, f: SourceFile, rules: list[re.Pattern[str]]) -> list[Document]:
        log.warning("skipping %s: PDF is not read yet", f.source)
        return []
