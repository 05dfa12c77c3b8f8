"""A minimal Zotero data folder for tests: `zotero.sqlite` with the tables and columns kb reads (names as in
Zotero's resource/schema/userdata.sql and system.sql; our own reduced DDL) and a `storage/` folder."""
from __future__ import annotations

import sqlite3
from pathlib import Path

DDL = """
CREATE TABLE itemTypes (itemTypeID INTEGER PRIMARY KEY, typeName TEXT, templateItemTypeID INT, display INT);
CREATE TABLE fields (fieldID INTEGER PRIMARY KEY, fieldName TEXT, fieldFormatID INT);
CREATE TABLE creatorTypes (creatorTypeID INTEGER PRIMARY KEY, creatorType TEXT);
CREATE TABLE libraries (libraryID INTEGER PRIMARY KEY, type TEXT NOT NULL, editable INT NOT NULL,
  filesEditable INT NOT NULL);
CREATE TABLE items (itemID INTEGER PRIMARY KEY, itemTypeID INT NOT NULL,
  dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT NOT NULL, key TEXT NOT NULL,
  version INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0, UNIQUE (libraryID, key));
CREATE TABLE itemDataValues (valueID INTEGER PRIMARY KEY, value UNIQUE);
CREATE TABLE itemData (itemID INT, fieldID INT, valueID, PRIMARY KEY (itemID, fieldID));
CREATE TABLE creators (creatorID INTEGER PRIMARY KEY, firstName TEXT, lastName TEXT, fieldMode INT,
  UNIQUE (lastName, firstName, fieldMode));
CREATE TABLE itemCreators (itemID INT NOT NULL, creatorID INT NOT NULL, creatorTypeID INT NOT NULL DEFAULT 1,
  orderIndex INT NOT NULL DEFAULT 0, PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex));
CREATE TABLE collections (collectionID INTEGER PRIMARY KEY, collectionName TEXT NOT NULL,
  parentCollectionID INT DEFAULT NULL, libraryID INT NOT NULL, key TEXT NOT NULL);
CREATE TABLE collectionItems (collectionID INT NOT NULL, itemID INT NOT NULL, orderIndex INT NOT NULL DEFAULT 0,
  PRIMARY KEY (collectionID, itemID));
CREATE TABLE tags (tagID INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE itemTags (itemID INT NOT NULL, tagID INT NOT NULL, type INT NOT NULL, PRIMARY KEY (itemID, tagID));
CREATE TABLE itemAttachments (itemID INTEGER PRIMARY KEY, parentItemID INT, linkMode INT, contentType TEXT,
  charsetID INT, path TEXT, syncState INT DEFAULT 0, storageModTime INT, storageHash TEXT);
CREATE TABLE itemNotes (itemID INTEGER PRIMARY KEY, parentItemID INT, note TEXT, title TEXT);
CREATE TABLE deletedItems (itemID INTEGER PRIMARY KEY, dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL);
"""

TYPES = ["journalArticle", "preprint", "conferencePaper", "attachment", "note"]
FIELDS = ["title", "abstractNote", "date", "DOI", "url", "extra", "publicationTitle", "archiveID", "proceedingsTitle"]


class ZoteroFixture:
    """Build and edit a Zotero data folder. `add_item` returns the item key."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "storage").mkdir(exist_ok=True)
        self.path = self.folder / "zotero.sqlite"
        db = self.connect()
        db.executescript(DDL)
        db.executemany("INSERT INTO itemTypes(itemTypeID, typeName) VALUES (?, ?)", list(enumerate(TYPES, 1)))
        db.executemany("INSERT INTO fields(fieldID, fieldName) VALUES (?, ?)", list(enumerate(FIELDS, 1)))
        db.executemany("INSERT INTO creatorTypes VALUES (?, ?)", [(1, "author"), (2, "editor")])
        db.execute("INSERT INTO libraries VALUES (1, 'user', 1, 1)")
        db.commit()
        db.close()
        self._n = 0

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path))

    def _key(self) -> str:
        self._n += 1
        return f"K{self._n:07d}"

    def _type(self, db, name: str) -> int:
        return db.execute("SELECT itemTypeID FROM itemTypes WHERE typeName = ?", (name,)).fetchone()[0]

    def _set(self, db, item_id: int, field: str, value: str) -> None:
        fid = db.execute("SELECT fieldID FROM fields WHERE fieldName = ?", (field,)).fetchone()[0]
        db.execute("INSERT OR IGNORE INTO itemDataValues(value) VALUES (?)", (value,))
        vid = db.execute("SELECT valueID FROM itemDataValues WHERE value = ?", (value,)).fetchone()[0]
        db.execute("INSERT OR REPLACE INTO itemData(itemID, fieldID, valueID) VALUES (?, ?, ?)", (item_id, fid, vid))

    def add_item(self, title: str, authors: list[tuple[str, str]] = (), item_type: str = "journalArticle",
                 fields: dict | None = None, collections: list[str] = (), tags: list[str] = (),
                 added: str = "2024-05-01 10:00:00") -> str:
        key = self._key()
        with self.connect() as db:
            cur = db.execute("INSERT INTO items(itemTypeID, libraryID, key, dateAdded) VALUES (?, 1, ?, ?)",
                             (self._type(db, item_type), key, added))
            item_id = cur.lastrowid
            for name, value in {"title": title, **(fields or {})}.items():
                self._set(db, item_id, name, value)
            for i, (first, last) in enumerate(authors):
                db.execute("INSERT OR IGNORE INTO creators(firstName, lastName, fieldMode) VALUES (?, ?, 0)",
                           (first, last))
                cid = db.execute("SELECT creatorID FROM creators WHERE firstName = ? AND lastName = ?",
                                 (first, last)).fetchone()[0]
                db.execute("INSERT INTO itemCreators VALUES (?, ?, 1, ?)", (item_id, cid, i))
            for path in collections:
                db.execute("INSERT INTO collectionItems(collectionID, itemID) VALUES (?, ?)",
                           (self._collection(db, path), item_id))
            for tag in tags:
                db.execute("INSERT OR IGNORE INTO tags(name) VALUES (?)", (tag,))
                tid = db.execute("SELECT tagID FROM tags WHERE name = ?", (tag,)).fetchone()[0]
                db.execute("INSERT INTO itemTags VALUES (?, ?, 0)", (item_id, tid))
        return key

    def _collection(self, db, path: str) -> int:
        parent = None
        for name in path.split("/"):
            row = db.execute("SELECT collectionID FROM collections WHERE collectionName = ? AND "
                             "parentCollectionID IS ?", (name, parent)).fetchone()
            if row:
                parent = row[0]
            else:
                parent = db.execute("INSERT INTO collections(collectionName, parentCollectionID, libraryID, key)"
                                    " VALUES (?, ?, 1, ?)", (name, parent, self._key())).lastrowid
        return parent

    def item_id(self, key: str) -> int:
        with self.connect() as db:
            return db.execute("SELECT itemID FROM items WHERE key = ?", (key,)).fetchone()[0]

    def attach_stored(self, parent_key: str, pdf_bytes: bytes, name: str = "paper.pdf") -> str:
        """A PDF imported into Zotero's storage (path "storage:NAME")."""
        key = self._key()
        (self.folder / "storage" / key).mkdir(parents=True)
        (self.folder / "storage" / key / name).write_bytes(pdf_bytes)
        self._attachment(parent_key, key, 0, f"storage:{name}")
        return key

    def attach_linked(self, parent_key: str, path: Path) -> str:
        key = self._key()
        self._attachment(parent_key, key, 2, str(path))
        return key

    def _attachment(self, parent_key: str, key: str, link_mode: int, path: str) -> None:
        parent = self.item_id(parent_key)
        with self.connect() as db:
            item_id = db.execute("INSERT INTO items(itemTypeID, libraryID, key) VALUES (?, 1, ?)",
                                 (self._type(db, "attachment"), key)).lastrowid
            db.execute("INSERT INTO itemAttachments(itemID, parentItemID, linkMode, contentType, path)"
                       " VALUES (?, ?, ?, 'application/pdf', ?)", (item_id, parent, link_mode, path))

    def trash(self, key: str) -> None:
        with self.connect() as db:
            db.execute("INSERT INTO deletedItems(itemID) VALUES (?)", (self.item_id(key),))

    def set_field(self, key: str, field: str, value: str) -> None:
        with self.connect() as db:
            self._set(db, self.item_id(key), field, value)
