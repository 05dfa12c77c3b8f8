"""What a reference library (a Zotero data folder, a .bib file) yields: one `LibraryItem` per paper it holds."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

from kb.types import Paper


@dataclass
class LibraryItem:
    """One paper of a reference library, as that library describes it.

    `key` is stable within its library (Zotero's item key, the BibTeX citation key). `paper` holds the metadata
    (no pages: full text comes from `pdfs`, the attachment files that exist, the first one being read).
    `missing` names attachments that were listed but not found. `added` is when the user added it (epoch
    seconds) when the library says so."""

    key: str
    paper: Paper
    pdfs: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    added: float | None = None
    missing: list[str] = field(default_factory=list)
    line: int | None = None  # where the entry starts (BibTeX), for messages

    def fingerprint(self) -> str:
        """Changes whenever anything kb reads from this item changes (metadata, labels, attachment files)."""
        files = []
        for path in self.pdfs:
            try:
                st = os.stat(path)
                files.append([path, st.st_size, st.st_mtime])
            except OSError:
                files.append([path, None, None])
        data = {"paper": asdict(self.paper), "collections": sorted(self.collections), "tags": sorted(self.tags),
                "files": files, "missing": self.missing}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


@dataclass
class LibraryRead:
    """Everything read from one library: its items, and (line or item, message) for entries that were skipped."""

    items: list[LibraryItem]
    errors: list[str] = field(default_factory=list)
