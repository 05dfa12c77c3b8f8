"""The catalog's SQLite file itself: is it damaged, and how to open it without writing.

Kept apart from kb.store.catalog (which is about what the catalog holds) so the catalog module stays a reader's
size. A damaged file is named in one line (`CatalogDamaged`); a read-only one is opened with mode=ro, or
`immutable` when SQLite cannot open it read-only in WAL mode.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from kb.types import KbError


class CatalogDamaged(KbError):
    """The catalog file is not a sound SQLite database. The message names the file and what to do."""

    def __init__(self, path: Path, detail: str):
        self.path = path
        super().__init__(
            f"the catalog {path} is damaged ({detail}). Restore it from a backup, or move it aside and run "
            "`kb ingest` on your sources again to rebuild it (`kb reindex` cannot help: it rebuilds the vector "
            "index from the catalog)")


def is_corruption(exc: BaseException) -> bool:
    """True for SQLite's words for a damaged file (not for busy, read-only or full)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and any(
        w in text for w in ("malformed", "not a database", "corrupt", "encrypted"))


def empty_file(path: Path) -> bool:
    """A zero-byte database with no WAL beside it: SQLite would silently take it for a new, empty database."""
    wal = path.with_name(path.name + "-wal")
    return path.is_file() and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size > 0)


def integrity_problem(db: sqlite3.Connection) -> str | None:
    """SQLite's quick_check (reads every page: about 0.6 s per 250 MB): None when sound, else its first
    complaint and how many more there are."""
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as e:
        return str(e)
    if rows == ["ok"]:
        return None
    found = [line.strip() for r in rows for line in r.splitlines() if line.strip() and "***" not in line]
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return f"integrity check: {found[0] if found else rows[0]}{more}"


def connect_read_only(path: Path, immutable: bool = False) -> tuple[sqlite3.Connection, bool]:
    """Open without writing anything. Returns the connection and whether it is `immutable`.

    mode=ro needs the WAL's -shm file; a folder we cannot write holds none after the last writer closed cleanly,
    so then the file is opened `immutable` (no locking: right while nobody writes it, which a folder we cannot
    write makes likely but not certain)."""
    if not path.is_file():
        raise KbError(f"no knowledge base at {path.parent} (no catalog, and the folder is read-only)")
    uri = f"file:{quote(str(path.resolve()))}"
    if not immutable:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db, False
        except sqlite3.OperationalError:
            db.close()
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None), True
