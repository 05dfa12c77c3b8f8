"""One paper, one record: how a paper's id is derived and how records from several sources are merged.

Id rule: the arXiv id without version when known (e.g. "2405.12875"); otherwise "t-" + a hash of the
normalised title and first author's surname; otherwise (no title) "h-" + a hash of the content.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace

from kb.types import Paper


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
