"""Plain data types that flow through the pipeline: parsed papers, their pages, sections and chunks.

Every parser returns `Paper` objects; the chunker turns them into `Chunk` objects; the catalog stores both.
Nothing here imports a heavy dependency.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Section kinds recognised by the PDF parser. "references" chunks are stored but kept out of answer retrieval.
SECTION_KINDS = (
    "front",  # title block before the abstract
    "abstract",
    "introduction",
    "related",
    "method",
    "experiments",
    "conclusion",
    "references",
    "appendix",
    "body",  # any other heading
)


@dataclass
class Page:
    """One page of a document's text, in reading order, after cleaning. `number` is 1-based."""

    number: int
    text: str


@dataclass
class Section:
    """A heading found in the text: where it starts (page + character offset in that page's text)."""

    title: str
    kind: str
    page: int
    offset: int


@dataclass
class Annotation:
    """Third-party notes about a paper (e.g. a digest page's machine-written summary).

    Stored with the paper and shown by `kb show`, never mixed into the paper's own text, never used as evidence.
    """

    kind: str  # e.g. "digest-summary"
    source: str  # file path or URL it came from
    data: dict = field(default_factory=dict)  # e.g. {"summary": ..., "takeaways": [...], "notes": ...}


@dataclass
class Paper:
    """A parsed paper. Parsers fill what their source knows; the catalog merges records with the same id."""

    title: str
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    arxiv_id: str | None = None  # without version, e.g. "2405.12875"
    arxiv_version: int | None = None
    published: str | None = None  # ISO date (arXiv submission/announcement or PDF date)
    digest_date: str | None = None  # ISO date of the digest page that listed it
    topics: list[str] = field(default_factory=list)
    pdf_url: str | None = None
    comment: str | None = None
    source_kind: str = ""  # "pdf" | "digest" | "arxiv-atom" | "arxiv-jsonl" | "arxiv-api"
    source_path: str = ""
    pages: list[Page] = field(default_factory=list)  # full text; empty when only metadata/abstract is known
    sections: list[Section] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    page_count: int | None = None
    extra: dict = field(default_factory=dict)  # source-specific metadata (categories, doi, affiliations...)


@dataclass
class Chunk:
    """A retrievable passage. Offsets are character offsets into the text of `page_start`
    (or into the abstract when `page_start` is None), so a citation can quote it exactly."""

    paper_id: str
    index: int
    text: str
    section: str
    kind: str  # a SECTION_KINDS value
    page_start: int | None
    page_end: int | None
    char_start: int
    char_end: int

    @property
    def id(self) -> str:
        import hashlib

        digest = hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:10]
        return f"{self.paper_id}#{self.index}-{digest}"


class KbError(Exception):
    """An expected failure with a message fit for users (the CLI prints it as one line)."""


class ParseError(KbError):
    """A source file could not be parsed. The message names the file and the cause."""

    def __init__(self, path: str, cause: str, page: int | None = None):
        self.path = path
        self.cause = cause
        self.page = page
        where = f"{path} (page {page})" if page else path
        super().__init__(f"{where}: {cause}")


@dataclass
class ParseResult:
    """What a parser returns for one source file: the papers it could read, and the ones it could not."""

    papers: list[Paper]
    errors: list[ParseError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth telling, not failures ("a day with no papers")
