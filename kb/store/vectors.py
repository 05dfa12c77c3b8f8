"""Vector stores: hold chunk embeddings with flat metadata, answer cosine top-k queries with metadata filters.

One interface (`VectorStore`), a real backend (`ChromaStore`: chromadb 1.x, on disk or over HTTP, imported lazily)
and an in-memory numpy fake (`MemoryStore`) with the same behaviour, both reachable through `open_store`.

Metadata values are str, int, float or bool (None values are dropped). `upsert` replaces a record's metadata
as a whole. `where` filters, the subset both backends support:

    {"key": value}                      equality (same as {"key": {"$eq": value}})
    {"key": {"$ne": value}}             not equal; records without the key match
    {"key": {"$in": [v1, v2]}}          equality with any listed value
    {"key": {"$nin": [v1, v2]}}         none of the listed values; records without the key match
    {"$and": [w1, w2]} / {"$or": [...]} combinations of the above
    {"a": 1, "b": 2}                    several keys at the top level mean $and

Numbers compare by value (1 == 1.0); strings never equal numbers; bools equal only bools.

Each store also keeps one "info" record (`get_info` / `set_info`): how the index was built (embedder name,
dim, chunking params). `check_compatible` refuses an index built with other settings.
"""
from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import numpy as np

from kb.types import KbError

log = logging.getLogger(__name__)

Where = dict[str, Any]
_SCALARS = (str, int, float, bool)
_FIELD_OPS = ("$eq", "$ne", "$in", "$nin")
_LOGIC_OPS = ("$and", "$or")


class VectorStore(ABC):
    """A collection of (id, unit vector, flat metadata) records with cosine top-k search."""

    location: str = ""  # where the index lives, for messages ("/home/u/.kb/chroma", "http://host:8000")

    @abstractmethod
    def upsert(self, ids: Sequence[str], embeddings: Any, metadatas: Sequence[dict | None] | None = None) -> None:
        """Insert or replace records. `embeddings` is an (n, dim) array-like."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Remove records; unknown ids are ignored."""

    @abstractmethod
    def query(self, embedding: Any, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """The `k` records nearest to `embedding` as (id, cosine similarity), best first."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every record and the info record; the next upsert may use another dimension."""

    @abstractmethod
    def ids(self) -> set[str]:
        """Every stored id."""

    @abstractmethod
    def count(self) -> int:
        """Number of stored records."""

    @abstractmethod
    def get_info(self) -> dict:
        """The store-level build record ({} when never set)."""

    @abstractmethod
    def set_info(self, info: dict) -> None:
        """Replace the build record. Values must be JSON-serialisable."""

    def close(self) -> None:
        """Release files and connections (a no-op unless the backend holds some)."""


# -- shared validation -------------------------------------------------------------------------------------------
def clean_metadata(meta: dict | None) -> dict:
    """Drop None values; reject values that are not str/int/float/bool."""
    out: dict = {}
    for key, value in (meta or {}).items():
        if value is None:
            continue
        if not isinstance(value, _SCALARS):
            raise ValueError(f"metadata {key!r}: expected str/int/float/bool, got {type(value).__name__}")
        out[str(key)] = value
    return out


def normalize_where(where: Where | None) -> Where | None:
    """Validate a filter against the supported subset and rewrite multi-key dicts as explicit $and."""
    if not where:
        return None
    clauses: list[Where] = []
    for key, cond in where.items():
        if key in _LOGIC_OPS:
            if not isinstance(cond, list) or not cond:
                raise ValueError(f"where: {key} needs a non-empty list")
            subs = [normalize_where(c) for c in cond]
            clauses.append({key: [s for s in subs if s]})
        elif key.startswith("$"):
            raise ValueError(f"where: unsupported operator {key}")
        elif isinstance(cond, dict):
            if len(cond) != 1:
                raise ValueError(f"where: {key!r} needs exactly one operator")
            op, value = next(iter(cond.items()))
            if op not in _FIELD_OPS:
                raise ValueError(f"where: unsupported operator {op} on {key!r}")
            if op in ("$in", "$nin"):
                if not isinstance(value, list) or not value or not all(isinstance(v, _SCALARS) for v in value):
                    raise ValueError(f"where: {op} on {key!r} needs a non-empty list of scalars")
            elif not isinstance(value, _SCALARS):
                raise ValueError(f"where: {op} on {key!r} needs a scalar")
            clauses.append({key: {op: value}})
        elif isinstance(cond, _SCALARS):
            clauses.append({key: {"$eq": cond}})
        else:
            raise ValueError(f"where: value of {key!r} must be a scalar or an operator dict")
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b


def matches(meta: dict, where: Where | None) -> bool:
    """Evaluate a normalised filter (see `normalize_where`) against one record's metadata."""
    if not where:
        return True
    for key, cond in where.items():
        if key == "$and":
            ok = all(matches(meta, c) for c in cond)
        elif key == "$or":
            ok = any(matches(meta, c) for c in cond)
        else:
            op, value = next(iter(cond.items()))
            present = key in meta
            actual = meta.get(key)
            if op == "$eq":
                ok = present and _same(actual, value)
            elif op == "$ne":
                ok = not (present and _same(actual, value))
            elif op == "$in":
                ok = present and any(_same(actual, v) for v in value)
            else:  # $nin
                ok = not (present and any(_same(actual, v) for v in value))
        if not ok:
            return False
    return True


def _as_matrix(embeddings: Any, n: int) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise ValueError(f"expected {n} embeddings as an (n, dim) array, got shape {matrix.shape}")
    return matrix


# -- in-memory fake ----------------------------------------------------------------------------------------------
class MemoryStore(VectorStore):
    """Brute-force numpy store living in memory: a fast fake for tests with ChromaStore's behaviour."""

    def __init__(self) -> None:
        self.location = "memory"
        self._vectors: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict] = {}
        self._info: dict = {}
        self._dim: int | None = None

    def upsert(self, ids: Sequence[str], embeddings: Any, metadatas: Sequence[dict | None] | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        matrix = _as_matrix(embeddings, len(ids))
        metas = list(metadatas) if metadatas is not None else [None] * len(ids)
        if len(metas) != len(ids):
            raise ValueError(f"got {len(ids)} ids but {len(metas)} metadatas")
        if self._dim is None:
            self._dim = matrix.shape[1]
        elif matrix.shape[1] != self._dim:
            raise ValueError(f"store holds {self._dim}-dimensional embeddings, got {matrix.shape[1]}")
        for i, id_ in enumerate(ids):
            self._vectors[id_] = matrix[i].copy()
            self._meta[id_] = clean_metadata(metas[i])

    def delete(self, ids: Sequence[str]) -> None:
        for id_ in ids:
            self._vectors.pop(id_, None)
            self._meta.pop(id_, None)

    def query(self, embedding: Any, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        flt = normalize_where(where)
        cand = [i for i in self._vectors if matches(self._meta[i], flt)]
        if k <= 0 or not cand:
            return []
        q = np.asarray(embedding, dtype=np.float32).reshape(-1)
        mat = np.stack([self._vectors[i] for i in cand])
        norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
        norms[norms == 0] = 1.0
        sims = (mat @ q) / norms
        order = np.argsort(-sims, kind="stable")[:k]
        return [(cand[j], float(sims[j])) for j in order]

    def clear(self) -> None:
        self._vectors.clear()
        self._meta.clear()
        self._info = {}
        self._dim = None

    def ids(self) -> set[str]:
        return set(self._vectors)

    def count(self) -> int:
        return len(self._vectors)

    def get_info(self) -> dict:
        return json.loads(json.dumps(self._info))

    def set_info(self, info: dict) -> None:
        self._info = json.loads(json.dumps(info))


# -- chromadb ----------------------------------------------------------------------------------------------------
_INFO_KEY = "kb_info"


class ChromaStore(VectorStore):
    """chromadb 1.x collection (cosine space) on disk (`path`) or on a server (`url`, e.g. http://127.0.0.1:8000).

    We always pass our own embeddings and open the collection with `embedding_function=None`, so chroma never
    loads (or downloads) its default ONNX model. The info record lives in the collection metadata as JSON.
    """

    def __init__(self, path: str | Path | None = None, url: str | None = None, collection: str = "kb_chunks"):
        if (path is None) == (url is None):
            raise ValueError("ChromaStore needs exactly one of path= or url=")
        try:
            import chromadb
            from chromadb.config import Settings
        except ImportError as exc:
            raise KbError(f"vector store: chromadb is not installed ({exc})") from exc
        settings = Settings(anonymized_telemetry=False)
        try:
            if url is not None:
                parts = urlsplit(url if "://" in url else f"http://{url}")
                if not parts.hostname:
                    raise KbError(f"vector store: cannot read host from url {url!r}")
                self.location = url
                self._client = chromadb.HttpClient(
                    host=parts.hostname,
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=settings,
                )
            else:
                folder = Path(path).expanduser()  # type: ignore[arg-type]
                folder.mkdir(parents=True, exist_ok=True)
                self.location = str(folder)
                self._client = chromadb.PersistentClient(path=str(folder), settings=settings)
            self._name = collection
            self._col = self._open_collection()
        except KbError:
            raise
        except Exception as exc:  # chromadb raises many types (connection, validation, sqlite)
            if path is not None:  # chroma caches the client of a path: forget the broken one so a retry starts anew
                from chromadb.api.shared_system_client import SharedSystemClient

                SharedSystemClient.clear_system_cache()
            raise KbError(f"vector store at {path or url}: cannot open collection {collection!r} ({exc})") from exc
        space = ((self._col.configuration_json or {}).get("hnsw") or {}).get("space")
        if space not in (None, "cosine"):
            raise KbError(f"vector store at {self.location}: collection {collection!r} uses {space} distance, not cosine")
        self._batch = max(1, int(self._client.get_max_batch_size()))

    def _open_collection(self) -> Any:
        return self._client.get_or_create_collection(
            name=self._name,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,  # never chroma's default embedder (it downloads a model)
        )

    def upsert(self, ids: Sequence[str], embeddings: Any, metadatas: Sequence[dict | None] | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        matrix = _as_matrix(embeddings, len(ids))
        metas = [clean_metadata(m) or None for m in metadatas] if metadatas is not None else [None] * len(ids)
        if len(metas) != len(ids):
            raise ValueError(f"got {len(ids)} ids but {len(metas)} metadatas")
        for lo in range(0, len(ids), self._batch):
            hi = lo + self._batch
            # chroma's own upsert merges metadata into the old record; delete first so upsert replaces it whole
            self._col.delete(ids=ids[lo:hi])
            try:
                self._col.add(ids=ids[lo:hi], embeddings=matrix[lo:hi], metadatas=metas[lo:hi])  # type: ignore[arg-type]
            except Exception as exc:
                if "dimension" in str(exc):  # chromadb.errors.InvalidArgumentError; same type as MemoryStore's
                    raise ValueError(f"vector store at {self.location}: {exc}") from exc
                raise

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for lo in range(0, len(ids), self._batch):  # never call delete with an empty id list
            self._col.delete(ids=ids[lo : lo + self._batch])

    def query(self, embedding: Any, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        q = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        res = self._col.query(
            query_embeddings=q, n_results=k, where=normalize_where(where), include=["distances"]  # type: ignore[list-item]
        )
        ids = res["ids"][0] if res["ids"] else []
        dists = (res.get("distances") or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists)]

    def clear(self) -> None:
        self._client.delete_collection(self._name)
        self._col = self._open_collection()

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            page = self._col.get(include=[], limit=self._batch, offset=offset)["ids"]
            out.update(page)
            if len(page) < self._batch:
                return out
            offset += len(page)

    def count(self) -> int:
        return int(self._col.count())

    def get_info(self) -> dict:
        raw = (self._col.metadata or {}).get(_INFO_KEY)
        return json.loads(raw) if raw else {}

    def set_info(self, info: dict) -> None:
        meta = dict(self._col.metadata or {})
        meta[_INFO_KEY] = json.dumps(info, sort_keys=True)
        self._col.modify(metadata=meta)

    def close(self) -> None:
        close = getattr(self._client, "close", None)  # chromadb >= 1.4; the process exit releases it otherwise
        if close is not None:
            close()


# -- registry and build-record check -----------------------------------------------------------------------------
StoreFactory = Callable[[Any, Any], VectorStore]
_STORES: dict[str, StoreFactory] = {
    "chroma": lambda path, url: ChromaStore(path=None if url else path, url=url),
    "memory": lambda path, url: MemoryStore(),
}


def register_store(kind: str, factory: StoreFactory) -> None:
    """Make `open_store(kind, path, url)` call `factory(path, url)`."""
    _STORES[kind] = factory


def open_store(kind: str, path: str | Path | None = None, url: str | None = None) -> VectorStore:
    """Open a store by kind ("chroma" uses `url` when given, else `path`; "memory" ignores both)."""
    factory = _STORES.get(kind)
    if factory is None:
        raise KbError(f"unknown vector store {kind!r} (known: {', '.join(sorted(_STORES))})")
    return factory(path, url)


def _describe(info: dict, keys: Sequence[str]) -> str:
    def show(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    return ", ".join(f"{k}={show(info.get(k))}" for k in keys)


def check_compatible(store: VectorStore, expected: dict) -> None:
    """Raise KbError when the store was built with settings other than `expected` (keys compared: those in
    `expected`, e.g. "embedder", "dim", "chunking"). A store with no record passes only while it is empty."""
    info = store.get_info()
    if not info:
        if store.count() == 0:
            return
        raise KbError(
            f"index at {store.location} has no record of how it was built; "
            "run `kb reindex` to rebuild it with the current settings"
        )
    diff = [k for k in expected if json.dumps(info.get(k), sort_keys=True) != json.dumps(expected[k], sort_keys=True)]
    if not diff:
        return
    hint = ""
    if "embedder" in diff and info.get("embedder"):
        hint = f" (or set KB_EMBEDDER={info['embedder']})"
    raise KbError(
        f"index at {store.location} was built with {_describe(info, diff)}; this run uses "
        f"{_describe(expected, diff)}. Run `kb reindex` to rebuild it with the current settings{hint}"
    )
