"""The behaviour every VectorStore must show; run against each backend by test_vectorstore / test_chroma_server.

Each check takes a fresh, empty store. Names do not start with `test_` so importing them collects nothing.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from kb.store.vectors import VectorStore


def unit(*xs: float) -> list[float]:
    v = np.asarray(xs, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


# Four records in 3-d at known angles from the query direction (1, 0, 0).
IDS = ["p1#0", "p1#1", "p2#0", "p3#0"]
VECS = [unit(1, 0, 0), unit(1, 1, 0), unit(0, 1, 0), unit(-1, 0.2, 0)]
METAS: list[dict | None] = [
    {"paper_id": "p1", "kind": "abstract", "page": 1, "ref": False},
    {"paper_id": "p1", "kind": "method", "page": 2, "ref": False},
    {"paper_id": "p2", "kind": "references", "page": 9, "ref": True},
    {"paper_id": "p3", "kind": "method", "page": None},  # None is dropped: p3#0 has no "page" and no "ref"
]
Q = [1.0, 0.0, 0.0]


def _fill(store: VectorStore) -> None:
    store.upsert(IDS, np.asarray(VECS, dtype=np.float32), METAS)


def _ids(store: VectorStore, where: dict, k: int = 10) -> set[str]:
    return {i for i, _ in store.query(Q, k, where=where)}


def check_empty(store: VectorStore) -> None:
    assert store.count() == 0
    assert store.ids() == set()
    assert store.query(Q, 5) == []
    assert store.get_info() == {}


def check_upsert_idempotent(store: VectorStore) -> None:
    _fill(store)
    _fill(store)
    assert store.count() == 4
    assert store.ids() == set(IDS)
    store.upsert([], np.zeros((0, 3), dtype=np.float32), [])
    assert store.count() == 4


def check_upsert_replaces(store: VectorStore) -> None:
    _fill(store)
    # p3#0 moves next to the query; its metadata is replaced whole (old "kind" must be gone)
    store.upsert(["p3#0"], np.asarray([unit(1, 0.05, 0)]), [{"paper_id": "p3", "page": 4}])
    assert store.count() == 4
    top = store.query(Q, 2)
    assert [i for i, _ in top] == ["p1#0", "p3#0"]
    assert _ids(store, {"kind": "method"}) == {"p1#1"}
    assert _ids(store, {"page": 4}) == {"p3#0"}


def check_delete(store: VectorStore) -> None:
    _fill(store)
    store.delete(["p1#0", "no-such-id"])
    store.delete([])
    assert store.count() == 3
    assert store.ids() == {"p1#1", "p2#0", "p3#0"}
    assert "p1#0" not in {i for i, _ in store.query(Q, 10)}


def check_query_order(store: VectorStore) -> None:
    _fill(store)
    hits = store.query(Q, 10)
    assert [i for i, _ in hits] == ["p1#0", "p1#1", "p2#0", "p3#0"]
    expected = [1.0, math.sqrt(0.5), 0.0, float(np.dot(Q, VECS[3]))]
    for (_, sim), want in zip(hits, expected):
        assert sim == pytest.approx(want, abs=1e-4)
    assert [i for i, _ in store.query(Q, 2)] == ["p1#0", "p1#1"]
    assert [i for i, _ in store.query([0.0, 1.0, 0.0], 1)] == ["p2#0"]
    assert store.query(Q, 0) == []


def check_where(store: VectorStore) -> None:
    _fill(store)
    assert _ids(store, {"paper_id": "p1"}) == {"p1#0", "p1#1"}
    assert _ids(store, {"paper_id": {"$eq": "p2"}}) == {"p2#0"}
    assert _ids(store, {"paper_id": "p1", "kind": "method"}) == {"p1#1"}  # several keys mean $and
    assert _ids(store, {"$and": [{"paper_id": "p1"}, {"page": {"$ne": 1}}]}) == {"p1#1"}
    assert _ids(store, {"$or": [{"paper_id": "p2"}, {"kind": "abstract"}]}) == {"p1#0", "p2#0"}
    assert _ids(store, {"paper_id": {"$in": ["p2", "p3"]}}) == {"p2#0", "p3#0"}
    assert _ids(store, {"kind": {"$ne": "references"}}) == {"p1#0", "p1#1", "p3#0"}
    assert _ids(store, {"ref": {"$ne": True}}) == {"p1#0", "p1#1", "p3#0"}  # missing key matches $ne
    assert _ids(store, {"kind": {"$nin": ["references", "abstract"]}}) == {"p1#1", "p3#0"}
    assert _ids(store, {"page": 2.0}) == {"p1#1"}  # numbers compare by value
    assert _ids(store, {"page": "2"}) == set()  # a string never equals a number
    assert _ids(store, {"ref": True}) == {"p2#0"}
    assert _ids(store, {"paper_id": "nope"}) == set()
    hits = store.query(Q, 1, where={"kind": "method"})
    assert [i for i, _ in hits] == ["p1#1"]  # k applies after filtering, best first
    with pytest.raises(ValueError):
        store.query(Q, 3, where={"page": {"$gt": 1}})  # outside the supported subset


def check_bad_metadata(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.upsert(["x"], np.asarray([unit(1, 0, 0)]), [{"authors": ["a", "b"]}])
    with pytest.raises(ValueError):
        store.upsert(["x", "y"], np.asarray([unit(1, 0, 0)]), [None])
    store.upsert(["x"], np.asarray([unit(1, 0, 0)]), None)  # no metadata at all is fine
    assert store.ids() == {"x"}


def check_info(store: VectorStore) -> None:
    info = {"embedder": "fake-hash", "dim": 3, "chunking": {"max_tokens": 256, "overlap": 32}}
    store.set_info(info)
    assert store.get_info() == info
    store.set_info({"embedder": "other", "dim": 3})
    assert store.get_info() == {"embedder": "other", "dim": 3}
    _fill(store)
    assert store.get_info() == {"embedder": "other", "dim": 3}


def check_dimension_and_clear(store: VectorStore) -> None:
    _fill(store)
    store.set_info({"embedder": "fake-hash", "dim": 3})
    store.delete(sorted(store.ids()))
    with pytest.raises(ValueError):  # an emptied store still holds its dimension...
        store.upsert(["x"], np.asarray([unit(1, 0)]), None)
    store.clear()  # ...until cleared, which also forgets the info record
    assert store.count() == 0 and store.get_info() == {}
    store.upsert(["x", "y"], np.asarray([unit(1, 0), unit(0, 1)]), [{"n": 1}, {"n": 2}])
    assert store.query([1.0, 0.0], 1, where={"n": {"$in": [1, 2]}})[0][0] == "x"
    assert store.ids() == {"x", "y"}


CONTRACT = [
    check_empty,
    check_upsert_idempotent,
    check_upsert_replaces,
    check_delete,
    check_query_order,
    check_where,
    check_bad_metadata,
    check_info,
    check_dimension_and_clear,
]
