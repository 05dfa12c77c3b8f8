"""arXiv's daily listing feed (https://rss.arxiv.org/atom/cs.CV+cs.GR): which papers were announced on a day.

The feed holds the latest announcement only. Each <entry> has an id `oai:arXiv.org:ID vN`, a title, a summary
"arXiv:IDvN Announce Type: new Abstract: ...", <category> terms, <published> (the announcement day, US Eastern),
<arxiv:announce_type> (new | cross | replace | replace-cross) and <dc:creator> (authors, comma separated). On
Saturdays, Sundays and holidays the feed is empty; its <updated> still names the day.

The API's Atom (kb.ingest.parsers.arxiv) uses the same namespaces; we parse with xml.etree like that parser does
(feedparser would add a dependency to read the same five elements).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from kb.ids import normalize_arxiv_id
from kb.ingest.parsers.arxiv import ARXIV, ATOM
from kb.types import KbError, Paper

DC = "{http://purl.org/dc/elements/1.1/}"
KINDS = ("new", "cross", "replace", "replace-cross")


@dataclass
class ListingEntry:
    arxiv_id: str
    version: int
    kind: str  # one of KINDS
    categories: list[str]
    paper: Paper


@dataclass
class Listing:
    day: str | None  # the announcement date (YYYY-MM-DD, US Eastern), None when the feed does not say
    entries: list[ListingEntry] = field(default_factory=list)


def feed_url(base: str, categories: list[str]) -> str:
    """arXiv's listing URL for several categories: base + "/" + categories joined with "+"."""
    return base.rstrip("/") + "/" + "+".join(sorted(dict.fromkeys(categories)))


def eastern_date(stamp: str) -> str | None:
    """The US Eastern calendar date of an ISO timestamp (arXiv's announcement clock)."""
    stamp = (stamp or "").strip()
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", stamp) else None
    if moment.tzinfo is None:
        return moment.date().isoformat()
    try:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo("America/New_York")).date().isoformat()
    except Exception:  # no time-zone database: the feed's own offset is Eastern already
        return moment.date().isoformat()


def parse_listing(text: bytes | str, source: str) -> Listing:
    """Parse one listing feed; KbError naming `source` when it is not an Atom feed."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise KbError(f"{source}: the arXiv listing is not valid XML ({exc})") from exc
    if root.tag != f"{ATOM}feed":
        raise KbError(f"{source}: not an Atom listing feed (root element <{root.tag.split('}')[-1]}>)")
    listing = Listing(day=eastern_date(root.findtext(f"{ATOM}updated") or ""))
    for entry in root.findall(f"{ATOM}entry"):
        item = _entry(entry, source)
        if item is not None:
            listing.entries.append(item)
    days = [eastern_date(e.findtext(f"{ATOM}published") or "") for e in root.findall(f"{ATOM}entry")]
    days = [d for d in days if d]
    if days:
        listing.day = max(set(days), key=days.count)
    return listing


def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _entry(entry: ET.Element, source: str) -> ListingEntry | None:
    ident = normalize_arxiv_id(_collapse(entry.findtext(f"{ATOM}id")).removeprefix("oai:arXiv.org:"))
    title = _collapse(entry.findtext(f"{ATOM}title"))
    if ident is None or not title:
        return None
    summary = _collapse(entry.findtext(f"{ATOM}summary"))
    kind = _collapse(entry.findtext(f"{ARXIV}announce_type")).lower()
    m = re.match(r"arXiv:\S+\s+Announce Type:\s*(\S+)\s*(?:Abstract:\s*)?", summary)
    if m:
        kind = kind or m.group(1).lower()
        summary = summary[m.end():]
    categories = [c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")]
    creators = _collapse(entry.findtext(f"{DC}creator"))
    authors = [a.strip() for a in re.split(r",\s*|\s+and\s+", creators) if a.strip()]
    version = ident[1] or 1
    abs_url = next((link.get("href") for link in entry.findall(f"{ATOM}link")
                    if "/abs/" in (link.get("href") or "")), f"https://arxiv.org/abs/{ident[0]}")
    pdf_url = re.sub(r"v\d+$", "", abs_url.replace("/abs/", "/pdf/", 1)) + f"v{version}"
    paper = Paper(title=title, authors=authors, abstract=summary, arxiv_id=ident[0], arxiv_version=version,
                  pdf_url=pdf_url, source_kind="arxiv-api",
                  source_path=source, extra={"categories": categories})
    if categories:
        paper.extra["primary_category"] = categories[0]
    return ListingEntry(ident[0], version, kind if kind in KINDS else "new", categories, paper)
