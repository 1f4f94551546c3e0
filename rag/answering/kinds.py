"""What a question asks for, and whether a sentence gives it.

"How many ...?" asks for a count, "When ...?" for a time, "Who chairs ...?" for a person.
A sentence without the kind of answer asked for may be on the topic, but it does not
answer: "Who chairs the GPC?" is not answered by "...the GPC, RCGP and NHS England...".
The answerer counts the kinds a sentence lacks (``Features.missing_type``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

NUMBER_WORDS = (r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
                r"hundreds?|thousands?|millions?|billions?|dozens?")
NUMBER = re.compile(r"\d|\b(one|" + NUMBER_WORDS + r")\b", re.I)
TIME_UNIT = r"(years?|months?|weeks?|days?|hours?|minutes?|decades?)\b"
#: A count: a figure that is not a year ("2021", "2022/23") and not a length of time ("18-month").
COUNT = re.compile(r"(?<![/\d])\b(?!(?:1[89]|20)\d\d\b)(\d[\d,.]*|" + NUMBER_WORDS +
                   r")\b(?![-/ ]?(\d|" + TIME_UNIT + "))",
                   re.I)
DURATION = re.compile(r"\b(\d[\d,.]*|one|" + NUMBER_WORDS + r"|a|an|several|many|few)[- ]" + TIME_UNIT +
                      r"|\b(decades?|years|months)\b|\bsince (1[89]|20)\d\d\b"
                      r"|\b(1[89]|20)\d\d ?(-|–|to) ?(1[89]|20)?\d\d\b",
                      re.I)
MONEY = re.compile(r"[£$€¥]\s?\d|\d\s?(pounds|pence|p|k|m|bn|million|billion|dollars|cents|euros?|usd|eur|gbp)\b|"
                   r"\b(million|billion)\b", re.I)
PERCENT = re.compile(r"\d\s?%|\bper ?cent\b|\b(half|third|quarter|fifth|tenth)s?\b|"
                     r"\b(\d+|one|" + NUMBER_WORDS + r") in (\d+|" + NUMBER_WORDS + r")\b", re.I)
MONTH_WORDS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sept?", "Oct", "Nov", "Dec")
MONTHS = "(" + "|".join(MONTH_WORDS) + ")"
#: A month named in a time is capitalised: "may" and "march" are also verbs.
CAPITALISED_MONTHS = "(?-i:" + "|".join(MONTH_WORDS) + ")"
TIME = re.compile(r"\b(1[89]\d\d|20\d\d)s?\b|\b" + CAPITALISED_MONTHS + r"\b|"
                  r"\b(spring|summer|autumn|winter|(last|next|this|previous) (year|month|week|decade)|"
                  r"\d+ (years|months|weeks|days) ago)\b", re.I)
DATE = re.compile(r"\b\d{1,2}(st|nd|rd|th)? " + MONTHS + r"\b|\b" + MONTHS + r" \d{1,2}\b|"
                  r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b", re.I)
MONEY_WORDS = r"(money|fund\w*|cash|costs?|paid|pay|budget|salary|salaries|earn\w*|price|fees?|spen[dt]|worth|income)\b"
#: Words for a person in office: "the chief executive", "which health secretary".
ROLES = (r"(chairs?|chiefs?|heads?|leaders?|authors?|founders?|presidents?|directors?|secretary|secretaries|"
         r"ministers?|politicians?|MPs?)\b")

#: Names in a text: a capitalised word after the first, or an acronym.
NAME = re.compile(r"(?<=\S\s)[A-Z][\w'’-]*\w|\b[A-Z]{2,}\w*")
#: A person's name: a capitalised given name, then a capitalised surname ("Jeremy Hunt"). The
#: surname is a lookahead, so pairs overlap: "State Sajid" does not hide "Sajid Javid".
PERSON = re.compile(r"\b([A-Z][a-z]+)\s+(?=([A-Z][\w'’-]*[a-z])\b)")


@dataclass(frozen=True)
class Kind:
    """One kind of answer: the questions that ask for it, and the text that gives it."""

    name: str
    asks: re.Pattern
    #: What a sentence that gives it contains; None for the names, which code checks.
    gives: re.Pattern | None = None


KINDS = [
    Kind("count", re.compile(r"\bhow many\b(?! (\w+ )?" + TIME_UNIT + r")|^\W*(the )?number of\b|\bwhat number of\b",
                             re.I), COUNT),
    Kind("duration", re.compile(r"\bhow (long|many (\w+ )?" + TIME_UNIT + r")", re.I), DURATION),
    Kind("money", re.compile(
        r"\bhow much\b.*\b" + MONEY_WORDS + r"|\b" + MONEY_WORDS + r"\b.*\bhow much\b|"
        r"^\W*(what|how much) (is|was|are|were|does|did) (the |an? )?(\w+ ){0,3}(cost|budget|salary|price|fee)s?\b|"
        r"^\W*(the )?(\w+ )?(cost|budget|salary|price|fee)s? (of|for)\b"
        r"|^[^?]*\b(annual|total|yearly) (budget|cost|spend)",
        re.I), MONEY),
    Kind("percentage", re.compile(r"\bwhat (percentage|proportion|share|fraction)\b", re.I), PERCENT),
    Kind("number", re.compile(r"\bhow (old|big|large)\b"
                              r"|\bwhat('s| is| was| are| were)? (the )?(size|population)\b", re.I),
         NUMBER),
    #: "When" as a question word ("When did ...", "... and when was ..."), not "... when managers let go".
    Kind("time", re.compile(r"^\W*when\b|\bwhen (did|do|does|was|were|is|are|will|would|has|have|had)\b|"
                            r"\b(what (year|decade|month)|which (year|decade|month)|since when)\b", re.I), TIME),
    Kind("date", re.compile(r"\b(what|which|on what|exact) (date|day)\b", re.I), DATE),
    #: A name the question does not already say.
    Kind("new name", re.compile(r"\b(what('s| is| was) the (name|title)|names? (of )?the|which (political )?party)\b|"
                                r"\bwho (heads|headed|runs|ran)\b", re.I)),
    #: A person the question does not already name: chairs, authors and office holders are people.
    Kind("person", re.compile(r"\bwho (chairs|chaired|leads|led|wrote|founded|authored)\b|"
                              r"\bwho (is|was|are|were) the (\w+ ){0,3}" + ROLES
                              + r"|\bwhich (\w+ ){0,2}" + ROLES, re.I)),
]


def kinds_asked(question: str) -> list[Kind]:
    return [kind for kind in KINDS if kind.asks.search(question)]


def gives(kind: Kind, text: str, question: str, lowercase_words: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` gives ``kind``. ``lowercase_words`` are words the corpus writes in lower
    case: a capitalised one ("General Practice") is not taken for a given name."""
    if kind.gives is not None:
        return bool(kind.gives.search(text))
    said = _words_of(question)
    if kind.name == "person":
        return any({first.lower(), last.lower()} - said for first, last in PERSON.findall(text)
                   if first.lower() not in lowercase_words and is_given_name(first))
    return any(name.lower() not in said for name in NAME.findall(text))


@lru_cache(maxsize=64)
def _words_of(question: str) -> frozenset[str]:
    """The question's words, lower-cased: asked once per candidate sentence, split once."""
    return frozenset(w.lower() for w in re.findall(r"[\w'’-]+", question))


def is_given_name(word: str) -> bool:
    """A first name in gender-guesser's list of about 45,000 names from many countries."""
    return word.encode() in _given_names()


@lru_cache(maxsize=1)
def _given_names() -> frozenset[bytes]:
    """The names column of gender-guesser's data file (~40 ms, once, on the first question
    about a person). Its ``Detector`` also parses every name's gender and frequency in 55
    countries, 0.4-0.6 s that a one-off ``rag ask`` cannot afford; the file format is fixed
    in 0.4.0, the pinned release: a sex code, then the name in columns 4-29."""
    from importlib import resources

    data = (resources.files("gender_guesser") / "data" / "nam_dict.txt").read_bytes()
    return frozenset(line[3:29].rstrip() for line in data.split(b"\n") if line[:1] not in (b"#", b"=")) - {b""}
