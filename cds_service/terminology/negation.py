"""Negation and hedging of recognised phrases: cues, clause and segment boundaries, NegEx-style."""

from __future__ import annotations

import re
from bisect import bisect_left
from bisect import bisect_right
from dataclasses import dataclass
from enum import Flag
from enum import auto

from cds_service.terminology.models import LanguageFile
from cds_service.terminology.models import NegationCues
from cds_service.terminology.text import Spelling
from cds_service.terminology.text import phrase_key
from cds_service.terminology.text import phrase_pattern
from cds_service.terminology.text import whole_words

_WORD = re.compile(r"\w+")
_WORDISH = re.compile(r"\w")


class Role(Flag):
    """What a cue does to a phrase near it."""

    PRE = auto()
    POST = auto()
    POST_TERMINAL = auto()
    AFFIRM = auto()
    PSEUDO = auto()
    HEDGE_PRE = auto()
    HEDGE_POST = auto()


_BEFORE = Role.PRE | Role.AFFIRM | Role.PSEUDO
_STOP = Role.AFFIRM | Role.PSEUDO
# Cues that decide a hedge: a hedge cue, or any cue that states presence or absence.
_HEDGE_BEFORE = _BEFORE | Role.HEDGE_PRE


@dataclass(frozen=True, slots=True)
class _Cue:
    start: int
    end: int
    role: Role


class Negation:
    """Decides whether a recognised phrase is negated, NegEx-style but kept small.

    Rules, in order, for a phrase in a comma-delimited segment of a clause:
    1. the nearest cue before it in its segment decides if it is a negation (``no X identified``);
    2. otherwise the first cue within a few words after it in its segment (``X: not detected``,
       ``X positive``);
    3. otherwise, when its segment holds no cue before it, the nearest cue before it earlier in
       the clause (``no necrosis, atypia or mitoses``).
    Affirmations (``positive``) and pseudo-negations (``not otherwise specified``) stop a negation.

    Hedging (``possible necrosis``, ``X cannot be excluded``) follows the same three rules with
    the hedge cues: the nearest deciding cue before the phrase, else the first cue after it,
    else the nearest cue earlier in the clause; a hedge cue there makes the phrase uncertain.
    """

    def __init__(self, language: LanguageFile, spelling: Spelling) -> None:
        """Compile the cue and boundary regexes from ``language.json``."""
        roles: dict[str, Role] = {}
        cues = language.negation
        for role, phrases in (
            (Role.PRE, cues.pre),
            (Role.POST, cues.post),
            (Role.POST_TERMINAL, cues.post_terminal),
            (Role.AFFIRM, cues.affirm),
            (Role.PSEUDO, cues.pseudo),
            (Role.HEDGE_PRE, cues.hedge_pre),
            (Role.HEDGE_POST, cues.hedge_post),
        ):
            for phrase in phrases:
                key = phrase_key(phrase, spelling)
                roles[key] = roles.get(key, Role(0)) | role
        # Longest cue first; "cannot be excluded" and "can not be excluded" share a key and roles.
        ordered = sorted(set(_all(cues)), key=lambda p: (-len(phrase_key(p, spelling)), p))
        self._roles = [roles[phrase_key(phrase, spelling)] for phrase in ordered]
        patterns = [phrase_pattern(phrase, spelling) for phrase in ordered]
        names = [f"c{i}" for i in range(len(ordered))]
        self._cues = re.compile(whole_words(patterns, names), re.IGNORECASE)
        words = [phrase_pattern(w, spelling) for w in language.clause_breaks]
        clause = r"[;!?\n]|\.(?!\d)|" + whole_words(words)
        self._clause = re.compile(clause, re.IGNORECASE)
        self._segment = re.compile(clause + "|,", re.IGNORECASE)
        self._window = language.post_window_words

    def scan(self, text: str) -> NegationScope:
        """Find the cues and boundaries of cleaned ``text`` once, for all its phrases."""
        cues = [
            _Cue(m.start(), m.end(), self._roles[int((m.lastgroup or "c0")[1:])])
            for m in self._cues.finditer(text)
        ]
        return NegationScope(
            text, cues, _spans(self._clause, text), _spans(self._segment, text), self._window
        )


def _all(cues: NegationCues) -> list[str]:
    return [*cues.pre, *cues.post, *cues.post_terminal, *cues.affirm, *cues.pseudo,
            *cues.hedge_pre, *cues.hedge_post]


def _spans(regex: re.Pattern[str], text: str) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for match in regex.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
    return starts, ends


class NegationScope:
    """The cues and clause/segment boundaries of one text."""

    def __init__(
        self,
        text: str,
        cues: list[_Cue],
        clauses: tuple[list[int], list[int]],
        segments: tuple[list[int], list[int]],
        window: int,
    ) -> None:
        """Keep what :meth:`Negation.scan` found."""
        self._text = text
        self._cues = cues
        self._cue_starts = [cue.start for cue in cues]
        self._cue_ends = [cue.end for cue in cues]
        self._clauses = clauses
        self._segments = segments
        self._window = window

    def is_negated(self, start: int, end: int) -> bool:
        """Return whether the phrase at ``text[start:end]`` is negated."""
        seg_lo = _last_end(self._segments, start)
        seg_hi = _next_start(self._segments, end, len(self._text))
        # A hedge cue in the segment stands for itself: "no necrosis, possible atypia" does not
        # carry the "no" over the comma.
        before = self._nearest_before(start, seg_lo, roles=_BEFORE | Role.HEDGE_PRE)
        if before is not None and before.role & Role.PRE:
            return True
        after = self._first_after(end, seg_hi)
        if after is not None:
            return after
        if before is None:
            earlier = self._nearest_before(seg_lo, _last_end(self._clauses, start), followed=True)
            return earlier is not None and bool(earlier.role & Role.PRE)
        return False

    def is_uncertain(self, start: int, end: int) -> bool:
        """Return whether the phrase at ``text[start:end]`` is hedged (neither stated present
        nor absent): ``possible necrosis``, ``suspicious for ...``, ``... cannot be excluded``."""
        seg_lo = _last_end(self._segments, start)
        seg_hi = _next_start(self._segments, end, len(self._text))
        before = self._nearest_before(start, seg_lo, roles=_HEDGE_BEFORE)
        if before is not None and before.role & Role.HEDGE_PRE:
            return True
        if self._hedged_after(end, seg_hi):
            return True
        if before is None:
            earlier = self._nearest_before(seg_lo, _last_end(self._clauses, start), followed=True,
                                           roles=_HEDGE_BEFORE)
            return earlier is not None and bool(earlier.role & Role.HEDGE_PRE)
        return False

    def _nearest_before(self, position: int, floor: int, *, followed: bool = False,
                        roles: Role = _BEFORE) -> _Cue | None:
        # followed: skip cues that end their own segment ("S-100 negative, desmin ..."): those
        # were post-cues of an earlier phrase, not pre-cues carried over a comma.
        index = bisect_right(self._cue_ends, position) - 1
        while index >= 0 and self._cues[index].start >= floor:
            cue = self._cues[index]
            ends_segment = followed and not _WORDISH.search(
                self._text, cue.end, _next_start(self._segments, cue.end, len(self._text))
            )
            if cue.role & roles and not ends_segment:
                return cue
            index -= 1
        return None

    def _hedged_after(self, position: int, ceiling: int) -> bool:
        # The first cue after the phrase within the window decides: a hedge ("... cannot be
        # excluded") or a statement either way ("... present", "... not identified").
        index = bisect_left(self._cue_starts, position)
        for cue in self._cues[index:]:
            if cue.end > ceiling:
                return False
            if len(_WORD.findall(self._text, position, cue.start)) > self._window:
                return False
            if cue.role & Role.HEDGE_POST:
                # A cue that also hedges what follows it ("necrosis and possible atypia") is the
                # phrase's own only when it ends the segment ("metastasis suspected").
                return not (cue.role & Role.HEDGE_PRE and _WORDISH.search(self._text, cue.end,
                                                                           ceiling))
            if cue.role & (Role.POST | Role.POST_TERMINAL | _STOP | Role.PRE):
                return False
        return False

    def _first_after(self, position: int, ceiling: int) -> bool | None:
        index = bisect_left(self._cue_starts, position)
        for cue in self._cues[index:]:
            if cue.end > ceiling:
                return None
            if len(_WORD.findall(self._text, position, cue.start)) > self._window:
                return None
            if cue.role & Role.POST:
                return True
            terminal = not _WORDISH.search(self._text, cue.end, ceiling)
            if cue.role & Role.POST_TERMINAL and terminal:
                return True
            if cue.role & _STOP:
                return False
            if cue.role & Role.PRE:
                return False
        return None


def _last_end(spans: tuple[list[int], list[int]], position: int) -> int:
    starts, ends = spans
    index = bisect_right(ends, position) - 1
    return ends[index] if index >= 0 else 0


def _next_start(spans: tuple[list[int], list[int]], position: int, default: int) -> int:
    starts, _ = spans
    index = bisect_left(starts, position)
    return starts[index] if index < len(starts) else default
