"""What a sentence puts in quotation marks, for the quotes rule of kb.grounding.align.

`quoted` finds the text between quotation marks: “…”, "…" and '…', where a mark is a quotation mark only where
it cannot be something else: not an apostrophe ("Bucket's", "the fans' album", "the '90s") and not an inch
mark (a 12" single). A quotation must be the source's words in the source's order (`contains`).
"""
from __future__ import annotations

import re
from typing import Sequence

_QUOTE_RE = re.compile(
    r"“([^”]{2,200})”"  # curly double quotes
    r"|(?<![\w\"])\"(?!\d)([^\"]{2,200}?)(?<!\d)\"(?!\w)"  # straight double quotes, not after a digit (12")
    r"|(?<![\w'’])['‘](?![\d\s])(.{2,200}?)(?<![\s])['’](?![\w'’])")  # single quotes, not an apostrophe or '90s


def quoted(sentence: str) -> list[str]:
    """The quotations of `sentence`, without their marks."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTE_RE.finditer(sentence)]


def contains(seq: Sequence[str], part: Sequence[str]) -> bool:
    """`part` occurs in `seq` as a run of consecutive items."""
    n = len(part)
    return any(tuple(seq[i: i + n]) == tuple(part) for i in range(len(seq) - n + 1))
