"""The grounding check's data: passages as shown to a model, thresholds, verdicts, and the checked text."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Passage:
    """A retrieved chunk as shown to the model, numbered [n] in the prompt."""

    n: int
    chunk_id: str
    paper_id: str
    title: str
    text: str
    page: int | None = None
    section: str = ""
    arxiv_id: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """Calibrated on tests/test_grounding.py's examples with both the hashing and the MiniLM embedders."""

    min_overlap: float = 0.7  # share of the sentence's content words found in the cited passages
    min_pair_overlap: float = 0.7  # ... found within some two sentences of them (not pieced from all over)
    min_similarity: float = 0.5  # cosine to the best cited passage or passage sentence
    min_quote_similarity: float = 0.6  # a quote replaces a failed sentence only when this close to it
    min_content_words: int = 2  # fewer content words: not a checkable claim
    min_window_overlap: float = 0.75 # ... found within one window: a passage sentence or two adjacent ones
    min_clause_overlap: float = 0.7  # each clause's content words found within that same window
    max_new_words: int | None = None  # content words a window may lack, synonyms aside (None: coverage decides;
    # 0 for a transformation of given sentences, which needs no word of its own: kb.digest.write)
    max_pieces: int | None = None  # runs of the window's words a sentence may be made of (None: any number; 2 for
    # a transformation, which shortens its sentences rather than rewording them: kb.digest.write)
    disabled: frozenset = frozenset()  # names of kb.grounding.align.RULES switched off (to measure each one)


# What check a shown statement passed (Verdict.check): the label each renderer shows, compactly as a mark with a
# legend. Never more than the check earned: "words" is the deterministic check (the statement's words, numbers
# and their bindings are found together in the cited passages), which is not proof of meaning.
CHECK_QUOTE = "quote"  # shown text is a verbatim quote from the source (no generated words)
CHECK_WORDS = "words"  # generated; passed the deterministic check
CHECK_VERIFIER = "verifier"  # generated; passed the deterministic check and the verifier (KB_VERIFIER)
CHECK_LABELS = {
    CHECK_QUOTE: "quote: verbatim from the source",
    CHECK_WORDS: "checked: words, numbers and bindings",
    CHECK_VERIFIER: "checked: words, numbers and bindings, and by the verifier",
}
CHECK_MARKS = {CHECK_QUOTE: "†", CHECK_WORDS: "✓", CHECK_VERIFIER: "✓✓"}
REJECTED_BY_VERIFIER = "rejected-by-verifier"  # Verdict.status of a sentence the check kept and the verifier did not


@dataclass
class Verdict:
    status: str  # "supported" | "unsupported" | "no-citation" | "bad-citation"
    score: float
    overlap: float
    similarity: float
    missing: list[str] = field(default_factory=list)  # hard facts not in the cited passages, or not with the
    # words they are attached to in the sentence (a number near none of its neighbours in any passage sentence)
    best_quote: str = ""
    quote_passage: int | None = None  # the [n] the best quote comes from
    quote_similarity: float = 0.0  # cosine between the best quote and the sentence
    citations: list[int] = field(default_factory=list)  # valid passage numbers the verdict is based on
    pair_overlap: float = 1.0  # share of the content words found within the best two cited passage sentences
    check: str = ""  # what the shown text passed: CHECK_QUOTE | CHECK_WORDS | CHECK_VERIFIER; "" when not shown
    verifier_score: float | None = None  # the verifier's entailment probability (None: no verifier ran)

    @property
    def supported(self) -> bool:
        return self.status == "supported"


@dataclass
class GroundedSentence:
    original: str  # as generated, markers included
    shown: str  # what the user sees ("" when dropped)
    citations: list[int]  # the passage numbers shown with it
    verdict: Verdict
    action: str  # "kept" | "replaced" | "dropped"
    reason: str = ""  # dropped: "unsupported" | "duplicate" | "not-a-claim"; kept: "citation corrected" or ""


@dataclass
class GroundedText:
    sentences: list[GroundedSentence]

    @property
    def text(self) -> str:
        return " ".join(s.shown for s in self.sentences if s.shown)

    def count(self, action: str) -> int:
        return sum(1 for s in self.sentences if s.action == action)

    @property
    def kept(self) -> int:
        return self.count("kept")

    @property
    def replaced(self) -> int:
        return self.count("replaced")

    @property
    def dropped(self) -> int:
        return self.count("dropped")

    @property
    def unsupported(self) -> int:
        """Sentences that failed the check (replaced or dropped as unsupported)."""
        return sum(1 for s in self.sentences if s.action == "replaced" or s.reason == "unsupported")

    @property
    def citations(self) -> list[int]:
        return sorted({n for s in self.sentences if s.shown for n in s.citations})

    def note(self) -> str:
        """A one-line account of what the check changed, e.g. for the footer of an answer ("" when nothing)."""
        parts = []
        for failed, outcome in (([s for s in self.sentences if s.action == "replaced"], "replaced by quotes"),
                                ([s for s in self.sentences if s.reason == "unsupported"], "dropped")):
            vetoed = sum(1 for s in failed if s.verdict.status == REJECTED_BY_VERIFIER)
            if len(failed) - vetoed:
                parts.append(f"{_n(len(failed) - vetoed)} not supported by the sources and {outcome}")
            if vetoed:
                parts.append(f"{_n(vetoed)} rejected by the verifier and {outcome}")
        moved = sum(1 for s in self.sentences if s.reason == "citation corrected")
        if moved:
            parts.append(f"{moved} citation{' was' if moved == 1 else 's were'} moved to the passage of the same "
                         f"paper that supports {'it' if moved == 1 else 'them'}")
        return "; ".join(parts) + "." if parts else ""


def _n(k: int) -> str:
    return f"{k} sentence was" if k == 1 else f"{k} sentences were"
