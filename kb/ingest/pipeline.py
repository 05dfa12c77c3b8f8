"""`kb ingest`: sources -> parsed papers -> merged records -> chunks -> embeddings -> vector store.

Crash safety (SIGKILL at any point): each file's papers and chunks are written to the catalog in one SQLite
transaction, together with the source record; embedding and indexing happen afterwards and are tracked per
chunk (`embedding IS NULL` / `indexed = 0`), removed chunks are tombstoned. Every run first finishes what an
earlier run left pending, so rerunning the same command completes the store, with no duplicates (chunk ids are
content hashes, upserts are idempotent) and no orphan vectors (tombstones are deleted from the vector store).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kb.diskfull import DiskFullError, disk_full_cause, raise_if_disk_full
from kb.store.catalog import META_RANK, Catalog
from kb.ingest.chunker import chunk_paper
from kb.ingest.identity import content_hash, existing_id, merge, paper_id
from kb.ingest.sources import Input, check_regular_file, expand_inputs, parse_input
from kb.types import KbError, ParseError, Paper

log = logging.getLogger(__name__)

CHUNKER_VERSION = "1"
Progress = Callable[..., None]


@dataclass
class IngestOptions:
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    batch_size: int = 32
    password: str | None = None
    arxiv_api_url: str = "http://export.arxiv.org/api/query"
    download_dir: Path | None = None  # where fetched arXiv PDFs are kept
    force: bool = False  # re-parse files even when unchanged


@dataclass
class IngestReport:
    files: int = 0
    skipped: int = 0
    parsed: int = 0
    papers_new: int = 0
    papers_updated: int = 0
    papers_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, note): worth telling, not failures
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["errors"] = [{"source": s, "error": e} for s, e in self.errors]
        d["notes"] = [{"source": s, "note": n} for s, n in self.notes]
        return d


def index_info(embedder, opts: IngestOptions) -> dict:
    """What the index was built with; a store built otherwise is refused (see kb.store.vectors.check_compatible)."""
    return {"embedder": embedder.name, "dim": int(embedder.dim), "chunk_tokens": opts.chunk_tokens,
            "chunk_overlap": opts.chunk_overlap, "chunker": CHUNKER_VERSION}


def check_catalog_compatible(catalog: Catalog, info: dict) -> None:
    stored = catalog.get_meta("index_info")
    if stored is None:
        return
    old = json.loads(stored)
    if old != info and catalog.counts()["chunks"]:
        diff = ", ".join(f"{k}: {old.get(k)} -> {info.get(k)}" for k in info if old.get(k) != info.get(k))
        raise KbError(f"the knowledge base at {catalog.path.parent} was built with other settings ({diff}). "
                      "Run `kb reindex --rebuild` to re-chunk and re-embed it with the current settings, "
                      "or restore the old settings.")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open_index(catalog: Catalog, embedder, store, opts: IngestOptions) -> None:
    """Refuse a catalog or store built with other settings; record the settings of a new one."""
    from kb.store.vectors import check_compatible

    info = index_info(embedder, opts)
    with _disk_full_guard("recording the index settings", catalog):
        check_catalog_compatible(catalog, info)
        if store.count() == 0 and not store.get_info():
            store.set_info(info)
        check_compatible(store, info)
        catalog.set_meta("index_info", json.dumps(info, sort_keys=True))


def ingest_papers(papers: list[Paper], catalog: Catalog, embedder, store, opts: IngestOptions | None = None,
                  progress: Progress | None = None) -> IngestReport:
    """Store papers parsed elsewhere (e.g. an arXiv listing fetched by kb.feeds), each in its own transaction
    under the source "arxiv:ID" (as `kb ingest arxiv:ID` records it), then embed and index them."""
    opts = opts or IngestOptions()
    progress = progress or (lambda *a, **k: None)
    t0 = time.perf_counter()
    report = IngestReport(files=len(papers))
    _open_index(catalog, embedder, store, opts)
    for i, paper in enumerate(papers):
        progress("paper", index=i, total=len(papers), title=paper.title)
        source = f"arxiv:{paper_id(paper)}"
        with _disk_full_guard(f"storing {source}", catalog), catalog.transaction():
            store_papers([paper], source, paper.source_kind or "arxiv-api", catalog, embedder, opts, report)
        report.parsed += 1
    progress("paper", index=len(papers), total=len(papers), title="")
    with _disk_full_guard("writing embeddings and vectors", catalog):
        sync_store(catalog, embedder, store, opts.batch_size, progress, report)
    report.seconds = time.perf_counter() - t0
    return report


def ingest(items: list[str], catalog: Catalog, embedder, store, opts: IngestOptions | None = None,
           progress: Progress | None = None) -> IngestReport:
    """Ingest files/folders/globs/arXiv refs. One bad input never stops the batch; see IngestReport.errors."""
    opts = opts or IngestOptions()
    progress = progress or (lambda *a, **k: None)
    t0 = time.perf_counter()
    report = IngestReport()
    _open_index(catalog, embedder, store, opts)
    with _disk_full_guard("writing embeddings and vectors", catalog):
        sync_store(catalog, embedder, store, opts.batch_size, progress, report)  # finish an interrupted run first
    inputs, errors = expand_inputs(items)
    # Metadata sources first: a paper's title is settled before its PDF is chunked and embedded, so PDF chunks
    # are not embedded twice (the embedded text includes the title).
    inputs.sort(key=lambda i: i.kind == "pdf")
    report.errors += [(e.path, e.cause) for e in errors]
    report.files = len(inputs)
    for i, inp in enumerate(inputs):
        progress("file", index=i, total=len(inputs), path=inp.ref)
        with _disk_full_guard(f"storing {inp.ref}", catalog):  # a full disk stops the batch: all would fail
            try:
                _ingest_one(inp, catalog, embedder, opts, report)
            except Exception as e:
                if disk_full_cause(e) is not None:
                    raise
                _file_failed(e, inp, catalog, report)
        # Embed as we go so progress shows real work and an interruption loses little.
        if catalog.pending_embedding_count() >= opts.batch_size * 4:
            with _disk_full_guard("writing embeddings and vectors", catalog):
                sync_store(catalog, embedder, store, opts.batch_size, progress, report)
    progress("file", index=len(inputs), total=len(inputs), path="")
    with _disk_full_guard("writing embeddings and vectors", catalog):
        sync_store(catalog, embedder, store, opts.batch_size, progress, report)
    report.seconds = time.perf_counter() - t0
    return report


def _file_failed(e: Exception, inp: Input, catalog: Catalog, report: IngestReport) -> None:
    """Record why one input failed; the batch goes on. Catalog errors are raised: the next file would fail too."""
    if isinstance(e, ParseError):
        report.errors.append((e.path, e.cause if e.page is None else f"page {e.page}: {e.cause}"))
        _record_failure(catalog, inp, e.cause)
    elif isinstance(e, KbError):
        report.errors.append((inp.ref, str(e)))
    elif isinstance(e, OSError):
        report.errors.append((inp.ref, f"cannot read file: {e.strerror or e}"))
    elif isinstance(e, sqlite3.Error):
        raise e
    else:  # an input nobody foresaw must not cost the rest of the batch: report it, go on
        log.debug("ingest of %s failed", inp.ref, exc_info=e)
        report.errors.append((inp.ref, f"cannot ingest: {type(e).__name__}: {e}"))


@contextmanager
def _disk_full_guard(what: str, catalog: Catalog) -> Iterator[None]:
    """Turn a full disk during `what` into one DiskFullError saying what failed and what to free."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as e:
        raise_if_disk_full(e, what, catalog.path.parent)
        raise


def _record_failure(catalog: Catalog, inp: Input, cause: str) -> None:
    if inp.kind == "arxiv-remote":
        return
    try:
        st = os.stat(inp.ref)
        old = catalog.get_source(inp.ref)
        # Keep the last good record of a file that now fails: its papers stay as they were.
        if old is None or old["status"] != "ok":
            catalog.record_source(inp.ref, inp.kind, "", st.st_size, st.st_mtime, "error", cause)
    except OSError:
        pass


def _ingest_one(inp: Input, catalog: Catalog, embedder, opts: IngestOptions, report: IngestReport) -> None:
    if inp.kind == "arxiv-remote":
        _ingest_remote(inp, catalog, embedder, opts, report)
        return
    st = check_regular_file(inp.ref)  # a file swapped for a FIFO since the inputs were listed must not block us
    old = catalog.get_source(inp.ref)
    if not opts.force and old is not None and old["status"] == "ok":
        if old["size"] == st.st_size and old["mtime"] == st.st_mtime:
            report.skipped += 1
            return
    digest = _sha256(inp.ref)
    if not opts.force and old is not None and old["status"] == "ok" and old["sha256"] == digest:
        catalog.record_source(inp.ref, inp.kind, digest, st.st_size, st.st_mtime, "ok")
        report.skipped += 1
        return
    result = parse_input(inp, password=opts.password)
    report.parsed += 1
    report.errors += [(e.path, e.cause) for e in result.errors]
    report.notes += [(inp.ref, note) for note in result.notes]
    if not result.papers and result.errors:
        _record_failure(catalog, inp, result.errors[0].cause)
        return
    if inp.kind == "pdf":
        _refuse_damaged_copy(result.papers, inp.ref, catalog)
    with catalog.transaction():
        store_papers(result.papers, inp.ref, inp.kind, catalog, embedder, opts, report)
        catalog.record_source(inp.ref, inp.kind, digest, st.st_size, st.st_mtime, "ok")


def _refuse_damaged_copy(papers: list[Paper], source: str, catalog: Catalog) -> None:
    """A PDF that MuPDF had to repair (a truncated download, say) may lose pages; it must not replace a stored
    full text that is longer. Raises ParseError (the file is reported, the stored text stays)."""
    for parsed in papers:
        if not parsed.extra.get("repaired"):
            continue
        pid = paper_id(parsed)
        old = catalog.load_paper(pid) if catalog.get_paper_row(pid) else None
        if old is None or not old.pages:
            continue
        new_chars = sum(len(p.text.strip()) for p in parsed.pages)
        old_chars = sum(len(p.text.strip()) for p in old.pages)
        if new_chars < old_chars:
            raise ParseError(source, f"damaged PDF (MuPDF had to repair it): its text ({new_chars} characters) is "
                                     f"shorter than the stored full text of {pid} ({old_chars}); kept the stored "
                                     "text. Replace the file with a good copy")


def _ingest_remote(inp: Input, catalog: Catalog, embedder, opts: IngestOptions, report: IngestReport) -> None:
    from kb.ingest.parsers.arxiv import fetch_arxiv

    ref = inp.ref.split(":", 1)[1]
    paper, pdf_bytes = fetch_arxiv(ref, api_url=opts.arxiv_api_url)
    report.parsed += 1
    with catalog.transaction():
        store_papers([paper], inp.ref, "arxiv-api", catalog, embedder, opts, report)
    if pdf_bytes:
        folder = opts.download_dir or catalog.path.parent / "papers"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{paper.arxiv_id}v{paper.arxiv_version or 1}.pdf".replace("/", "_")
        target = folder / name
        tmp = target.with_suffix(".part")
        try:
            tmp.write_bytes(pdf_bytes)
            tmp.replace(target)
        except OSError:
            tmp.unlink(missing_ok=True)  # a partial download must not keep the space a full disk needs
            raise
        _ingest_one(Input(str(target), "pdf"), catalog, embedder, opts, report)


def store_papers(papers: list[Paper], source: str, kind: str, catalog: Catalog, embedder, opts: IngestOptions,
                 report: IngestReport, rank: int | None = None) -> list[str]:
    """Merge each parsed paper into its record and rebuild its chunks when its content changed; returns their ids.
    Papers that this source used to provide and no longer does lose the link (and go if nothing else has them).
    `rank`: how authoritative this source's metadata is (default: META_RANK of `kind`). Call in a transaction."""
    params = f"{embedder.name}|{opts.chunk_tokens}|{opts.chunk_overlap}|{CHUNKER_VERSION}"
    before = set(catalog.papers_of_source(source))
    now: dict[str, None] = {}
    rank = META_RANK.get(kind, 1) if rank is None else rank
    for parsed in papers:
        # the same paper twice in one file (two topics), or from another source, merges into one record
        pid = existing_id(catalog.db, parsed) or paper_id(parsed)
        now[pid] = None
        row = catalog.get_paper_row(pid)
        old = catalog.load_paper(pid) if row else None
        merged, merged_rank = merge(old, row["meta_rank"] if row else 0, parsed, rank)
        chash = content_hash(merged, params)
        catalog.save_paper(pid, merged, merged_rank, chash)
        catalog.link_source(pid, source, kind)
        if row is None:
            report.papers_new += 1
        else:
            report.papers_updated += 1
        if row is None or row["content_hash"] != chash:
            chunks = chunk_paper(pid, merged, embedder.count_tokens, opts.chunk_tokens, opts.chunk_overlap)
            old_n = len(catalog.chunk_ids(pid))
            removed = catalog.replace_chunks(pid, merged.title, chunks)
            report.chunks_removed += removed
            report.chunks_added += len(chunks) - (old_n - removed)
    for gone in before - set(now):
        catalog.unlink_source(gone, source)
        if not catalog.sources_of_paper(gone):
            report.chunks_removed += catalog.delete_paper(gone)
            report.papers_removed += 1
    return list(now)


def sync_store(catalog: Catalog, embedder, store, batch_size: int, progress: Progress | None = None,
               report: IngestReport | None = None) -> None:
    """Bring the vector store in line with the catalog: delete tombstoned vectors, embed chunks that have no
    embedding yet, upsert chunks not yet indexed. Idempotent; safe to interrupt at any point."""
    progress = progress or (lambda *a, **k: None)
    dead = catalog.tombstones()
    if dead:
        store.delete(dead)
        catalog.clear_tombstones(dead)
    total = catalog.pending_embedding_count()
    done = 0
    while True:
        rows = catalog.pending_embedding(max(batch_size * 4, 64))
        if not rows:
            break
        texts = [f"{r['title']}\n{r['text']}" for r in rows]  # the title helps dense retrieval find the paper
        vectors = embedder.embed(texts)
        catalog.save_embeddings([r["id"] for r in rows], vectors)
        done += len(rows)
        if report is not None:
            report.chunks_embedded += len(rows)
        progress("embed", done=done, total=max(total, done))
        _index_pending(catalog, store)
    _index_pending(catalog, store)


def _index_pending(catalog: Catalog, store) -> None:
    import numpy as np

    while True:
        rows = catalog.pending_index(1000)
        if not rows:
            return
        ids = [r["id"] for r in rows]
        vecs = np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
        metas = [{"paper_id": r["paper_id"], "kind": r["kind"], "section": r["section"],
                  "page": r["page_start"] if r["page_start"] is not None else -1} for r in rows]
        store.upsert(ids, vecs, metas)
        catalog.mark_indexed(ids)


def remove_paper(ref: str, catalog: Catalog, store) -> str:
    """Remove a paper (by id, arXiv id or unique prefix: see Catalog.resolve_paper) and its vectors. Returns the
    removed id. The files it came from are not touched; ingesting them again (even unchanged) adds the paper back."""
    pid, _ = catalog.resolve_paper(ref)
    with _disk_full_guard(f"removing {pid}", catalog):
        _remove(pid, catalog, store)
    return pid


def _remove(pid: str, catalog: Catalog, store) -> None:
    with catalog.transaction():
        for src in catalog.sources_of_paper(pid):
            catalog.unlink_source(pid, src["path"])
            row = catalog.get_source(src["path"])
            if row is not None:  # forget its hash: ingesting the unchanged file again brings the paper back
                catalog.record_source(row["path"], row["kind"], "", -1, -1.0, row["status"], row["error"])
        catalog.delete_paper(pid)
    dead = catalog.tombstones()
    store.delete(dead)
    catalog.clear_tombstones(dead)


def reindex(catalog: Catalog, embedder, store, opts: IngestOptions, rebuild: bool = False,
            progress: Progress | None = None) -> IngestReport:
    """Rebuild the vector store from the catalog. With `rebuild`, re-chunk and re-embed every paper with the
    current settings (needed after changing the embedder or chunking)."""
    with _disk_full_guard("rebuilding the vector store", catalog):
        return _reindex(catalog, embedder, store, opts, rebuild, progress)


def _reindex(catalog: Catalog, embedder, store, opts: IngestOptions, rebuild: bool,
             progress: Progress | None) -> IngestReport:
    report = IngestReport()
    t0 = time.perf_counter()
    info = index_info(embedder, opts)
    if rebuild:
        params = f"{embedder.name}|{opts.chunk_tokens}|{opts.chunk_overlap}|{CHUNKER_VERSION}"
        ids = [r["id"] for r in catalog.list_papers()]
        for pid in ids:
            paper = catalog.load_paper(pid)
            chunks = chunk_paper(pid, paper, embedder.count_tokens, opts.chunk_tokens, opts.chunk_overlap)
            with catalog.transaction():
                catalog.replace_chunks(pid, paper.title, [])
                catalog.replace_chunks(pid, paper.title, chunks)
                catalog.db.execute("UPDATE papers SET content_hash = ? WHERE id = ?",
                                   (content_hash(paper, params), pid))
            report.chunks_added += len(chunks)
        catalog.db.execute("UPDATE chunks SET embedding = NULL, indexed = 0")
    else:
        check_catalog_compatible(catalog, info)
        catalog.mark_all_unindexed()
    store.clear()  # a collection keeps its dimension; a new embedder needs a new one
    store.set_info(info)
    catalog.db.execute("DELETE FROM tombstones")
    catalog.set_meta("index_info", json.dumps(info, sort_keys=True))
    sync_store(catalog, embedder, store, opts.batch_size, progress, report)
    report.seconds = time.perf_counter() - t0
    return report
