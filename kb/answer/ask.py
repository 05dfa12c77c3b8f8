"""`kb ask`: retrieval -> abstention -> numbered passages -> prompt fitted to the model -> generation (streamed)
-> grounding check of every sentence -> an answer that names its paper(s) and lists its sources.

Nothing the model writes reaches the user unchecked: each sentence is kept only when the passages it cites
support it (kb.grounding.check), otherwise it is replaced by a marked quote or dropped. When nothing survives, the best
quotes of the top paper are shown instead, marked as quotes. Each shown sentence records the check it passed
(`Answer.checks`: quote, words/numbers/bindings, or that and the optional verifier). When the best evidence is too weak, the model is not
called at all and the answer says that the knowledge base holds nothing that answers the question.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field

from kb.backends.embedders import MemoEmbedder
from kb.grounding.check import closest_sentences, ground
from kb.grounding.sentences import clean_passage, looks_like_instruction, parse_citations, split_sentences
from kb.grounding.types import CHECK_QUOTE, GroundedSentence, GroundedText, Passage, Thresholds, Verdict
from kb.grounding.terms import content_stems
from kb.prompts import answer_messages, fit_passages
from kb.answer.retrieval import Filters, PaperHit, RetrievalParams, SearchResult, check_query, search

ABSTAIN_TEXT = "The knowledge base holds nothing that answers this question."


@dataclass(frozen=True)
class Relevance:
    """When to abstain: the best passage is far from the question (cosine < `min_similarity`), or it is only
    moderately close (< `gray_similarity`) and the question's rare words are mostly absent from the top paper
    (IDF-weighted coverage < `min_idf_coverage`).

    Calibrated with the real MiniLM embedder (bench/calibrate_abstention.py) on bench/questions/* over two stores:
    the sample corpus + the 46 papers of the ../shared digest pages (52 papers), and the same plus 1,950 synthetic
    distractor papers (bench/synth.py). Over both stores:
      answerable (140 question runs): cosine min 0.37, median 0.61; IDF coverage median 0.77
      off-corpus (28 runs):           cosine 0.22-0.51, median 0.34; IDF coverage max 0.36, median 0.18
      hard paraphrases avoiding the abstracts' words (98 runs): cosine min 0.37; IDF coverage down to 0.17
    These thresholds abstain on 27/28 off-corpus runs, on 0/140 answerable runs and on 15/98 hard paraphrases.
    Cosine alone cannot separate them (off-corpus up to 0.51 > answerable 0.37), nor can plain word coverage.

    `rescue_margin`: in that gray zone, a question whose top paper leads the second by >= 0.6 in fused score (of
    2.5 at most: BM25 and dense agree, and nothing else comes close) is answered after all, but only with
    sentences the model wrote that hold up: no fallback or replacement quotes, else it abstains. Measured on the
    2,052-paper store over all six bench/questions sets: of the 21 answerable questions the gray zone abstained
    on, 8 have margin >= 0.6 (0.63-1.37), all with the right paper on top; of the 22 off-corpus ones, 1 (0.92);
    the other off-corpus margins are <= 0.55.
    The hashing fake embedder has another cosine scale: `for_embedder` gives its own thresholds.
    """

    min_similarity: float = 0.33
    gray_similarity: float = 0.52
    min_idf_coverage: float = 0.35
    rescue_margin: float = 0.6  # ... unless the top paper leads the fused ranking by this much (see above)

    @classmethod
    def for_embedder(cls, name: str) -> "Relevance":
        return _RELEVANCE.get(name, cls())


# The hashing fake's cosines do not separate on- from off-corpus questions (sample corpus + shared pages: answerable
# 0.16-0.63, off-corpus 0.22-0.48); its IDF coverage does (answerable >= 0.48, off-corpus <= 0.37).
_RELEVANCE = {"fake-hash": Relevance(min_similarity=0.0, gray_similarity=1.01, min_idf_coverage=0.42,
                                      rescue_margin=float("inf"))}


@dataclass
class Source:
    """What a citation marker [n] points to: a stored passage and the exact sentence quoted from it."""

    n: int
    chunk_id: str
    paper_id: str
    title: str
    arxiv_id: str | None
    page: int | None
    section: str
    quote: str  # the first quote from this passage (reading order of the answer)
    passage: str
    quotes: list[str] = field(default_factory=list)  # every distinct quote the answer takes from it

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Answer:
    question: str
    abstained: bool
    papers: list[tuple[str, str, str | None]]  # (paper id, title, arXiv id) the answer is about
    sentences: list[GroundedSentence]  # every generated sentence with its verdict (shown == "" when dropped)
    shown: list[str]  # the answer's sentences as shown, in order
    sources: list[Source]
    note: str
    retrieval: SearchResult
    signals: dict
    timings: dict
    model: str = ""
    raw: str = ""  # what the model wrote, before the check
    fallback: bool = False  # the shown sentences are quotes chosen without the model
    nearest: list[PaperHit] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # per shown sentence: the check it passed (CHECK_LABELS)
    verifier: str = ""  # the verifier's name, when one checked the sentences

    @property
    def header(self) -> str:
        if not self.papers:
            return ""
        items = [f"{t} (arXiv:{a})" if a else f"{t} ({pid})" for pid, t, a in self.papers]
        return ("Paper: " if len(items) == 1 else "Papers: ") + "; ".join(items)

    @property
    def text(self) -> str:
        return ABSTAIN_TEXT if self.abstained else " ".join(self.shown)

    def cited_papers(self) -> list[str]:
        """Paper ids cited by the shown answer, in order of first citation."""
        return [pid for pid, _, _ in self.papers]

    def to_dict(self) -> dict:
        return {
            "question": self.question, "abstained": self.abstained, "answer": self.text, "header": self.header,
            "papers": [{"id": pid, "title": t, "arxiv_id": a} for pid, t, a in self.papers],
            "sentences": [{
                "original": s.original, "shown": s.shown, "citations": s.citations, "action": s.action,
                "reason": s.reason, "check": s.verdict.check if s.shown else "",
                "verdict": {"status": s.verdict.status, "overlap": s.verdict.overlap,
                            "similarity": s.verdict.similarity, "missing": s.verdict.missing,
                            "verifier_score": s.verdict.verifier_score},
            } for s in self.sentences],
            "shown": self.shown, "checks": self.checks, "verifier": self.verifier or None, "sources": [s.to_dict() for s in self.sources], "note": self.note,
            "fallback": self.fallback, "model": self.model, "raw": self.raw, "signals": self.signals,
            "timings": self.timings,
            "retrieval": [{"id": p.paper_id, "title": p.title, "arxiv_id": p.arxiv_id, "score": round(p.score, 5),
                           "best_similarity": round(p.best_similarity, 4), "bm25_rank": p.bm25_rank,
                           "dense_rank": p.dense_rank} for p in self.retrieval.papers],
        }


def relevance_signals(question: str, result: SearchResult, catalog=None) -> dict:
    """Evidence strength for abstention: `best_similarity`, the best passage cosine among the top 3 papers;
    `coverage`, the share of the question's content words found in the top paper; and with a catalog
    `idf_coverage`, the same share weighted by each word's rarity in the knowledge base (a question whose rare,
    specific words occur nowhere in the top paper is probably about something else); and `margin`, how far the top
    paper's fused score leads the second's."""
    best = max((h.best_similarity for h in result.papers[:3]), default=0.0)
    out = {"best_similarity": round(float(best), 4), "coverage": 0.0, "idf_coverage": 0.0, "margin": 0.0}
    if not result.papers:
        return out
    out["margin"] = round(result.papers[0].score - (result.papers[1].score if len(result.papers) > 1 else 0.0), 4)
    top = result.papers[0]
    q = content_stems(question)
    have = content_stems(top.title + " " + " ".join(p.text for p in top.passages))
    out["coverage"] = round(len(q & have) / len(q), 4) if q else 0.0
    if catalog is not None:
        out["idf_coverage"] = round(_idf_coverage(catalog, question, top.paper_id), 4)
    return out


def _idf_coverage(catalog, question: str, paper_id: str) -> float:
    from math import log

    from kb.answer.retrieval import query_terms

    n = catalog.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] or 1
    total = found = 0.0
    for term in query_terms(question):
        match = '"' + term.replace('"', "") + '"'
        df = catalog.db.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)).fetchone()[0]
        idf = log((n + 1) / (df + 0.5))
        total += idf
        if df and catalog.db.execute("SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? AND paper_id = ? LIMIT 1",
                                     (match, paper_id)).fetchone():
            found += idf
    return found / total if total else 0.0


def should_abstain(signals: dict, r: Relevance) -> bool:
    s, c = signals["best_similarity"], signals["idf_coverage"]
    gray = s < r.gray_similarity and c < r.min_idf_coverage and signals.get("margin", 0.0) < r.rescue_margin
    return s < r.min_similarity or gray


def select_passages(result: SearchResult, r: Relevance, max_passages: int = 6, per_top: int = 3) -> list[Passage]:
    """Numbered passages, best first: the top paper's best passages (near-duplicates from overlapping chunks
    skipped), then the best passage of the next papers when they score close to the top one and their evidence
    is relevant on its own."""
    chosen: list[tuple[PaperHit, object]] = []
    seen: list[set[str]] = []

    def add(hit: PaperHit, p) -> bool:
        words = set(p.text.lower().split())
        if any(len(words & w) > 0.6 * min(len(words), len(w)) for w in seen):
            return False
        seen.append(words)
        chosen.append((hit, p))
        return True

    if result.papers:
        top = result.papers[0]
        for p in top.passages:
            if sum(1 for h, _ in chosen if h is top) < per_top:
                add(top, p)
        for hit in result.papers[1:3]:  # a close runner-up only: a tiny model mixes papers up easily
            if hit.passages and hit.best_similarity >= r.gray_similarity and hit.score >= 0.8 * top.score:
                add(hit, hit.passages[0])
    # the document's own [n] markers and instruction-like sentences never reach the prompt or the check
    return [Passage(n=i + 1, chunk_id=p.chunk_id, paper_id=h.paper_id, title=h.title, text=clean_passage(p.text),
                    page=p.page, section=p.section, arxiv_id=h.arxiv_id) for i, (h, p) in enumerate(chosen[:max_passages])]


def fit_prompt(question: str, passages: list[Passage], generator, max_tokens: int) -> tuple[list[Passage], list[dict]]:
    """The passages (best first) and messages that fit the generator's context with `max_tokens` to spare."""
    budget = generator.prompt_budget(max_tokens)
    fitted = fit_passages(question, passages, generator.count_tokens, budget)
    messages = answer_messages(question, fitted)
    while fitted and generator.count_messages(messages) > budget:  # exact count (chat template) may differ
        fitted = fit_passages(question, fitted[:-1] if len(fitted) > 1 else fitted, generator.count_tokens,
                              budget - (generator.count_messages(messages) - budget) - 8)
        messages = answer_messages(question, fitted)
    return fitted, messages


def answer(question: str, catalog, embedder, store, generator, *, k: int = 5, filters: Filters | None = None,
           mode: str = "hybrid", max_tokens: int = 200, on_token=None, relevance: Relevance | None = None,
           grounding: Thresholds | None = None, max_passages: int = 6,
           params: RetrievalParams | None = None, verifier=None) -> Answer:
    """Answer `question` from the knowledge base with checked citations (see the module docstring). `verifier`
    (optional, kb.backends.verifiers): a second opinion on the sentences the grounding check keeps."""
    question = check_query(question, "question")
    t0 = time.perf_counter()
    rel = relevance or Relevance.for_embedder(getattr(embedder, "name", ""))
    result = search(question, catalog, embedder, store, k=k, filters=filters, mode=mode, params=params,
                    passages_per_paper=5, with_similarity=True)
    signals = relevance_signals(question, result, catalog)
    timings = {"retrieval_ms": round((time.perf_counter() - t0) * 1000, 1)}
    model = getattr(generator, "name", "")
    if not result.papers or should_abstain(signals, rel):
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        why = "no papers match the filters" if not result.papers else "the best evidence is below the relevance threshold"
        return Answer(question, True, [], [], [], [], why, result, signals, timings, model, nearest=result.papers)

    # rescued from the gray zone by its margin alone: answered only with sentences the model wrote that hold up
    rescued = should_abstain(signals, dataclasses.replace(rel, rescue_margin=float("inf")))
    passages = select_passages(result, rel, max_passages)
    embedder = MemoEmbedder(embedder)  # grounding and the fallback quotes embed the same sentences
    max_tokens = max(16, min(max_tokens, generator.n_ctx // 2))
    fitted, messages = fit_prompt(question, passages, generator, max_tokens)
    raw, grounded = "", []
    if fitted:
        t1 = time.perf_counter()
        gen = generator.generate(messages, max_tokens=max_tokens, on_token=on_token)
        raw = gen.text
        timings.update(prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                       first_token_s=None if gen.first_token_seconds is None
                       else round(t1 - t0 + gen.first_token_seconds, 3),
                       generation_s=round(gen.seconds, 3))
        t2 = time.perf_counter()
        text = clean_generation(raw)
        grounded = ground(text, evidence_passages(text, fitted), embedder, mode="replace",
                          thresholds=grounding, focus=question, verifier=verifier, question=question).sentences
        timings["grounding_ms"] = round((time.perf_counter() - t2) * 1000, 1)
    shown = [s for s in grounded if s.shown and s.citations]
    note = _note(grounded)
    fallback = False
    if (rescued and not any(s.action == "kept" for s in shown)) or (
            not shown and signals["idf_coverage"] < rel.min_idf_coverage):
        # doubly weak evidence: nothing the model wrote held up, and the question's rare words are mostly absent
        # from the top paper; quotes from it would answer some other question (measured: an off-corpus question
        # at cosine 0.53 had IDF coverage 0.29; every answerable one that fell back to quotes had >= 0.74)
        timings["total_s"] = round(time.perf_counter() - t0, 3)
        why = "the model's answer was not supported and the question's specific words are absent from the top paper"
        return Answer(question, True, [], [], [], [], why, result, signals, timings, model, raw,
                      nearest=result.papers)
    if not shown:
        pool = fitted or passages[:1]
        shown = fallback_quotes(question, [p for p in pool if p.paper_id == pool[0].paper_id], embedder)
        fallback = True
        note = ("The model's answer could not be verified against the sources; " if grounded else
                "No answer was generated; ") + ("showing the closest quotes from the top paper instead "
                                            "(they may not answer the question).")
    by_n = {p.n: p for p in (fitted or passages)}
    sources = _sources(shown, by_n)
    papers: list[tuple[str, str, str | None]] = []
    for s in sources:
        if s.paper_id not in [p[0] for p in papers]:
            papers.append((s.paper_id, s.title, s.arxiv_id))
    first = {pid: min(n for x in shown for n in x.citations if n in by_n and by_n[n].paper_id == pid)
             for pid, _, _ in papers}
    papers.sort(key=lambda p: first[p[0]])
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    return Answer(question, False, papers, grounded if not fallback else grounded + shown, [s.shown for s in shown],
                  sources, note, result, signals, timings, model, raw, fallback, result.papers,
                  [s.verdict.check for s in shown], getattr(verifier, "name", "") if verifier is not None else "")


_TAG_RE = re.compile(r"</?\s*[A-Za-z|][^<>\n]{0,200}>|<\|[^|]*\|>")


def clean_generation(text: str) -> str:
    """The model's text without markup it copied from the prompt (<passage ...> tags, <sep>, <|im_end|>)."""
    return _TAG_RE.sub(" ", text)


def evidence_passages(text: str, passages: list[Passage]) -> list[Passage]:
    """The passages the grounding check needs: when every sentence cites a passage, only the cited ones (each
    sentence is checked against its own citations anyway; embedding fewer passages keeps the check fast)."""
    cites = [parse_citations(s)[1] for s in split_sentences(text)]
    cited = {n for c in cites for n in c}
    if cites and all(cites) and any(p.n in cited for p in passages):
        return [p for p in passages if p.n in cited]
    return passages


def _note(grounded: list[GroundedSentence]) -> str:
    """What the check changed and why (failed the check, rejected by the verifier); echoes and repeats the
    model wrote claim nothing and are not counted."""
    return GroundedText(grounded).note()


def fallback_quotes(question: str, passages: list[Passage], embedder, n: int = 2) -> list[GroundedSentence]:
    """The sentences of `passages` closest to the question, as marked quotes “...” [n] (never instructions)."""
    out = []
    for _, p, s in sorted(closest_sentences(question, passages, embedder)[:n]):  # reading order within the paper
        pn, body = p.n, s.rstrip(".")
        out.append(GroundedSentence("", f"“{body}” [{pn}].", [pn], Verdict("quote", 1.0, 1.0, 1.0, best_quote=s,
                                                                            quote_passage=pn, citations=[pn],
                                                                            check=CHECK_QUOTE),
                                    "fallback"))
    return out


def _sources(shown: list[GroundedSentence], by_n: dict[int, Passage]) -> list[Source]:
    """One Source per cited [n]: the sentences of the passage that support what was shown."""
    out = []
    for n in sorted({n for s in shown for n in s.citations if n in by_n}):
        p = by_n[n]
        quotes = list(dict.fromkeys(" ".join(s.verdict.best_quote.split()) for s in shown
                                    if s.verdict.quote_passage == n and s.verdict.best_quote))
        if not quotes:
            want = set().union(*(content_stems(s.shown) for s in shown if n in s.citations))
            sents = [s for s in split_sentences(p.text) if not looks_like_instruction(s)] or [p.text]
            quotes = [" ".join(max(sents, key=lambda s: len(content_stems(s) & want)).split())]
        out.append(Source(n, p.chunk_id, p.paper_id, p.title, p.arxiv_id, p.page, p.section, quotes[0], p.text,
                          quotes))
    return out
