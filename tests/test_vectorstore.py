"""VectorStore contract over MemoryStore and an on-disk ChromaStore, plus chroma specifics and check_compatible."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kb.types import KbError
from kb.store.vectors import ChromaStore, MemoryStore, VectorStore, check_compatible, open_store
from tests.vectorstore_contract import CONTRACT, IDS, Q, _fill


def _make(kind: str, tmp_path: Path) -> VectorStore:
    return MemoryStore() if kind == "memory" else ChromaStore(path=tmp_path / "chroma")


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["memory", "chroma"])
def test_contract(kind: str, check, tmp_path: Path) -> None:
    check(_make(kind, tmp_path))


def test_chroma_persists_across_processes(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path / "db")
    _fill(store)
    store.set_info({"embedder": "fake-hash", "dim": 3})
    del store
    script = textwrap.dedent(
        f"""
        import json
        from kb.store.vectors import ChromaStore
        s = ChromaStore(path={str(tmp_path / "db")!r})
        print(json.dumps({{"count": s.count(), "ids": sorted(s.ids()), "info": s.get_info(),
                          "top": s.query({Q!r}, 2, where={{"paper_id": "p1"}})}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["count"] == 4
    assert data["ids"] == sorted(IDS)
    assert data["info"] == {"embedder": "fake-hash", "dim": 3}
    assert [i for i, _ in data["top"]] == ["p1#0", "p1#1"]


def test_chroma_batches_and_pages(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path / "db")
    assert store._batch > 100  # chroma reports its limit
    store._batch = 7  # force several upsert / delete / get pages
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(30, 8)).astype(np.float32)
    ids = [f"c{i}" for i in range(30)]
    store.upsert(ids, vecs, [{"n": i} for i in range(30)])
    store.upsert(ids, vecs, [{"n": i} for i in range(30)])
    assert store.count() == 30
    assert store.ids() == set(ids)
    store.delete(ids[:20])
    assert store.ids() == set(ids[20:])


def test_chroma_never_uses_its_default_embedding_function(tmp_path: Path, monkeypatch) -> None:
    """Chroma's default embedder downloads an ONNX model from the internet; it must never be called."""
    from chromadb.api import types as chroma_types
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    def refuse(*args, **kwargs):
        raise AssertionError("chroma tried to use its default (downloading) embedding function")

    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__init__", refuse)
    monkeypatch.setattr(chroma_types.DefaultEmbeddingFunction, "__call__", refuse)
    store = ChromaStore(path=tmp_path / "db")
    assert store._col._embedding_function is None
    assert (store._col.configuration_json.get("embedding_function") or {}).get("name") != "default"
    _fill(store)
    assert store.query(Q, 1)[0][0] == "p1#0"


def test_chroma_url_and_path_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ChromaStore()
    with pytest.raises(ValueError):
        ChromaStore(path=tmp_path, url="http://127.0.0.1:1")


def test_chroma_unreachable_server_is_a_kb_error() -> None:
    with pytest.raises(KbError, match="127.0.0.1:9"):
        ChromaStore(url="http://127.0.0.1:9")


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store("memory", None, None), MemoryStore)
    store = open_store("chroma", tmp_path / "db", None)
    assert isinstance(store, ChromaStore) and store.location == str(tmp_path / "db")
    with pytest.raises(KbError, match="unknown vector store"):
        open_store("faiss", tmp_path, None)


EXPECTED = {"embedder": "all-MiniLM-L6-v2", "dim": 384, "chunking": {"max_tokens": 256, "overlap": 32}}


def test_check_compatible_accepts_new_and_matching_stores() -> None:
    store = MemoryStore()
    check_compatible(store, EXPECTED)  # empty store without a record: fine, the caller records it
    store.set_info(dict(EXPECTED, built_at="2024-05-01"))  # keys not in `expected` are ignored
    _fill(store)
    check_compatible(store, EXPECTED)


def test_check_compatible_refuses_other_embedder() -> None:
    store = MemoryStore()
    store.set_info(dict(EXPECTED, embedder="fake-hash", dim=64))
    with pytest.raises(KbError) as err:
        check_compatible(store, EXPECTED)
    msg = str(err.value)
    assert "index at memory was built with embedder=fake-hash, dim=64" in msg
    assert "this run uses embedder=all-MiniLM-L6-v2, dim=384" in msg
    assert "`kb reindex`" in msg and "KB_EMBEDDER=fake-hash" in msg


def test_check_compatible_refuses_other_chunking() -> None:
    store = MemoryStore()
    store.set_info(dict(EXPECTED, chunking={"max_tokens": 128, "overlap": 32}))
    with pytest.raises(KbError) as err:
        check_compatible(store, EXPECTED)
    msg = str(err.value)
    assert '"max_tokens": 128' in msg and "`kb reindex`" in msg
    assert "KB_EMBEDDER" not in msg


def test_check_compatible_refuses_unrecorded_non_empty_store(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path / "db")
    _fill(store)
    with pytest.raises(KbError, match=f"index at {tmp_path / 'db'} has no record"):
        check_compatible(store, EXPECTED)
