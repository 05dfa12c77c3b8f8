"""One paper's digest: for each field, the paper's own best passages, one generation, a grounding check.

Evidence is the paper's chunks only (its PDF pages when ingested, else its abstract); annotations such as the
digest pages' machine-written summaries are never read here. Fields come in four evidence groups (overview,
prior work, method, results); for each group the chunks are ranked by section kind (e.g. Methods for "method", Experiments
for "results") plus embedding similarity to the group's query, the best ones are numbered [1]..[k] in the prompt
(the same for every field of the group, so the model evaluates them once), and every sentence of the reply goes through
kb.grounding.check.ground: supported sentences are kept with their citations, the others are replaced by the closest
verbatim quote (marked) or dropped. Affiliation and keywords are copied from the page text only when it states
them, URLs from the metadata, abstract and comment; nothing is guessed. Citations are renumbered per paper so
[n] always means the paper's n-th source.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from kb.store.catalog import Catalog
from kb.backends.embedders import MemoEmbedder
from kb.digest.types import FIELD_LABELS, Field, PaperDigest, Source, Statement
from kb.grounding.check import closest_sentences, ground
from kb.grounding.sentences import clean_passage, looks_like_instruction, parse_citations, quotable
from kb.grounding.types import GroundedText, Passage
from kb.prompts import DIGEST_FIELDS, PROMPT_VERSION, digest_messages, fit_passages
from kb.types import KbError, Paper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceSpec:
    """Which of the paper's chunks the fields of one group read: ranked by similarity to `query` plus a bonus
    per section kind. Every field of a group sees the very same passages, so its prompts share one prefix and
    llama.cpp evaluates the passages once per group, not once per field (prompt evaluation is ~3/4 of the cost
    on 2 cores: ~270 MFLOP per prompt token for a 135M model)."""

    query: str
    kinds: dict  # section kind -> score bonus
    passages: int = 3
    require: tuple[str, ...] = ()  # the best chunk of each of these kinds is always among the passages


@dataclass(frozen=True)
class FieldSpec:
    group: str  # key of EVIDENCE
    max_tokens: int
    min_items: int = 0  # fewer shown statements: top up with verbatim quotes (marked)
    max_items: int = 7


_EVIDENCE_KINDS = ("abstract", "introduction", "related", "method", "experiments", "conclusion", "body", "appendix")

EVIDENCE: dict[str, EvidenceSpec] = {
    "overview": EvidenceSpec("the research problem, the main contribution and the main result of the paper",
                             {"abstract": 0.3, "introduction": 0.2, "conclusion": 0.1},
                             require=("abstract", "introduction")),
    # prior work reads apart from the overview: next to related-work passages a small model credits the paper
    # with what earlier methods did ("this paper uses two-stream networks")
    "prior": EvidenceSpec("earlier methods and their limitations, and what this paper does differently",
                          {"related": 0.35, "introduction": 0.2}, require=("related", "introduction")),
    "method": EvidenceSpec("the proposed method: approach, architecture, modules and the steps of its pipeline",
                           {"method": 0.4, "abstract": 0.1}, require=("method",)),
    "results": EvidenceSpec("experiments, results and conclusions: benchmarks, numbers, cost, hardware, impact",
                            {"experiments": 0.3, "conclusion": 0.3, "abstract": 0.05, "appendix": 0.05}, 4,
                            require=("experiments", "conclusion")),
}

# Fields in generation order: a group's fields run back to back (one shared prompt prefix each). A field with
# fewer shown statements than `min_items` is topped up with the group's passage sentences closest to its question,
# marked as quotes, so a paper that states its method never shows "not stated" for it only because the model's
# sentences failed the check. (No top-up for workload: its passages need not mention any cost.)
FIELD_SPECS: dict[str, FieldSpec] = {
    "summary": FieldSpec("overview", 64, min_items=1, max_items=1),
    "takeaways": FieldSpec("overview", 160, min_items=3, max_items=7),
    "background": FieldSpec("overview", 90, min_items=1),
    "prior_methods": FieldSpec("prior", 90, min_items=1),
    "innovation": FieldSpec("prior", 80, min_items=1),
    "method": FieldSpec("method", 90, min_items=1),
    "steps": FieldSpec("method", 120, min_items=2, max_items=7),
    "results": FieldSpec("results", 90, min_items=1),
    "significance": FieldSpec("results", 80, min_items=1),
    "workload": FieldSpec("results", 80),
}
GENERATED_FIELDS = tuple(FIELD_SPECS)
_NO_CLAIM = ("not-a-claim", "duplicate")

_AFFILIATION = re.compile(r"universit|institut|college|school of|department|dept\.|laborator|\blabs?\b|academy|"
                          r"faculty|hospital|\bcent(?:re|er) for\b|\binc\b|\bltd\b|corporation|research cent", re.I)
_KEYWORDS = re.compile(r"^[ \t]*(?:key ?words|index terms)[ \t]*[:：—–.\-][ \t]*(?P<list>.+)$", re.I | re.M)
_URL = re.compile(r"https?://[^\s{}<>()\[\]\"'，。、]+")


@dataclass
class _Chunk:
    id: str
    text: str
    section: str
    kind: str
    page: int | None
    vector: np.ndarray
    pos: int = 0  # reading order within the paper


def _paper_chunks(catalog: Catalog, paper_id: str, title: str, embedder) -> list[_Chunk]:
    """The paper's chunks with unit vectors: the ones stored at ingest when they come from this embedder."""
    info = json.loads(catalog.get_meta("index_info") or "{}")
    reuse = info.get("embedder") == getattr(embedder, "name", None)
    rows = list(catalog.db.execute(
        "SELECT id, text, section, kind, page_start, embedding FROM chunks WHERE paper_id = ? ORDER BY idx",
        (paper_id,)))
    vectors: list[np.ndarray | None] = [
        np.frombuffer(r["embedding"], dtype=np.float32) if reuse and r["embedding"] is not None else None for r in rows]
    todo = [i for i, v in enumerate(vectors) if v is None]
    if todo:
        fresh = embedder.embed([f"{title}\n{rows[i]['text']}" for i in todo])
        for i, v in zip(todo, fresh):
            vectors[i] = np.asarray(v, dtype=np.float32)
    out = []
    for pos, (r, v) in enumerate(zip(rows, vectors)):
        norm = float(np.linalg.norm(v)) or 1.0
        out.append(_Chunk(r["id"], r["text"], r["section"], r["kind"], r["page_start"], v / norm, pos))
    return out


def _body(c: _Chunk) -> str:
    """The chunk's text without the section heading it may start with ("3 Method\n\nWe ..." -> "We ...")."""
    text = c.text.lstrip()
    if c.section and text.startswith(c.section) and text[len(c.section):len(c.section) + 1] in ("\n", ""):
        rest = text[len(c.section):].lstrip()
        return rest or text
    return text


def _rank(chunks: list[_Chunk], spec: EvidenceSpec, query_vec: np.ndarray) -> list[_Chunk]:
    """The group's passages, best first: the top chunk of each required kind the paper has, then the best others."""
    usable = [c for c in chunks if c.kind in _EVIDENCE_KINDS and c.vector.shape == query_vec.shape]
    ranked = sorted(usable, key=lambda c: -(float(c.vector @ query_vec) + spec.kinds.get(c.kind, 0.0)))
    must = [next(c for c in ranked if c.kind == k) for k in spec.require if any(c.kind == k for c in ranked)]
    rest = [c for c in ranked if c not in must][: max(0, spec.passages - len(must))]
    return [c for c in ranked if c in must or c in rest]


class _Numbering:
    """The paper's sources, numbered in order of first citation."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}

    def number(self, chunk: _Chunk, quote: str | None = None) -> int:
        """The source number of `chunk`, recording `quote` (a sentence of it). Consecutive chunks overlap, so a
        quote already found in a listed source reuses that source instead of listing the same sentence twice."""
        quote = " ".join((quote or "").split())
        src = self.sources.get(chunk.id)
        if src is None and quote:
            src = next((s for s in self.sources.values() if quote in " ".join(s.text.split())), None)
        if src is None:
            src = Source(len(self.sources) + 1, chunk.id, chunk.page, chunk.section, chunk.kind,
                         clean_passage(chunk.text))  # as the model saw it: shown when a source has no quote
            self.sources[chunk.id] = src
        if quote and quote not in src.quotes and len(src.quotes) < 3:
            src.quotes.append(quote)
        return src.n


def _verdict(v, chunk_of: dict[int, _Chunk]) -> dict:
    """The grounding verdict as data; `cited_chunks` names the passages the check was based on."""
    return {"status": v.status, "score": v.score, "overlap": v.overlap, "similarity": v.similarity,
            "missing": list(v.missing), "cited_chunks": [chunk_of[n].id for n in v.citations if n in chunk_of]}


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _no_claim(clean: str, title: str, last_of_cut_reply: bool, names_ok: bool = False) -> bool:
    """The paper's title repeated, a heading or list label ("Key Findings", "4."), a bare name ("Edge-Aware Normal
    Loss": fine as a method step when `names_ok`, no takeaway), or the unfinished sentence a reply was cut off
    in: text that states nothing about the paper."""
    words = _words(clean)
    if words == _words(title) or len(words) < 4 or (not names_ok and not quotable(clean, title)):
        return True
    return last_of_cut_reply and not re.search(r"[.!?)\]]\W*$", clean)


def _statements(grounded: GroundedText, chunk_of: dict[int, _Chunk], numbering: _Numbering, title: str = "",
                cut: bool = False, names_ok: bool = False) -> list[Statement]:
    """Grounded sentences as statements; only shown ones get source numbers (so every listed source is cited).
    `cut`: the reply stopped at its token limit (its last sentence may be unfinished)."""
    out: list[Statement] = []
    last = len(grounded.sentences) - 1
    for i, gs in enumerate(grounded.sentences):
        v = gs.verdict
        clean = parse_citations(gs.original)[0]
        if gs.action == "kept" and not gs.citations:  # the model's "no answer" sentence: claims nothing
            out.append(Statement("", [], "dropped", gs.original, {"status": "no-answer"}))
        elif gs.action in ("kept", "dropped") and _no_claim(clean, title, cut and i == last, names_ok):
            out.append(Statement("", [], "dropped", gs.original, {**_verdict(v, chunk_of), "reason": "not-a-claim"}))
        elif gs.action == "dropped":
            reason = getattr(gs, "reason", "") or "unsupported"
            out.append(Statement("", [], "dropped", gs.original, {**_verdict(v, chunk_of), "reason": reason}))
        elif gs.action == "replaced":
            n = numbering.number(chunk_of[v.quote_passage], v.best_quote)
            out.append(Statement(" ".join(v.best_quote.split()), [n], "replaced", gs.original, _verdict(v, chunk_of)))
        else:
            cites = [numbering.number(chunk_of[n], v.best_quote if n == v.quote_passage else None)
                     for n in gs.citations]
            out.append(Statement(clean, cites, "kept", gs.original, _verdict(v, chunk_of)))
    return out


def _fit(name: str, statements: list[Statement], passages: list[Passage], chunk_of: dict[int, _Chunk],
         numbering: _Numbering, embedder) -> list[Statement]:
    """At most `max_items` shown statements; fewer than `min_items`: add the passage sentences closest to the
    field's question as verbatim quotes (marked), best first."""
    spec = FIELD_SPECS[name]
    out, shown = [], 0
    for s in statements:
        if s.shown:
            if shown >= spec.max_items:
                continue
            shown += 1
        out.append(s)
    if shown >= spec.min_items:
        return out
    seen = [" ".join(s.text.split()).rstrip(".") for s in out if s.shown]

    def new_enough(sentence: str) -> bool:  # not a fragment, and not within (nor containing) what is listed
        core = sentence.rstrip(".")
        if len(sentence) < 40 or sentence.endswith("...") or any(core in t or t in core for t in seen):
            return False
        seen.append(core)
        return True

    for _, p, sentence in closest_sentences(DIGEST_FIELDS[name], passages, embedder, keep=new_enough):
        if shown >= spec.min_items:
            break
        out.append(Statement(sentence, [numbering.number(chunk_of[p.n], sentence)], "quoted"))
        shown += 1
    return out


def _group_passages(name: str, title: str, paper_id: str, ranked: list[_Chunk], generator,
                    fields: list[str], whole_paper: bool) -> tuple[list[Passage], dict[int, _Chunk]]:
    """The passages every field of an evidence group sees, best first, fitted to the context of its longest reply.
    `whole_paper` (every evidence chunk of the paper is among them, e.g. a paper known by its abstract only): in
    reading order instead, so all groups send the very same prompt prefix and llama.cpp evaluates it once."""
    spec = EVIDENCE[name]
    top = ranked[:spec.passages]
    # the document's own [n] markers and instruction-like sentences never reach the prompt, the check or a quote
    passages = [Passage(n=i + 1, chunk_id=c.id, paper_id=paper_id, title=title, text=clean_passage(_body(c)),
                        page=c.page, section=c.section) for i, c in enumerate(top)]
    longest = max(fields, key=lambda f: FIELD_SPECS[f].max_tokens)
    fitted = fit_passages("", passages, generator.count_tokens,
                          generator.prompt_budget(FIELD_SPECS[longest].max_tokens),
                          build=lambda _q, ps: digest_messages(longest, title, ps))
    chunks = [top[p.n - 1] for p in fitted]
    if whole_paper:
        chunks.sort(key=lambda c: c.pos)
    by_id = {p.chunk_id: p for p in fitted}  # fitted copies (the best one may have been shortened)
    ordered = [dataclasses.replace(by_id[c.id], n=i + 1) for i, c in enumerate(chunks)]
    return ordered, {i + 1: c for i, c in enumerate(chunks)}


def _generate_field(name: str, title: str, fitted: list[Passage], chunk_of: dict[int, _Chunk], generator,
                    embedder, numbering: _Numbering, stats: dict, reuse_prefix: bool) -> Field:
    spec = FIELD_SPECS[name]
    if not fitted:
        return Field(name)
    gen = generator.generate(digest_messages(name, title, fitted), max_tokens=spec.max_tokens,
                             reuse_prefix=reuse_prefix)
    stats["calls"] += 1
    stats["prompt_tokens"] += gen.prompt_tokens
    stats["completion_tokens"] += gen.completion_tokens
    stats["generation_seconds"] += gen.seconds
    grounded = ground(gen.text, fitted, embedder, mode="replace", focus=DIGEST_FIELDS[name])
    statements = _statements(grounded, chunk_of, numbering, title, gen.completion_tokens >= spec.max_tokens,
                             names_ok=name == "steps")
    for s in statements:
        if not s.generated or not s.verdict:
            continue
        if s.verdict.get("status") == "no-answer" or s.verdict.get("reason") in _NO_CLAIM:
            stats["not_claims"] += 1  # an echoed question or instruction, a repeat, "no answer": claims nothing
        else:
            stats["generated"] += 1
            stats[s.action] += 1
    statements = _fit(name, statements, fitted, chunk_of, numbering, embedder)
    stats["quoted"] += sum(1 for s in statements if s.action == "quoted")
    return Field(name, statements)


def _affiliation(paper: Paper, chunks: list[_Chunk], numbering: _Numbering) -> Field:
    """Affiliation lines of the title block (page text), or the metadata's, when really there."""
    meta = paper.extra.get("affiliations") or paper.extra.get("affiliation")
    if meta:
        items = meta if isinstance(meta, list) else [meta]
        return Field("affiliation", [Statement(str(a), [], "extracted") for a in items if str(a).strip()])
    found: list[Statement] = []
    title = " ".join(paper.title.lower().split())
    for c in chunks:
        if c.kind != "front":
            continue
        for line in c.text.split("\n"):
            line = " ".join(line.split())
            if (line and line.lower() != title and len(line) <= 200 and _AFFILIATION.search(line)
                    and "@" not in line and not looks_like_instruction(line) and line not in {s.text for s in found}):
                found.append(Statement(line, [numbering.number(c, line)], "extracted"))
    return Field("affiliation", found[:3])


def _keywords(chunks: list[_Chunk], numbering: _Numbering) -> Field:
    """A "Keywords:" / "Index Terms:" line in the paper's own text."""
    for c in chunks:
        if c.kind in ("references",):
            continue
        m = _KEYWORDS.search(c.text)
        if m:
            words = [w.strip(" .;") for w in re.split(r"[,;·•]", m.group("list")) if w.strip(" .;")]
            n = numbering.number(c, m.group(0).strip())
            return Field("keywords", [Statement(", ".join(words), [n], "extracted")])
    return Field("keywords")


def clean_urls(text: str) -> list[str]:
    """URLs written in `text`, without trailing punctuation or LaTeX braces ("…/AtomGS/}{…" -> "…/AtomGS/")."""
    urls = [u.rstrip(".,;:!?'\"”’") for u in _URL.findall(text or "")]
    return list(dict.fromkeys(u for u in urls if len(u) > len("https://") + 3))


def _urls(paper: Paper, chunks: list[_Chunk]) -> Field:
    urls = []
    if paper.arxiv_id:
        urls.append(f"https://arxiv.org/abs/{paper.arxiv_id}")
    if paper.pdf_url:
        urls.append(paper.pdf_url)
    front = " ".join(c.text for c in chunks if c.kind == "front")
    urls += clean_urls(f"{paper.abstract}\n{paper.comment or ''}\n{front}")
    return Field("urls", [Statement(u, [], "extracted") for u in dict.fromkeys(urls)])


def _renumber(fields: dict[str, Field], sources: list[Source]) -> list[Source]:
    """Keep only the sources a shown statement cites, numbered in reading order (fields in page order)."""
    order: dict[int, int] = {}
    for name in FIELD_LABELS:
        for st in fields[name].shown if name in fields else []:
            for n in st.citations:
                order.setdefault(n, len(order) + 1)
    for f in fields.values():
        for st in f.statements:
            st.citations = [order[n] for n in st.citations] if st.shown else []
    kept = [s for s in sources if s.n in order]
    for s in kept:
        s.n = order[s.n]
    return sorted(kept, key=lambda s: s.n)


def paper_link(paper: Paper) -> str | None:
    """The paper's arXiv page (with version when known), else its PDF URL."""
    if paper.arxiv_id:
        return f"http://arxiv.org/abs/{paper.arxiv_id}" + (f"v{paper.arxiv_version}" if paper.arxiv_version else "")
    return paper.pdf_url


def digest_paper(paper_id: str, catalog: Catalog, embedder, generator,
                 fields: tuple[str, ...] = GENERATED_FIELDS) -> PaperDigest:
    """Write one paper's digest with `generator`, every generated sentence checked against its own passages."""
    t0 = time.perf_counter()
    paper = catalog.load_paper(paper_id)
    if paper is None:
        raise KbError(f"no paper with id {paper_id} in the catalog")
    row = catalog.get_paper_row(paper_id)
    memo = MemoEmbedder(embedder)
    chunks = _paper_chunks(catalog, paper_id, paper.title, memo)
    numbering = _Numbering()
    stats = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "generation_seconds": 0.0, "generated": 0,
             "kept": 0, "replaced": 0, "dropped": 0, "quoted": 0, "not_claims": 0}
    out: dict[str, Field] = {}
    groups = [g for g in EVIDENCE if any(FIELD_SPECS[f].group == g for f in fields)]
    queries = memo.embed([EVIDENCE[g].query for g in groups]) if groups else []
    first_call = True
    evidence = sum(1 for c in chunks if c.kind in _EVIDENCE_KINDS)
    for group, qvec in zip(groups, queries):
        qvec = qvec / (float(np.linalg.norm(qvec)) or 1.0)
        members = [f for f in FIELD_SPECS if f in fields and FIELD_SPECS[f].group == group]
        fitted, chunk_of = _group_passages(group, paper.title, paper_id, _rank(chunks, EVIDENCE[group], qvec),
                                           generator, members, whole_paper=evidence <= EVIDENCE[group].passages)
        for name in members:
            # the first call of a paper starts from a clean model state, so a paper's text never depends on
            # which paper came before it; later calls reuse the shared prefix (system, title, passages)
            out[name] = _generate_field(name, paper.title, fitted, chunk_of, generator, memo, numbering, stats,
                                        reuse_prefix=not first_call)
            first_call = first_call and not fitted
    out["affiliation"] = _affiliation(paper, chunks, numbering)
    out["keywords"] = _keywords(chunks, numbering)
    out["urls"] = _urls(paper, chunks)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    stats["generation_seconds"] = round(stats["generation_seconds"], 3)
    return PaperDigest(
        paper_id=paper_id, title=paper.title, authors=list(paper.authors), abstract=paper.abstract,
        arxiv_id=paper.arxiv_id, arxiv_version=paper.arxiv_version, link=paper_link(paper), pdf_url=paper.pdf_url,
        comment=paper.comment, date=paper.digest_date or paper.published, full_text=bool(paper.pages),
        fields=out, sources=_renumber(out, list(numbering.sources.values())),
        model=getattr(generator, "name", "generator"), prompt_version=PROMPT_VERSION, stats=stats,
        topics=list(json.loads(row["topics"])) if row else [],
    )
