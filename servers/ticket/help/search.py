"""Ranking the help topics for a question, in process.

The texts are a dozen short topics rendered by this server from its own rules and settings,
and the ticket server keeps no database: an index in memory, built once at start, answers in
microseconds, needs no second copy of the texts elsewhere, and cannot drift from the resources.
Ranking is BM25 over light-stemmed words, with a topic's title and keywords weighing more than
its body; the snippet is the body's paragraph that matches the question best.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from .texts import HelpLibrary, Topic

_WORD = re.compile(r"[a-z0-9]+")
# Words too common to tell topics apart.
_STOP_WORDS = """
a an and are as at be been but by can could do does for from has have how i if in into is it its
me my of on or our so than that the their them then there these this to too was we were what when
where which who why will with would you your
"""
_STOP = frozenset(_STOP_WORDS.split())
# BM25's usual constants: term-frequency saturation and length normalisation.
_K1 = 1.2
_B = 0.75
_TITLE_WEIGHT = 3
_KEYWORD_WEIGHT = 2
SNIPPET_CHARS = 320


def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing/-ed forms and a final e meet their base word
    ("charges", "charged", "charging", "charge" -> "charg"), so that a question need not use
    the text's exact form. Both the texts and the questions go through it."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP]


@dataclass(frozen=True)
class Hit:
    topic: Topic
    score: float
    snippet: str


@dataclass(frozen=True)
class _Entry:
    topic: Topic
    counts: Counter[str]
    length: int
    paragraphs: tuple[str, ...]


class HelpIndex:
    """The topics of a :class:`HelpLibrary`, ready to rank."""

    def __init__(self, library: HelpLibrary):
        self.library = library
        self._entries = [_entry(topic) for topic in library.topics]
        self._average = sum(e.length for e in self._entries) / len(self._entries)
        documents = Counter(t for e in self._entries for t in set(e.counts))
        n = len(self._entries)
        self._idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in documents.items()}

    def search(self, query: str, limit: int) -> list[Hit]:
        """The topics matching ``query``, best first; none when no word of it occurs."""
        wanted = set(terms(query))
        hits = []
        for entry in self._entries:
            score = sum(self._weight(entry, t) for t in wanted if t in entry.counts)
            if score > 0:
                hits.append(Hit(entry.topic, round(score, 4), _snippet(entry, wanted)))
        hits.sort(key=lambda h: (-h.score, h.topic.uri))
        return hits[:limit]

    def _weight(self, entry: _Entry, term: str) -> float:
        tf = entry.counts[term]
        norm = _K1 * (1 - _B + _B * entry.length / self._average)
        return self._idf[term] * tf * (_K1 + 1) / (tf + norm)


def _entry(topic: Topic) -> _Entry:
    counts: Counter[str] = Counter(terms(topic.body))
    for term in terms(topic.title):
        counts[term] += _TITLE_WEIGHT
    for term in terms(" ".join(topic.keywords)):
        counts[term] += _KEYWORD_WEIGHT
    paragraphs = tuple(" ".join(p.split()) for p in re.split(r"\n\s*\n", topic.body) if p.strip())
    return _Entry(topic, counts, sum(counts.values()), paragraphs)


def _snippet(entry: _Entry, wanted: set[str]) -> str:
    """The paragraph with the most of the question's words (the first on a tie), shortened at
    a word boundary."""
    best = max(entry.paragraphs, key=lambda p: len(wanted & set(terms(p))))
    if len(best) <= SNIPPET_CHARS:
        return best
    return best[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
