"""How much of a string the terminology reads, and how much of what it read it memoises."""

MAX_TEXT_CHARS = 20_000
"""Any one string is read up to this length (longer text is cut, the rest ignored): the phrase
matcher costs time linear in the text (about a second per MiB), and a coded element, a note or a
pathology narrative that the rules read states its facts well within it."""

CACHE_ENTRIES = 2048
"""Entries of each memo of a terminology (codings, candidate texts, text matches): records repeat
the same lab codes and names thousands of times (a 5,000-resource record has about a hundred
distinct ones), and a bounded LRU keeps the memory fixed."""

CACHED_TEXT_CHARS = 256
"""Only strings up to this length are memoised (names, displays, short values), so the four memos
hold at most a few MiB (all full of distinct long strings); longer narratives are read afresh."""
