"""The durable record of papers, sources, chunks and ingest state (SQLite, WAL, one transaction per change).

The vector index is derived from this catalog: every chunk's embedding is stored here too, so `kb reindex`
rebuilds the vector store without re-embedding, and a crash between the two stores is repaired on the next run:
chunks with `indexed = 0` are (re)upserted, ids in `tombstones` are deleted from the vector store.
FTS5 over chunk text and paper titles gives BM25 for lexical retrieval.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from kb.store.dbfile import CatalogDamaged, connect_read_only, empty_file, integrity_problem, is_corruption
from kb.types import Annotation, Chunk, KbError, Page, Paper, Section

SCHEMA_VERSION = 1
MAX_REF = 256  # longest paper reference a user may type (ids and arXiv URLs are far shorter)
MIN_PREFIX = 4  # shortest id prefix that may stand for a paper

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    id TEXT PRIMARY KEY, arxiv_id TEXT, version INTEGER, title TEXT NOT NULL, authors TEXT NOT NULL,
    abstract TEXT NOT NULL, published TEXT, digest_date TEXT, topics TEXT NOT NULL, pdf_url TEXT, comment TEXT,
    page_count INTEGER, extra TEXT NOT NULL, meta_rank INTEGER NOT NULL, content_hash TEXT,
    added_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_arxiv ON papers(arxiv_id);
CREATE INDEX IF NOT EXISTS papers_doi ON papers(lower(json_extract(extra, '$.doi')));
CREATE TABLE IF NOT EXISTS pages (
    paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, number INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (paper_id, number)
);
CREATE TABLE IF NOT EXISTS sections (
    paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, title TEXT NOT NULL, kind TEXT NOT NULL,
    page INTEGER NOT NULL, offset INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sections_paper ON sections(paper_id);
CREATE TABLE IF NOT EXISTS annotations (
    paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, kind TEXT NOT NULL, source TEXT NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (paper_id, kind, source)
);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL,
    status TEXT NOT NULL, error TEXT, ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_sources (
    paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, path TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (paper_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
    text TEXT NOT NULL, section TEXT NOT NULL, kind TEXT NOT NULL, page_start INTEGER, page_end INTEGER,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, embedding BLOB, indexed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_id);
CREATE INDEX IF NOT EXISTS chunks_pending ON chunks(indexed);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    chunk_id UNINDEXED, paper_id UNINDEXED, kind UNINDEXED, title, text, tokenize='porter unicode61'
);
CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5(
    paper_id UNINDEXED, title, abstract, tokenize='porter unicode61'
);
CREATE TABLE IF NOT EXISTS tombstones (chunk_id TEXT PRIMARY KEY);
"""

# Which source's metadata wins when several describe one paper: arXiv's own records, then digest pages, then
# what a PDF parser could read from the page.
# A paper's date: its digest page's date, else its arXiv announcement date, else its submission or PDF date.
DATE_SQL = "COALESCE(p.digest_date, json_extract(p.extra, '$.announced'), p.published)"
META_RANK = {"arxiv-api": 4, "arxiv-atom": 3, "arxiv-jsonl": 3, "digest": 2, "pdf": 1}


class Catalog:
    """SQLite catalog. Open with `Catalog(path)`; use as a context manager or call `close()`."""

    def __init__(self, path: Path | str, readonly: bool | None = None):
        """`readonly`: open without writing anything (None: when the catalog's folder cannot be written, e.g. a
        read-only mount or another user's KB_HOME; also when SQLite finds the file itself read-only)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if empty_file(self.path):
            # SQLite would take an empty file for a new database: a truncated catalog must not become an empty KB
            raise CatalogDamaged(self.path, "the file is empty (0 bytes)")
        if readonly is None:
            readonly = self.path.is_file() and not os.access(self.path.parent, os.W_OK)
        self.readonly = readonly
        self._immutable = False
        try:
            if readonly:
                self.db = self.connect()
            else:
                self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as e:
            if is_corruption(e):
                raise CatalogDamaged(self.path, str(e)) from e
            if not readonly and "readonly" in str(e) and self.path.is_file():
                self.db.close()
                self.__init__(path, readonly=True)  # the file, not its folder, is read-only
                return
            raise KbError(f"catalog {self.path} cannot be opened: {e}") from e
        version = self.get_meta("schema_version")
        if readonly:
            if version is not None and int(version) != SCHEMA_VERSION:
                raise KbError(f"catalog {self.path} has schema {version}; this kb expects {SCHEMA_VERSION}")
            return
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise KbError(f"catalog {self.path} has schema {version}; this kb expects {SCHEMA_VERSION}")
        if self.get_meta("papers_fts") is None:  # catalogs written before the paper-level index: fill it once
            with self.transaction():
                self.db.execute("DELETE FROM papers_fts")
                self.db.execute("INSERT INTO papers_fts(paper_id, title, abstract)"
                                " SELECT id, title, COALESCE(abstract, '') FROM papers")
                self.set_meta("papers_fts", "1")

    def close(self) -> None:
        self.db.close()

    def integrity_problem(self) -> str | None:
        """SQLite's quick_check, for `kb status` and before writes (see kb.store.dbfile); other reads name a
        damaged page when they meet one."""
        return integrity_problem(self.db)

    def verify(self) -> None:
        """Raise CatalogDamaged unless `integrity_problem()` finds nothing."""
        problem = self.integrity_problem()
        if problem:
            raise CatalogDamaged(self.path, problem)

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside lands together or not at all (also on SIGKILL)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator["Catalog"]:
        """Reads inside see one committed state, however many queries they make, while a writer in another
        process goes on (a WAL read transaction; writes inside it fail). Nested snapshots share the outer one."""
        if self.db.in_transaction:
            yield self
            return
        self.db.execute("BEGIN")
        try:
            self.db.execute("SELECT COUNT(*) FROM meta").fetchone()  # the first read fixes the snapshot
            yield self
        finally:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    def connect(self) -> sqlite3.Connection:
        """A second connection to the same file, outside any snapshot of `self.db` (for checks of "now")."""
        if not self.readonly:
            return sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        db, self._immutable = connect_read_only(self.path, self._immutable)
        return db

    # meta ----------------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # sources -------------------------------------------------------------------------------------------------
    def get_source(self, path: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM sources WHERE path = ?", (path,)).fetchone()

    def record_source(self, path: str, kind: str, sha256: str, size: int, mtime: float, status: str,
                      error: str | None = None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sources(path, kind, sha256, size, mtime, status, error, ingested_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (path, kind, sha256, size, mtime, status, error, time.time()),
        )

    def papers_of_source(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT paper_id FROM paper_sources WHERE path = ?", (path,))]

    def sources_of_paper(self, paper_id: str) -> list[sqlite3.Row]:
        return list(self.db.execute(
            "SELECT ps.path, ps.kind, s.sha256, s.ingested_at FROM paper_sources ps"
            " LEFT JOIN sources s ON s.path = ps.path WHERE ps.paper_id = ? ORDER BY ps.path", (paper_id,)))

    def link_source(self, paper_id: str, path: str, kind: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO paper_sources(paper_id, path, kind) VALUES (?, ?, ?)",
                        (paper_id, path, kind))

    def unlink_source(self, paper_id: str, path: str) -> None:
        self.db.execute("DELETE FROM paper_sources WHERE paper_id = ? AND path = ?", (paper_id, path))

    # papers --------------------------------------------------------------------------------------------------
    def get_paper_row(self, paper_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM papers WHERE id = ?", (paper_id,)).fetchone()

    def find_paper_id(self, ref: str) -> str | None:
        """Resolve a user's reference (id, arXiv id with or without version/prefix, unique id prefix), or None."""
        try:
            return self.resolve_paper(ref)[0]
        except KbError:
            return None

    def resolve_paper(self, ref: str) -> tuple[str, bool]:
        """(paper id, matched by prefix) for what a user typed: an id or arXiv id (with or without version, URL or
        "arXiv:" prefix) matched literally, else a unique id prefix of at least MIN_PREFIX characters. Raises
        KbError naming the problem: no match, an ambiguous prefix (with candidates), an empty or too long ref.
        Ids are literal: "%", "_" and "*" are characters, never patterns."""
        from kb.ids import normalize_ref

        ref = ref.strip()
        if not ref:
            raise KbError("empty paper id (see `kb list` for ids)")
        if len(ref) > MAX_REF:
            raise KbError(f"paper id too long ({len(ref)} characters; ids are at most {MAX_REF}); see `kb list`")
        for candidate in normalize_ref(ref):
            row = self.db.execute("SELECT id FROM papers WHERE id = ? OR arxiv_id = ?", (candidate, candidate)).fetchone()
            if row:
                return row[0], False
        if len(ref) >= MIN_PREFIX:
            rows = [r[0] for r in self.db.execute(
                "SELECT id FROM papers WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6", (len(ref), ref))]
            if len(rows) == 1:
                return rows[0], True
            if rows:
                more = ", ..." if len(rows) > 5 else ""
                raise KbError(f"'{ref}' is the start of several paper ids ({', '.join(rows[:5])}{more}); "
                              "give more of the id")
        hint = "" if len(ref) >= MIN_PREFIX else f" (a prefix needs at least {MIN_PREFIX} characters)"
        raise KbError(f"no paper matches '{ref}'{hint} (see `kb list`)")

    def load_paper(self, paper_id: str) -> Paper | None:
        row = self.get_paper_row(paper_id)
        if row is None:
            return None
        pages = [Page(r["number"], r["text"]) for r in
                 self.db.execute("SELECT number, text FROM pages WHERE paper_id = ? ORDER BY number", (paper_id,))]
        sections = [Section(r["title"], r["kind"], r["page"], r["offset"]) for r in self.db.execute(
            "SELECT title, kind, page, offset FROM sections WHERE paper_id = ? ORDER BY page, offset", (paper_id,))]
        annotations = [Annotation(r["kind"], r["source"], json.loads(r["data"])) for r in self.db.execute(
            "SELECT kind, source, data FROM annotations WHERE paper_id = ? ORDER BY source", (paper_id,))]
        return Paper(
            title=row["title"], authors=json.loads(row["authors"]), abstract=row["abstract"],
            arxiv_id=row["arxiv_id"], arxiv_version=row["version"], published=row["published"],
            digest_date=row["digest_date"], topics=json.loads(row["topics"]), pdf_url=row["pdf_url"],
            comment=row["comment"], pages=pages, sections=sections, annotations=annotations,
            page_count=row["page_count"], extra=json.loads(row["extra"]),
        )

    def save_paper(self, paper_id: str, paper: Paper, meta_rank: int, content_hash: str) -> None:
        """Write a (merged) paper: metadata row, pages, sections, annotations. Call inside a transaction."""
        now = time.time()
        old = self.get_paper_row(paper_id)
        self.db.execute(
            # An upsert, never INSERT OR REPLACE: a replace deletes the row and cascades to pages, chunks, links.
            "INSERT INTO papers(id, arxiv_id, version, title, authors, abstract, published, digest_date,"
            " topics, pdf_url, comment, page_count, extra, meta_rank, content_hash, added_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " arxiv_id=excluded.arxiv_id, version=excluded.version, title=excluded.title, authors=excluded.authors,"
            " abstract=excluded.abstract, published=excluded.published, digest_date=excluded.digest_date,"
            " topics=excluded.topics, pdf_url=excluded.pdf_url, comment=excluded.comment,"
            " page_count=excluded.page_count, extra=excluded.extra, meta_rank=excluded.meta_rank,"
            " content_hash=excluded.content_hash, updated_at=excluded.updated_at",
            (paper_id, paper.arxiv_id, paper.arxiv_version, paper.title, json.dumps(paper.authors, ensure_ascii=False),
             paper.abstract, paper.published, paper.digest_date, json.dumps(paper.topics, ensure_ascii=False),
             paper.pdf_url, paper.comment, paper.page_count, json.dumps(paper.extra, ensure_ascii=False),
             meta_rank, content_hash, old["added_at"] if old else now, now),
        )
        self.db.execute("DELETE FROM pages WHERE paper_id = ?", (paper_id,))
        self.db.executemany("INSERT INTO pages(paper_id, number, text) VALUES (?, ?, ?)",
                            [(paper_id, p.number, p.text) for p in paper.pages])
        self.db.execute("DELETE FROM sections WHERE paper_id = ?", (paper_id,))
        self.db.executemany("INSERT INTO sections(paper_id, title, kind, page, offset) VALUES (?, ?, ?, ?, ?)",
                            [(paper_id, s.title, s.kind, s.page, s.offset) for s in paper.sections])
        self.db.execute("DELETE FROM annotations WHERE paper_id = ?", (paper_id,))
        self.db.executemany("INSERT OR REPLACE INTO annotations(paper_id, kind, source, data) VALUES (?, ?, ?, ?)",
                            [(paper_id, a.kind, a.source, json.dumps(a.data, ensure_ascii=False))
                             for a in paper.annotations])
        self.db.execute("UPDATE chunks_fts SET title = ? WHERE paper_id = ?", (paper.title, paper_id))
        self.db.execute("DELETE FROM papers_fts WHERE paper_id = ?", (paper_id,))
        self.db.execute("INSERT INTO papers_fts(paper_id, title, abstract) VALUES (?, ?, ?)",
                        (paper_id, paper.title, paper.abstract or ""))

    def delete_paper(self, paper_id: str) -> int:
        """Remove a paper and its chunks (their vectors are tombstoned). Call inside a transaction."""
        n = self.replace_chunks(paper_id, "", [])
        self.db.execute("DELETE FROM papers WHERE id = ?", (paper_id,))
        self.db.execute("DELETE FROM papers_fts WHERE paper_id = ?", (paper_id,))
        return n

    def list_papers(self, date: str | None = None, topic: str | None = None, kind: str | None = None,
                    since: str | None = None, until: str | None = None) -> list[sqlite3.Row]:
        """Papers with their effective date (DATE_SQL): the digest page's date, else the arXiv announcement date
        (recorded by `kb fetch`), else the arXiv submission / PDF date."""
        sql = (f"SELECT p.*, {DATE_SQL} AS date,"
               " (SELECT COUNT(*) FROM chunks c WHERE c.paper_id = p.id) AS chunk_count,"
               " (SELECT group_concat(DISTINCT kind) FROM paper_sources s WHERE s.paper_id = p.id) AS kinds"
               " FROM papers p WHERE 1=1")
        args: list = []
        if date:
            sql += f" AND {DATE_SQL} = ?"
            args.append(date)
        if since:
            sql += f" AND {DATE_SQL} >= ?"
            args.append(since)
        if until:
            sql += f" AND {DATE_SQL} <= ?"
            args.append(until)
        if topic:
            sql += " AND EXISTS (SELECT 1 FROM json_each(p.topics) t WHERE lower(t.value) = lower(?))"
            args.append(topic)
        if kind:
            sql += " AND EXISTS (SELECT 1 FROM paper_sources s WHERE s.paper_id = p.id AND s.kind LIKE ?)"
            args.append(kind + "%")
        sql += " ORDER BY date DESC, p.title"
        return list(self.db.execute(sql, args))

    # chunks --------------------------------------------------------------------------------------------------
    def chunk_ids(self, paper_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE paper_id = ? ORDER BY idx", (paper_id,))]

    def replace_chunks(self, paper_id: str, title: str, chunks: list[Chunk]) -> int:
        """Swap a paper's chunks; vectors of removed chunks are tombstoned. Returns how many were removed.
        Chunks whose id (content) is unchanged keep their embedding. Call inside a transaction."""
        old = set(self.chunk_ids(paper_id))
        new_ids = {c.id for c in chunks}
        gone = old - new_ids
        self.db.executemany("INSERT OR IGNORE INTO tombstones(chunk_id) VALUES (?)", [(i,) for i in gone])
        self.db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in gone])
        self.db.execute("DELETE FROM chunks_fts WHERE paper_id = ?", (paper_id,))
        for c in chunks:
            if c.id in old:
                self.db.execute("UPDATE chunks SET idx = ? WHERE id = ?", (c.index, c.id))
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO chunks(id, paper_id, idx, text, section, kind, page_start, page_end,"
                    " char_start, char_end, embedding, indexed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)",
                    (c.id, paper_id, c.index, c.text, c.section, c.kind, c.page_start, c.page_end,
                     c.char_start, c.char_end))
                self.db.execute("DELETE FROM tombstones WHERE chunk_id = ?", (c.id,))
        self.db.executemany("INSERT INTO chunks_fts(chunk_id, paper_id, kind, title, text) VALUES (?, ?, ?, ?, ?)",
                            [(c.id, paper_id, c.kind, title, c.text) for c in chunks])
        return len(gone)

    def pending_embedding(self, limit: int) -> list[sqlite3.Row]:
        return list(self.db.execute(
            "SELECT c.id, c.text, p.title FROM chunks c JOIN papers p ON p.id = c.paper_id"
            " WHERE c.embedding IS NULL LIMIT ?", (limit,)))

    def pending_embedding_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks WHERE embedding IS NULL").fetchone()[0]

    def save_embeddings(self, ids: list[str], vectors: np.ndarray) -> None:
        with self.transaction():
            self.db.executemany("UPDATE chunks SET embedding = ?, indexed = 0 WHERE id = ?",
                                [(v.astype(np.float32).tobytes(), i) for i, v in zip(ids, vectors)])

    def pending_index(self, limit: int) -> list[sqlite3.Row]:
        return list(self.db.execute(
            "SELECT id, paper_id, kind, section, page_start, embedding FROM chunks"
            " WHERE embedding IS NOT NULL AND indexed = 0 LIMIT ?", (limit,)))

    def mark_indexed(self, ids: list[str]) -> None:
        with self.transaction():
            self.db.executemany("UPDATE chunks SET indexed = 1 WHERE id = ?", [(i,) for i in ids])

    def tombstones(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT chunk_id FROM tombstones")]

    def clear_tombstones(self, ids: list[str]) -> None:
        with self.transaction():
            self.db.executemany("DELETE FROM tombstones WHERE chunk_id = ?", [(i,) for i in ids])

    def mark_all_unindexed(self) -> None:
        self.db.execute("UPDATE chunks SET indexed = 0")

    def mark_unindexed(self, ids: list[str]) -> None:
        with self.transaction():
            self.db.executemany("UPDATE chunks SET indexed = 0 WHERE id = ?", [(i,) for i in ids])

    def index_counts(self, db: sqlite3.Connection | None = None) -> dict:
        """What the vector store should hold: at least every `indexed` chunk; at most every chunk with an
        embedding plus the tombstoned ids not yet deleted from it (see kb.store.health). `db`: another
        connection to read from (see `connect`)."""
        row = (db or self.db).execute(
            "SELECT (SELECT COUNT(*) FROM chunks WHERE indexed = 1), (SELECT COUNT(*) FROM chunks WHERE embedding"
            " IS NOT NULL), (SELECT COUNT(*) FROM tombstones)").fetchone()
        return {"indexed": row[0], "embedded": row[1], "tombstones": row[2]}

    def indexed_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM chunks WHERE indexed = 1")}

    def embedded_chunks(self) -> Iterator[sqlite3.Row]:
        """Every chunk with an embedding, with the metadata the vector store keeps (see kb.store.readview)."""
        return self.db.execute("SELECT id, paper_id, kind, section, page_start, embedding FROM chunks"
                               " WHERE embedding IS NOT NULL")

    def get_chunks(self, ids: list[str]) -> dict[str, sqlite3.Row]:
        out: dict[str, sqlite3.Row] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            q = ",".join("?" * len(part))
            for r in self.db.execute(f"SELECT id, paper_id, idx, text, section, kind, page_start, page_end,"
                                     f" char_start, char_end FROM chunks WHERE id IN ({q})", part):
                out[r["id"]] = r
        return out

    def counts(self) -> dict:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "papers": one("SELECT COUNT(*) FROM papers"),
            "papers_with_full_text": one("SELECT COUNT(DISTINCT paper_id) FROM pages"),
            "chunks": one("SELECT COUNT(*) FROM chunks"),
            "chunks_pending_embedding": self.pending_embedding_count(),
            "chunks_pending_index": one("SELECT COUNT(*) FROM chunks WHERE indexed = 0"),
            "sources": one("SELECT COUNT(*) FROM sources WHERE status = 'ok'"),
            "failed_sources": one("SELECT COUNT(*) FROM sources WHERE status = 'error'"),
            "annotations": one("SELECT COUNT(*) FROM annotations"),
        }


def paper_to_dict(paper: Paper) -> dict:
    d = asdict(paper)
    d.pop("pages")
    return d
