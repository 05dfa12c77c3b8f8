"""Read a BibTeX / BibLaTeX file into `LibraryItem`s with bibtexparser (v2), Better BibTeX exports included.

Per entry: title, author (BibTeX name lists, "Last, First" or "First Last"), date/year, doi, abstract,
journal/booktitle as venue, keywords as tags, `eprint` with `archivePrefix`/`eprinttype` = arXiv (or an arXiv URL)
as the arXiv id, and the `file` field's PDFs (Better BibTeX / JabRef: `path;path` or `desc:path:type`; relative
paths are relative to the .bib file). LaTeX markup is turned into text with pylatexenc (bibtexparser's own
dependency). An entry the parser cannot read, or one without a title, is reported with its line and skipped.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from kb.ids import normalize_arxiv_id
from kb.ingest.identity import normalize_doi
from kb.library.types import LibraryItem, LibraryRead
from kb.types import KbError, Paper

log = logging.getLogger(__name__)

_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}


def read_bibtex(path: Path | str) -> LibraryRead:
    import bibtexparser

    path = Path(path).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise KbError(f"{path}: cannot read ({e.strerror or e})") from e
    # bibtexparser logs each failed block as a warning; we report them ourselves, with their line.
    quiet = logging.getLogger("bibtexparser")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        library = bibtexparser.parse_string(text)
    finally:
        quiet.setLevel(level)
    errors = [f"line {b.start_line + 1}: cannot parse entry {_head(b.raw)}, skipped" for b in library.failed_blocks]
    items = []
    for entry in library.entries:
        fields = {f.key.lower(): str(f.value).strip() for f in entry.fields}
        line = entry.start_line + 1
        title = _text(fields.get("title", ""))
        if not title:
            errors.append(f"line {line}: entry '{entry.key}' has no title, skipped")
            continue
        pdfs, missing = _files(fields.get("file", ""), path.parent)
        keywords = [k.strip() for k in re.split(r"[,;]", _text(fields.get("keywords", ""))) if k.strip()]
        items.append(LibraryItem(key=entry.key, paper=_paper(entry.key, entry.entry_type, fields, title),
                                 pdfs=pdfs, missing=missing, tags=keywords, line=line))
    return LibraryRead(items, errors)


def _head(raw: str) -> str:
    first = " ".join((raw or "").split())[:40]
    return f"'{first}'" if first else ""


def _text(value: str) -> str:
    """LaTeX to plain text: accents, escapes, braces, commands like \\emph{...}."""
    if not value:
        return ""
    from pylatexenc.latex2text import LatexNodes2Text

    try:
        text = LatexNodes2Text().latex_to_text(value)
    except Exception as e:  # pylatexenc raises its own error types on odd input; keep the raw text then
        log.debug("LaTeX decoding failed for %r: %s", value, e)
        text = value.replace("{", "").replace("}", "")
    return " ".join(text.split())


def _authors(value: str) -> list[str]:
    out = []
    for name in re.split(r"\s+and\s+", value.strip()) if value.strip() else []:
        name = _text(name)
        if name.lower() == "others":
            continue
        if "," in name:
            parts = [p.strip() for p in name.split(",")]
            # "von Last, Jr, First" or "Last, First"
            name = " ".join([parts[-1]] + parts[:1] if len(parts) == 2 else [parts[2], parts[0], parts[1]])
        out.append(" ".join(name.split()))
    return out


def _files(value: str, folder: Path) -> tuple[list[str], list[str]]:
    found, missing = [], []
    for part in [p for p in value.split(";") if p.strip()]:
        part = part.strip()
        bits = part.split(":")
        if len(bits) >= 3 and not re.match(r"^[A-Za-z]:[\\/]", part):  # JabRef "desc:path:type"
            part = ":".join(bits[1:-1])
        if not part.lower().endswith(".pdf"):
            continue
        p = Path(part.replace("\\:", ":")).expanduser()
        p = p if p.is_absolute() else folder / p
        (found if p.is_file() else missing).append(str(p.resolve() if p.is_file() else p))
    return found, missing


def _arxiv(fields: dict[str, str]) -> tuple[str, int | None] | None:
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").lower()
    eprint = fields.get("eprint", "")
    if eprint and (prefix == "arxiv" or not prefix):
        found = normalize_arxiv_id(eprint)
        if found:
            return found
    for key in ("url", "journal", "note"):
        m = re.search(r"arxiv[.:/\s]+(?:org/(?:abs|pdf)/)?([\w.\-/]+)", fields.get(key, ""), re.I)
        found = normalize_arxiv_id(m.group(1).rstrip("/.,")) if m else None
        if found:
            return found
    return None


def _date(fields: dict[str, str]) -> str | None:
    date = fields.get("date", "").strip()
    if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date):
        return date
    year = re.search(r"\d{4}", fields.get("year", "") or date)
    if not year:
        return None
    month = fields.get("month", "").strip().lower()[:3]
    num = _MONTHS.get(month) or (int(month) if month.isdigit() and 1 <= int(month) <= 12 else None)
    return f"{year.group(0)}-{num:02d}" if num else year.group(0)


def _paper(key: str, entry_type: str, fields: dict[str, str], title: str) -> Paper:
    arxiv = _arxiv(fields)
    extra: dict = {"bibtex_key": key, "entry_type": entry_type.lower()}
    doi = normalize_doi(fields.get("doi"))
    if doi and not doi.startswith("10.48550/arxiv."):
        extra["doi"] = doi
    venue = _text(fields.get("journal") or fields.get("journaltitle") or fields.get("booktitle") or "")
    if venue and "arxiv" not in venue.lower():
        extra["venue"] = venue
    for name in ("volume", "number", "pages", "publisher", "url", "primaryclass"):
        if fields.get(name):
            extra["primary_category" if name == "primaryclass" else name] = _text(fields[name])
    return Paper(title=title, authors=_authors(fields.get("author", "")), abstract=_text(fields.get("abstract", "")),
                 arxiv_id=arxiv[0] if arxiv else None, arxiv_version=arxiv[1] if arxiv else None,
                 published=_date(fields), source_kind="bibtex", extra=extra)
