"""Files -> documents: one loader per format, found by the file's suffix.

A new format is one module with a :class:`~rag.loaders.base.Loader` and one line in
``LOADERS`` below; indexing, the default ``extensions`` setting and the evaluation's quote
check all read files through :func:`load_file`.
"""

from __future__ import annotations

from rag.loaders.base import (
    BUILTIN_BOILERPLATE,
    CorpusError,
    Loader,
    SourceFile,
    decode,
    is_boilerplate,
    list_sources,
    load_rules,
    split_lines,
)
from rag.loaders.beir import BeirLoader
from rag.loaders.docx import DocxLoader
from rag.loaders.html import HtmlLoader
from rag.loaders.pdf import PdfLoader
from rag.loaders.text import TextLoader
from rag.types import Document

__all__ = ["BUILTIN_BOILERPLATE", "CorpusError", "Loader", "SourceFile", "decode", "is_boilerplate",
           "list_sources", "load_rules", "split_lines", "LOADERS", "loader_for", "load_file", "load_documents",
           "corpus_files", "printable",
           "suffixes"]

#: Every loader, by the suffixes it reads.
LOADERS: dict[str, Loader] = {suffix: loader for loader in (TextLoader(), HtmlLoader(), BeirLoader(), PdfLoader(),
                                                            DocxLoader())
                              for suffix in loader.suffixes}


def suffixes() -> tuple[str, ...]:
    """The suffixes some loader reads: the default ``extensions`` setting."""
    return tuple(LOADERS)


def loader_for(path) -> Loader | None:
    return LOADERS.get(path.suffix.lower())


def load_file(f: SourceFile, rules) -> list[Document]:
    """The documents of one file; a file no loader reads is read as plain text."""
    return (loader_for(f.path) or LOADERS[".txt"]).load(f, rules)


def load_documents(files: list[SourceFile], rules) -> list[Document]:
    """The documents of every file, in order."""
    return [doc for f in files for doc in load_file(f, rules)]


def corpus_files(settings) -> list[SourceFile]:
    """The corpus's article files as the settings say (suffixes, size cap, links): every
    caller must see the same list, or an index would look stale for ever."""
    return list_sources(settings.corpus, settings.extensions, settings.max_file_bytes, settings.follow_links)
