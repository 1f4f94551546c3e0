"""Verdicts ("Yes.", "No, it has not.") and the statements they assert.

A verdict has no words of its own to check: what it asserts is the question's statement, or
that statement negated. "No." answering "Has the contract for 2022/23 been issued?" says
"the contract for 2022/23 has not been issued". English moves the auxiliary in front of the
subject to ask; where the subject ends is not known without a parser, so
:func:`statements` puts the auxiliary back at each place it could go and the entailment
judge takes the best reading (a misplaced auxiliary reads as nonsense and entails nothing).
"""

from __future__ import annotations

import re

#: Words a verdict may be made of, besides stop words; the second set says "no".
VERDICT_WORDS = frozenset("yes yeah yep no nope correct incorrect right wrong true false indeed sure certainly "
                          "absolutely not never".split())
NEGATIVE_WORDS = frozenset("no nope not never incorrect wrong false n't".split())
#: Auxiliaries that open a yes/no question.
AUXILIARIES = ("is", "are", "was", "were", "am", "has", "have", "had", "do", "does", "did", "can", "could",
               "will", "would", "shall", "should", "may", "might", "must")
#: Where the subject may end is tried at the first this-many words.
MAX_SUBJECT_WORDS = 8
#: A subject does not end with these, and a predicate does not start with the prepositions among them.
OPEN_ENDED = frozenset("the a an this that these those its their his her our your my of for to in on at by with "
                       "from and or".split())
PREPOSITIONS = frozenset("of for to in on at by with from and or".split())
WORD = re.compile(r"[A-Za-z0-9'’/£$%.,-]+")


def verdict_words(text: str) -> list[str]:
    """The lower-cased words of ``text`` with "n't" split off ("hasn't" -> "has", "n't")."""
    words = []
    for w in re.findall(r"[A-Za-z']+|’", text.lower().replace("’", "'")):
        if w.endswith("n't") and len(w) > 3:
            words += [w[:-3] if w != "can't" else "can", "n't"]
        elif w != "'":
            words.append(w)
    return words


def is_verdict(text: str) -> bool:
    """Whether a sentence asserts nothing of its own: only stop words and yes/no words."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    words = verdict_words(text)
    return bool(words) and all(w in VERDICT_WORDS or w in STOPWORDS_EN_PLUS or w == "n't" for w in words)


def says_no(text: str) -> bool:
    """Whether a verdict answers no ("No.", "It has not.", "Wrong.")."""
    return any(w in NEGATIVE_WORDS for w in verdict_words(text))


def statements(question: str) -> tuple[list[str], list[str]]:
    """The readings of a yes/no ``question`` as statements, and the same negated; two empty
    lists when it is not a yes/no question ("Who ...?")."""
    text = re.sub(r"^\s*(?:and|so|but|then|also|ok|okay)\b[\s,]*", "", question.strip(), flags=re.I)
    text = text.rstrip(" ?.!")
    words = WORD.findall(text)
    if words and not _opens_with_auxiliary(words) and "," in text:  # "According to the article, is it ...?"
        words = WORD.findall(text.split(",", 1)[1])
    if len(words) < 2 or not _opens_with_auxiliary(words):
        return [], []
    aux = verdict_words(words[0])
    verb = aux[0]
    # "Hasn't it been issued?" and "Has it not been issued?" ask whether it has.
    rest = [w for i, w in enumerate(words[1:]) if not (i == 1 and w.lower() == "not")]
    yes, no = [], []
    for at in range(1, min(len(rest), MAX_SUBJECT_WORDS + 1)):
        if rest[at - 1].lower() in OPEN_ENDED or rest[at].lower() in PREPOSITIONS:
            continue
        subject, predicate = " ".join(rest[:at]), " ".join(rest[at:])
        subject = subject[0].upper() + subject[1:]
        yes.append(f"{subject} {verb} {predicate}.")
        no.append(f"{subject} {'cannot' if verb == 'can' else verb + ' not'} {predicate}.")
    return yes, no


def _opens_with_auxiliary(words: list[str]) -> bool:
    aux = verdict_words(words[0])
    return bool(aux) and aux[0] in AUXILIARIES
