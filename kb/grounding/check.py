"""The grounding check: every generated sentence is verified against the passages it cites before it is shown.

A sentence is supported when (1) enough of its content words (stopwords removed, light stemming) occur in the
cited passages, (2) its embedding is close enough to a cited passage or one of its sentences, and (3) every hard
fact in it -- numbers (81.2%, 3.1x, 16) and names (SliceFormer, Kinetics-400, LEVIR-CC, ViT, A100) -- occurs in a
cited passage, each number in a passage sentence that shares a content word with the words around it in the
generated sentence (so "runs at 68.4%" fails when 68.4% is an accuracy), and every comparison ("faster than",
"outperforms") is one a cited passage makes too; and (4) its content words lie within some two sentences of the
cited passages, not pieced together from all over them; and (5) it aligns onto one window of its cited passages --
one sentence or two adjacent ones -- that backs its words, each clause, its facts, qualifiers and negations
together, and it is a claim at all, not a link, heading, fragment or talk about the text (kb.grounding.align).
Sentences that fail are replaced by the best supporting
quote from the cited passages when one is close enough, else dropped; `GroundedText.note()` says so. Passage
sentences that read like instructions to a model ("ignore previous instructions ...") are never used as evidence
or quoted.

Pure library: the embedder is injected (anything with `embed(texts) -> np.ndarray` of unit-length rows).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from kb.prompts import NO_ANSWER, instruction_texts
from kb.grounding import align
from kb.grounding.terms import (content_stems, entity_keys, fact_comparisons, fact_entities, makes_comparison,
                                number_contexts, number_set)
from kb.grounding.sentences import norm_text, looks_like_instruction, parse_citations, quotable, split_sentences
from kb.grounding.types import (CHECK_QUOTE, CHECK_WORDS, Embedder, GroundedSentence, GroundedText, Passage,
                                Thresholds, Verdict)
from kb.grounding.verify import Verifier, verify_kept


# Bump when a change to the check can change a verdict: cached digests are keyed on it (kb.digest.day.paper_key).
# 7: quoted words must be in the window as written; more hedges ("seems", "approximately"), read past "to be",
# and on numbers ("approximately 300,000", "over 90%", kb.grounding.bounds); irregular
# verb forms stem to their verb ("sang" is "sings"); "The paper discusses / focuses on ..." is a frame the window
# rules read past.
# 6: difficulty phrases ("struggle to", "face challenges when") read as negation; "X, a method that does Y." is a
# noun phrase, no claim; a name in capitals ("DIAMOND") written as a word ("Diamonds") fails; a word put in the
# place of its opposite by prefix ("inaccurate" for "accurate") fails; a hedge or quantifier the window puts on a
# kept word ("predominantly operate") must stay.
# 5: purpose, lead-word, title-names rules; cut-off clauses fail; kb ask: question words.
GROUNDING_VERSION = "7"


# ---------------------------------------------------------------------------------------------------------------
# Evidence: what each passage offers, computed once per ground() call


@dataclass
class _Evidence:
    passage: Passage
    sentences: list[str]  # usable evidence sentences (instruction-like ones removed)
    stems: set[str]
    numbers: set[str]
    keys: set[str]
    vectors: np.ndarray | None  # row 0: the passage's evidence text as a whole; then one row per sentence
    sentence_facts: list[tuple[set[str], set[str]]]  # per sentence: (numbers, content stems incl. the title's)
    quotable: list[bool]  # per sentence: fit to replace a failed sentence (not a title, author or heading line)
    windows: list[align.Window]  # each sentence alone and each two adjacent ones, with the title (align.py)


def _evidence(passages: Sequence[Passage]) -> dict[int, _Evidence]:
    """Per passage: its usable sentences and their facts. Vectors come later, only for the passages a check
    reads (`_embed_evidence`): a sentence is judged against what it cites, so most passages are never embedded."""
    out: dict[int, _Evidence] = {}
    for p in passages:
        sents = [s for s in split_sentences(p.text) if not looks_like_instruction(s)]
        body = " ".join(sents)
        evidence_text = f"{p.title}. {body}"
        title_stems = content_stems(p.title)
        facts = [(number_set(x), content_stems(x) | title_stems) for x in sents]
        windows = align.windows(p.n, [align.sentence_info(x) for x in sents], p.title)
        out[p.n] = _Evidence(p, sents, content_stems(evidence_text), number_set(evidence_text),
                             entity_keys(evidence_text), None, facts, [quotable(x, p.title) for x in sents],
                             windows)
    return out


def _embed_evidence(evs: Sequence[_Evidence], embedder: Embedder) -> None:
    """Fill in the vectors of `evs` that have none, in one batch: one row per sentence, and in row 0 the passage
    as a whole, taken as the normalised mean of its sentence vectors (embedding the body as well would double the
    cost of the check; on the grounding examples both give the same verdicts)."""
    todo = [e for e in evs if e.vectors is None]
    texts = [x for e in todo for x in (e.sentences or [" "])]
    vectors = _embed(embedder, texts)
    row = 0
    for e in todo:
        rows = vectors[row: row + max(1, len(e.sentences))]
        mean = rows.mean(axis=0)
        mean = mean / (float(np.linalg.norm(mean)) or 1.0)
        e.vectors = np.vstack([mean[None, :], rows[: len(e.sentences)]]).astype(np.float32)
        row += max(1, len(e.sentences))


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    vecs = np.asarray(embedder.embed(texts), dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms == 0, 1.0, norms)


def _judge(clean: str, vec: np.ndarray, evs: list[_Evidence], t: Thresholds,
           asked: frozenset = frozenset()) -> Verdict:
    """Score `clean` (a sentence without markers, embedded as `vec`) against the union of `evs`."""
    stems = content_stems(clean)
    pool_stems = set().union(*(e.stems for e in evs)) if evs else set()
    overlap = len(stems & pool_stems) / len(stems) if stems else 0.0
    missing = []
    for shown, key, context in number_contexts(clean):
        if not any(key in e.numbers for e in evs):
            missing.append(shown)  # stated nowhere in the cited passages
        elif context and not any(key in nums and context & stems for e in evs for nums, stems in e.sentence_facts):
            missing.append(shown)  # stated, but about something else ("runs at 68.4%" when 68.4% is an accuracy)
    for name, keys in fact_entities(clean):
        if not any(k in e.keys for e in evs for k in keys):
            missing.append(name)
    for word, accepted in fact_comparisons(clean):
        if not any(makes_comparison(e.keys, accepted) for e in evs):
            missing.append(word)  # a comparison no cited passage makes
    similarity, quote, quote_n, quote_sim = 0.0, "", None, -1.0
    for e in evs:
        sims = e.vectors @ vec
        if sims.size:
            similarity = max(similarity, float(sims.max()))
        for i, s in enumerate(e.sentences):
            if e.quotable[i] and sims[i + 1] > quote_sim:
                quote, quote_n, quote_sim = s, e.passage.n, float(sims[i + 1])
    pair = _pair_overlap(stems, [st for e in evs for _, st in e.sentence_facts])
    ok = (len(stems) >= t.min_content_words and overlap >= t.min_overlap and pair >= t.min_pair_overlap
          and similarity >= t.min_similarity)
    if ok and not missing:
        missing += _aligned(clean, evs, t, asked)
    status = "supported" if ok and not missing else "unsupported"
    return Verdict(status, round((overlap + similarity) / 2, 4), round(overlap, 4), round(similarity, 4),
                   list(dict.fromkeys(missing)), quote, quote_n, round(max(quote_sim, 0.0), 4),
                   [e.passage.n for e in evs], round(pair, 4))


def _aligned(clean: str, evs: list[_Evidence], t: Thresholds, asked: frozenset = frozenset()) -> list[str]:
    """What keeps `clean` from aligning onto one window of `evs` (kb.grounding.align); [] when it aligns.
    `asked`: the content stems of the user's question (kb ask), which the window must hold where the sentence
    uses them."""
    if "claim_shape" not in t.disabled:
        shape = align.claim_shape(clean)
        if shape:
            return [f"not a claim ({shape})"]
    pool = set().union(*(w.stems for e in evs for w in e.windows))
    _, fails = align.best_window(align.claim(clean, pool, asked), [w for e in evs for w in e.windows],
                                 t.min_window_overlap, t.min_clause_overlap, t.disabled, t.max_new_words,
                                 t.max_pieces)
    return fails


def _pair_overlap(stems: set[str], sentences: list[set[str]]) -> float:
    """The share of `stems` found within the best one or two of `sentences` (content stems of passage sentences).

    Measured on 101 sentences SmolLM2 wrote that passed the other checks (answers to three question sets): of the
    17 whose words no two passage sentences hold at least 70% of, about 14 pieced an invention together from
    words all over the passage ("combines the fusion strategy with the diffusion prior to extract a coarse mesh").
    With the rule those answers kept 91 sentences instead of 101 (9 more replaced by quotes); a digest of 8 papers
    kept 43 statements instead of 46. A faithful summary of three sentences is replaced by a quote too."""
    if not stems:
        return 0.0
    hits = [h for h in (stems & s for s in sentences) if h]
    best = max((len(h) for h in hits), default=0)
    for i, a in enumerate(hits):
        for b in hits[i + 1:]:
            best = max(best, len(a | b))
    return best / len(stems)


def _check(clean: str, cited: list[int], vec: np.ndarray, ev: dict[int, _Evidence], t: Thresholds,
           embedder: Embedder, asked: frozenset = frozenset()) -> Verdict:
    valid = [n for n in cited if n in ev]
    if cited and not valid:
        v = _judge(clean, vec, [], t, asked)
        v.status, v.citations = "bad-citation", []
        return v
    if valid:
        _embed_evidence([ev[n] for n in valid], embedder)
        return _judge(clean, vec, [ev[n] for n in valid], t, asked)
    # No citation: try each passage alone and attach the best one if it supports the sentence.
    if not ev:
        return Verdict("no-citation", 0.0, 0.0, 0.0)
    best, closest = _each_alone(clean, vec, list(ev.values()), t, embedder, asked)
    if not best.supported:
        best.status = "no-citation"
        # the quote may come from any passage: take the closest across all of them
        best.best_quote, best.quote_passage = closest.best_quote, closest.quote_passage
        best.quote_similarity = closest.quote_similarity
    return best


def _each_alone(clean: str, vec: np.ndarray, evs: list[_Evidence], t: Thresholds,
                embedder: Embedder, asked: frozenset = frozenset()) -> tuple[Verdict, Verdict]:
    """`clean` judged against each of `evs` (non-empty) on its own: the best verdict (a supported one first), and
    the one whose replacement quote is closest to the sentence."""
    _embed_evidence(evs, embedder)
    verdicts = [_judge(clean, vec, [e], t, asked) for e in evs]
    return (max(verdicts, key=lambda v: (v.supported, v.score)),
            max(verdicts, key=lambda v: v.quote_similarity))


def _recite(clean: str, vec: np.ndarray, failed: Verdict, ev: dict[int, _Evidence], t: Thresholds,
            embedder: Embedder, asked: frozenset = frozenset()) -> Verdict:
    """A sentence its cited passages do not support, checked against the other passages of the same paper(s).

    Small models often cite the right paper's wrong chunk (the title block instead of the abstract). When another
    passage of that paper supports the sentence on its own, the citation is moved there (the sentence is still
    verified against exactly what it then cites). Otherwise the failed verdict stands, with its replacement quote
    taken from the closest quotable sentence across the paper's passages.
    """
    papers = {ev[n].passage.paper_id for n in failed.citations}
    others = [e for n, e in ev.items() if e.passage.paper_id in papers and n not in failed.citations]
    if not others:
        return failed
    best, closest = _each_alone(clean, vec, others, t, embedder, asked)
    if best.supported:
        return best
    if closest.quote_similarity > failed.quote_similarity:
        failed.best_quote, failed.quote_passage = closest.best_quote, closest.quote_passage
        failed.quote_similarity = closest.quote_similarity
    return failed


def _refocus(verdict: Verdict, vec: np.ndarray, focus_vec: np.ndarray, ev: dict[int, _Evidence], t: Thresholds,
             shown: set[str]) -> None:
    """Re-pick `verdict`'s replacement quote among the quotable sentences of the quoted paper's embedded passages:
    similar enough to the failed sentence, and best on the mean of that similarity and the one to the focus."""
    paper = ev[verdict.quote_passage].passage.paper_id
    best = None
    for e in ev.values():
        if e.passage.paper_id != paper or e.vectors is None:
            continue
        for i, sentence in enumerate(e.sentences):
            close = float(e.vectors[i + 1] @ vec)
            if not e.quotable[i] or close < t.min_quote_similarity or norm_text(sentence) in shown:
                continue
            score = (close + float(e.vectors[i + 1] @ focus_vec)) / 2
            if best is None or score > best[0]:
                best = (score, sentence, e.passage.n, close)
    if best is not None:
        verdict.best_quote, verdict.quote_passage, verdict.quote_similarity = best[1], best[2], round(best[3], 4)


def closest_sentences(focus: str, passages: Sequence[Passage], embedder: Embedder,
                      keep: Callable[[str], bool] = lambda s: True) -> list[tuple[int, Passage, str]]:
    """Candidate quotes for `focus`: the quotable sentences of `passages` (whitespace-normalised, each once, never
    instruction-like) that `keep` accepts, called in reading order, as (reading-order index, passage, sentence),
    the closest to `focus` first."""
    cands: list[tuple[Passage, str]] = []
    seen: set[str] = set()
    for p in passages:  # consecutive chunks overlap: a sentence is a candidate once
        for sentence in split_sentences(p.text):
            sentence = " ".join(sentence.split())
            key = sentence.lower()
            if key in seen or looks_like_instruction(sentence) or not quotable(sentence, p.title) or not keep(sentence):
                continue
            seen.add(key)
            cands.append((p, sentence))
    if not cands:
        return []
    vecs = _embed(embedder, [focus] + [c for _, c in cands])
    order = np.argsort(-(vecs[1:] @ vecs[0]), kind="stable")
    return [(int(i), *cands[int(i)]) for i in order]


def check_sentence(sentence: str, cited: Sequence[Passage], embedder: Embedder,
                   thresholds: Thresholds | None = None, question: str | None = None) -> Verdict:
    """Check one sentence against the passages it cites.

    Citation markers in `sentence` pick passages from `cited` by number; a marker naming no passage in `cited`
    makes the verdict "bad-citation". With no markers, the sentence is checked against all of `cited` and the
    best supporting passage is attached ("supported") or the verdict is "no-citation".
    """
    t = thresholds or Thresholds()
    clean, numbers = parse_citations(sentence)
    ev = _evidence(cited)
    vec = _embed(embedder, [clean])[0]
    return _check(clean, numbers, vec, ev, t, embedder, _asked(question))


# Words of a question that name no fact ("Which method ...?"): a sentence may use them freely.
_GENERIC_ASKED = content_stems("method methods technique techniques framework frameworks system systems way ways")


def _asked(question: str | None) -> frozenset:
    return frozenset(content_stems(question) - _GENERIC_ASKED) if question else frozenset()


# ---------------------------------------------------------------------------------------------------------------


def _render(clean: str, citations: list[int]) -> str:
    """The sentence with canonical markers before its full stop: "It works [1][2]." (after a closing quote)."""
    body = clean.rstrip()
    marks = "".join(f"[{n}]" for n in citations)
    if len(body) > 1 and body[-1] in "\"”'’)" and body[-2] in ".!?":
        return f"{body} {marks}".rstrip()
    end = "."
    if body and body[-1] in ".!?":
        body, end = body[:-1].rstrip(), body[-1]
    return f"{body} {marks}{end}" if marks else f"{body}{end}"



def _is_refusal(clean: str) -> bool:
    return norm_text(clean) == norm_text(NO_ANSWER)


# Prompt labels a small model echoes: a leading "Answer:" is stripped; an echoed question, task or title is no claim.
_LABEL_RE = re.compile(r"^\s*(?:answer|summary|response|note)\s*:\s*", re.I)
_ECHO_RE = re.compile(r"^\s*(?:question|task|paper|passages?|instructions?|user|assistant)\s*:", re.I)


@lru_cache(maxsize=1)
def _instruction_stems() -> frozenset[str]:
    return frozenset().union(*(content_stems(t) for t in instruction_texts()))


def _is_claim(clean: str) -> bool:
    """False for echoed prompt labels, questions, and sentences made of our own instruction words."""
    if _ECHO_RE.match(clean) or clean.rstrip().endswith("?"):
        return False
    stems = content_stems(clean)
    return not stems or len(stems - _instruction_stems()) / len(stems) > 0.2


def ground(text: str, passages: Sequence[Passage], embedder: Embedder, mode: str = "replace",
           thresholds: Thresholds | None = None, focus: str | None = None,
           verifier: Verifier | None = None, question: str | None = None) -> GroundedText:
    """Check every sentence of `text` against `passages`; keep, replace by a quote, or drop each one.

    mode="replace": a failed sentence becomes the best quote from its cited passages (or from all passages when
    it cited none), shown as “quote” [n], when the quote's similarity to it reaches `min_quote_similarity` and
    the quote is not already shown; otherwise it is dropped. With `focus` (the user's question, a digest field's
    question), the quote is the one of the same paper's checked passages that is both close enough to the
    failed sentence and closest to it and the focus on average, so it answers what was asked. mode="drop": failed sentences are always dropped.
    The model's "no answer" sentence is kept as is (it claims nothing).
    `verifier` (optional, kb.grounding.verify): a second opinion on each sentence the check kept; one it rejects
    is treated like a failed one. Each shown sentence's `verdict.check` says what it passed (CHECK_LABELS).
    `question` (kb ask): the user's question; a sentence may use its words only where the cited window does
    (a small model echoes the question into a true sentence about something else).
    """
    if mode not in ("replace", "drop"):
        raise ValueError(f"unknown grounding mode {mode!r} (replace | drop)")
    t = thresholds or Thresholds()
    asked = _asked(question)
    ev = _evidence(passages)
    raw = split_sentences(text)
    parsed = []
    for sentence in raw:
        clean, cited = parse_citations(sentence)
        parsed.append((_LABEL_RE.sub("", clean), cited))
    cited_all = [[n for n in c if n in ev] for _, c in parsed]
    if all(cited_all):  # embed what the first pass reads in one batch; the rest only if a check needs it
        _embed_evidence([ev[n] for n in dict.fromkeys(n for c in cited_all for n in c)], embedder)
    else:
        _embed_evidence(list(ev.values()), embedder)
    vectors = _embed(embedder, [c for c, _ in parsed])
    focus_vec = _embed(embedder, [focus])[0] if focus else None
    out: list[GroundedSentence] = []
    seen: set[str] = set()  # normalised sentences and quotes already shown
    for original, (clean, cited), vec in zip(raw, parsed, vectors):
        if _is_refusal(clean):
            out.append(GroundedSentence(original, NO_ANSWER, [], Verdict("no-citation", 0, 0, 0), "kept"))
            continue
        if not _is_claim(clean) or norm_text(clean) in seen:
            reason = "duplicate" if _is_claim(clean) else "not-a-claim"
            out.append(GroundedSentence(original, "", [], Verdict("no-citation", 0, 0, 0), "dropped", reason))
            continue
        seen.add(norm_text(clean))
        verdict = _check(clean, cited, vec, ev, t, embedder, asked)
        if not verdict.supported and verdict.citations:
            verdict = _recite(clean, vec, verdict, ev, t, embedder, asked)
        if verdict.supported:
            verdict.check = CHECK_WORDS
            if verifier is not None:
                verify_kept(clean, verdict, passages, verifier)
        if verdict.supported:
            reason = "citation corrected" if cited and verdict.citations != cited else ""
            out.append(GroundedSentence(original, _render(clean, verdict.citations), verdict.citations, verdict,
                                        "kept", reason))
            continue
        if focus_vec is not None and verdict.quote_passage is not None:
            _refocus(verdict, vec, focus_vec, ev, t, seen)
        quote, qn = verdict.best_quote, verdict.quote_passage
        if (mode == "replace" and quote and qn is not None and norm_text(quote) not in seen
                and verdict.quote_similarity >= t.min_quote_similarity):
            seen.add(norm_text(quote))
            verdict.check = CHECK_QUOTE
            body = quote.rstrip()
            body = body[:-1] if body.endswith(".") else body
            out.append(GroundedSentence(original, f"“{body}” [{qn}].", [qn], verdict, "replaced"))
            continue
        out.append(GroundedSentence(original, "", [], verdict, "dropped", "unsupported"))
    return GroundedText(out)
