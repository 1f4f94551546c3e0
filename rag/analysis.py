"""Text analysis: how lexical search and the answerer see words.

- :func:`bm25_tokens`: Snowball-stemmed words without bm25s's English stop words (BM25).
- :func:`char_grams`: character 4-grams of words (BM25 over word pieces: "published" and
  "publication", "likely" and "unlikely", misspellings).
- :func:`content_terms`: stemmed content words without the fuller stop list and the words
  that frame a question (the answerer's coverage features).
- :func:`content_words`: unstemmed words outside the fuller stop list (follow-up detection).
- :data:`COUNTED`: the answerer's named term tables (content terms, lower-case words).

One module so the stop lists and the stemmer are chosen in one place.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag import light_imports

TOKEN_PATTERN = r"(?u)\b\w+\b"
#: An acronym's plural ("GPs", "ICSs"). Lower-cased for Snowball, "gps" keeps its "s" (no
#: vowel before it) and "icss" its "ss", so a plural would never match its singular.
ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z\d]*[A-Z])s\b")
#: Length of the character n-grams (4 beat 3 and 5 on the development questions).
CHAR_GRAM = 4
#: Words that frame a question rather than say what it is about.
QUESTION_FRAME = {"many", "much", "according", "mention", "mentioned", "say", "says", "said", "tell",
                  "describe", "explain", "name", "named", "kind", "type", "does", "did", "do"}
#: Bump when ``bm25_tokens`` or ``char_grams`` change what they produce: BM25 models an index
#: saved with the older tokens are then rebuilt instead of used (a test pins the tokens).
TOKENS_VERSION = 1


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
    return bm25s.tokenize(singular_acronyms(texts), token_pattern=TOKEN_PATTERN, stopwords="en",
                          stemmer=stemmer(), return_ids=False, show_progress=False)


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


def content_terms(texts: list[str]) -> list[list[str]]:
    """Stemmed content words: bm25s's fuller English stop list plus question-framing words."""
    bm25s = light_imports.bm25s()
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return bm25s.tokenize(singular_acronyms(texts), token_pattern=TOKEN_PATTERN,
                          stopwords=list(STOPWORDS_EN_PLUS) + sorted(QUESTION_FRAME), stemmer=stemmer(),
                          return_ids=False, show_progress=False)


def content_words(words: list[str]) -> list[str]:
    """``words`` (lower-cased) that are not in the fuller stop list."""
    light_imports.bm25s()
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return [w for w in words if w not in STOPWORDS_EN_PLUS]


def lowercase_words(texts: list[str]) -> list[list[str]]:
    """The words each text writes in lower case ("general", not "General" or "NHS")."""
    return [re.findall(r"\b[a-z]+\b", t) for t in texts]


#: The answerer's term tables (``Store.term_frequencies``): name -> analyser. A shared store
#: counts these as it writes, so a server does not count them over every passage at start.
COUNTED = {"content": content_terms, "lowercase": lowercase_words}
#: Bump when an analyser of :data:`COUNTED` changes what it produces: counts a store made
#: with the older ones are then not used (they are counted afresh instead).
COUNTED_VERSION = 1

