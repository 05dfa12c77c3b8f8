"""The data a digest is made of: statements with citations and verdicts, fields, sources, papers, the digest.

Everything converts to and from plain dicts (`to_dict` / `from_dict`): that is the JSON output format and what the
per-paper cache stores.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from kb.grounding.types import CHECK_LABELS, CHECK_MARKS, CHECK_QUOTE, REJECTED_BY_VERIFIER

NOT_STATED = "not stated in the sources"
# An empty field whose sentences the paper does have, shown under other fields (each sentence serves one field): it
# is stated, only not again here. Field.note "covered" marks it.
COVERED = "nothing further: what the sources say on this is shown under the other fields"
QUOTE_MARK = CHECK_MARKS[CHECK_QUOTE]  # marks a verbatim quote shown in place of a statement that failed the check
CHECK_EXTRACTED = "extracted"  # Statement.check of text copied from the paper's metadata or page text (unmarked)
STATEMENT_CHECKS = {**CHECK_LABELS, CHECK_EXTRACTED: "copied from the paper's metadata or title page"}


def safe_url(url: str | None) -> str | None:
    """`url` when it is an http(s) link, else None: a third-party `javascript:` or `data:` link is never published."""
    if not url:
        return None
    clean = "".join(ch for ch in url.strip() if ch.isprintable() and not ch.isspace())
    return clean if re.match(r"(?i)https?://[^/]", clean) else None

# Statement actions. "kept": generated and supported by the cited passages. "replaced": generated, not supported,
# shown as a verbatim quote instead. "quoted": a verbatim quote added to fill a list the model left too short.
# "dropped": generated, not supported, not shown. "extracted": copied from the paper's metadata or page text.
SHOWN_ACTIONS = ("kept", "replaced", "quoted", "extracted")
QUOTE_ACTIONS = ("replaced", "quoted")

# What a shown statement is. "generated": the model's own answer to a field's question (free-form, bigger models);
# "compressed": the model's transformation of the one or two sentences assigned to it (shorter, merged, a step or
# a takeaway); "quote": the assigned sentence itself, verbatim; "extracted": metadata or a line of the page text.
KINDS = ("generated", "compressed", "quote", "extracted")

# The fields of a paper's digest, in page order, with their labels.
FIELD_LABELS: dict[str, str] = {
    "summary": "Summary",
    "takeaways": "Key Takeaways",
    "affiliation": "Affiliation",
    "keywords": "Keywords",
    "urls": "Urls",
    "background": "Research background",
    "prior_methods": "Past methods and their problem",
    "method": "Proposed method",
    "results": "Task and performance",
    "steps": "Methods",
    "significance": "Significance",
    "innovation": "Innovation",
    "workload": "Workload",
}


@dataclass
class Statement:
    text: str  # as shown, without citation markers ("" when dropped)
    citations: list[int]  # the paper's source numbers [n]
    action: str  # see SHOWN_ACTIONS / "dropped"
    generated: str = ""  # what the model wrote (markers included), for generated statements
    verdict: dict | None = None  # kb.grounding.check.Verdict as a dict (status, score, overlap, similarity, missing ...)
    role: str = ""  # the rhetorical role of the sentences it rests on (kb.digest.roles.ROLES)
    kind: str = ""  # see KINDS
    check: str = ""  # what the shown text passed: a key of STATEMENT_CHECKS ("" when not shown)

    @property
    def mark(self) -> str:
        """The compact mark of `check` (CHECK_MARKS; "" for extracted text)."""
        return CHECK_MARKS.get(self.check, "") if self.shown else ""

    @property
    def shown(self) -> bool:
        return self.action in SHOWN_ACTIONS and bool(self.text)

    @property
    def is_quote(self) -> bool:
        return self.action in QUOTE_ACTIONS


@dataclass
class Field:
    name: str
    statements: list[Statement] = field(default_factory=list)
    note: str = ""  # why it is empty when that is known ("survey": a survey proposes no method of its own;
    # "covered": the sentences it would read are shown under other fields)

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.name, self.name)

    @property
    def shown(self) -> list[Statement]:
        return [s for s in self.statements if s.shown]

    @property
    def not_stated(self) -> bool:
        """Nothing in this field is supported by the sources: it is written as NOT_STATED."""
        return not self.shown

    @property
    def empty_text(self) -> str:
        """What an empty field reads: NOT_STATED (with the reason when known), or COVERED."""
        if self.note == "covered":
            return COVERED
        return f"{NOT_STATED} (the paper is a {self.note})" if self.note else NOT_STATED

    @property
    def dropped(self) -> int:
        return sum(1 for s in self.statements if s.action == "dropped")


@dataclass
class Source:
    """A passage of the paper that statements cite as [n]: where it is and what it says."""

    n: int
    chunk_id: str
    page: int | None
    section: str
    kind: str
    text: str  # the whole passage
    quotes: list[str] = field(default_factory=list)  # the sentences of it that the statements rest on

    @property
    def quote(self) -> str:
        if self.quotes:
            return self.quotes[0]
        text = " ".join(self.text.split())
        return text if len(text) <= 280 else text[:277].rsplit(" ", 1)[0] + " …"

    @property
    def where(self) -> str:
        """"p. 3, 4 Experiments" for a page passage, "abstract" for an abstract-only paper's passage."""
        if self.page:
            return f"p. {self.page}, {self.section}" if self.section else f"p. {self.page}"
        return "abstract"


@dataclass
class PaperDigest:
    paper_id: str
    title: str
    authors: list[str]
    abstract: str
    arxiv_id: str | None
    arxiv_version: int | None
    link: str | None  # the paper's page (arXiv abs URL) or PDF URL
    pdf_url: str | None
    comment: str | None
    date: str | None
    full_text: bool  # a PDF's pages were ingested (else only the abstract)
    fields: dict[str, Field]
    sources: list[Source]
    model: str
    prompt_version: str
    stats: dict = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)  # filled per run (not cached)
    cached: bool = False  # filled per run
    relevance: float | None = None  # filled per run: similarity to the closest library paper (kb.library.ranking)
    close_to: str | None = None  # filled per run: that library paper's title
    bibtex: str = ""  # filled per run: the paper's BibTeX entry (kb.library.export)

    def field(self, name: str) -> Field:
        return self.fields.get(name) or Field(name)

    def source(self, n: int) -> Source | None:
        return next((s for s in self.sources if s.n == n), None)

    def statements(self) -> list[Statement]:
        return [s for f in self.fields.values() for s in f.statements]

    def to_dict(self) -> dict:
        d = {"id": self.paper_id, **asdict(self)}
        d["fields"] = {name: {"name": name, "label": f.label, "not_stated": f.not_stated, "note": f.note,
                              "statements": [asdict(s) for s in f.statements]} for name, f in self.fields.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PaperDigest":
        d = dict(d)
        d.pop("id", None)
        d["fields"] = {name: Field(name, [Statement(**s) for s in f["statements"]], f.get("note", ""))
                       for name, f in d["fields"].items()}
        d["sources"] = [Source(**s) for s in d["sources"]]
        return cls(**d)


@dataclass
class TopicGroup:
    name: str
    description: str
    paper_ids: list[str]
    # papers below the topic's min_relevance: listed by title and link only, not digested ({id, title, link, relevance})
    also: list[dict] = field(default_factory=list)


@dataclass
class Digest:
    date: str
    topic: str | None  # the --topic filter, if any
    groups: list[TopicGroup]
    papers: dict[str, PaperDigest]
    model: str
    prompt_version: str
    embedder: str
    generated_at: str
    stats: dict = field(default_factory=dict)
    verifier: str = ""  # the verifier's name when one checked the statements (KB_VERIFIER)

    @property
    def entries(self) -> int:
        """Paper entries over all topics (a paper listed under two topics counts twice)."""
        return sum(len(g.paper_ids) for g in self.groups)

    def to_dict(self) -> dict:
        return {
            "date": self.date, "topic": self.topic, "model": self.model, "prompt_version": self.prompt_version,
            "embedder": self.embedder, "verifier": self.verifier or None, "generated_at": self.generated_at,
            "stats": self.stats, "checks": STATEMENT_CHECKS,
            "topics": [{"name": g.name, "description": g.description, "papers": g.paper_ids, "also_announced": g.also}
                       for g in self.groups],
            "papers": [self.papers[pid].to_dict() for pid in self.papers],
        }


def _vetoed(s: Statement) -> bool:
    return (s.verdict or {}).get("status") == REJECTED_BY_VERIFIER


def _no_claim(s: Statement) -> bool:
    v = s.verdict or {}
    return v.get("status") == "no-answer" or v.get("reason") in ("not-a-claim", "duplicate")


def check_notes(p: PaperDigest) -> list[str]:
    """What happened to the paper's generated statements that are not shown as written, and why: failed the check,
    rejected by the verifier (each replaced by a quote or dropped), or no claim at all (dropped)."""
    st = p.statements()
    replaced = [s for s in st if s.action == "replaced"]
    dropped = [s for s in st if s.action == "dropped"]
    failed = [s for s in dropped if not _no_claim(s)]
    out = []
    for group, outcome in ((replaced, "replaced by quotes"), (failed, "dropped")):
        vetoed = sum(1 for s in group if _vetoed(s))
        if len(group) - vetoed:
            out.append(f"{_n(len(group) - vetoed)} not supported by the sources and {outcome}")
        if vetoed:
            out.append(f"{_n(vetoed)} rejected by the verifier and {outcome}")
    skipped = len(dropped) - len(failed)
    if skipped:
        out.append(f"{_n(skipped)} not a claim (a heading, a fragment, a repeat or an echoed instruction) and "
                   "dropped")
    return out


def _n(k: int) -> str:
    return f"{k} generated statement was" if k == 1 else f"{k} generated statements were"
