"""A lost or damaged vector index is noticed (issue 9, red-team item 6): `kb status` names it and exits 1, search
and ask still answer (from the catalog's stored embeddings) and say why, `kb ingest` re-adds the lost vectors,
and `kb reindex` replaces a Chroma folder it cannot open. Real embedded Chroma, fake embedder."""
from __future__ import annotations

import json
import logging
import shutil

import pytest
from typer.testing import CliRunner

from kb.store.health import index_problem
from kb_cli.app import app

runner = CliRunner()


@pytest.fixture
def built(kb_with_samples):
    return kb_with_samples


def _status(home) -> tuple[int, dict]:
    out = runner.invoke(app, ["status", "--json"])
    return out.exit_code, json.loads(out.stdout)


def _dense(query: str) -> list[str]:
    out = runner.invoke(app, ["search", query, "--mode", "dense", "-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    return [p["id"] for p in json.loads(out.stdout)["papers"]]


def test_index_problem_bounds():
    counts = {"indexed": 10, "embedded": 12, "tombstones": 3}
    assert index_problem(counts, 10, "x") is None  # a run stopped after upsert, before marking: fine
    assert index_problem(counts, 15, "x") is None  # tombstoned vectors not yet deleted: fine
    assert "lost" in index_problem(counts, 0, "x")
    assert "another catalog" in index_problem(counts, 16, "x")


def test_deleted_index_is_reported_and_answers_stay_right(built, caplog):
    code, before = _status(built)
    assert code == 0 and before["problems"] == [] and before["vectors"] == before["chunks"] > 0
    expected = _dense("phoneme viseme talking head")
    assert expected

    shutil.rmtree(built / "chroma")
    code, after = _status(built)
    assert code == 1 and after["vectors"] == 0
    assert "lost" in after["problems"][0] and "kb reindex" in after["problems"][0]

    with caplog.at_level(logging.WARNING, logger="kb.store.readview"):
        assert _dense("phoneme viseme talking head") == expected  # was "no papers match"
    assert any("lost" in r.getMessage() for r in caplog.records)

    ask = runner.invoke(app, ["ask", "How are phonemes turned into mouth shapes?", "--model", "fake", "--json"])
    assert ask.exit_code == 0, ask.output
    assert not json.loads(ask.stdout)["abstained"]  # was "the knowledge base holds nothing ..."

    # a writer repairs the index it finds short: the next ingest re-adds every lost vector from the catalog
    again = runner.invoke(app, ["-q", "ingest", str(built.parent), "--json"])
    assert again.exit_code in (0, 1), again.output
    code, repaired = _status(built)
    assert code == 0 and repaired["vectors"] == repaired["chunks"] == before["chunks"]


def test_reindex_replaces_an_index_it_cannot_open(built):
    expected = _dense("phoneme viseme talking head")
    db = built / "chroma" / "chroma.sqlite3"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])  # half-truncated

    code, st = _status(built)
    assert code == 1 and st["vectors"] is None and "chroma" in st["problems"][0]

    out = runner.invoke(app, ["-q", "reindex", "--json"])
    assert out.exit_code == 0, out.output  # was: the same "cannot open collection" error
    aside = [p for p in built.iterdir() if p.name.startswith("chroma.damaged-")]
    assert len(aside) == 1 and (aside[0] / "chroma.sqlite3").stat().st_size == len(data) // 2  # kept, not deleted
    code, st = _status(built)
    assert code == 0 and st["vectors"] == st["chunks"] > 0
    assert _dense("phoneme viseme talking head") == expected


def test_catalog_vectors_rank_like_the_index(built):
    """The fallback readers use (the catalog's stored embeddings) ranks like the Chroma index it stands in for."""
    import numpy as np

    from kb.backends.embedders import get_embedder
    from kb.store.catalog import Catalog
    from kb.store.readview import CatalogVectors
    from kb.store.vectors import ChromaStore

    catalog = Catalog(built / "catalog.sqlite")
    chroma = ChromaStore(path=built / "chroma")
    try:
        fallback = CatalogVectors(catalog)
        q = np.asarray(get_embedder("fake-hash").embed(["phoneme viseme talking head"])[0])
        some = sorted({r["paper_id"] for r in catalog.db.execute("SELECT paper_id FROM chunks")})[:2]
        for where in (None, {"kind": {"$ne": "references"}}, {"paper_id": {"$in": some}}):
            want, got = chroma.query(q, 10, where), fallback.query(q, 10, where)
            assert [i for i, _ in got] == [i for i, _ in want], where
            assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)
    finally:
        chroma.close()
        catalog.close()


def test_a_store_that_fails_on_query_falls_back_with_a_warning(built, caplog):
    """A store that opens and counts right but breaks when queried (chromadb raises its own types) must not
    become a traceback: the reader says so and answers from the catalog's embeddings."""
    import numpy as np

    from kb.backends.embedders import get_embedder
    from kb.store.catalog import Catalog
    from kb.store.readview import CatalogVectors, ReadView
    from kb.store.vectors import ChromaStore

    class Broken(ChromaStore):
        def query(self, embedding, k, where=None):
            raise RuntimeError("Error executing plan: Internal error: Error finding id")

    catalog = Catalog(built / "catalog.sqlite")
    store = Broken(path=built / "chroma")
    try:
        view = ReadView(catalog, lambda: store, built / "kb.lock")
        q = np.asarray(get_embedder("fake-hash").embed(["phoneme viseme talking head"])[0])
        with caplog.at_level(logging.WARNING, logger="kb.store.readview"):
            got = view.query(q, 5)
        assert got == CatalogVectors(catalog).query(q, 5) and got
        assert "Error finding id" in view.problem and any("kb reindex" in r.getMessage() for r in caplog.records)
    finally:
        store.close()
        catalog.close()
