"""Ranking the day by the library: relevance order, "close to", stars, min_relevance, empty library, recommend."""
from __future__ import annotations

import pytest

from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator
from kb.digest.day import build_digest
from kb.digest.render import render
from kb.digest.topics import Topic, load_topics
from kb.library import tables
from kb.library.ingest import ingest_all
from kb.library.ranking import rank, recommend
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore
from kb.types import KbError
from samples.library import day_feed, library_bib, make_day, make_library, pairwise_accuracy

DAY = "2024-06-03"
ABOUT = ["diffusion", "graphs"]


@pytest.fixture
def kb(tmp_path):
    catalog = Catalog(tmp_path / "kb" / "catalog.sqlite")
    emb, store = HashEmbedder(), MemoryStore()
    day = make_day(12)
    feed = tmp_path / "day.xml"
    feed.write_text(day_feed(day, DAY), encoding="utf-8")
    ingest_all([str(feed)], catalog, emb, store)
    yield catalog, emb, store, day, tmp_path
    catalog.close()


def add_library(catalog, emb, store, tmp_path, n: int = 30) -> None:
    bib = tmp_path / "library.bib"
    bib.write_text(library_bib(make_library(n, ABOUT)), encoding="utf-8")
    report = ingest_all([str(bib)], catalog, emb, store)
    assert report.errors == []


def test_papers_of_the_librarys_topics_rank_first(kb):
    catalog, emb, store, day, tmp = kb
    ids = [p["id"] for p in day]
    assert rank(catalog, ids) == {}  # empty library: nothing to rank by
    add_library(catalog, emb, store, tmp)
    rel = rank(catalog, ids)
    assert set(rel) == set(ids)
    ordered = sorted(ids, key=lambda pid: -rel[pid].score)
    relevant = {p["id"] for p in day if p["topic"] in ABOUT}
    assert pairwise_accuracy(ordered, relevant) > 0.9
    top = rel[ordered[0]]
    assert top.close_title and top.close_to in tables.library_papers(catalog.db)


def test_a_star_puts_a_paper_in_the_library(kb):
    catalog, emb, store, day, tmp = kb
    robot = [p for p in day if p["topic"] == "robotics"]
    tables.star(catalog.db, robot[0]["id"])
    assert set(tables.library_papers(catalog.db)) == {robot[0]["id"]}
    rel = rank(catalog, [p["id"] for p in day])
    assert robot[0]["id"] not in rel  # a paper is not close to itself (and the library has nothing else)
    best = max(rel.values(), key=lambda r: r.score)
    assert best.paper_id == robot[1]["id"] and best.close_to == robot[0]["id"]
    tables.unstar(catalog.db, robot[0]["id"])
    assert tables.library_papers(catalog.db) == {}


def test_recent_additions_weigh_more(kb):
    catalog, emb, store, day, tmp = kb
    a, b = day[0], day[1]
    tables.star(catalog.db, a["id"])
    tables.star(catalog.db, b["id"])
    old = 0.0  # starred in 1970
    catalog.db.execute("UPDATE library_stars SET starred_at = ? WHERE paper_id = ?", (old, a["id"]))
    cand = [day[6]["id"]]  # same topic as day[0] (topics cycle every 6)
    from kb.library.ranking import library_profile

    prof = library_profile(catalog)
    w = dict(zip(prof.ids, prof.weights))
    assert w[a["id"]] < w[b["id"]] == pytest.approx(1.0, abs=1e-3)
    assert rank(catalog, cand, prof)[cand[0]].close_to == a["id"]


def _digest(catalog, emb, topics, order="relevance"):
    return build_digest(DAY, catalog, emb, FakeGenerator(), topics=topics, order=order)


def test_digest_orders_by_relevance_with_close_to_and_bibtex(kb):
    catalog, emb, store, day, tmp = kb
    topics = [Topic("All", keywords=["results", "model", "method", "data"])]
    listing = _digest(catalog, emb, topics)
    assert all(p.close_to is None for p in listing.papers.values())  # empty library: listing order, no "close to"
    listing_order = listing.groups[0].paper_ids
    add_library(catalog, emb, store, tmp)
    d = _digest(catalog, emb, topics)
    ids = d.groups[0].paper_ids
    scores = [d.papers[pid].relevance for pid in ids]
    assert scores == sorted(scores, reverse=True) and ids != listing_order
    assert all(d.papers[pid].close_to for pid in ids)
    assert _digest(catalog, emb, topics, order="listing").groups[0].paper_ids == listing_order
    md = render(d, "md")
    first = d.papers[ids[0]]
    assert f"Close to your library: {first.close_to} (relevance {first.relevance:.2f})" in md
    html = render(d, "html")
    assert "close to: " in html and "<summary>BibTeX</summary>" in html
    assert "@misc{" in first.bibtex and f"eprint = {{{first.arxiv_id}}}" in first.bibtex


def test_min_relevance_lists_weak_papers_without_generating_them(kb, tmp_path):
    catalog, emb, store, day, tmp = kb
    add_library(catalog, emb, store, tmp)
    rel = rank(catalog, [p["id"] for p in day])
    scores = sorted(r.score for r in rel.values())
    floor = scores[len(scores) // 2]  # half the day below it
    toml = tmp_path / "topics.toml"
    toml.write_text(f'[[topic]]\nname = "All"\nkeywords = ["results", "model", "method", "data"]\n'
                    f"min_relevance = {floor}\n", encoding="utf-8")
    topics = load_topics(toml)
    assert topics[0].min_relevance == pytest.approx(floor)
    gen = FakeGenerator()
    d = build_digest(DAY, catalog, emb, gen, topics=topics)
    group = d.groups[0]
    low = {pid for pid, r in rel.items() if r.score < floor}
    assert {a["id"] for a in group.also} == low and low
    assert not (low & set(d.papers)) and not (low & set(group.paper_ids))  # nothing generated for them
    assert all(a["link"] == f"https://arxiv.org/abs/{a['id']}" for a in group.also)
    md = render(d, "md")
    assert "**Also announced**" in md and all(a["title"] in md for a in group.also)
    assert d.stats["also_announced"] == len(low)
    from kb.ingest.parsers.digest import parse_digest

    page = tmp_path / "page.md"
    page.write_text(md, encoding="utf-8")
    parsed = parse_digest(page)  # a generated page still reads back as exactly its digested papers
    assert parsed.errors == [] and {p.arxiv_id for p in parsed.papers} == set(d.papers)


def test_min_relevance_must_be_a_number(tmp_path):
    toml = tmp_path / "topics.toml"
    toml.write_text('[[topic]]\nname = "A"\nmin_relevance = "high"\n', encoding="utf-8")
    with pytest.raises(KbError, match="min_relevance must be a number"):
        load_topics(toml)


def test_recommend_across_topics(kb):
    catalog, emb, store, day, tmp = kb
    with pytest.raises(KbError, match="library is empty"):
        recommend(catalog)
    add_library(catalog, emb, store, tmp)
    date, items = recommend(catalog, k=4)
    assert date == DAY and len(items) == 4
    topic = {p["id"]: p["topic"] for p in day}
    assert all(topic[it["id"]] in ABOUT for it in items)
    assert [it["relevance"] for it in items] == sorted((it["relevance"] for it in items), reverse=True)


def test_library_tables_are_created_inside_an_open_transaction(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.db.execute("INSERT INTO papers(id, title, authors, abstract, topics, extra, meta_rank, added_at,"
                       " updated_at) VALUES ('p1', 'T', '[]', '', '[]', '{}', 1, 0, 0)")
    with catalog.transaction():  # `kb star` on a catalog that has never seen the library tables
        assert tables.star(catalog.db, "p1")
    assert tables.starred(catalog.db) == {"p1"}
    catalog.close()


def test_reading_the_library_never_writes(kb):
    catalog, emb, store, day, tmp = kb
    assert not tables.exists(catalog.db)  # nothing library-related was ever written
    rank(catalog, [p["id"] for p in day])
    tables.papers_with_label(catalog.db, "tag", "x")
    tables.overview(catalog.db)
    _digest(catalog, emb, [Topic("All", keywords=["results"])])
    assert not tables.exists(catalog.db)  # so a read-only KB_HOME or a running writer is no obstacle
