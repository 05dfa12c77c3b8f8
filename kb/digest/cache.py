"""The per-paper digest cache: a small SQLite file (KB_HOME/cache/digest.sqlite by default).

One row per (paper content, model, prompt version, embedder) key, written and committed as soon as the paper is
done, so a second run of the same day reads every paper back at once and an interrupted run resumes with the
first paper it had not finished. The key is computed by kb.digest.day.paper_key.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from kb.types import KbError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_digests (
    key TEXT PRIMARY KEY, paper_id TEXT NOT NULL, model TEXT NOT NULL, prompt_version TEXT NOT NULL,
    data TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS paper_digests_paper ON paper_digests(paper_id);
"""


class DigestCache:
    """Open with `DigestCache(path)`; use as a context manager or call `close()`."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise KbError(f"digest cache {self.path} cannot be opened: {e} (delete the file to start over)") from e

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT data FROM paper_digests WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, paper_id: str, model: str, prompt_version: str, data: dict) -> None:
        """Store one paper's digest; committed when this returns (autocommit)."""
        self.db.execute(
            "INSERT OR REPLACE INTO paper_digests(key, paper_id, model, prompt_version, data, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, paper_id, model, prompt_version, json.dumps(data, ensure_ascii=False), time.time()))

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM paper_digests").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "DigestCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
