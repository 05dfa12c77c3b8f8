"""One paper's digest: the paper's sentences, each with its rhetorical role, handed to the fields that need them.

Evidence is the paper's chunks only (its PDF pages when ingested, else its abstract); annotations such as the
digest pages' machine-written summaries are never read here. Every sentence of the evidence gets a role
(kb.digest.roles: background, gap, contribution, method, result, significance, resource, other); each field reads
only the sentences of its role, each sentence serves one field at most (the Summary may restate the contribution),
and a field whose role has no sentence says "not stated in the sources" (one whose sentences other fields
show says so instead: Field.note "covered"). kb.digest.write turns each field's
sentences into statements (a small model's transformation of them, or a bigger model's free answer), every one
checked against exactly those sentences; the fallback is the sentence itself, quoted. A last pass drops a
statement that repeats an earlier one of the same paper. Affiliation and keywords are copied from the page text
only when it states them, URLs from the metadata, abstract and comment; nothing is guessed. Citations are
renumbered per paper so [n] always means the paper's n-th source.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

from kb.store.catalog import Catalog
from kb.backends.embedders import MemoEmbedder
from kb.digest.roles import ROLE_VERSION, RoledSentence, allocate, covers, is_survey, repeats, sentence_roles
from kb.digest.types import CHECK_EXTRACTED, FIELD_LABELS, Field, PaperDigest, Source, Statement
from kb.digest.write import Writer, resolve_mode
from kb.grounding.sentences import clean_passage, looks_like_instruction, quotable, split_sentences
from kb.prompts import PROMPT_VERSION
from kb.types import KbError, Paper

log = logging.getLogger(__name__)

# The generated fields, in the order they are written (the summary first: when it can only quote the contribution,
# that sentence is no longer free for the other fields)
GENERATED_FIELDS = ("summary", "background", "prior_methods", "method", "innovation", "steps", "results",
                    "significance", "workload", "takeaways")
# the roles of the sentences each field reads (kb.digest.roles.allocate); takeaways read whatever is left
_FIELD_ROLES = {"summary": ("contribution", "method"), "background": ("background",), "prior_methods": ("gap",),
                "method": ("contribution", "method"), "innovation": ("contribution", "method"), "steps": ("method",),
                "results": ("result",), "significance": ("significance",), "workload": ("result", "method")}
_EVIDENCE_KINDS = ("abstract", "introduction", "related", "method", "experiments", "conclusion", "body", "appendix")

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
    pos: int = 0  # reading order within the paper


def _paper_chunks(catalog: Catalog, paper_id: str) -> list[_Chunk]:
    rows = catalog.db.execute(
        "SELECT id, text, section, kind, page_start FROM chunks WHERE paper_id = ? ORDER BY idx", (paper_id,))
    return [_Chunk(r["id"], r["text"], r["section"], r["kind"], r["page_start"], pos) for pos, r in enumerate(rows)]


def _body(c: _Chunk) -> str:
    """The chunk's text without the section heading it may start with ("3 Method\n\nWe ..." -> "We ...")."""
    text = c.text.lstrip()
    if c.section and text.startswith(c.section) and text[len(c.section):len(c.section) + 1] in ("\n", ""):
        rest = text[len(c.section):].lstrip()
        return rest or text
    return text


def paper_sentences(chunks: list[_Chunk], title: str) -> list[RoledSentence]:
    """Every quotable sentence of the paper's evidence once (consecutive chunks overlap), in reading order, with its
    role. Consecutive chunks of the same section are one section for the position rules."""
    sections: list[tuple[str, list[tuple[str, int]]]] = []
    seen: set[str] = set()
    last_key = None
    for i, c in enumerate(chunks):
        if c.kind not in _EVIDENCE_KINDS:
            continue
        key = (c.section, c.kind)
        if key != last_key:
            sections.append((c.kind, []))
            last_key = key
        for sentence in split_sentences(clean_passage(_body(c))):  # no [n] markers, no instructions
            sentence = " ".join(sentence.split())
            low = sentence.lower()
            if low in seen or looks_like_instruction(sentence) or not quotable(sentence, title):
                continue
            seen.add(low)
            sections[-1][1].append((sentence, i))
    roles = sentence_roles([(kind, [t for t, _ in items]) for kind, items in sections])
    out: list[RoledSentence] = []
    for (kind, items), rs in zip(sections, roles):
        for (text, chunk), role in zip(items, rs):
            out.append(RoledSentence(len(out), text, role, chunk, kind))
    return out


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
        if quote and quote not in src.quotes:
            src.quotes.append(quote)
        return src.n


def _affiliation(paper: Paper, chunks: list[_Chunk], numbering: _Numbering) -> Field:
    """Affiliation lines of the title block (page text), or the metadata's, when really there."""
    meta = paper.extra.get("affiliations") or paper.extra.get("affiliation")
    if meta:
        items = meta if isinstance(meta, list) else [meta]
        return Field("affiliation", [Statement(str(a), [], "extracted", kind="extracted", check=CHECK_EXTRACTED)
                                     for a in items if str(a).strip()])
    found: list[Statement] = []
    title = " ".join(paper.title.lower().split())
    for c in chunks:
        if c.kind != "front":
            continue
        for line in c.text.split("\n"):
            line = " ".join(line.split())
            if (line and line.lower() != title and len(line) <= 200 and _AFFILIATION.search(line)
                    and "@" not in line and not looks_like_instruction(line) and line not in {s.text for s in found}):
                found.append(Statement(line, [numbering.number(c, line)], "extracted", kind="extracted",
                                       check=CHECK_EXTRACTED))
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
            return Field("keywords", [Statement(", ".join(words), [n], "extracted", kind="extracted",
                                               check=CHECK_EXTRACTED)])
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
    return Field("urls", [Statement(u, [], "extracted", role="resource", kind="extracted", check=CHECK_EXTRACTED)
                          for u in dict.fromkeys(urls)])


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


def _no_repeats(fields: dict[str, Field], writer: Writer, groups: dict) -> None:
    """A statement that repeats an earlier shown one of the paper (page order) gives way to its own sentence,
    quoted, when that is new; else it is dropped."""
    shown: list[str] = []
    for name in FIELD_LABELS:
        f = fields.get(name)
        if f is None or name not in GENERATED_FIELDS:
            continue
        out = []
        for st in f.statements:
            if st.shown and any(repeats(st.text, t) for t in shown):
                src = groups.get(id(st))
                if st.kind != "quote" and src is not None:
                    q = writer.quote(src, "replaced" if st.action == "kept" else st.action, st.generated, st.verdict)
                    if not any(repeats(q.text, t) for t in shown):
                        st = q
                if any(repeats(st.text, t) for t in shown):
                    st = Statement("", [], "dropped", st.generated, {**(st.verdict or {}), "reason": "duplicate"},
                                   role=st.role)
            if st.shown:
                shown.append(st.text)
            out.append(st)
        f.statements = out


def _covered(name: str, f: Field, sentences: list[RoledSentence]) -> bool:
    """An empty field is "covered", not unstated, when the paper has sentences it would read but other fields show
    them (each sentence serves one field): its own statements repeated earlier ones, or no sentence was left."""
    if f.statements:  # it had sentences: its statements were dropped as repeats of earlier ones
        return True
    roles = _FIELD_ROLES.get(name)
    return any((roles is None or s.role in roles) and (name != "workload" or s.cost) for s in sentences)


def digest_paper(paper_id: str, catalog: Catalog, embedder, generator,
                 fields: tuple[str, ...] = GENERATED_FIELDS, mode: str = "auto", verifier=None) -> PaperDigest:
    """Write one paper's digest with `generator`, every generated sentence checked against the sentences it rests
    on (and, with `verifier`, each one the check keeps checked by it too). `mode`: "transform" | "free" | "auto"
    (see kb.digest.write)."""
    t0 = time.perf_counter()
    paper = catalog.load_paper(paper_id)
    if paper is None:
        raise KbError(f"no paper with id {paper_id} in the catalog")
    row = catalog.get_paper_row(paper_id)
    memo = MemoEmbedder(embedder)
    chunks = _paper_chunks(catalog, paper_id)
    numbering = _Numbering()
    stats = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "generation_seconds": 0.0, "generated": 0,
             "kept": 0, "replaced": 0, "dropped": 0, "quoted": 0, "copied": 0, "not_claims": 0,
             "retries": 0, "retries_kept": 0,
             "rejected_by_verifier": 0}
    sentences = paper_sentences(chunks, paper.title)
    survey = is_survey([s.text for s in sentences if s.role in ("contribution", "background")]) or \
        bool(re.search(r"\b(?:survey|review)\b", paper.title, re.I))
    alloc = allocate(sentences, survey)
    writer = Writer(paper.title, generator, memo,
                    lambda s: numbering.number(chunks[s.chunk], s.text), stats, resolve_mode(mode, generator),
                    verifier=verifier)
    out: dict[str, Field] = {}
    source_of: dict[int, list[RoledSentence]] = {}
    for name in [f for f in GENERATED_FIELDS if f in fields]:
        groups = alloc.groups.get(name, [])
        statements = writer.field(name, groups)
        if writer.mode == "transform":
            source_of.update({id(st): g for st, g in zip(statements, groups)})
        out[name] = Field(name, statements, "survey" if name in ("method", "steps") and survey else "")
        summary = out[name].shown[0] if name == "summary" and out[name].shown else None
        if summary is not None and groups and covers(summary.text, groups[0][0].text):
            # the summary already says what the paper does: the other fields get sentences it does not show
            alloc = allocate(sentences, survey, exclude={groups[0][0].idx})
    _no_repeats(out, writer, source_of)
    for name, f in out.items():
        if f.not_stated and not f.note and _covered(name, f, sentences):
            f.note = "covered"
    stats["quoted"] = sum(1 for f in out.values() for s in f.statements if s.shown and s.kind == "quote")
    stats["roles"] = {r: sum(1 for s in sentences if s.role == r) for r in dict.fromkeys(s.role for s in sentences)}
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
        model=getattr(generator, "name", "generator"), prompt_version=f"{PROMPT_VERSION}/roles-v{ROLE_VERSION}",
        stats=stats, topics=list(json.loads(row["topics"])) if row else [],
    )
