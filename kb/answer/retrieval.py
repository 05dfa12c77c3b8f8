"""Hybrid retrieval: lexical BM25 (SQLite FTS5 over chunk text, titles boosted) and dense (vector store), grouped
by paper *per signal* and then fused, so one paper's many chunks never crowd out the others.

Each signal ranks chunks; a paper takes the score of its best chunk in that signal; papers are then fused
across signals (a convex combination of min-max normalised scores by default, or reciprocal-rank fusion).
Grouping before fusion matters: fusing chunk ranks first lets a full-text paper with twenty mediocre chunks beat
an abstract-only paper whose single chunk is the best hit. Measured with MiniLM on bench/questions over the sample
corpus + the ../shared digest pages (52 papers): chunk-level RRF with a per-paper bonus gave Recall@1 0.725
(2024-05-22 set) and 0.667 (2024-01-24 set); grouping per signal first gives 1.000 on both.

Dense paper scores: a paper's best chunk cosine is averaged (`abstract_mean`) with the cosine of its whole
abstract (mean of its abstract chunks' stored vectors; long abstracts are split in two chunks), and papers only
BM25 found are scored from their stored vectors rather than counting 0 (`rescore_lexical`: the store's list is
approximate and `depth` long). The BM25 query drops question framing words ("which approach") and adds American
spellings of British endings (porter stems "regularise" and "regularization" differently).

Measured on 2,052 papers (the 52 + 2,000 synthetic abstract-only distractors, bench/synth.py, all-MiniLM-L6-v2),
Recall@1 / Recall@5, hybrid | bm25 | dense, before -> after these changes (convex fusion, dense_weight 1.0 -> 1.5):
  paraphrased-hard (49):      .816/.959 -> .878/.980 | .816/.959 -> .857/.959 | .653/.837 -> .735/.878
  paraphrased-heldout (30, written before tuning, looked at once): .833/.933 -> .900/1.0 | .700/.933 both
                              | .733/.833 -> .733/.800
  shared-2024-05-22 (40):     1.0/1.0 both | 1.0/1.0 both | .925/.975 both
  shared-2024-01-24 (18):     .944/1.0 -> 1.0/1.0 | 1.0/1.0 both | .889/.944 both
  samples (12):               .917/1.0 both (the miss: two near-duplicate change-captioning papers).
Min-max vs z-score vs RRF, depth 50/100/200, dense weight 1.25-2.0 and summing a paper's top-2 BM25 chunks were
within one question of each other or worse; so were a per-chunk-count penalty on dense scores, counting the
title once, and embedding the question without its "which method" lead.

Lexical paper scores mix (`paper_lexical` 0.5) the best chunk's BM25 with BM25 over the paper's whole title +
abstract (`papers_fts`): real abstracts (~180 words) are split into two 200-token chunks, and a question whose words
span both halves matched neither half well. On the sets above: hard .878 -> .898, all others unchanged; a signal
with a single candidate (or ties) now counts it fully instead of min-max normalising it to 0.
paraphrased-fresh (40 + 10 off-corpus, written blind by a helper after all tuning, researcher-style: keywords,
paraphrases, details): Recall@1/5 1.0/1.0 before and after.
Tried, not adopted: the best MiniLM cosine over a paper's title and abstract sentences, as a fourth signal or mixed
into the dense score (+1 question on hard and held-out; needs ~7 more embeddings per paper at ingest, about twice
the embedding work for abstract-only papers).

Reference sections are excluded from evidence by default; the digest pages' machine-written summaries are
annotations, never chunks, so they cannot be retrieved as evidence at all.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from kb.store.catalog import Catalog
from kb.types import KbError

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("rrf", "convex")


@dataclass(frozen=True)
class RetrievalParams:
    """Tunable knobs; defaults chosen on bench/questions (see the module docstring for the measurements)."""

    fusion: str = "convex"  # convex: sum of min-max normalised paper scores; rrf: reciprocal-rank fusion
    rrf_k: float = 10.0  # for rrf (and for ordering passages within a paper)
    dense_weight: float = 1.5  # weight of the dense signal relative to BM25 (both fusions)
    title_weight: float = 3.0  # BM25 column weight of the title relative to the chunk text
    depth: int = 100  # chunks fetched per signal
    rescore_lexical: bool = True  # lexical candidates the vector store missed get their exact cosine (stored vectors)
    abstract_mean: float = 0.5  # weight of the whole-abstract vector (mean of its chunks) in a paper's dense score
    paper_lexical: float = 0.5  # share of the lexical weight given to BM25 over a paper's whole title + abstract


DEFAULT_PARAMS = RetrievalParams()

_STOP = set("""a an and are as at be by can do does for from has have how i in into is it its of on or paper papers
that the their them there these this to uses use used using was what when where which who whose why will with
work works about any some our we you they does did propose proposes proposed""".split())


# question framing words: dropped from the BM25 query only (query_terms, used by abstention, keeps them)
_FRAMING = set("""technique techniques approach approaches method methods way ways someone get gets make makes
exist exists""".split())
# British -> American endings: the FTS5 porter stemmer maps "regularise" and "regularization" to different stems
_SPELLINGS = (("isation", "ization"), ("isations", "izations"), ("ised", "ized"), ("ises", "izes"), ("ising", "izing"),
              ("ise", "ize"), ("yse", "yze"), ("ysed", "yzed"), ("ysing", "yzing"), ("our", "or"), ("ours", "ors"),
              ("tre", "ter"), ("tres", "ters"), ("ogue", "og"))


@dataclass
class Filters:
    date: str | None = None
    since: str | None = None
    until: str | None = None
    topic: str | None = None
    papers: list[str] | None = None  # restrict to these paper ids
    include_references: bool = False

    def __post_init__(self) -> None:
        """Dates are checked (and "today"/"yesterday" resolved) here, so a typo is an error, never zero matches."""
        from kb.dates import check_range, parse_day

        self.date = parse_day(self.date, "--date") if self.date else None
        self.since = parse_day(self.since, "--since") if self.since else None
        self.until = parse_day(self.until, "--until") if self.until else None
        check_range(self.since, self.until)

    def restricts_papers(self) -> bool:
        return any([self.date, self.since, self.until, self.topic, self.papers is not None])


@dataclass
class Passage:
    chunk_id: str
    paper_id: str
    text: str
    section: str
    kind: str
    page: int | None
    page_end: int | None
    char_start: int
    char_end: int
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    similarity: float | None = None  # cosine similarity to the query, when known


@dataclass
class PaperHit:
    paper_id: str
    title: str
    arxiv_id: str | None
    date: str | None
    topics: list[str]
    score: float
    passages: list[Passage]
    bm25: float | None = None  # the paper's best BM25 score (higher is better)
    bm25_rank: int | None = None  # the paper's rank among papers by BM25 (0-based)
    dense_rank: int | None = None  # ... and by dense similarity

    @property
    def best_similarity(self) -> float:
        sims = [p.similarity for p in self.passages if p.similarity is not None]
        return max(sims) if sims else 0.0


@dataclass
class SearchResult:
    query: str
    mode: str
    papers: list[PaperHit]
    timings: dict = field(default_factory=dict)
    query_vector: np.ndarray | None = None  # the embedded query (dense and hybrid modes)

    def to_dict(self) -> dict:
        return {
            "query": self.query, "mode": self.mode, "timings_ms": self.timings,
            "papers": [{
                "id": p.paper_id, "title": p.title, "arxiv_id": p.arxiv_id, "date": p.date, "topics": p.topics,
                "score": round(p.score, 5), "best_similarity": round(p.best_similarity, 4),
                "bm25_rank": p.bm25_rank, "dense_rank": p.dense_rank,
                "passages": [{
                    "chunk_id": s.chunk_id, "page": s.page, "section": s.section, "kind": s.kind,
                    "score": round(s.score, 5), "bm25_rank": s.bm25_rank, "dense_rank": s.dense_rank,
                    "similarity": None if s.similarity is None else round(s.similarity, 4), "text": s.text,
                } for s in p.passages],
            } for p in self.papers],
        }


def query_terms(text: str) -> list[str]:
    """The question's content words, lower-cased; hyphenated/dotted words also give their parts."""
    words = [w for w in re.findall(r"[\w][\w\-.]*[\w]|\w", text.lower()) if w not in _STOP and len(w) > 1]
    terms: list[str] = []
    for w in dict.fromkeys(words):
        split = ("-" in w or "." in w) and not re.fullmatch(r"[\d.]+", w)
        for part in re.split(r"[\-.]", w) if split else [w]:
            if part and part not in _STOP and (len(part) > 1 or part.isdigit()):
                terms.append(part)
    return list(dict.fromkeys(terms))


def spelling_variants(term: str) -> list[str]:
    """The term and its American spelling when it has a British ending ("regularise" -> "regularize")."""
    out = [term]
    for british, american in _SPELLINGS:
        if term.endswith(british) and len(term) > len(british) + 2:
            out.append(term[: -len(british)] + american)
    return out


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of the question's content words, framing words ("which approach") dropped and British
    spellings doubled with American ones (quoted, so user text is never FTS syntax)."""
    words = [t for t in query_terms(text) if t not in _FRAMING] or query_terms(text)
    terms = ['"' + v.replace('"', "") + '"' for t in words for v in spelling_variants(t)]
    return " OR ".join(dict.fromkeys(terms)) or None


def allowed_papers(catalog: Catalog, f: Filters) -> set[str] | None:
    """Paper ids the filters allow (None: no restriction)."""
    if not f.restricts_papers():
        return None
    ids = {r["id"] for r in catalog.list_papers(date=f.date, topic=f.topic, since=f.since, until=f.until)}
    if f.papers is not None:
        ids &= set(f.papers)
    return ids


def bm25(catalog: Catalog, query: str, limit: int, allowed: set[str] | None, refs: bool,
         title_weight: float = DEFAULT_PARAMS.title_weight) -> list[tuple[str, str, float]]:
    """(chunk id, paper id, score) best first; score = -bm25 (higher is better)."""
    q = fts_query(query)
    if not q:
        return []
    sql = (f"SELECT chunk_id, paper_id, bm25(chunks_fts, 0, 0, 0, {float(title_weight)}, 1.0) AS s FROM chunks_fts"
           " WHERE chunks_fts MATCH ?" + ("" if refs else " AND kind != 'references'"))
    args: list = [q]
    if allowed is not None:
        sql += " AND paper_id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(sorted(allowed)))
    rows = catalog.db.execute(sql + " ORDER BY s LIMIT ?", (*args, limit)).fetchall()
    return [(r[0], r[1], -r[2]) for r in rows]


def paper_bm25(catalog: Catalog, query: str, limit: int, allowed: set[str] | None) -> dict[str, float]:
    """{paper id: score} best first, BM25 over each paper's title + whole abstract (score = -bm25).

    Chunk-level BM25 sees a long abstract in pieces, each with half its words; this signal sees it whole."""
    q = fts_query(query)
    if not q:
        return {}
    sql = "SELECT paper_id, bm25(papers_fts, 0, 1.0, 1.0) AS s FROM papers_fts WHERE papers_fts MATCH ?"
    args: list = [q]
    if allowed is not None:
        sql += " AND paper_id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(sorted(allowed)))
    return {r[0]: -r[1] for r in catalog.db.execute(sql + " ORDER BY s LIMIT ?", (*args, limit))}


def dense(store, query_vec: np.ndarray, limit: int, allowed: set[str] | None, refs: bool) -> list[tuple[str, float]]:
    """(chunk id, cosine similarity) best first."""
    clauses: list[dict] = []
    if not refs:
        clauses.append({"kind": {"$ne": "references"}})
    if allowed is not None:
        clauses.append({"paper_id": {"$in": sorted(allowed)}})
    where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
    return store.query(query_vec, limit, where=where)


def stored_similarities(catalog: Catalog, query_vec: np.ndarray, chunk_ids: list[str]) -> dict[str, float]:
    """Cosine of the query to chunks, from the embeddings kept in the catalog (no vector-store round trip)."""
    out: dict[str, float] = {}
    q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
    qn = float(np.linalg.norm(q)) or 1.0
    for start in range(0, len(chunk_ids), 500):
        part = chunk_ids[start:start + 500]
        marks = ",".join("?" * len(part))
        for cid, blob in catalog.db.execute(f"SELECT id, embedding FROM chunks WHERE id IN ({marks})", part):
            if blob is not None:
                v = np.frombuffer(blob, dtype=np.float32)
                if v.shape == q.shape:
                    out[cid] = float(v @ q) / ((float(np.linalg.norm(v)) or 1.0) * qn)
    return out


def _stored_vectors(catalog: Catalog, chunk_ids: list[str], paper_ids: list[str]) -> list[tuple[str, str, str, np.ndarray]]:
    """(chunk id, paper id, kind, unit vector) of the given chunks and of the given papers' abstract chunks."""
    out: dict[str, tuple[str, str, str, np.ndarray]] = {}
    sql = ("SELECT id, paper_id, kind, embedding FROM chunks WHERE embedding IS NOT NULL AND (id IN (SELECT value FROM"
           " json_each(?)) OR (kind = 'abstract' AND paper_id IN (SELECT value FROM json_each(?))))")
    for cid, pid, kind, blob in catalog.db.execute(sql, (json.dumps(chunk_ids), json.dumps(paper_ids))):
        v = np.frombuffer(blob, dtype=np.float32)
        out[cid] = (cid, pid, kind, v / (float(np.linalg.norm(v)) or 1.0))
    return list(out.values())


def dense_paper_scores(catalog: Catalog, query_vec: np.ndarray, vec_hits: list[tuple[str, str, float]],
                       lex: list[tuple[str, str, float]], p: RetrievalParams,
                       lex_papers: Iterable[str] = ()) -> tuple[dict[str, float], dict[str, float]]:
    """Each candidate paper's dense score, and the cosine of every chunk it was computed from.

    A paper's score is its best chunk's cosine, mixed (`abstract_mean`) with the cosine of its whole abstract (the
    normalised mean of its abstract chunks' vectors: a long abstract is split into chunks, each holding half the
    story). With `rescore_lexical`, papers that only BM25 found are scored too, from their stored vectors (the
    vector store's top-`depth` list is approximate and short), instead of counting as 0 in the fusion;
    `lex_papers` are more such papers (found by the paper-level BM25, scored from their abstract chunks)."""
    sims = {cid: s for cid, _, s in vec_hits}
    papers = list(dict.fromkeys(pid for _, pid, _ in vec_hits))
    need: list[str] = []
    if p.rescore_lexical:
        seen = set(papers)
        papers += [pid for pid in dict.fromkeys([*(pid for _, pid, _ in lex), *lex_papers]) if pid not in seen]
        need = [cid for cid, _, _ in lex if cid not in sims]
    if not papers:
        return {}, sims
    q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
    q = q / (float(np.linalg.norm(q)) or 1.0)
    abstract: dict[str, list[np.ndarray]] = {}
    best: dict[str, float] = {}
    for cid, pid, s in vec_hits:
        best[pid] = max(best.get(pid, s), s)
    if need or p.abstract_mean > 0:
        for cid, pid, kind, v in _stored_vectors(catalog, need, papers if p.abstract_mean > 0 else []):
            if v.shape != q.shape:
                continue
            s = sims.setdefault(cid, float(v @ q))
            best[pid] = max(best.get(pid, s), s)
            if kind == "abstract":
                abstract.setdefault(pid, []).append(v)
    scores: dict[str, float] = {}
    for pid in papers:
        if pid not in best:
            continue
        score = best[pid]
        if p.abstract_mean > 0 and pid in abstract:
            mean = np.mean(abstract[pid], axis=0)
            whole = float(mean @ q) / (float(np.linalg.norm(mean)) or 1.0)
            score = (1 - p.abstract_mean) * score + p.abstract_mean * whole
        scores[pid] = score
    return scores, sims


def _paper_best(hits: list[tuple[str, str, float]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for _cid, pid, s in hits:
        if pid not in best:  # hits come best first
            best[pid] = s
    return best


def _fuse(signals: list[tuple[dict[str, float], float]], p: RetrievalParams) -> dict[str, float]:
    """Fuse per-signal paper scores {paper: score} (higher is better), each with a weight."""
    fused: dict[str, float] = {}
    for scores, weight in signals:
        if not scores:
            continue
        ranked = sorted(scores, key=lambda pid: -scores[pid])
        if p.fusion == "rrf":
            for r, pid in enumerate(ranked):
                fused[pid] = fused.get(pid, 0.0) + weight / (p.rrf_k + r + 1)
        else:  # convex combination of min-max normalised scores (missing = 0; a signal's only score or ties = 1)
            hi, lo = scores[ranked[0]], scores[ranked[-1]]
            for pid in ranked:
                fused[pid] = fused.get(pid, 0.0) + weight * ((scores[pid] - lo) / (hi - lo) if hi > lo else 1.0)
    return fused


MAX_QUERY_CHARS = 2000  # a question or a few sentences; longer text is a document, not a query


def check_query(text: str, what: str = "query") -> str:
    """`text` with its whitespace collapsed; KbError when it is empty or longer than MAX_QUERY_CHARS."""
    text = " ".join(str(text).split())
    if not text:
        raise KbError(f"the {what} is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise KbError(f"the {what} is {len(text):,} characters long; at most {MAX_QUERY_CHARS:,} are read, so "
                      f"ask about one point at a time (a question, not a document)")
    return text


def search(query: str, catalog: Catalog, embedder, store, k: int = 5, filters: Filters | None = None,
           mode: str = "hybrid", passages_per_paper: int = 3, depth: int | None = None,
           params: RetrievalParams | None = None, with_similarity: bool = False) -> SearchResult:
    """Rank papers for `query`. `mode` picks the signals (hybrid | bm25 | dense). With `with_similarity`, every
    returned passage gets its cosine similarity to the query (the query is embedded even in bm25 mode)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    query = check_query(query)
    if k < 1:
        raise KbError(f"-k must be at least 1 (got {k})")
    p = params or DEFAULT_PARAMS
    if p.fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}")
    depth = depth or p.depth
    f = filters or Filters()
    t0 = time.perf_counter()
    allowed = allowed_papers(catalog, f)
    if allowed is not None and not allowed:
        return SearchResult(query, mode, [], {"total": 0.0})
    lex = bm25(catalog, query, depth, allowed, f.include_references, p.title_weight) if mode != "dense" else []
    whole = paper_bm25(catalog, query, depth, allowed) if mode != "dense" and p.paper_lexical > 0 else {}
    t1 = time.perf_counter()
    qvec = None
    if mode != "bm25" or with_similarity:
        qvec = np.asarray(embedder.embed([query])[0], dtype=np.float32)
    t2 = time.perf_counter()
    vec = dense(store, qvec, depth, allowed, f.include_references) if mode != "bm25" else []
    t3 = time.perf_counter()
    rows = catalog.get_chunks(list(dict.fromkeys([c for c, _, _ in lex] + [c for c, _ in vec])))
    vec_hits = [(cid, rows[cid]["paper_id"], s) for cid, s in vec if cid in rows]  # a vector whose chunk is gone
    lex_paper = _paper_best(lex)
    vec_paper, sims = dense_paper_scores(catalog, qvec, vec_hits, lex, p, whole) if mode != "bm25" else ({}, {})
    fused = _fuse([(lex_paper, 1.0 - p.paper_lexical), (whole, p.paper_lexical), (vec_paper, p.dense_weight)], p)
    top = sorted(fused, key=lambda pid: -fused[pid])[:k]
    have = {r["paper_id"] for r in rows.values()}
    for pid in (pid for pid in top if pid not in have):  # found only by the paper-level BM25: its scored chunks
        ids = catalog.chunk_ids(pid)
        rows.update(catalog.get_chunks([c for c in ids if c in sims] or ids[:passages_per_paper]))
    lex_rank = {cid: i for i, (cid, _, _) in enumerate(lex)}
    vec_rank = {cid: i for i, (cid, _) in enumerate(vec)}
    paper_lex_rank = {pid: i for i, pid in enumerate(sorted(lex_paper, key=lambda x: -lex_paper[x]))}
    paper_vec_rank = {pid: i for i, pid in enumerate(sorted(vec_paper, key=lambda x: -vec_paper[x]))}
    by_paper: dict[str, list[Passage]] = {pid: [] for pid in top}
    for cid, r in rows.items():
        if r["paper_id"] not in by_paper:
            continue
        chunk_score = sum(1.0 / (p.rrf_k + ranks[cid] + 1) for ranks in (lex_rank, vec_rank) if cid in ranks)
        by_paper[r["paper_id"]].append(Passage(
            chunk_id=cid, paper_id=r["paper_id"], text=r["text"], section=r["section"], kind=r["kind"],
            page=r["page_start"], page_end=r["page_end"], char_start=r["char_start"], char_end=r["char_end"],
            score=chunk_score, bm25_rank=lex_rank.get(cid), dense_rank=vec_rank.get(cid), similarity=sims.get(cid)))
    papers = []
    for pid in top:
        passages = sorted(by_paper[pid], key=lambda s: -s.score)[:passages_per_paper]
        row = catalog.get_paper_row(pid)
        papers.append(PaperHit(pid, row["title"], row["arxiv_id"], row["digest_date"] or row["published"],
                               json.loads(row["topics"]), fused[pid], passages, lex_paper.get(pid),
                               paper_lex_rank.get(pid), paper_vec_rank.get(pid)))
    if with_similarity and qvec is not None:
        missing = [s.chunk_id for hit in papers for s in hit.passages if s.similarity is None]
        extra = stored_similarities(catalog, qvec, missing) if missing else {}
        for hit in papers:
            for s in hit.passages:
                if s.similarity is None:
                    s.similarity = extra.get(s.chunk_id)
    t4 = time.perf_counter()
    timings = {"bm25": round((t1 - t0) * 1000, 2), "embed": round((t2 - t1) * 1000, 2),
               "dense": round((t3 - t2) * 1000, 2), "fuse": round((t4 - t3) * 1000, 2),
               "total": round((t4 - t0) * 1000, 2)}
    return SearchResult(query, mode, papers, timings, qvec)
