"""Does the vector store still match the catalog? A lost or damaged index must not pass for an empty one.

The catalog is the source of truth and keeps every chunk's embedding; the vector store is derived from it. Our
write order (catalog commit, then store upsert, then `indexed = 1`; catalog delete with a tombstone, then store
delete, then the tombstone cleared) means that at any moment, even after a SIGKILL,

    chunks marked indexed  <=  vectors in the store  <=  chunks with an embedding + tombstones

so a count outside those bounds is damage, not a run in progress: vectors lost (the `chroma/` folder deleted or
replaced) or vectors the catalog never wrote (a store left from another catalog). Read the two counts while no
writer runs (under kb's lock, or in a read-only home), else a writer between the two reads looks like damage.
"""
from __future__ import annotations

import logging

from kb.store.catalog import Catalog
from kb.store.vectors import VectorStore

log = logging.getLogger(__name__)

REINDEX_HINT = "`kb reindex` rebuilds it from the catalog (no re-embedding)"


def index_problem(counts: dict, vectors: int, location: str) -> str | None:
    """One sentence naming the mismatch between `Catalog.index_counts()` and the store's count, or None."""
    if vectors < counts["indexed"]:
        return (f"the vector index at {location} holds {vectors} vectors but the catalog has {counts['indexed']} "
                f"indexed chunks: {counts['indexed'] - vectors} were lost (index deleted or damaged)")
    most = counts["embedded"] + counts["tombstones"]
    if vectors > most:
        return (f"the vector index at {location} holds {vectors} vectors but the catalog knows only {most} "
                "chunks: the index belongs to another catalog or an older copy of this one")
    return None


def check_index(catalog: Catalog, store: VectorStore) -> str | None:
    """`index_problem` for this catalog and store (call with no writer running). Inside a snapshot the counts
    are read through a second connection: the snapshot may be older than the store."""
    if not catalog.db.in_transaction:
        return index_problem(catalog.index_counts(), store.count(), store.location)
    db = catalog.connect()
    try:
        return index_problem(catalog.index_counts(db), store.count(), store.location)
    finally:
        db.close()


def repair_index(catalog: Catalog, store: VectorStore) -> str | None:
    """For writers, under the exclusive lock: when the store disagrees with the catalog, mark the chunks whose
    vectors are missing as not indexed (the next sync re-adds them from the stored embeddings) and delete vectors
    the catalog does not know. Returns the problem that was repaired, or None when the store was consistent."""
    problem = check_index(catalog, store)
    if problem is None:
        return None
    have = store.ids()
    missing = sorted(catalog.indexed_ids() - have)
    known = {r[0] for r in catalog.db.execute("SELECT id FROM chunks")} | set(catalog.tombstones())
    extra = sorted(have - known)
    if missing:
        catalog.mark_unindexed(missing)
    if extra:
        store.delete(extra)
    log.warning("%s; repairing: %d vectors to re-add from the catalog, %d unknown vectors deleted",
                problem, len(missing), len(extra))
    return problem


def index_status(catalog: Catalog, open_store, lock_path) -> dict:
    """For `kb status`: the store's vector count and the problem found, if any (`open_store()` may raise).
    While a writer holds the lock the store is not opened: `writer` names its pid (0 when unknown)."""
    from kb.store.lock import try_shared, writer_pid
    from kb.types import KbError

    if catalog.readonly:  # embedded Chroma cannot be opened without writing; readers use the catalog's vectors
        return {"vectors": None, "problem": None, "writer": None}
    with try_shared(lock_path) as free:
        if not free:
            return {"vectors": None, "problem": None, "writer": writer_pid(lock_path) or 0}
        try:
            store = open_store()
            problem = check_index(catalog, store)
            vectors = store.count()
        except KbError as e:
            return {"vectors": None, "problem": f"{e}", "writer": None}
    return {"vectors": vectors, "problem": f"{problem}; {REINDEX_HINT}" if problem else None, "writer": None}
