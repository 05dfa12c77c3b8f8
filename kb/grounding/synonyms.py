"""Words that paper abstracts use interchangeably, so a faithful paraphrase aligns onto its source sentence.

A small hand-made table for the way summaries of research papers reword their sources ("integrates" ->
"combines", "attains" -> "achieves", "necessitating" -> "requiring"). Each group is read with the check's own
stemmer (kb.grounding.terms.stem), so every inflection of a word joins its group. Groups hold only words that
keep a sentence's meaning when swapped in this register; words that change a claim ("improves" / "enables",
"better" / "best") are never grouped, and qualifiers (kb.grounding.align) are checked separately.
"""
from __future__ import annotations

from functools import lru_cache

from kb.grounding.terms import stem

GROUPS = """
combine integrate fuse merge unify incorporate
use utilize utilise employ leverage adopt exploit apply
show demonstrate illustrate indicate reveal confirm validate verify
achieve attain obtain reach deliver
surpass outperform exceed beat
acquire capture recover
retain preserve keep maintain
require need necessitate demand
produce generate create synthesize synthesise
build construct
address tackle solve handle
method approach technique framework pipeline scheme
task problem challenge issue difficulty
large big
small compact
fast quick rapid
improve enhance boost
reduce decrease lower lessen cut
increase raise
predict estimate infer
learn train
study investigate explore examine analyze analyse
describe depict
dataset data benchmark
picture image
video clip
goal aim objective
mainly primarily predominantly largely mostly
allow enable permit let
"""


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in GROUPS.strip().splitlines():
        words = line.split()
        key = stem(words[0])
        for w in words:
            out.setdefault(stem(w), key)
    return out


def synonym_key(stemmed: str) -> str:
    """The group key of a stemmed word (the word itself when it is in no group)."""
    return _table().get(stemmed, stemmed)


def synonym_keys(stems: set[str]) -> set[str]:
    return {synonym_key(s) for s in stems}
