"""`kb ingest` of reference libraries: a Zotero data folder or a .bib file, next to the usual PDFs and pages.

Each library entry (a Zotero item, a BibTeX entry) is its own source in the catalog, named
`zotero:<folder>#<item key>` or `bibtex:<file>#<citation key>`, with a fingerprint of everything read from it
(metadata, collections, tags, attachment files' size and time). Re-ingesting a library therefore re-reads only
the entries whose fingerprint changed, adds new ones, and removes the entries that are gone (or went to the trash):
their link to the paper is dropped, and the paper goes when nothing else (a digest page, an arXiv record, another
library) still has it. An entry's paper is stored through the ingest pipeline (`store_papers`), so it merges with
the records of the same paper from other sources (kb.ingest.identity). Its full text comes from its first PDF
attachment through the ordinary PDF parser; an entry without one is a metadata-only paper.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from kb.ingest.pipeline import IngestOptions, IngestReport, Progress, ingest, store_papers, sync_store
from kb.library import tables
from kb.library.types import LibraryItem, LibraryRead
from kb.store.catalog import Catalog
from kb.types import KbError, ParseError

log = logging.getLogger(__name__)

# How authoritative a library's metadata is when several sources describe one paper: above a PDF's guessed
# title (1), level with a digest page (2; the newer wins), below arXiv's own records (3-4).
LIBRARY_RANK = 2


def library_kind(item: str) -> str | None:
    """"zotero" for a Zotero data folder, "bibtex" for a .bib file, else None (the ordinary ingest handles it)."""
    from kb.library.zotero import is_zotero_folder

    path = Path(item).expanduser()
    if is_zotero_folder(path) or (path.name == "zotero.sqlite" and is_zotero_folder(path.parent)):
        return "zotero"
    if path.suffix.lower() in (".bib", ".bibtex") and path.is_file():
        return "bibtex"
    return None


def ingest_all(items: list[str], catalog: Catalog, embedder, store, opts: IngestOptions | None = None,
               progress: Progress | None = None, zotero_base_dir: str | None = None) -> IngestReport:
    """`kb ingest`: reference libraries here, everything else through kb.ingest.pipeline.ingest."""
    opts = opts or IngestOptions()
    t0 = time.perf_counter()
    libraries = [(i, library_kind(i)) for i in items]
    others = [i for i, kind in libraries if kind is None]
    report = ingest(others, catalog, embedder, store, opts, progress)  # also checks the index's settings
    for item, kind in libraries:
        if kind is None:
            continue
        try:
            ingest_library(item, kind, catalog, embedder, opts, report, progress, zotero_base_dir)
        except KbError as e:
            report.errors.append((item, str(e)))
    sync_store(catalog, embedder, store, opts.batch_size, progress, report)
    report.seconds = time.perf_counter() - t0
    return report


def read_library(item: str, kind: str, zotero_base_dir: str | None = None) -> tuple[str, LibraryRead]:
    """(the library's resolved path, what it holds)."""
    root = Path(item).expanduser().resolve()
    if kind == "zotero" and root.is_file():  # the database file named instead of its folder
        root = root.parent
    if kind == "zotero":
        from kb.library.zotero import read_zotero

        return str(root), read_zotero(root, base_dir=zotero_base_dir)
    from kb.library.bibtex import read_bibtex

    return str(root), read_bibtex(root)


def ingest_library(item: str, kind: str, catalog: Catalog, embedder, opts: IngestOptions, report: IngestReport,
                   progress: Progress | None = None, zotero_base_dir: str | None = None) -> None:
    """Bring the catalog in line with one library: add, update and remove only what changed."""
    progress = progress or (lambda *a, **k: None)
    root, read = read_library(item, kind, zotero_base_dir)
    report.errors += [(root, e) for e in read.errors]
    prefix = f"{kind}:{root}#"
    db = tables.ensure(catalog.db)
    current: dict[str, LibraryItem] = {}
    for entry in read.items:
        current.setdefault(prefix + entry.key, entry)
    report.files += len(current)
    for i, (source, entry) in enumerate(current.items()):
        progress("file", index=i, total=len(current), path=source)
        fingerprint = entry.fingerprint()
        old = catalog.get_source(source)
        if not opts.force and old is not None and old["status"] == "ok" and old["sha256"] == fingerprint:
            report.skipped += 1
            continue
        paper = _with_full_text(entry, source, report)
        report.parsed += 1
        with catalog.transaction():
            ids = store_papers([paper], source, kind, catalog, embedder, opts, report, rank=LIBRARY_RANK)
            tables.set_item(db, source, ids[0], kind, entry.added, entry.collections, entry.tags)
            catalog.record_source(source, kind, fingerprint, 0, 0.0, "ok")
    progress("file", index=len(current), total=len(current), path="")
    for source in tables.item_sources(db, prefix):
        if source not in current:
            with catalog.transaction():
                store_papers([], source, kind, catalog, embedder, opts, report)
                tables.drop_item(db, source)
                catalog.db.execute("DELETE FROM sources WHERE path = ?", (source,))


def _with_full_text(entry: LibraryItem, source: str, report: IngestReport):
    """The entry's metadata with the pages of its first readable PDF attachment."""
    from kb.ingest.parsers.pdf import read_pdf

    paper = replace(entry.paper, source_path=source)
    for missing in entry.missing:  # often a file not synced to this computer: a note, the metadata still counts
        log.warning("%s: attachment not found: %s", source, missing)
    for pdf in entry.pdfs:
        try:
            parsed = read_pdf(pdf)
        except ParseError as e:
            report.errors.append((source, f"{e.path}: {e.cause}"))
            continue
        return replace(paper, pages=parsed.pages, sections=parsed.sections, page_count=parsed.page_count,
                       abstract=paper.abstract or parsed.abstract, arxiv_id=paper.arxiv_id or parsed.arxiv_id,
                       arxiv_version=paper.arxiv_version or parsed.arxiv_version,
                       published=paper.published or parsed.published,
                       extra={**paper.extra, "pdf": pdf})
    return paper
