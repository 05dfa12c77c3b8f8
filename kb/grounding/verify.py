"""The optional verifier pass of the grounding check: a second opinion on each sentence the deterministic check
kept, asked of a verifier backend (kb.backends.verifiers, chosen by the `verifier` setting).

The premise is what the sentence cites, exactly: the cited passages' usable sentences (instruction-like ones
removed, as the check does), each passage after its paper's title. A sentence the verifier does not accept gets
the status REJECTED_BY_VERIFIER and is then treated like one that failed the check (replaced by a quote or
dropped); one it accepts is labelled CHECK_VERIFIER. Pure library: the verifier is injected.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from kb.grounding.sentences import looks_like_instruction, split_sentences
from kb.grounding.types import CHECK_VERIFIER, REJECTED_BY_VERIFIER, Passage, Verdict


class Verifier(Protocol):
    name: str

    def verify(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...

    def accepts(self, score: float) -> bool: ...


def premise(citations: Sequence[int], passages: Sequence[Passage]) -> str:
    """The text the cited passages offer as evidence, in citation order."""
    by_n = {p.n: p for p in passages}
    parts = []
    for n in dict.fromkeys(citations):
        p = by_n.get(n)
        if p is None:
            continue
        body = " ".join(s for s in split_sentences(p.text) if not looks_like_instruction(s))
        parts.append(f"{' '.join(p.title.split())}. {' '.join(body.split())}" if p.title else " ".join(body.split()))
    return "\n\n".join(parts)


def verify_kept(claim: str, verdict: Verdict, passages: Sequence[Passage], verifier: Verifier) -> Verdict:
    """Ask `verifier` whether the passages `verdict` cites entail `claim` (a sentence without markers that the
    deterministic check kept); record its score, and the outcome in `verdict.status` / `verdict.check`."""
    text = premise(verdict.citations, passages)
    score = float(verifier.verify([(text, claim)])[0]) if text else 0.0
    verdict.verifier_score = round(score, 4)
    if verifier.accepts(score):
        verdict.check = CHECK_VERIFIER
    else:
        verdict.status, verdict.check = REJECTED_BY_VERIFIER, ""
    return verdict
