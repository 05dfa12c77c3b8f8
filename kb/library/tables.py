"""The library's own data in the catalog database: collections, tags, stars, and which papers form the library.

Kept out of kb.store.catalog on purpose: these tables are created idempotently on the catalog's connection the
first time something is written to them (`ensure`), so catalogs made before them open unchanged. Reading functions
never write (a read-only KB_HOME, or a reader next to a running `kb ingest`, must not need a write lock): without
the tables they answer "nothing".

Tables:
- `library_labels(paper_id, source, kind, name)`: a collection ("collection", full path "Parent/Child") or a tag
  ("tag") that a library source (a Zotero item, a .bib entry) gives a paper; replaced whenever that source is.
- `library_items(source, paper_id, kind, added)`: each library source and when the user added it (Zotero's
  dateAdded, else when kb first saw it): the recency weight of the ranking.
- `library_stars(paper_id, starred_at)`: papers marked with `kb star`.

The library is the papers linked to a Zotero item or a .bib entry, to a PDF the user ingested (not one that kb
downloaded into KB_HOME/papers), or starred.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS library_labels (
    paper_id TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (paper_id, source, kind, name)
);
CREATE INDEX IF NOT EXISTS library_labels_name ON library_labels(kind, name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS library_items (
    source TEXT PRIMARY KEY, paper_id TEXT NOT NULL, kind TEXT NOT NULL, added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS library_items_paper ON library_items(paper_id);
CREATE TABLE IF NOT EXISTS library_stars (paper_id TEXT PRIMARY KEY, starred_at REAL NOT NULL);
"""

LIBRARY_KINDS = ("zotero", "bibtex")


def exists(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'library_stars'").fetchone() is not None


def ensure(db: sqlite3.Connection) -> sqlite3.Connection:
    """Create the library tables if missing (idempotent, cheap); returns `db`."""
    if not exists(db):
        for statement in _SCHEMA.split(";"):  # one by one: executescript would commit an open transaction
            if statement.strip():
                db.execute(statement)
    return db


def set_item(db: sqlite3.Connection, source: str, paper_id: str, kind: str, added: float | None,
             collections: list[str], tags: list[str]) -> None:
    """Record (or replace) one library source: its paper, when it was added, its collections and tags."""
    ensure(db)
    old = db.execute("SELECT paper_id, added FROM library_items WHERE source = ?", (source,)).fetchone()
    when = added if added is not None else (old[1] if old else time.time())
    db.execute("INSERT OR REPLACE INTO library_items(source, paper_id, kind, added) VALUES (?, ?, ?, ?)",
               (source, paper_id, kind, when))
    db.execute("DELETE FROM library_labels WHERE source = ?", (source,))
    db.executemany("INSERT OR IGNORE INTO library_labels(paper_id, source, kind, name) VALUES (?, ?, ?, ?)",
                   [(paper_id, source, "collection", c) for c in collections] +
                   [(paper_id, source, "tag", t) for t in tags])


def drop_item(db: sqlite3.Connection, source: str) -> None:
    ensure(db)
    db.execute("DELETE FROM library_items WHERE source = ?", (source,))
    db.execute("DELETE FROM library_labels WHERE source = ?", (source,))


def item_sources(db: sqlite3.Connection, prefix: str) -> list[str]:
    """Library sources whose name starts with `prefix` (e.g. every item of one Zotero folder)."""
    if not exists(db):
        return []
    return [r[0] for r in db.execute("SELECT source FROM library_items WHERE substr(source, 1, ?) = ?",
                                     (len(prefix), prefix))]


def labels_of(db: sqlite3.Connection, paper_id: str) -> dict[str, list[str]]:
    """{"collections": [...], "tags": [...]} of one paper."""
    if not exists(db):
        return {"collections": [], "tags": []}
    out: dict[str, list[str]] = {"collections": [], "tags": []}
    for kind, name in db.execute("SELECT DISTINCT kind, name FROM library_labels WHERE paper_id = ? ORDER BY name",
                                 (paper_id,)):
        out["collections" if kind == "collection" else "tags"].append(name)
    return out


def papers_with_label(db: sqlite3.Connection, kind: str, name: str) -> set[str]:
    """Papers in collection `name` (its full path or its own name, with sub-collections) or with tag `name`."""
    if not exists(db):
        return set()
    if kind == "collection":
        rows = db.execute("SELECT paper_id FROM library_labels WHERE kind = 'collection' AND (name = ? COLLATE NOCASE"
                          " OR name LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')",
                          (name, _like(name) + "/%", "%/" + _like(name), "%/" + _like(name) + "/%"))
    else:
        rows = db.execute("SELECT paper_id FROM library_labels WHERE kind = 'tag' AND name = ? COLLATE NOCASE",
                          (name,))
    return {r[0] for r in rows}


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def label_counts(db: sqlite3.Connection, kind: str) -> list[tuple[str, int]]:
    """[(name, number of papers)] of every collection or tag, by name."""
    if not exists(db):
        return []
    return [(r[0], r[1]) for r in db.execute(
        "SELECT name, COUNT(DISTINCT paper_id) FROM library_labels l WHERE kind = ?"
        " AND EXISTS (SELECT 1 FROM papers p WHERE p.id = l.paper_id) GROUP BY name ORDER BY name COLLATE NOCASE",
        (kind,))]


def star(db: sqlite3.Connection, paper_id: str) -> bool:
    """Mark a paper; False when it already was."""
    ensure(db)
    cur = db.execute("INSERT OR IGNORE INTO library_stars(paper_id, starred_at) VALUES (?, ?)",
                     (paper_id, time.time()))
    return cur.rowcount > 0


def unstar(db: sqlite3.Connection, paper_id: str) -> bool:
    ensure(db)
    return db.execute("DELETE FROM library_stars WHERE paper_id = ?", (paper_id,)).rowcount > 0


def starred(db: sqlite3.Connection) -> set[str]:
    if not exists(db):
        return set()
    return {r[0] for r in db.execute(
        "SELECT s.paper_id FROM library_stars s JOIN papers p ON p.id = s.paper_id")}


def library_papers(db: sqlite3.Connection, downloads: Path | str | None = None) -> dict[str, float]:
    """{paper id: when it joined the library (epoch seconds)} for every library paper (see the module docstring).

    `downloads`: the folder kb downloads PDFs into (KB_HOME/papers); PDFs there are not the user's own."""
    out: dict[str, float] = {}

    def add(pid: str, when: float) -> None:
        out[pid] = max(out.get(pid, 0.0), when)

    ready = exists(db)
    if ready:
        for pid, when in db.execute("SELECT i.paper_id, i.added FROM library_items i"
                                    " JOIN papers p ON p.id = i.paper_id"):
            add(pid, when)
    prefix = str(Path(downloads).resolve()) + "/" if downloads else None
    for pid, path, when in db.execute("SELECT ps.paper_id, ps.path, p.added_at FROM paper_sources ps"
                                      " JOIN papers p ON p.id = ps.paper_id WHERE ps.kind = 'pdf'"):
        if prefix is None or not path.startswith(prefix):
            add(pid, when)
    if ready:
        for pid, when in db.execute("SELECT s.paper_id, s.starred_at FROM library_stars s"
                                    " JOIN papers p ON p.id = s.paper_id"):
            add(pid, when)
    return out


def filter_ids(db: sqlite3.Connection, ids: list[str], collection: str | None = None, tag: str | None = None,
               starred_only: bool = False) -> list[str]:
    """`ids` (in order) that are in `collection`, carry `tag` and/or are starred."""
    keep = list(ids)
    if collection:
        members = papers_with_label(db, "collection", collection)
        keep = [pid for pid in keep if pid in members]
    if tag:
        members = papers_with_label(db, "tag", tag)
        keep = [pid for pid in keep if pid in members]
    if starred_only:
        members = starred(db)
        keep = [pid for pid in keep if pid in members]
    return keep


def paper_labels(db: sqlite3.Connection, paper_id: str) -> dict:
    """{"collections", "tags", "starred"} of one paper (for `kb show ID`)."""
    out: dict = labels_of(db, paper_id)
    out["starred"] = paper_id in starred(db)
    return out


def overview(db: sqlite3.Connection) -> dict:
    """Every collection and tag with its number of papers, and how many papers are starred (for `kb show`)."""
    return {"collections": [{"name": n, "papers": c} for n, c in label_counts(db, "collection")],
            "tags": [{"name": n, "papers": c} for n, c in label_counts(db, "tag")],
            "starred": len(starred(db))}
