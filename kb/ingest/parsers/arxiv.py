"""arXiv metadata: identifier normalisation, Atom feeds (the arXiv API format), OAI metadata snapshot JSON lines,
and fetching one paper (metadata + PDF bytes) from the arXiv API.

Only the standard library is used (xml.etree, json, urllib), so importing this module is cheap.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from pathlib import Path

from kb.ids import normalize_arxiv_id, parse_version
from kb.types import KbError, Paper, ParseError, ParseResult

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
DEFAULT_API_URL = "http://export.arxiv.org/api/query"
USER_AGENT = "kb-papers/0.1 (local research knowledge base)"

def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(str(path), f"not UTF-8 text (invalid byte at offset {exc.start})") from exc


# ---------------------------------------------------------------------------------------------------- Atom


def parse_atom(path: str | Path) -> ParseResult:
    """Parse an arXiv API Atom feed file: one Paper per <entry>, source_kind "arxiv-atom".

    Raises ParseError when the file is not readable XML; entries without a usable arXiv id become errors.
    """
    path = Path(path)
    text = _read_text(path)
    return parse_atom_text(text, str(path), source_kind="arxiv-atom")


def parse_atom_text(text: str | bytes, source: str, source_kind: str = "arxiv-atom") -> ParseResult:
    """Parse Atom XML already in memory; `source` names it in errors and in Paper.source_path."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ParseError(source, f"not valid Atom XML ({exc})") from exc
    if root.tag != f"{ATOM}feed":
        raise ParseError(source, f"not an Atom feed (root element is <{root.tag.split('}')[-1]}>)")
    result = ParseResult(papers=[])
    for n, entry in enumerate(root.findall(f"{ATOM}entry"), start=1):
        try:
            result.papers.append(_atom_entry(entry, n, source, source_kind))
        except ParseError as exc:
            result.errors.append(exc)
    return result


def _atom_entry(entry: ET.Element, n: int, source: str, source_kind: str) -> Paper:
    raw_id = _collapse(entry.findtext(f"{ATOM}id"))
    title = _collapse(entry.findtext(f"{ATOM}title"))
    if "/api/errors" in raw_id:  # the arXiv API reports bad queries as an entry titled "Error"
        raise ParseError(source, f"entry {n}: arXiv API error: {_collapse(entry.findtext(f'{ATOM}summary'))}")
    ident = normalize_arxiv_id(raw_id)
    if ident is None:
        raise ParseError(source, f"entry {n}: no arXiv id in <id> ({raw_id or 'empty'})")
    if not title:
        raise ParseError(source, f"entry {n} ({ident[0]}): no title")
    pdf_url = None
    for link in entry.findall(f"{ATOM}link"):
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            pdf_url = link.get("href")
            break
    published = _collapse(entry.findtext(f"{ATOM}published"))
    extra: dict = {
        "categories": [c.get("term") for c in entry.findall(f"{ATOM}category") if c.get("term")],
        "updated": _collapse(entry.findtext(f"{ATOM}updated")) or None,
    }
    primary = entry.find(f"{ARXIV}primary_category")
    if primary is not None and primary.get("term"):
        extra["primary_category"] = primary.get("term")
    for key in ("doi", "journal_ref"):
        value = _collapse(entry.findtext(f"{ARXIV}{key}"))
        if value:
            extra[key] = value
    comment = _collapse(entry.findtext(f"{ARXIV}comment")) or None
    authors = [_collapse(a.findtext(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")]
    return Paper(
        title=title,
        authors=[a for a in authors if a],
        abstract=_collapse(entry.findtext(f"{ATOM}summary")),
        arxiv_id=ident[0],
        arxiv_version=ident[1],
        published=published[:10] or None,
        pdf_url=pdf_url,
        comment=comment,
        source_kind=source_kind,
        source_path=source,
        extra=extra,
    )


# ---------------------------------------------------------------------------------------------------- OAI JSONL


def parse_oai_jsonl(path: str | Path) -> ParseResult:
    """Parse arXiv OAI metadata snapshot JSON lines (one paper per line), source_kind "arxiv-jsonl".

    A line that is not JSON, or lacks an id or title, becomes a ParseError naming its line number.
    """
    path = Path(path)
    text = _read_text(path)
    result = ParseResult(papers=[])
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result.papers.append(_oai_record(line, lineno, str(path)))
        except ParseError as exc:
            result.errors.append(exc)
    if not result.papers and not result.errors:
        raise ParseError(str(path), "no records (empty JSON lines file)")
    return result


def _oai_record(line: str, lineno: int, source: str) -> Paper:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"line {lineno}: not JSON ({exc.msg})") from exc
    except RecursionError as exc:  # e.g. 100,000 nested brackets
        raise ParseError(source, f"line {lineno}: JSON nested too deeply") from exc
    if not isinstance(rec, dict):
        raise ParseError(source, f"line {lineno}: not a JSON object")
    text = lambda key: _oai_text(rec, key, lineno, source)  # noqa: E731
    ident = normalize_arxiv_id(text("id"))
    if ident is None:
        raise ParseError(source, f"line {lineno}: no valid arXiv id ({rec.get('id')!r:.80})")
    title = _collapse(text("title"))
    if not title:
        raise ParseError(source, f"line {lineno} ({ident[0]}): no title")
    versions = rec.get("versions")
    versions = [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []
    numbers = [parse_version(m.group(1)) for v in versions
               if isinstance(v.get("version"), str) and (m := re.fullmatch(r"v(\d+)", v["version"]))]
    numbers = [n for n in numbers if n is not None]  # v0 or an absurd number is not a version
    version = max(numbers) if numbers else ident[1]
    published = None
    first = next((v for v in versions if v.get("version") == "v1"), None)
    if first and isinstance(first.get("created"), str):
        try:
            published = parsedate_to_datetime(first["created"]).date().isoformat()
        except (TypeError, ValueError):
            log.warning("%s line %d: unreadable v1 date %r", source, lineno, first["created"])
    categories = text("categories").split()
    extra = {"categories": categories, "update_date": text("update_date") or None}
    for key in ("doi", "journal-ref", "license", "submitter"):
        if text(key):
            extra[key.replace("-", "_")] = text(key)
    return Paper(
        title=title,
        authors=_oai_authors(rec, text("authors")),
        abstract=_collapse(text("abstract")),
        arxiv_id=ident[0],
        arxiv_version=version,
        published=published,
        pdf_url=f"https://arxiv.org/pdf/{ident[0]}v{version}" if version else f"https://arxiv.org/pdf/{ident[0]}",
        comment=_collapse(text("comments")) or None,
        source_kind="arxiv-jsonl",
        source_path=source,
        extra=extra,
    )


def _oai_text(rec: dict, key: str, lineno: int, source: str) -> str:
    """A text field of an OAI record: a string (numbers are accepted as their text); absent or null gives "".
    Any other JSON type makes the line an error naming the field."""
    value = rec.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    kind = {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)
    raise ParseError(source, f"line {lineno}: field '{key}' is {kind}, expected text")


def _oai_authors(rec: dict, authors: str) -> list[str]:
    parsed = rec.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if isinstance(parts, list) and parts:
                last, first, suffix = [p if isinstance(p, str) else "" for p in (list(parts) + ["", "", ""])[:3]]
                names.append(_collapse(f"{first} {last} {suffix}"))
        if any(names):
            return [n for n in names if n]
    text = _collapse(authors)
    return [a.strip() for a in re.split(r",\s*|\s+and\s+", text) if a.strip()]


# ---------------------------------------------------------------------------------------------------- fetching


def fetch_arxiv(arxiv_id: str, api_url: str = DEFAULT_API_URL, timeout: float = 20) -> tuple[Paper, bytes | None]:
    """Fetch one paper's Atom metadata from the arXiv API (`api_url?id_list=ID`), then its PDF bytes.

    Returns (paper with source_kind "arxiv-api", PDF bytes or None when the entry has no PDF link).
    Raises KbError when the id is not an arXiv id, the server cannot be reached, or it has no such paper.
    """
    ident = normalize_arxiv_id(arxiv_id)
    if ident is None:
        raise KbError(f"not an arXiv id: '{arxiv_id}'")
    query_id = ident[0] if ident[1] is None else f"{ident[0]}v{ident[1]}"
    sep = "&" if "?" in api_url else "?"
    url = f"{api_url}{sep}{urllib.parse.urlencode({'id_list': query_id})}"
    feed = _http_get(url, timeout)
    result = parse_atom_text(feed, url, source_kind="arxiv-api")
    if not result.papers:
        cause = f": {result.errors[0].cause}" if result.errors else ""
        raise KbError(f"arXiv has no paper {query_id}{cause}")
    paper = result.papers[0]
    if paper.arxiv_id != ident[0]:
        raise KbError(f"arXiv answered with paper {paper.arxiv_id} when asked for {query_id}")
    if not paper.pdf_url:
        log.warning("arXiv entry %s has no PDF link", query_id)
        return paper, None
    pdf = _http_get(paper.pdf_url, timeout)
    if not pdf.startswith(b"%PDF"):
        raise KbError(f"{paper.pdf_url} did not return a PDF (got {len(pdf)} bytes of something else)")
    return paper, pdf


def _http_get(url: str, timeout: float) -> bytes:
    host = urllib.parse.urlparse(url).netloc or url
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise KbError(f"arXiv at {host} answered HTTP {exc.code} ({exc.reason}) for {url}") from exc
    except urllib.error.URLError as exc:
        raise KbError(f"cannot reach arXiv at {host}: {exc.reason} (offline?)") from exc
    except (socket.timeout, TimeoutError, ConnectionError) as exc:
        raise KbError(f"cannot reach arXiv at {host}: {exc or type(exc).__name__} (offline?)") from exc
