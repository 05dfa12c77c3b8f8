"""Two parts of a sentence the window rules read word by word: what it quotes, and the items of its lists.

- `quoted`: the text between quotation marks ("…", “…”, and '…' where the marks are not apostrophes, so
  "Bucket's" does not open a quotation). A quotation must be the source's words in the source's order.
- `added_items`: list items ("X and Y", "X or Y", "X, Y, ...") the cited passages never mention beside one they
  do: an item added to a true list ("heat them in the oven or microwave" where the source has only the oven).
"""
from __future__ import annotations

import re
from typing import Sequence

from kb.grounding.shape import CONNECTIVES
from kb.grounding.synonyms import synonym_key, synonym_keys
from kb.grounding.terms import FILLER, STOPWORDS, stem

_QUOTE_RE = re.compile(r"“([^”]{2,200})”|\"([^\"]{2,200})\"|(?<![\w'’])['‘](.{2,200}?)['’](?![\w'’])")

# Two items of a list: "X and Y", "X, or the Y", and "X, Y," within a longer one ("X, Y, and Z").
_ITEM_RE = re.compile(r"\b([A-Za-z]+)(?=,?\s+(?:and|or)\s+(?:(?:the|a|an)\s+)?([A-Za-z]+)\b|,\s+([A-Za-z]+),)")


def quoted(sentence: str) -> list[str]:
    """The quotations of `sentence`, without their marks."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTE_RE.finditer(sentence)]


def contains(seq: Sequence[str], part: Sequence[str]) -> bool:
    """`part` occurs in `seq` as a run of consecutive items."""
    n = len(part)
    return any(tuple(seq[i: i + n]) == tuple(part) for i in range(len(seq) - n + 1))


def added_items(sentence: str, mentioned: set[str]) -> list[str]:
    """The stems of list items beside a comma, "and" or "or" that are not in `mentioned` (content stems of the
    cited passages), synonyms aside, though the item on the other side is."""
    known_syn: set[str] | None = None  # computed only for a sentence with a list
    out = []
    for m in _ITEM_RE.finditer(sentence):
        pair = (m.group(1), m.group(2) or m.group(3))
        if not all(_content(x) for x in pair):
            continue
        known_syn = synonym_keys(mentioned) if known_syn is None else known_syn
        a, b = (stem(x.lower()) for x in pair)
        known = [x in mentioned or synonym_key(x) in known_syn for x in (a, b)]
        if known.count(True) == 1:
            out.append(b if known[0] else a)
    return out


def _content(word: str) -> bool:
    w = word.lower()
    return len(w) > 1 and w not in STOPWORDS and w not in FILLER and w not in CONNECTIVES and w.isalpha()
