"""Hybrid retrieval with fakes (hashing embedder, in-memory store) over the sample corpus and crafted papers."""
from __future__ import annotations

import pytest

from kb.store.catalog import Catalog
from kb.backends.embedders import HashEmbedder
from kb.ingest.pipeline import IngestOptions, ingest, sync_store
from kb.answer.retrieval import Filters, RetrievalParams, fts_query, search
from kb.types import Paper
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS, QUESTIONS

ANSWERABLE = [q for q in QUESTIONS if "id" in q]


@pytest.fixture(scope="module")
def kb(tmp_path_factory, sample_corpus):
    catalog = Catalog(tmp_path_factory.mktemp("kb") / "catalog.sqlite")
    emb, store = HashEmbedder(), MemoryStore()
    report = ingest([str(sample_corpus)], catalog, emb, store, IngestOptions())
    assert report.errors == []
    yield catalog, emb, store
    catalog.close()


@pytest.mark.parametrize("mode", ["hybrid", "bm25"])
def test_each_mode_finds_the_paper_that_answers(kb, mode):
    catalog, emb, store = kb
    ranks = []
    for q in ANSWERABLE:
        ids = [p.paper_id for p in search(q["question"], catalog, emb, store, k=5, mode=mode).papers]
        ranks.append(ids.index(q["id"]) + 1 if q["id"] in ids else None)
    assert all(r is not None and r <= 3 for r in ranks), ranks
    if mode == "hybrid":
        assert sum(r == 1 for r in ranks) >= len(ranks) - 1, ranks


def test_dense_mode_alone_uses_only_vectors(kb):
    catalog, emb, store = kb
    res = search("spatiotemporal slices of a video clip", catalog, emb, store, k=5, mode="dense")
    assert res.papers and all(p.bm25_rank is None and p.dense_rank is not None for p in res.papers)
    assert all(s.similarity is not None for p in res.papers for s in p.passages)


def test_papers_are_grouped_and_passages_ranked(kb):
    catalog, emb, store = kb
    res = search("Gaussian splatting codebook compression for phones", catalog, emb, store, k=6, passages_per_paper=2)
    ids = [p.paper_id for p in res.papers]
    assert ids[0] == "2405.90002" and len(ids) == len(set(ids))
    for hit in res.papers:
        assert 1 <= len(hit.passages) <= 2
        assert all(s.paper_id == hit.paper_id for s in hit.passages)
        assert [s.score for s in hit.passages] == sorted((s.score for s in hit.passages), reverse=True)
    assert [p.score for p in res.papers] == sorted((p.score for p in res.papers), reverse=True)
    d = res.to_dict()
    assert d["papers"][0]["id"] == "2405.90002" and d["papers"][0]["passages"][0]["text"]


def test_filters_restrict_the_papers(kb):
    catalog, emb, store = kb
    q = "diffusion model with few sampling steps"
    on_day = search(q, catalog, emb, store, k=10, filters=Filters(date="2024-05-21"))
    assert on_day.papers and {p.paper_id for p in on_day.papers} <= {"2405.90005", "2405.90006"}
    until = search(q, catalog, emb, store, k=10, filters=Filters(until="2024-05-21"))
    assert {p.paper_id for p in until.papers} == {p.paper_id for p in on_day.papers}
    since = search(q, catalog, emb, store, k=10, filters=Filters(since="2024-05-22"))
    assert since.papers and not {p.paper_id for p in since.papers} & {"2405.90005", "2405.90006"}
    topic = search(q, catalog, emb, store, k=10, filters=Filters(topic="3dgs"))
    assert [p.paper_id for p in topic.papers] == ["2405.90002"]
    one = search(q, catalog, emb, store, k=10, filters=Filters(papers=["2405.90001"]))
    assert [p.paper_id for p in one.papers] == ["2405.90001"]
    for mode in ("bm25", "dense"):
        res = search(q, catalog, emb, store, k=10, mode=mode, filters=Filters(topic="NeRF"))
        assert [p.paper_id for p in res.papers] == ["2405.90005"]
    assert search(q, catalog, emb, store, filters=Filters(topic="no such topic")).papers == []


def test_reference_sections_are_excluded_by_default(kb):
    catalog, emb, store = kb
    q = "An image is worth 16x16 words ICLR"  # words only SliceFormer's reference list has
    kinds = {s.kind for p in search(q, catalog, emb, store, k=6).papers for s in p.passages}
    assert "references" not in kinds
    with_refs = search(q, catalog, emb, store, k=6, filters=Filters(include_references=True))
    assert "references" in {s.kind for p in with_refs.papers for s in p.passages}


def test_similarities_filled_for_passages_on_request(kb):
    catalog, emb, store = kb
    res = search("spatiotemporal slices", catalog, emb, store, k=3, mode="bm25", with_similarity=True)
    assert res.papers and all(s.similarity is not None for p in res.papers for s in p.passages)
    assert search("spatiotemporal slices", catalog, emb, store, k=3, mode="bm25").query_vector is None


def test_bad_mode_and_fusion_are_refused(kb):
    catalog, emb, store = kb
    with pytest.raises(ValueError):
        search("x", catalog, emb, store, mode="magic")
    with pytest.raises(ValueError):
        search("x", catalog, emb, store, params=RetrievalParams(fusion="magic"))


def test_user_text_is_never_fts_syntax():
    assert fts_query('NEAR(" OR *) AND "x"') is not None  # quoted terms: no syntax error
    assert fts_query("what is the of") is None


def _add_paper(catalog, store, emb, pid: str, title: str, texts: list[str]) -> None:
    from kb.types import Chunk

    with catalog.transaction():
        catalog.save_paper(pid, Paper(title=title, abstract=texts[0]), 1, pid)
        chunks = [Chunk(pid, i, t, "Body", "body", 1, 1, 0, len(t)) for i, t in enumerate(texts)]
        catalog.replace_chunks(pid, title, chunks)
    sync_store(catalog, emb, store, 32)


@pytest.mark.parametrize("fusion", ["convex", "rrf"])
def test_a_paper_with_many_chunks_does_not_crowd_out_the_best_one(tmp_path, fusion):
    """Grouping happens per signal before fusion: ten weak chunks of one paper never outvote one strong chunk."""
    catalog, emb, store = Catalog(tmp_path / "c.sqlite"), HashEmbedder(), MemoryStore()
    filler = "general remarks on training schedules and evaluation protocols for learned models"
    _add_paper(catalog, store, emb, "many", "A Long Report",
               [f"{filler} zebra section {i} with more words about stripes" for i in range(12)])
    _add_paper(catalog, store, emb, "one", "Striped Animals", ["zebra quagga okapi stripes camouflage"])
    res = search("zebra quagga okapi camouflage", catalog, emb, store, k=2, params=RetrievalParams(fusion=fusion))
    assert [p.paper_id for p in res.papers] == ["one", "many"]
    catalog.close()


def test_every_sample_paper_is_searchable_by_its_title(kb):
    catalog, emb, store = kb
    for spec in PAPERS:
        assert search(spec["title"], catalog, emb, store, k=1).papers[0].paper_id == spec["id"]


def test_fts_query_drops_framing_words_and_adds_american_spellings():
    q = fts_query("Which approach helps regularise the colour of splats?")
    assert '"regularise"' in q and '"regularize"' in q and '"colour"' in q and '"color"' in q
    assert '"approach"' not in q and '"splats"' in q
    assert fts_query("which approach") == '"approach"'  # only framing words: keep them rather than match nothing


def _add_chunks(catalog, store, emb, pid: str, title: str, texts: list[str], kind: str) -> None:
    from kb.types import Chunk

    with catalog.transaction():
        catalog.save_paper(pid, Paper(title=title, abstract=" ".join(texts)), 1, pid)
        catalog.replace_chunks(pid, title, [Chunk(pid, i, t, kind.title(), kind, 1, 1, 0, len(t))
                                            for i, t in enumerate(texts)])
    sync_store(catalog, emb, store, 32)


def test_british_spelling_matches_american_text(tmp_path):
    catalog, emb, store = Catalog(tmp_path / "c.sqlite"), HashEmbedder(), MemoryStore()
    _add_chunks(catalog, store, emb, "us", "Paired Fields", ["co-regularization of two radiance fields"], "abstract")
    _add_chunks(catalog, store, emb, "other", "Mirrors", ["radiance fields for mirrors"], "abstract")
    res = search("How do they regularise?", catalog, emb, store, k=2, mode="bm25")
    assert [p.paper_id for p in res.papers] == ["us"]
    catalog.close()


class _OneHitStore(MemoryStore):
    """A vector store whose (approximate, short) answer holds one chunk only."""

    def query(self, embedding, k, where=None):
        return super().query(embedding, min(k, 1), where)


def test_lexical_candidates_missed_by_the_vector_store_get_their_exact_similarity(tmp_path):
    catalog, emb, store = Catalog(tmp_path / "c.sqlite"), HashEmbedder(), _OneHitStore()
    for i in range(4):
        _add_chunks(catalog, store, emb, f"p{i}", f"Paper {i}", [f"quokka habitat survey number {i} " * (i + 1)],
                    "abstract")
    on = search("quokka habitat survey", catalog, emb, store, k=4)
    assert len(on.papers) == 4 and all(p.dense_rank is not None for p in on.papers)
    assert all(s.similarity is not None for p in on.papers for s in p.passages)
    off = search("quokka habitat survey", catalog, emb, store, k=4, params=RetrievalParams(rescore_lexical=False))
    assert sum(p.dense_rank is None for p in off.papers) == 3
    catalog.close()


def test_a_split_abstract_is_also_scored_as_a_whole(tmp_path):
    import numpy as np

    from kb.answer.retrieval import dense_paper_scores

    catalog, emb, store = Catalog(tmp_path / "c.sqlite"), HashEmbedder(), MemoryStore()
    _add_chunks(catalog, store, emb, "two", "Split", ["wombat burrow acoustics", "echidna spine density"], "abstract")
    vecs = {cid: np.frombuffer(b, dtype=np.float32) for cid, b in catalog.db.execute(
        "SELECT id, embedding FROM chunks WHERE paper_id = 'two'")}
    unit = {cid: v / np.linalg.norm(v) for cid, v in vecs.items()}
    q = emb.embed(["wombat burrow echidna spine"])[0]
    q = q / np.linalg.norm(q)
    cos = {cid: float(v @ q) for cid, v in unit.items()}
    best_cid = max(cos, key=cos.get)
    mean = np.mean(list(unit.values()), axis=0)
    whole = float(mean @ q) / float(np.linalg.norm(mean))
    hits = [(best_cid, "two", cos[best_cid])]  # the store found only the better chunk
    only_best, _ = dense_paper_scores(catalog, q, hits, [], RetrievalParams(abstract_mean=0.0))
    mixed, sims = dense_paper_scores(catalog, q, hits, [], RetrievalParams(abstract_mean=0.5))
    assert only_best["two"] == pytest.approx(cos[best_cid], abs=1e-5)
    assert mixed["two"] == pytest.approx(0.5 * cos[best_cid] + 0.5 * whole, abs=1e-5)
    assert whole > max(cos.values())  # the question spans both halves: the whole abstract matches it best
    assert set(sims) == set(cos)
    catalog.close()


def _split_abstract_corpus(tmp_path):
    """Paper "split" holds all four query words across its two abstract chunks; "three" holds three in one."""
    catalog, emb, store = Catalog(tmp_path / "c.sqlite"), HashEmbedder(), MemoryStore()
    for i, words in enumerate(["kelp forest mapping", "coral spawning timing", "seagrass carbon burial",
                               "mangrove root growth", "plankton bloom forecasting", "reef fish census"]):
        _add_chunks(catalog, store, emb, f"filler{i}", f"Study {i}", [words], "abstract")
    _add_chunks(catalog, store, emb, "split", "Field Notes", ["wombat burrow acoustics", "echidna spine density"],
                "abstract")
    _add_chunks(catalog, store, emb, "three", "Survey", ["wombat burrow echidna"], "abstract")
    return catalog, emb, store


def test_bm25_also_sees_a_split_abstract_whole(tmp_path):
    """Chunk-level BM25 sees each half of a split abstract alone; the paper-level index sees both halves' words."""
    catalog, emb, store = _split_abstract_corpus(tmp_path)
    q = "wombat burrow echidna spine"
    chunk_only = search(q, catalog, emb, store, k=3, mode="bm25", params=RetrievalParams(paper_lexical=0.0))
    whole_only = search(q, catalog, emb, store, k=3, mode="bm25", params=RetrievalParams(paper_lexical=1.0))
    assert chunk_only.papers[0].paper_id == "three"
    assert whole_only.papers[0].paper_id == "split"
    catalog.close()


def test_a_paper_found_only_by_the_paper_level_index_still_gets_passages(tmp_path):
    catalog, emb, store = _split_abstract_corpus(tmp_path)
    res = search("wombat burrow echidna spine", catalog, emb, store, k=1, mode="bm25", depth=1,
                 params=RetrievalParams(paper_lexical=1.0))
    assert [p.paper_id for p in res.papers] == ["split"]  # the chunk-level top-1 is "three": no chunk row fetched
    assert res.papers[0].passages and all(s.paper_id == "split" for s in res.papers[0].passages)
    catalog.close()


def test_paper_level_index_follows_saves_and_deletes_and_is_filled_for_old_catalogs(tmp_path):
    path = tmp_path / "c.sqlite"
    catalog, emb, store = Catalog(path), HashEmbedder(), MemoryStore()
    _add_chunks(catalog, store, emb, "p", "Quolls", ["quoll tracking with camera traps"], "abstract")

    def indexed(word: str) -> list[str]:
        return [r[0] for r in catalog.db.execute("SELECT paper_id FROM papers_fts WHERE papers_fts MATCH ?", (word,))]

    assert indexed("quoll") == ["p"]
    _add_chunks(catalog, store, emb, "p", "Quolls", ["numbat diets"], "abstract")  # re-ingested with a new abstract
    assert indexed("quoll") == ["p"] and indexed("camera") == [] and indexed("numbat") == ["p"]
    with catalog.transaction():
        catalog.delete_paper("p")
    assert indexed("numbat") == []
    _add_chunks(catalog, store, emb, "q", "Bilbies", ["bilby ears"], "abstract")
    catalog.db.execute("DELETE FROM papers_fts")  # a catalog written before the paper-level index existed
    catalog.db.execute("DELETE FROM meta WHERE key = 'papers_fts'")
    catalog.close()
    catalog = Catalog(path)
    assert indexed("bilby") == ["q"]
    catalog.close()


def test_a_signal_with_one_candidate_gives_it_full_weight():
    from kb.answer.retrieval import _fuse

    fused = _fuse([({"only": 2.0}, 1.0), ({"only": 0.2, "other": 0.6}, 1.5)], RetrievalParams())
    assert fused == pytest.approx({"only": 1.0, "other": 1.5})  # BM25's single hit counts, it is not zeroed
