"""Index -> hits: dense search in FAISS fused with BM25 (bm25s) over words and over character n-grams.

Dense vectors catch paraphrase; BM25 catches rare names and numbers the embedding
blurs; BM25 over character 4-grams catches the word forms a stemmer splits ("published"
and "publication" stem to "publish" and "public", "likely" and "unlikely" differ) and
misspellings. Two fusions are offered: a convex combination of min-max normalised scores
(``minmax``, the default: it keeps how far ahead the top hits are, which ranks throw away;
Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023) and weighted
reciprocal-rank fusion (``rrf``: ranks only). On BEIR SciFact and on the seed questions
minmax wins; dense and word BM25 weigh the same, the n-grams a quarter of that
(benchmarks/RESULTS.md).

``Retriever.search`` returns passages (chunks), for answering. ``Retriever.search_documents``
ranks whole documents, as IR benchmarks do: a document's dense score is its best chunk
(MaxP, Dai & Callan 2019: a long document split into chunks is never truncated), its
BM25 score comes from BM25 over the whole document text rebuilt from the index's
sentence table (so overlapping chunks do not count a term twice).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rag import light_imports
from rag.chunking import Chunk
from rag.errors import RagError
from rag.index_store import Index
from rag.settings import Settings

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("rag")

TOKEN_PATTERN = r"(?u)\b\w+\b"
#: An acronym's plural ("GPs", "ICSs"). Lower-cased for Snowball, "gps" keeps its "s" (no
#: vowel before it) and "icss" its "ss", so a plural would never match its singular.
ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z\d]*[A-Z])s\b")
#: Length of the character n-grams of the third ranking (4 beat 3 and 5 on the development questions).
CHAR_GRAM = 4
FUSIONS = ("rrf", "minmax")
MODES = ("fused", "dense", "bm25", "chars")

Ranking = list[tuple[int, float]]  # (chunk or document number, score), best first


class RetrievalError(RagError):
    """A retrieval setting has a value the retriever cannot work with."""


@dataclass(frozen=True)
class Hit:
    chunk_index: int
    chunk: Chunk
    score: float  # fused score (see ``Retriever.fusion``); higher is better
    dense: float | None  # cosine similarity, when the dense search found it
    bm25: float | None
    rank: int  # 1-based
    #: BM25 over character 4-grams, when that ranking is on and found it.
    chars: float | None = None
    #: Best evidence of the passage's sentences, when the answerer reranked the hits.
    evidence: float | None = None

    def to_dict(self) -> dict:
        """The JSON shape of one passage in ``rag search --json`` and ``GET /api/search``."""
        c = self.chunk
        return {"rank": self.rank, "source": c.source, "start_line": c.start_line, "end_line": c.end_line,
                "score": round(self.score, 6),
                "evidence": None if self.evidence is None else round(self.evidence, 4),
                "dense": None if self.dense is None else round(self.dense, 4),
                "bm25": None if self.bm25 is None else round(self.bm25, 4),
                "chars": None if self.chars is None else round(self.chars, 4), "text": c.text}


@dataclass(frozen=True)
class DocHit:
    doc_id: str
    score: float  # fused score, or the single retriever's score in "dense"/"bm25"/"chars" mode
    dense: float | None  # cosine of the document's best chunk, when dense search found it
    bm25: float | None  # BM25 of the whole document
    chunk_index: int  # the document's best-matching chunk (its first when only BM25 found it)
    rank: int  # 1-based


def singular_acronyms(texts: list[str]) -> list[str]:
    """``texts`` with acronym plurals made singular, before tokenising loses the capitals."""
    return [ACRONYM_PLURAL.sub(r"\1", t) for t in texts]


@lru_cache(maxsize=1)
def stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, Snowball-stemmed terms: BM25's view of a text."""
    bm25s = light_imports.bm25s()  # without numba/scipy: ~0.7 s less for a one-off ask

    return bm25s.tokenize(singular_acronyms(texts), token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=stemmer(),
                          return_ids=False, show_progress=False)


def char_grams(texts: list[str]) -> list[list[str]]:
    """Each word that is not a stop word, lower-cased and padded with a space either side,
    cut into overlapping ``CHAR_GRAM``-character pieces (a short word is one piece)."""
    light_imports.bm25s()  # the package's __init__ first, without its heavy optional imports
    from bm25s.stopwords import STOPWORDS_EN

    pieces: dict[str, tuple[str, ...]] = dict.fromkeys(STOPWORDS_EN, ())  # each word cut once
    out = []
    for text in texts:
        grams: list[str] = []
        for word in re.findall(r"\w+", text.lower()):
            cut = pieces.get(word)
            if cut is None:
                padded = f" {word} "
                cut = pieces[word] = tuple(padded[i:i + CHAR_GRAM]
                                           for i in range(max(1, len(padded) - CHAR_GRAM + 1)))
            grams.extend(cut)
        out.append(grams)
    return out


#: What BM25 indexes: Snowball-stemmed words, or character n-grams of words.
TOKENISERS = {"words": bm25_tokens, "chars": char_grams}


#: Bump when ``bm25_tokens`` or ``char_grams`` change what they produce: BM25 models an index
#: saved with the older tokens are then rebuilt instead of used (a test pins the tokens).
TOKENS_VERSION = 1


def build_bm25(texts: list[str], tokens: str, k1: float, b: float):
    """BM25 over ``texts``; None when they hold no term at all (only stop words or symbols),
    which bm25s cannot index."""
    corpus = TOKENISERS[tokens](texts)
    if not any(corpus):
        return None
    model = light_imports.bm25s().BM25(k1=k1, b=b)
    model.index(corpus, show_progress=False)
    return model


def save_bm25(folder: Path, chunks: list[Chunk], k1: float, b: float) -> list[str]:
    """Build BM25 over the chunk texts, of words and of character n-grams, and save each in
    its own subfolder of ``folder`` (a generation being written); return the files written.

    Saved with the index, they are loaded at the first question instead of built there:
    on 19,226 SciFact chunks building them takes about 5.6 s (benchmarks/RESULTS.md).
    """
    texts, written = [c.text for c in chunks], []
    for tokens in TOKENISERS:
        model = build_bm25(texts, tokens, k1, b)
        if model is not None:
            sub = folder / f"bm25-{tokens}"
            model.save(str(sub), show_progress=False)
            written += sorted(str(f.relative_to(folder)) for f in sub.iterdir())
    return written


def bm25_manifest(k1: float, b: float) -> dict:
    """What the manifest records of the saved models, to tell whether they still fit: our
    tokens' version, bm25s's (its stop words and format), and the BM25 parameters."""
    return {"tokens_version": TOKENS_VERSION, "bm25s": light_imports.bm25s().__version__, "k1": k1, "b": b,
            "tokens": sorted(TOKENISERS)}


def bm25_model(index: Index, k1: float = 1.2, b: float = 0.75, unit: str = "chunk", tokens: str = "words"):
    """BM25 over the index's chunks (``unit="chunk"``) or whole documents, once per loaded
    index: the model saved with the index when it fits, else built here. None when the
    texts hold no term."""
    key = ("bm25", unit, k1, b, tokens)
    if key not in index.cache:  # stored once complete: a concurrent search never sees it half-made
        model = _saved_bm25(index, k1, b, tokens) if unit == "chunk" else None
        if model is None:
            texts = [c.text for c in index.chunks] if unit == "chunk" else documents(index).texts
            model = build_bm25(texts, tokens, k1, b)
        index.cache[key] = model
    return index.cache[key]


def _saved_bm25(index: Index, k1: float, b: float, tokens: str):
    """The chunk model ``rag index`` saved with this index, if there is one and it fits."""
    folder = index.path / f"bm25-{tokens}" if index.path is not None else None
    if folder is None or index.manifest.get("bm25") != bm25_manifest(k1, b) or not folder.is_dir():
        return None
    try:  # its files passed their checksums when the index was loaded
        model = light_imports.bm25s().BM25.load(str(folder), show_progress=False)
    except Exception as e:  # gone with a pruned generation, or unreadable: build it instead
        log.warning("cannot load the saved BM25 model in %s (%s); building it", folder, type(e).__name__)
        return None
    return model if int(model.scores["num_docs"]) == len(index.chunks) else None


@dataclass(frozen=True)
class DocumentTable:
    """Documents of an index in first-seen order: ids, full texts, and chunk -> document."""

    ids: list[str]
    texts: list[str]
    of_chunk: "np.ndarray"  # document number of each chunk
    first_chunk: list[int]


def documents(index: Index) -> DocumentTable:
    """Whole documents rebuilt from the sentence table (which, unlike chunks, does not overlap)."""
    table = index.cache.get("documents")
    if table is None:
        import numpy as np

        number: dict[tuple[str, str], int] = {}
        sentences: list[list[str]] = []
        for s in index.sentences:
            key = (s.source, s.doc_id)
            if key not in number:
                number[key] = len(number)
                sentences.append([])
            sentences[number[key]].append(s.text)
        of_chunk = np.empty(len(index.chunks), dtype=np.int64)
        first_chunk = [-1] * len(number)
        for i, c in enumerate(index.chunks):
            d = number.setdefault((c.source, c.doc_id), len(number))
            if d == len(first_chunk):  # a chunk whose document has no sentence (cannot happen today)
                first_chunk.append(-1)
                sentences.append([c.text])
            of_chunk[i] = d
            if first_chunk[d] < 0:
                first_chunk[d] = i
        ids = [doc_id for (_, doc_id) in number]
        table = DocumentTable(ids=ids, texts=[" ".join(t) for t in sentences], of_chunk=of_chunk,
                              first_chunk=first_chunk)
        index.cache["documents"] = table
    return table


def dense_ranking(index: Index, query_vector: "np.ndarray", depth: int) -> Ranking:
    import numpy as np

    depth = min(depth, index.vectors.ntotal)
    if depth == 0:
        return []
    scores, ids = index.vectors.search(np.asarray(query_vector, dtype=np.float32).reshape(1, -1), depth)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def bm25_ranking(index: Index, query: str, depth: int, k1: float = 1.2, b: float = 0.75,
                 unit: str = "chunk", tokens: str = "words") -> Ranking:
    terms = TOKENISERS[tokens]([query])[0]
    model = bm25_model(index, k1, b, unit, tokens)
    if model is None:
        return []
    depth = min(depth, int(model.scores["num_docs"]))
    if not terms or depth == 0:
        return []
    known = [t for t in terms if t in model.vocab_dict]
    if not known:
        return []
    ids, scores = model.retrieve([known], k=depth, show_progress=False, n_threads=1)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if s > 0]


def fuse(rankings: list[Ranking], weights: list[float], k: int) -> Ranking:
    """Weighted reciprocal-rank fusion: sum of weight / (k + rank) over the rankings."""
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (i, _) in enumerate(ranking, 1):
            fused[i] = fused.get(i, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def fuse_minmax(rankings: list[Ranking], weights: list[float]) -> Ranking:
    """Convex combination of scores min-max normalised per ranking; absent from one counts 0 there."""
    total = sum(weights) or 1.0
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        if not ranking:
            continue
        top, low = ranking[0][1], ranking[-1][1]
        span = top - low
        for i, s in ranking:
            fused[i] = fused.get(i, 0.0) + (w / total) * ((s - low) / span if span > 0 else 1.0)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def max_per_document(ranking: Ranking, of_chunk: "np.ndarray") -> tuple[Ranking, dict[int, int]]:
    """Chunk ranking -> document ranking, a document scoring as its best chunk (MaxP)."""
    best: dict[int, tuple[float, int]] = {}
    for i, s in ranking:  # best first, so the first chunk seen of a document is its best
        d = int(of_chunk[i])
        if d not in best:
            best[d] = (s, i)
    return [(d, s) for d, (s, _) in best.items()], {d: i for d, (_, i) in best.items()}


class Retriever:
    def __init__(self, index: Index, candidates: int = 100, rrf_k: int = 60,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0, *,
                 char_weight: float = Settings.char_weight, fusion: str = Settings.fusion,
                 bm25_k1: float = Settings.bm25_k1, bm25_b: float = Settings.bm25_b) -> None:
        if fusion not in FUSIONS:
            raise RetrievalError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        self.weights = [dense_weight, bm25_weight, char_weight]  # dense, BM25 words, BM25 character n-grams
        if min(self.weights) < 0 or sum(self.weights) <= 0:
            raise RetrievalError("fusion weights must be non-negative and not all zero")
        self.index = index
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.fusion = fusion
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    @classmethod
    def from_settings(cls, index: Index, s: Settings) -> "Retriever":
        return cls(index, candidates=s.candidates, rrf_k=s.rrf_k, dense_weight=s.dense_weight,
                   bm25_weight=s.bm25_weight, char_weight=s.char_weight, fusion=s.fusion,
                   bm25_k1=s.bm25_k1, bm25_b=s.bm25_b)

    def _fuse(self, dense: Ranking, lexical: Ranking, chars: Ranking) -> Ranking:
        if self.fusion == "minmax":
            return fuse_minmax([dense, lexical, chars], self.weights)
        return fuse([dense, lexical, chars], self.weights, self.rrf_k)

    def _chars(self, query: str, depth: int, unit: str = "chunk") -> Ranking:
        return bm25_ranking(self.index, query, depth, self.bm25_k1, self.bm25_b, unit=unit, tokens="chars")

    def search(self, query: str, query_vector: "np.ndarray", top_k: int) -> list[Hit]:
        """The ``top_k`` best passages (chunks) by the fused score."""
        dense = dense_ranking(self.index, query_vector, self.candidates)
        lexical = bm25_ranking(self.index, query, self.candidates, self.bm25_k1, self.bm25_b)
        chars = self._chars(query, self.candidates) if self.weights[2] > 0 else []
        dense_scores, bm25_scores, char_scores = dict(dense), dict(lexical), dict(chars)
        fused = self._fuse(dense, lexical, chars)[:top_k]
        return [Hit(chunk_index=i, chunk=self.index.chunks[i], score=s, dense=dense_scores.get(i),
                    bm25=bm25_scores.get(i), chars=char_scores.get(i), rank=r)
                for r, (i, s) in enumerate(fused, 1)]

    def search_documents(self, query: str, query_vector: "np.ndarray", top_k: int,
                         mode: str = "fused") -> list[DocHit]:
        """The ``top_k`` best whole documents: dense MaxP over chunks, BM25 over full text (words
        and character n-grams), fused.

        ``mode`` is ``"fused"``, or ``"dense"`` / ``"bm25"`` / ``"chars"`` for one retriever alone. Each
        retriever contributes its best ``max(candidates, top_k)`` documents to the fusion.
        """
        if mode not in MODES:
            raise RetrievalError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        table = documents(self.index)
        depth = max(self.candidates, top_k)
        dense: Ranking = []
        best_chunk: dict[int, int] = {}
        if mode == "fused" and self.weights[0] > 0 or mode == "dense":
            # Enough chunks that ``depth`` distinct documents are (nearly always) among them.
            per_doc = math.ceil(len(self.index.chunks) / max(1, len(table.ids)))
            chunks = dense_ranking(self.index, query_vector, depth * 2 * per_doc)
            dense, best_chunk = max_per_document(chunks, table.of_chunk)
            dense = dense[:depth]
        lexical: Ranking = []
        if mode == "fused" and self.weights[1] > 0 or mode == "bm25":
            lexical = bm25_ranking(self.index, query, depth, self.bm25_k1, self.bm25_b, unit="document")
        chars: Ranking = []
        if mode == "fused" and self.weights[2] > 0 or mode == "chars":
            chars = self._chars(query, depth, unit="document")
        alone = {"dense": dense, "bm25": lexical, "chars": chars}
        ranked = alone[mode] if mode in alone else self._fuse(dense, lexical, chars)
        dense_scores, bm25_scores = dict(dense), dict(lexical)
        return [DocHit(doc_id=table.ids[d], score=s, dense=dense_scores.get(d), bm25=bm25_scores.get(d),
                       chunk_index=best_chunk.get(d, table.first_chunk[d]), rank=r)
                for r, (d, s) in enumerate(ranked[:top_k], 1)]
