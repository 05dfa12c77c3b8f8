"""The vector store as a read command (search, ask, eval) sees it.

`ReadView` answers dense queries from the real vector store when that store can be trusted, and otherwise from
`CatalogVectors`: an exact (brute-force) search over the embeddings the catalog keeps for every chunk. So a lost
or damaged index does not turn into "no papers match": the answer is still right, only slower, and a warning
says what is wrong and that `kb reindex` fixes it. While another process writes (it holds kb's lock), readers do
not wait: they answer from the embeddings committed in the catalog, read in the command's snapshot.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kb.store.catalog import Catalog
from kb.store.health import REINDEX_HINT, check_index
from kb.store.lock import try_shared
from kb.store.vectors import VectorStore, Where, matches, normalize_where
from kb.types import KbError

log = logging.getLogger(__name__)


class _ReadOnly(VectorStore):
    def upsert(self, ids, embeddings, metadatas=None) -> None:
        raise KbError(f"{type(self).__name__} is read-only")

    def delete(self, ids) -> None:
        raise KbError(f"{type(self).__name__} is read-only")

    def clear(self) -> None:
        raise KbError(f"{type(self).__name__} is read-only")

    def set_info(self, info: dict) -> None:
        raise KbError(f"{type(self).__name__} is read-only")


class CatalogVectors(_ReadOnly):
    """Exact cosine search over the catalog's stored embeddings (loaded on the first query)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.location = f"{catalog.path} (stored embeddings)"
        self._ids: list[str] | None = None
        self._meta: list[dict] = []
        self._unit: np.ndarray | None = None
        self._masks: dict[str, np.ndarray] = {}

    def _load(self) -> None:
        cur = self.catalog.embedded_chunks()
        cur.row_factory = None  # plain tuples: several times faster than sqlite3.Row over 10^5 rows
        ids, meta, blobs = [], [], []
        for cid, pid, kind, section, page, blob in cur:
            ids.append(cid)
            # the metadata kb.ingest.pipeline gives each vector in the store
            meta.append({"paper_id": pid, "kind": kind, "section": section, "page": page if page is not None else -1})
            blobs.append(blob)
        sizes = {len(b) for b in blobs}
        if len(sizes) > 1:
            raise KbError(f"catalog {self.catalog.path} holds embeddings of several sizes; run `kb reindex --rebuild`")
        dim = sizes.pop() // 4 if sizes else 1
        mat = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
        norms = np.sqrt(np.einsum("ij,ij->i", mat, mat))[:, None]  # no (n, dim) temporary, unlike linalg.norm
        norms[norms == 0] = 1.0
        self._ids, self._meta, self._unit = ids, meta, mat / norms

    def _rows(self, where: Where | None) -> np.ndarray:
        flt = normalize_where(where)
        key = json.dumps(flt, sort_keys=True)
        if key not in self._masks:  # one command asks with few distinct filters (eval: one, many times)
            self._masks[key] = np.flatnonzero([matches(m, flt) for m in self._meta]) if flt else \
                np.arange(len(self._meta))
        return self._masks[key]

    def query(self, embedding: Any, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        if self._ids is None:
            self._load()
        assert self._ids is not None and self._unit is not None
        rows = self._rows(where)
        if k <= 0 or not len(rows):
            return []
        q = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if q.shape[0] != self._unit.shape[1]:
            raise KbError(f"the query has {q.shape[0]} dimensions but the catalog's embeddings have "
                          f"{self._unit.shape[1]}; run `kb reindex --rebuild` after changing the embedder")
        sims = (self._unit @ (q / (float(np.linalg.norm(q)) or 1.0)))[rows]  # no copy of the matrix
        order = np.argsort(-sims, kind="stable")[:k]
        return [(self._ids[rows[j]], float(sims[j])) for j in order]

    def ids(self) -> set[str]:
        return {r["id"] for r in self.catalog.embedded_chunks()}

    def count(self) -> int:
        return self.catalog.index_counts()["embedded"]

    def get_info(self) -> dict:
        return {}


class ReadView(_ReadOnly):
    """Dense queries for readers: the real store (`open_store()`, opened on the first query) once it is checked
    against the catalog; the catalog's own embeddings when it cannot be opened or disagrees with the catalog,
    or while another process writes (the store is used only under a shared lock on `lock_path`, taken for one
    call at a time and never waited for; see kb.store.lock)."""

    def __init__(self, catalog: Catalog, open_store: Callable[[], VectorStore], lock_path: Path):
        self.catalog = catalog
        self._open_store = open_store
        self._lock_path = lock_path
        self._store: VectorStore | None = None
        self._fallback: CatalogVectors | None = None
        self._committed: CatalogVectors | None = None
        self.problem: str | None = None  # why the catalog's embeddings answer instead of the store
        self.location = ""

    def _call(self, method: str, *args):
        with try_shared(self._lock_path) as free:
            if free:
                store = self._pick()
                try:
                    return getattr(store, method)(*args)
                except (KbError, ValueError):  # our own messages and bad filters: the fallback would say the same
                    raise
                except Exception as e:  # the store failed in its own way (chromadb raises many types)
                    if store is self._fallback:
                        raise
                    return getattr(self._give_up(f"the vector index at {store.location} failed: {e}"), method)(*args)
        if self._committed is None:
            log.info("another kb process is writing; dense search uses the embeddings committed in the catalog")
            self._committed = self._fallback or CatalogVectors(self.catalog)
        return getattr(self._committed, method)(*args)

    def _pick(self) -> VectorStore:
        if self._fallback is not None:
            return self._fallback
        if self._store is None and self.catalog.readonly:  # embedded Chroma cannot open without writing
            log.info("KB_HOME is read-only: dense search uses the embeddings stored in the catalog")
            self._fallback = CatalogVectors(self.catalog)
            self.location = self._fallback.location
            return self._fallback
        if self._store is None:
            try:
                store = self._open_store()
                problem = check_index(self.catalog, store)
            except KbError as e:
                store, problem = None, f"{e}"
            if problem is not None:
                return self._give_up(problem)
            self._store = store
            self.location = store.location  # type: ignore[union-attr]
        return self._store

    def _give_up(self, problem: str) -> CatalogVectors:
        """Answer from the catalog's embeddings from now on, and say why."""
        self.problem = problem
        log.warning("%s. Answering from the embeddings stored in the catalog (slower)%s.", problem,
                    "" if REINDEX_HINT in problem else f"; {REINDEX_HINT}")
        self._fallback = CatalogVectors(self.catalog)
        self.location = self._fallback.location
        return self._fallback

    def query(self, embedding: Any, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        return self._call("query", embedding, k, where)

    def ids(self) -> set[str]:
        return self._call("ids")

    def count(self) -> int:
        return self._call("count")

    def get_info(self) -> dict:
        return self._call("get_info")

