"""One paper, one record: how a paper's id is derived and how records from several sources are merged.

Id rule: the arXiv id without version when known (e.g. "2405.12875"); otherwise "t-" + a hash of the
normalised title and first author's surname; otherwise (no title) "h-" + a hash of the content.

Before a new record is made, `existing_id` looks for a stored record of the same paper, in this order: the same
arXiv id, the same DOI, the same normalised title and first author's surname (a candidate whose arXiv id or DOI
differs is a different paper). So a Zotero item, a .bib entry, a digest page entry and an arXiv record of one
paper enrich one record, whichever arrives first (the record keeps the id it was created with).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import unicodedata
from dataclasses import replace

from kb.types import Paper

log = logging.getLogger(__name__)


def normalize_title(title: str) -> str:
    t = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


def _surname(author: str) -> str:
    parts = normalize_title(author).split()
    return parts[-1] if parts else ""


def paper_id(paper: Paper) -> str:
    if paper.arxiv_id:
        return paper.arxiv_id
    title = normalize_title(paper.title or "")
    if title:
        key = title + "|" + (_surname(paper.authors[0]) if paper.authors else "")
        return "t-" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return "h-" + content_hash(paper)[:12]


def normalize_doi(doi: str | None) -> str | None:
    """"10.1000/XYZ" for "https://doi.org/10.1000/xyz", "doi:10.1000/xyz" ...; None when it is not a DOI."""
    if not doi:
        return None
    m = re.search(r"10\.\d{4,9}/\S+", str(doi).strip())
    return m.group(0).rstrip(".,;").lower() if m else None


def existing_id(db, paper: Paper) -> str | None:
    """The id of the stored record of the same paper (arXiv id, then DOI, then title + first author), else None.
    `db` is the catalog's sqlite3 connection (rows by name)."""
    if paper.arxiv_id:
        row = db.execute("SELECT id FROM papers WHERE id = ? OR arxiv_id = ? LIMIT 1",
                         (paper.arxiv_id, paper.arxiv_id)).fetchone()
        if row:
            return row[0]
    doi = normalize_doi(paper.extra.get("doi"))
    if doi:
        for row in db.execute("SELECT id, arxiv_id FROM papers WHERE lower(json_extract(extra, '$.doi')) = ?",
                              (doi,)):
            if _compatible(paper.arxiv_id, row["arxiv_id"]):
                return row[0]
    title = normalize_title(paper.title or "")
    if len(title.split()) < 3:  # "Introduction", "Notes": too short to identify a paper
        return None
    surname = _surname(paper.authors[0]) if paper.authors else ""
    # A record made without an arXiv id or DOI has the title key as its id: a primary-key lookup.
    by_key = paper_id(replace(paper, arxiv_id=None))
    row = db.execute("SELECT id, arxiv_id, extra FROM papers WHERE id = ?", (by_key,)).fetchone()
    if row and _compatible(paper.arxiv_id, row["arxiv_id"]) and _same_doi(doi, row["extra"]):
        return row["id"]
    if paper.arxiv_id:
        return None  # records with arXiv ids are found by id; the full-text title search is for the rest
    phrase = '"' + title.replace('"', " ") + '"'
    try:
        rows = db.execute("SELECT p.id, p.title, p.authors, p.arxiv_id, p.extra FROM papers_fts f"
                          " JOIN papers p ON p.id = f.paper_id WHERE papers_fts MATCH ? LIMIT 20",
                          ("title : " + phrase,)).fetchall()
    except sqlite3.Error as e:  # an FTS syntax corner case must not stop ingest: fall back to no match
        log.debug("title lookup failed for %r: %s", paper.title, e)
        return None
    for row in rows:
        if normalize_title(row["title"]) != title or not _same_doi(doi, row["extra"]):
            continue
        authors = json.loads(row["authors"] or "[]")
        if surname and authors and _surname(authors[0]) != surname:
            continue
        return row["id"]
    return None


def _same_doi(doi: str | None, extra_json: str | None) -> bool:
    other = normalize_doi(json.loads(extra_json or "{}").get("doi"))
    return not doi or not other or doi == other


def _compatible(a: str | None, b: str | None) -> bool:
    return not a or not b or a == b


def content_hash(paper: Paper, params: str = "") -> str:
    """Hash of everything chunking depends on: a changed hash means the chunks must be rebuilt."""
    h = hashlib.sha256()
    abstract = "" if paper.pages else paper.abstract  # with full text, chunks come from the pages only
    for part in (paper.title, abstract, params):
        h.update((part or "").encode("utf-8"))
        h.update(b"\x00")
    for p in paper.pages:
        h.update(f"{p.number}\x01{p.text}\x00".encode("utf-8"))
    for s in paper.sections:
        h.update(f"{s.page}:{s.offset}:{s.kind}:{s.title}\x00".encode("utf-8"))
    return h.hexdigest()


def merge(old: Paper | None, old_rank: int, new: Paper, new_rank: int) -> tuple[Paper, int]:
    """Merge a newly parsed record into the stored one.

    Metadata (title, authors, abstract, dates, links) comes from the highest-ranked source that has it (arXiv
    records > digest pages > PDF text); full text (pages, sections, page count) from the PDF; topics and
    annotations are united; the highest version wins.
    """
    if old is None:
        return new, new_rank
    hi, lo = (new, old) if new_rank >= old_rank else (old, new)
    pick = lambda a, b: a if a else b  # noqa: E731
    merged = replace(
        hi,
        title=pick(hi.title, lo.title),
        authors=pick(hi.authors, lo.authors),
        abstract=pick(hi.abstract, lo.abstract),
        arxiv_id=pick(hi.arxiv_id, lo.arxiv_id),
        arxiv_version=max(filter(None, [old.arxiv_version, new.arxiv_version]), default=None),
        published=pick(hi.published, lo.published),
        digest_date=pick(new.digest_date, old.digest_date),
        topics=list(dict.fromkeys(old.topics + new.topics)),
        pdf_url=pick(hi.pdf_url, lo.pdf_url),
        comment=pick(hi.comment, lo.comment),
        pages=new.pages if new.pages else old.pages,
        sections=new.sections if new.pages else old.sections,
        page_count=new.page_count if new.pages else (old.page_count or new.page_count),
        annotations=_merge_annotations(old, new),
        extra={**lo.extra, **hi.extra},
    )
    return merged, max(old_rank, new_rank)


def _merge_annotations(old: Paper, new: Paper):
    by_key = {(a.kind, a.source): a for a in old.annotations}
    by_key.update({(a.kind, a.source): a for a in new.annotations})
    return list(by_key.values())
