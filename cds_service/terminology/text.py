"""Whole-word, case-insensitive phrase recognition in text, with spelling and hyphen variants."""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass

# Same-length replacements, so offsets in the cleaned text are offsets in the original.
_CLEAN = str.maketrans("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00a0\u2019", "------- '")
_SEPARATOR = re.compile(r"(::|/|-|\s+)")
_KEY_DROP = re.compile(r"[\s\-]+|::")


def clean(text: str) -> str:
    """Return ``text`` with typographic dashes, no-break spaces and curly apostrophes made plain."""
    return text.translate(_CLEAN)


class Spelling:
    """Interchangeable spellings inside words (tumour/tumor, oesophagus/esophagus...)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Build the variant table.

        Args:
            pairs: (British, American) spellings; either may occur inside a word.
        """
        self._pair: dict[str, tuple[str, str]] = {}
        for pair in pairs:
            self._pair[pair[0]] = pair
            self._pair[pair[1]] = pair
        variants = sorted(self._pair, key=lambda v: (-len(v), v))
        self._regex = re.compile("|".join(map(re.escape, variants))) if variants else None

    def word_pattern(self, word: str) -> str:
        """Return a regex for ``word`` accepting every spelling of the variants inside it."""
        if self._regex is None:
            return re.escape(word)
        out, last = [], 0
        for match in self._regex.finditer(word):
            first, second = self._pair[match.group()]
            out += [re.escape(word[last : match.start()]), f"(?:{re.escape(first)}|{second})"]
            last = match.end()
        return "".join(out) + re.escape(word[last:])

    def canonical(self, word: str) -> str:
        """Return ``word`` with every variant replaced by its first (British) spelling."""
        if self._regex is None:
            return word
        return self._regex.sub(lambda m: self._pair[m.group()][0], word)


_SEPARATOR_PATTERN = {"::": r"\s*(?:::|[\-/])?\s*", "/": r"\s*/\s*", "-": r"[\s\-]?"}


def phrase_pattern(phrase: str, spelling: Spelling) -> str:
    """Return the regex of one synonym: a space also matches a hyphen, a hyphen may be left out."""
    parts = _SEPARATOR.split(phrase)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(spelling.word_pattern(part))
        else:
            out.append(_SEPARATOR_PATTERN.get(part, r"[\s\-]+"))
    return "".join(out)


def phrase_key(phrase: str, spelling: Spelling) -> str:
    """Return the key under which two synonyms that would match the same text collide."""
    return spelling.canonical(_KEY_DROP.sub("", phrase.lower()))


def whole_words(alternatives: Sequence[str], names: Sequence[str] | None = None) -> str:
    """Join regex alternatives (in priority order) into one that matches whole words only.

    Alternatives are factored by their leading literal characters into a shallow trie: a flat
    alternation of hundreds of synonyms is tried branch by branch at every word start, the trie
    lets the engine drop most branches on the first character. With ``names``, each alternative
    is a named group (``Match.lastgroup`` tells which one matched).
    """
    labels: Sequence[str | None] = names if names is not None else [None] * len(alternatives)
    entries = [(_literal_prefix(a), a, name) for a, name in zip(alternatives, labels, strict=True)]
    trie = _trie([(prefix, a[len(prefix) :], name) for prefix, a, name in entries], _TRIE_DEPTH)
    return r"(?<!\w)(?:" + (trie or "(?!)") + r")(?!\w)"


_TRIE_DEPTH = 3
_LITERAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _literal_prefix(pattern: str) -> str:
    end = 0
    while end < len(pattern) and pattern[end] in _LITERAL_CHARS:
        end += 1
    return pattern[:end]


def _trie(entries: list[tuple[str, str, str | None]], depth: int) -> str:
    # entries: (literal prefix still to place, rest of the pattern, group name), priority order.
    # Branches with different first characters exclude each other, so only the order of the
    # entries inside one branch matters, and it is kept.
    branches: dict[str, list[tuple[str, str, str | None]]] = {}
    parts: list[str | tuple[str, str | None]] = []
    for prefix, rest, name in entries:
        if prefix and depth:
            if prefix[0] not in branches:
                branches[prefix[0]] = []
                parts.append(prefix[0])
            branches[prefix[0]].append((prefix[1:], rest, name))
        else:
            parts.append((prefix + rest, name))
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part + "(?:" + _trie(branches[part], depth - 1) + ")")
        else:
            body, name = part
            out.append(f"(?P<{name}>{body})" if name else body)
    return "|".join(out)


@dataclass(frozen=True, slots=True)
class PhraseMatcher:
    """One compiled regex over the synonyms of one domain; the longest synonym wins at a position.

    Attributes:
        regex: the compiled alternation, one named group per synonym.
        concepts: group name -> concept id.
    """

    regex: re.Pattern[str]
    concepts: dict[str, str]

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, str]]) -> PhraseMatcher:
        """Compile (key, pattern, concept) entries, longest key first."""
        ordered = sorted(entries, key=lambda e: (-len(e[0]), e[0]))
        names = [f"s{i}" for i in range(len(ordered))]
        regex = whole_words([pattern for _, pattern, _ in ordered], names)
        concepts = {name: concept for name, (_, _, concept) in zip(names, ordered, strict=True)}
        return cls(re.compile(regex, re.IGNORECASE), concepts)

    def find(self, text: str) -> Iterator[tuple[str, int, int]]:
        """Yield (concept, start, end) for each non-overlapping phrase in cleaned ``text``."""
        for match in self.regex.finditer(text):
            if match.lastgroup is not None:
                yield self.concepts[match.lastgroup], match.start(), match.end()
