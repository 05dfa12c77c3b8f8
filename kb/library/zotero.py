"""Read a Zotero data folder (`zotero.sqlite` + `storage/`) into `LibraryItem`s, never writing to it.

How the database is read: from a **snapshot copy**, not in place. Zotero keeps `zotero.sqlite` open with an
exclusive lock while it runs, so a normal connection fails with "database is locked". SQLite's `immutable=1`
mode would get past the lock, but it promises SQLite the file never changes: it skips locking and ignores the
`-wal`/`-journal` files, so a read that overlaps a Zotero write (sync, full-text indexing, an edit) can see
half-written pages (wrong rows or "malformed" errors), and changes still in the WAL are invisible. Copying the
file (with its `-wal`/`-journal`, byte for byte, which a lock does not prevent) into a temporary folder takes a
fraction of a second; the copy is checked (`PRAGMA quick_check`) and taken again if it was torn, and then
queried at leisure. Zotero's own files are only ever read as bytes: SQLite never opens them, so nothing (not
even a lock or a journal) is written next to them.

Schema (Zotero's `resource/schema/userdata.sql` and `system.sql`; we read only what we need): `items` (itemID,
itemTypeID, key, dateAdded), item types from `itemTypesCombined` or `itemTypes`, field values through `itemData` +
`itemDataValues` + `fieldsCombined`/`fields`, `creators` + `itemCreators` (+ `creatorTypes`), `collections`
(nested by parentCollectionID) + `collectionItems`, `tags` + `itemTags`, `itemAttachments` (parentItemID,
linkMode, contentType, path) and `deletedItems` (the trash). Feed items (`feedItems`) are not the user's library.

Attachments: `storage:NAME` lives in `storage/<attachment key>/NAME`; a linked file has an absolute path (linked
files relative to Zotero's "base directory", `attachments:...`, are resolved against `base_dir` when given).
"""
from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from kb.ids import normalize_arxiv_id
from kb.ingest.identity import normalize_doi
from kb.library.types import LibraryItem, LibraryRead
from kb.types import KbError, Paper

log = logging.getLogger(__name__)

DB_NAME = "zotero.sqlite"
NOT_PAPERS = ("attachment", "note", "annotation")
_VENUE_FIELDS = ("publicationTitle", "proceedingsTitle", "conferenceName", "bookTitle", "websiteTitle")
_LINKED_FILE = 2


def is_zotero_folder(path: Path) -> bool:
    return path.is_dir() and (path / DB_NAME).is_file()


def read_zotero(folder: Path | str, base_dir: Path | str | None = None, attempts: int = 3) -> LibraryRead:
    """Every regular item of the Zotero library in `folder` that is not in the trash."""
    folder = Path(folder).expanduser().resolve()
    if not (folder / DB_NAME).is_file():
        raise KbError(f"{folder}: no {DB_NAME} here (a Zotero data folder holds zotero.sqlite and storage/)")
    with tempfile.TemporaryDirectory(prefix="kb-zotero-") as tmp:
        db = _snapshot(folder / DB_NAME, Path(tmp), attempts)
        try:
            return _read(db, folder, Path(base_dir).expanduser() if base_dir else None)
        except sqlite3.DatabaseError as e:
            raise KbError(f"{folder / DB_NAME}: not a Zotero database this kb can read ({e})") from e
        finally:
            db.close()


def _snapshot(src: Path, tmp: Path, attempts: int) -> sqlite3.Connection:
    last = ""
    for attempt in range(max(1, attempts)):
        target = tmp / f"copy{attempt}.sqlite"
        try:
            shutil.copyfile(src, target)
            for suffix in ("-wal", "-journal"):
                side = src.with_name(src.name + suffix)
                if side.is_file():
                    shutil.copyfile(side, target.with_name(target.name + suffix))
        except OSError as e:
            raise KbError(f"{src}: cannot read ({e.strerror or e})") from e
        db = sqlite3.connect(str(target))
        db.row_factory = sqlite3.Row
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            verdict = str(e)
        if verdict == "ok":
            return db
        db.close()
        last = verdict
        log.info("snapshot of %s was torn (%s); copying again", src, verdict)
    raise KbError(f"{src}: could not take a consistent copy ({last}); try again when Zotero is idle")


def _has(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None


def _read(db: sqlite3.Connection, folder: Path, base_dir: Path | None) -> LibraryRead:
    types = "itemTypesCombined" if _has(db, "itemTypesCombined") else "itemTypes"
    fields = "fieldsCombined" if _has(db, "fieldsCombined") else "fields"
    excluded = "SELECT itemID FROM deletedItems"
    if _has(db, "feedItems"):
        excluded += " UNION SELECT itemID FROM feedItems"
    rows = db.execute(
        f"SELECT i.itemID, i.key, i.dateAdded, t.typeName FROM items i JOIN {types} t ON t.itemTypeID = i.itemTypeID"
        f" WHERE t.typeName NOT IN ({','.join('?' * len(NOT_PAPERS))}) AND i.itemID NOT IN ({excluded})"
        " ORDER BY i.itemID", NOT_PAPERS).fetchall()
    values: dict[int, dict[str, str]] = {}
    for r in db.execute(f"SELECT d.itemID, f.fieldName, v.value FROM itemData d JOIN {fields} f ON f.fieldID = d.fieldID"
                        " JOIN itemDataValues v ON v.valueID = d.valueID"):
        values.setdefault(r[0], {})[r[1]] = "" if r[2] is None else str(r[2])
    creators = _creators(db)
    collections = _collections(db)
    tags: dict[int, list[str]] = {}
    for item_id, name in db.execute("SELECT it.itemID, t.name FROM itemTags it JOIN tags t ON t.tagID = it.tagID"
                                    " ORDER BY t.name"):
        tags.setdefault(item_id, []).append(name)
    attachments = _attachments(db, folder, base_dir, excluded)
    items, errors = [], []
    for r in rows:
        v = values.get(r["itemID"], {})
        title = (v.get("title") or "").strip()
        if not title:
            errors.append(f"item {r['key']}: no title, skipped")
            continue
        pdfs, missing = attachments.get(r["itemID"], ([], []))
        items.append(LibraryItem(
            key=r["key"], paper=_paper(r["key"], r["typeName"], v, creators.get(r["itemID"], [])),
            pdfs=pdfs, missing=missing, collections=sorted(collections.get(r["itemID"], [])),
            tags=tags.get(r["itemID"], []), added=_epoch(r["dateAdded"])))
    return LibraryRead(items, errors)


def _creators(db: sqlite3.Connection) -> dict[int, list[str]]:
    has_types = _has(db, "creatorTypes")
    sql = ("SELECT ic.itemID, c.firstName, c.lastName, c.fieldMode, "
           + ("ct.creatorType" if has_types else "NULL") + " FROM itemCreators ic JOIN creators c ON"
           " c.creatorID = ic.creatorID"
           + (" LEFT JOIN creatorTypes ct ON ct.creatorTypeID = ic.creatorTypeID" if has_types else "")
           + " ORDER BY ic.itemID, ic.orderIndex")
    everyone: dict[int, list[str]] = {}
    authors: dict[int, list[str]] = {}
    for item_id, first, last, mode, ctype in db.execute(sql):
        name = (last or "").strip() if mode == 1 else " ".join(p for p in ((first or "").strip(), (last or "").strip()) if p)
        if not name:
            continue
        everyone.setdefault(item_id, []).append(name)
        if ctype in (None, "author"):
            authors.setdefault(item_id, []).append(name)
    return {item_id: authors.get(item_id) or names for item_id, names in everyone.items()}


def _collections(db: sqlite3.Connection) -> dict[int, list[str]]:
    """Each item's collections as full paths ("Parent/Child"); collections in the trash are left out."""
    rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT collectionID, collectionName, parentCollectionID"
                                                     " FROM collections")}
    trashed = {r[0] for r in db.execute("SELECT collectionID FROM deletedCollections")} \
        if _has(db, "deletedCollections") else set()

    def path(cid: int, depth: int = 0) -> str | None:
        if cid not in rows or cid in trashed or depth > 50:
            return None
        name, parent = rows[cid]
        if parent is None:
            return name
        up = path(parent, depth + 1)
        return None if up is None else f"{up}/{name}"

    out: dict[int, list[str]] = {}
    for cid, item_id in db.execute("SELECT collectionID, itemID FROM collectionItems"):
        p = path(cid)
        if p:
            out.setdefault(item_id, []).append(p)
    return out


def _attachments(db: sqlite3.Connection, folder: Path, base_dir: Path | None,
                 excluded: str) -> dict[int, tuple[list[str], list[str]]]:
    """{parent item: ([PDF files that exist], [PDF attachments not found])}, oldest attachment first."""
    out: dict[int, tuple[list[str], list[str]]] = {}
    for r in db.execute("SELECT a.itemID, a.parentItemID, a.linkMode, a.contentType, a.path, i.key"
                        " FROM itemAttachments a JOIN items i ON i.itemID = a.itemID"
                        f" WHERE a.parentItemID IS NOT NULL AND a.itemID NOT IN ({excluded}) ORDER BY a.itemID"):
        raw = r["path"] or ""
        if r["contentType"] != "application/pdf" and not raw.lower().endswith(".pdf"):
            continue
        if raw.startswith("storage:"):
            path: Path | None = folder / "storage" / r["key"] / raw[len("storage:"):]
        elif raw.startswith("attachments:"):
            path = base_dir / raw[len("attachments:"):] if base_dir else None
        elif r["linkMode"] == _LINKED_FILE and raw:
            path = Path(raw).expanduser()
        else:
            path = None
        found, missing = out.setdefault(r["parentItemID"], ([], []))
        if path is not None and path.is_file():
            found.append(str(path.resolve()))
        else:
            missing.append(str(path) if path is not None else raw or f"attachment {r['key']}")
    return out


def _paper(key: str, item_type: str, v: dict[str, str], authors: list[str]) -> Paper:
    arxiv = _arxiv_id(v)
    extra: dict = {"zotero_key": key, "item_type": item_type}
    doi = normalize_doi(v.get("DOI")) or normalize_doi(_extra_line(v.get("extra", ""), "DOI"))
    if doi and not doi.startswith("10.48550/arxiv."):
        extra["doi"] = doi
    venue = next((v[f] for f in _VENUE_FIELDS if v.get(f) and "arxiv" not in v[f].lower()), None)
    if venue:
        extra["venue"] = venue
    citation_key = _extra_line(v.get("extra", ""), "Citation Key")  # Better BibTeX's pinned key
    if citation_key:
        extra["bibtex_key"] = citation_key
    for name in ("volume", "issue", "pages", "publisher", "url"):
        if v.get(name):
            extra[name] = v[name]
    return Paper(title=" ".join(v["title"].split()), authors=authors, abstract=(v.get("abstractNote") or "").strip(),
                 arxiv_id=arxiv[0] if arxiv else None, arxiv_version=arxiv[1] if arxiv else None,
                 published=_date(v.get("date", "")), source_kind="zotero", extra=extra)


def _extra_line(extra: str, name: str) -> str | None:
    m = re.search(rf"^\s*{name}\s*:\s*(\S+)", extra or "", re.I | re.M)
    return m.group(1) if m else None


def _arxiv_id(v: dict[str, str]) -> tuple[str, int | None] | None:
    """arXiv id from the archive id ("arXiv:2405.12345"), the Extra field ("arXiv: 2405.12345"), the URL, or an
    arXiv DOI (10.48550/arXiv.2405.12345)."""
    candidates = [v.get("archiveID", ""), _extra_line(v.get("extra", ""), "arXiv") or "", v.get("url", "")]
    doi = normalize_doi(v.get("DOI")) or ""
    if doi.startswith("10.48550/arxiv."):
        candidates.append(doi[len("10.48550/arxiv."):])
    if "arxiv" in (v.get("repository", "") + v.get("publicationTitle", "")).lower():
        candidates.append(v.get("number", ""))
    for c in candidates:
        found = normalize_arxiv_id(c) if c else None
        if found:
            return found
    return None


def _date(value: str) -> str | None:
    """Zotero stores "2024-05-21 May 21, 2024" (SQL date with 00 for unknown parts, then the original text)."""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value or "")
    if not m:
        y = re.search(r"\b(1[89]\d{2}|20\d{2})\b", value or "")
        return y.group(1) if y else None
    year, month, day = m.groups()
    if month == "00":
        return year
    return f"{year}-{month}" if day == "00" else f"{year}-{month}-{day}"


def _epoch(stamp: str | None) -> float | None:
    try:
        return datetime.strptime(stamp or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None
