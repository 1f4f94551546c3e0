"""A written sentence that quotes a passage sentence: the passage's words, so no judge is asked.

Language models often copy a sentence, leaving out an aside in brackets, a lead-in ("In
contrast, ...") or a clause after a comma. Such a quote says what the passage says, unless
what it leaves out is a word that changes the meaning ("not", "may", "only", "unless"...):
those are :data:`GUARDED`. The entailment judge is least sure of exactly these copies (a
long sentence with a negation in it scores 0.2-0.6; benchmarks/RESULTS.md, "Meaning").
"""

from __future__ import annotations

import re

WORD = re.compile(r"[\w'’-]+")
#: Words whose loss changes what a sentence says: a quote may not leave them out.
GUARDED = frozenset("""not no never none nor neither n't without cannot may might could would should must if unless
whether perhaps possibly probably likely unlikely some all only except almost nearly than more less fewer most
least before after until since but although though however""".split())
OPENER = re.compile(r"^[^,]{1,30},\s+")  # "However, ...", "In contrast, ...": a lead-in up to its comma


def _tokens(text: str) -> list[str]:
    text = re.sub(r"\([^()]*\)", " ", text)  # "(CCGs)": an aside a quote may leave out
    return [w.lower().replace("’", "'") for w in WORD.findall(text)]


def quotes(claim: str, sentence: str) -> bool:
    """Whether ``claim`` quotes ``sentence``: its words, in order, less any asides in brackets,
    a lead-in up to its first comma, or a tail after a clause's comma, none of them a word
    that changes what is said (:data:`GUARDED`). A quote needs no judge: it is the passage."""
    said = _tokens(claim)
    if len(said) < 4:
        return False
    for text in dict.fromkeys((sentence, OPENER.sub("", sentence, count=1))):
        whole = _tokens(text)
        if set(_tokens(sentence)[:len(_tokens(sentence)) - len(whole)]) & GUARDED:
            continue  # the lead-in left out says something ("Not that ..., ")
        if whole == said:
            return True
        for m in re.finditer(r"[,;:–—]", text):  # a clause of it, the rest left out
            head, rest = _tokens(text[:m.start()]), _tokens(text[m.end():])
            if head == said and not set(rest) & GUARDED:
                return True
    return False
