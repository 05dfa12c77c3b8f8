"""Hedges and bounds on numbers: "approximately 300,000", "over 90%", "at least 3", "~12k", "≤ 5 ms".

A sentence that keeps a number its source hedges or bounds must keep a hedge or bound of the same kind on it:
"300,000 pairs" for "approximately 300,000 pairs" states an exact count, and "fewer than 70%" for "over 70%" turns
a lower bound into an upper one. Three kinds: about (approximately, roughly, nearly, ~), at least (more than,
over, >), at most (less than, fewer than, up to, <).

Prepositions are bounds only where they cannot be prepositions: "over", "under", "above" and "below" before a
percentage ("over 90%", not "averaged over 5 seeds"), "about" and "around" before a percentage or a number of
100 or more ("about 300 papers", not "talks about 3 ways").
"""
from __future__ import annotations

import re

from kb.grounding.terms import FACT_NUMBER_RE, number_set
_KINDS = (
    ("about", r"approximately|roughly|nearly|almost|circa|an estimated|estimated|approx\.?|~|≈"),
    ("at least", r"more than|greater than|at least|exceeding|>=|>|≥"),
    ("at most", r"less than|fewer than|at most|up to|<=|<|≤"),
)
_PREPOSITIONS = (("at least", r"over|above"), ("at most", r"under|below"), ("about", r"about|around"))
_BEFORE = {kind: re.compile(rf"(?:^|[^\w])(?:{words})\s*$", re.I) for kind, words in _KINDS}
_BEFORE_PREP = {kind: re.compile(rf"(?:^|[^\w])(?:{words})\s+$", re.I) for kind, words in _PREPOSITIONS}


def number_bounds(text: str) -> tuple[dict[str, set[str]], set[str]]:
    """({number key: the kinds of hedge or bound on it}, the keys that occur somewhere without one)."""
    bounded: dict[str, set[str]] = {}
    bare: set[str] = set()
    for m in FACT_NUMBER_RE.finditer(text):  # the numbers fact_numbers reads, so a claim's keys match
        keys = number_set(m.group(1))
        before = text[max(0, m.start() - 24): m.start()]
        kinds = {kind for kind, rx in _BEFORE.items() if rx.search(before)}
        percent = "%" in (m.group(2) or "")
        big = float(m.group(1).replace(",", "")) >= 100
        kinds |= {kind for kind, rx in _BEFORE_PREP.items()
                  if rx.search(before) and (percent or (kind == "about" and big))}
        for key in keys:
            if kinds:
                bounded.setdefault(key, set()).update(kinds)
            else:
                bare.add(key)
    return bounded, bare


Bounds = tuple[dict[str, set[str]], set[str]]  # what number_bounds returns


def unbounded(claim: Bounds, source: Bounds) -> list[str]:
    """The number keys a claim keeps without the kind of hedge or bound that every mention of them in the source
    has (both given as `number_bounds`)."""
    (src_bounded, src_bare), (own_bounded, own_bare) = source, claim
    return sorted(key for key, kinds in src_bounded.items()
                  if key not in src_bare and (key in own_bare or (key in own_bounded and not own_bounded[key] & kinds)))
