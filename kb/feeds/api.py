"""Queries to the arXiv API (`?search_query=...&id_list=...&start=...&max_results=...&sortBy=...`), paged.

The answer is the Atom format that kb.ingest.parsers.arxiv reads; here we only add the paging: the total from
<opensearch:totalResults>, and a page that comes back empty although the total says more papers remain (a known
arXiv hiccup) is asked again, up to EMPTY_PAGE_TRIES times.
"""
from __future__ import annotations

import logging
import re
import urllib.parse
import xml.etree.ElementTree as ET

from kb.feeds.client import PoliteClient
from kb.ingest.parsers.arxiv import parse_atom_text
from kb.types import KbError, Paper

log = logging.getLogger(__name__)

OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
PAGE_SIZE = 100  # ids per id_list request and results per page (arXiv allows up to 2000; small pages are kinder)
EMPTY_PAGE_TRIES = 3


def query_url(base: str, search_query: str = "", id_list: list[str] | None = None, start: int = 0,
              max_results: int = PAGE_SIZE, sort_by: str | None = None, sort_order: str = "descending") -> str:
    params = {"search_query": search_query, "id_list": ",".join(id_list or []), "start": start,
              "max_results": max_results}
    if sort_by:
        params.update(sortBy=sort_by, sortOrder=sort_order)
    sep = "&" if "?" in base else "?"
    return base + sep + urllib.parse.urlencode(params)


def _total(body: bytes) -> int:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return 0
    text = (root.findtext(f"{OPENSEARCH}totalResults") or "").strip()
    return int(text) if text.isdigit() else 0


def search(client: PoliteClient, base: str, search_query: str = "", id_list: list[str] | None = None,
           sort_by: str | None = None, page_size: int | None = None) -> list[Paper]:
    """Every paper the API returns for the query, all pages. KbError when the API reports a bad query."""
    page_size = page_size or PAGE_SIZE
    papers: list[Paper] = []
    start = 0
    while True:
        url = query_url(base, search_query, id_list, start, page_size, sort_by)
        for attempt in range(1, EMPTY_PAGE_TRIES + 1):
            body = client.get(url)
            result = parse_atom_text(body, url, source_kind="arxiv-api")
            errors = [e for e in result.errors if "arXiv API error" in e.cause]
            if errors:
                cause = errors[0].cause.split("arXiv API error: ", 1)[-1]
                raise KbError(f"arXiv refused the query {search_query!r}: {cause}")
            total = _total(body)
            if result.papers or start >= total:
                break
            log.warning("arXiv sent an empty page %d of %d results; asking again (%d/%d)", start, total, attempt,
                        EMPTY_PAGE_TRIES)
            client.forget(url)
        else:
            raise KbError(f"arXiv keeps sending empty pages at {start} of {total} results for {search_query!r}; "
                          "try again later")
        papers += result.papers
        start += page_size
        if start >= total or not result.papers:
            return papers


def by_ids(client: PoliteClient, base: str, ids: list[str], search_query: str = "") -> list[Paper]:
    """The papers among `ids` (bare arXiv ids) that `search_query` matches (all of them without a query), asked
    PAGE_SIZE ids at a time."""
    out: list[Paper] = []
    for i in range(0, len(ids), PAGE_SIZE):
        out += search(client, base, search_query, ids[i:i + PAGE_SIZE])
    return out


def submitted_range(since: str, until: str) -> str:
    """The API's submission-date clause for whole days, e.g. submittedDate:[202405200000 TO 202405242359]."""
    return f"submittedDate:[{since.replace('-', '')}0000 TO {until.replace('-', '')}2359]"


def topic_query(query: str, categories: list[str]) -> str:
    """A topic's search for backfill: its query, within its categories when it has both."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    if query and cats:
        return f"({query}) AND ({cats})"
    return query or cats


def query_categories(query: str) -> list[str]:
    """The categories a query names with cat: (used for the listing when a topic lists no categories)."""
    return re.findall(r"\bcat:([A-Za-z\-]+(?:\.[A-Za-z\-]+)?)", query)
