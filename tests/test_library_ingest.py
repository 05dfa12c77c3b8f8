"""Reference libraries in: a Zotero data folder and .bib files, read-only, incremental, one record per paper."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from kb.backends.embedders import HashEmbedder
from kb.ingest.pipeline import IngestOptions, ingest
from kb.library import tables
from kb.library.ingest import ingest_all
from kb.library.zotero import read_zotero
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS
from samples.pages import render_atom_feed, render_digest_page
from samples.pdfgen import render_pdf
from tests.zotero_fixture import ZoteroFixture


class CountingEmbedder(HashEmbedder):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


@pytest.fixture
def parts(tmp_path):
    c = Catalog(tmp_path / "kb" / "catalog.sqlite")
    yield c, CountingEmbedder(), MemoryStore()
    c.close()


def pdf_bytes(spec: dict, tmp_path: Path) -> bytes:
    path = render_pdf(spec, tmp_path / f"{spec['id']}.pdf", repeat=1)
    return path.read_bytes()


def split(name: str) -> tuple[str, str]:
    first, _, last = name.rpartition(" ")
    return first, last


@pytest.fixture
def zotero(tmp_path) -> tuple[ZoteroFixture, dict]:
    z = ZoteroFixture(tmp_path / "Zotero")
    a, b, c = PAPERS[0], PAPERS[1], PAPERS[2]
    keys = {}
    keys["a"] = z.add_item(a["title"], [split(n) for n in a["authors"]], fields={
        "DOI": "https://doi.org/10.5555/SLICE.2024", "date": "2024-05-21 May 21, 2024", "abstractNote": "",
        "publicationTitle": "Journal of Video Studies"}, collections=["ML/Video"], tags=["to-read", "video"])
    z.attach_stored(keys["a"], pdf_bytes(a, tmp_path))
    keys["b"] = z.add_item(b["title"], [split(n) for n in b["authors"]], item_type="preprint",
                           fields={"extra": f"arXiv: {b['id']}", "abstractNote": b["abstract"],
                                   "date": "2024-05-00 May 2024"}, collections=["ML"], tags=["video"])
    keys["c"] = z.add_item(c["title"], [split(n) for n in c["authors"]], item_type="conferencePaper",
                           fields={"url": f"https://arxiv.org/abs/{c['id']}v2"})
    linked = tmp_path / "elsewhere" / "c.pdf"
    linked.parent.mkdir()
    linked.write_bytes(pdf_bytes(c, tmp_path))
    z.attach_linked(keys["c"], linked)
    keys["trashed"] = z.add_item("A Trashed Paper About Nothing In Particular", [("Ann", "Gone")])
    z.trash(keys["trashed"])
    z.add_item("Meeting notes", item_type="note")
    return z, keys


def test_zotero_items_become_papers_with_metadata_labels_and_full_text(parts, zotero):
    catalog, emb, store = parts
    z, keys = zotero
    report = ingest_all([str(z.folder)], catalog, emb, store)
    assert report.errors == []
    titles = {r["title"]: r for r in catalog.list_papers()}
    assert set(titles) == {PAPERS[0]["title"], PAPERS[1]["title"], PAPERS[2]["title"]}  # no trash, no note
    a = catalog.load_paper(titles[PAPERS[0]["title"]]["id"])
    assert a.pages and a.extra["doi"] == "10.5555/slice.2024" and a.extra["venue"] == "Journal of Video Studies"
    assert a.published == "2024-05-21" and a.authors == PAPERS[0]["authors"]
    assert a.abstract  # from the PDF when Zotero has none
    b = catalog.load_paper(PAPERS[1]["id"])  # arXiv id from the Extra field is the record's id
    assert b is not None and not b.pages and b.abstract == PAPERS[1]["abstract"] and b.published == "2024-05"
    c = catalog.load_paper(PAPERS[2]["id"])  # arXiv id from the URL; full text from the linked file
    assert c is not None and c.pages
    aid = titles[PAPERS[0]["title"]]["id"]
    assert tables.labels_of(catalog.db, aid) == {"collections": ["ML/Video"], "tags": ["to-read", "video"]}
    assert tables.papers_with_label(catalog.db, "collection", "ML") == {aid, PAPERS[1]["id"]}  # with sub-collections
    assert tables.papers_with_label(catalog.db, "collection", "Video") == {aid}
    assert tables.papers_with_label(catalog.db, "tag", "video") == {aid, PAPERS[1]["id"]}
    assert set(tables.library_papers(catalog.db)) == {aid, PAPERS[1]["id"], PAPERS[2]["id"]}


def test_zotero_is_read_while_locked_and_never_written(zotero):
    z, keys = zotero
    before = hashlib.sha256(z.path.read_bytes()).hexdigest()
    holder = sqlite3.connect(str(z.path))
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # what a running Zotero does to its database
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(str(z.path), timeout=0.1).execute("SELECT COUNT(*) FROM items").fetchone()
        read = read_zotero(z.folder)
        assert len(read.items) == 3
    finally:
        holder.rollback()
        holder.close()
    assert hashlib.sha256(z.path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in z.folder.iterdir()) == ["storage", "zotero.sqlite"]  # no journal, no WAL


def test_reingest_adds_updates_and_removes_only_what_changed(parts, zotero, tmp_path):
    catalog, emb, store = parts
    z, keys = zotero
    ingest_all([str(z.folder)], catalog, emb, store)
    aid = next(r["id"] for r in catalog.list_papers() if r["title"] == PAPERS[0]["title"])
    unchanged = ingest_all([str(z.folder)], catalog, emb, store)
    assert unchanged.parsed == 0 and unchanged.skipped == 3 and unchanged.chunks_embedded == 0
    z.trash(keys["a"])
    z.set_field(keys["b"], "abstractNote", "A new abstract about slicing video volumes into thin planes.")
    z.add_item(PAPERS[3]["title"], [split(n) for n in PAPERS[3]["authors"]], tags=["new"])
    texts = emb.texts
    again = ingest_all([str(z.folder)], catalog, emb, store)
    assert again.errors == []
    assert again.parsed == 2 and again.skipped == 1  # b changed, the new item; c untouched
    assert again.papers_removed == 1 and catalog.get_paper_row(aid) is None
    assert catalog.load_paper(PAPERS[1]["id"]).abstract.startswith("A new abstract")
    assert any(r["title"] == PAPERS[3]["title"] for r in catalog.list_papers())
    assert emb.texts - texts < 10  # only b's and the new item's few chunks, not c's full text
    assert tables.papers_with_label(catalog.db, "tag", "to-read") == set()
    assert set(store.ids()) == {r[0] for r in catalog.db.execute("SELECT id FROM chunks")}


def test_a_trashed_item_whose_paper_has_other_sources_keeps_the_paper(parts, zotero, tmp_path):
    catalog, emb, store = parts
    z, keys = zotero
    page = tmp_path / "Video.md"
    spec = PAPERS[1]
    page.write_text(render_digest_page([spec], spec["date"], "Video Understanding"), encoding="utf-8")
    ingest_all([str(z.folder), str(page)], catalog, emb, store)
    assert {s["kind"] for s in catalog.sources_of_paper(spec["id"])} == {"zotero", "digest"}
    z.trash(keys["b"])
    ingest_all([str(z.folder)], catalog, emb, store)
    assert [s["kind"] for s in catalog.sources_of_paper(spec["id"])] == ["digest"]
    assert spec["id"] not in tables.library_papers(catalog.db)


BIB = r"""
@misc{okafor2024slice,
  title = {{SliceFormer}: Spatiotemporal Slices for Efficient Video Action Recognition},
  author = {Okafor, Mira and Lindqvist, Tomasz and Hamada, Aiko},
  year = {2024},
  eprint = {2405.90001},
  archivePrefix = {arXiv},
  primaryClass = {cs.CV},
  keywords = {video, efficiency},
}

@article{broken,
  title = {Broken entry,
  author = {Nobody}

@article{paper2,
  title = {TITLE2},
  author = {AUTHOR2},
  journal = {Journal of Tests},
  year = 2023,
  doi = {10.1234/abc.def},
  file = {Full Text:pdfs/two.pdf:application/pdf},
}
"""


def test_bibtex_entries_with_arxiv_doi_file_and_a_bad_entry(parts, tmp_path):
    catalog, emb, store = parts
    spec = PAPERS[2]
    (tmp_path / "pdfs").mkdir()
    (tmp_path / "pdfs" / "two.pdf").write_bytes(pdf_bytes(spec, tmp_path))
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB.replace("TITLE2", spec["title"]).replace("AUTHOR2", " and ".join(spec["authors"])),
                   encoding="utf-8")
    report = ingest_all([str(bib)], catalog, emb, store)
    assert len(report.errors) == 1
    source, message = report.errors[0]
    assert source == str(bib) and "line 12" in message and "skipped" in message
    one = catalog.load_paper("2405.90001")
    assert one is not None and one.extra["bibtex_key"] == "okafor2024slice" and one.authors[0] == "Mira Okafor"
    assert one.title.startswith("SliceFormer:")  # braces removed
    assert tables.labels_of(catalog.db, "2405.90001")["tags"] == ["efficiency", "video"]
    two_id = next(r["id"] for r in catalog.list_papers() if r["title"] == spec["title"])
    two = catalog.load_paper(two_id)
    assert two.pages and two.extra["doi"] == "10.1234/abc.def" and two.extra["venue"] == "Journal of Tests"
    assert {s["kind"] for s in catalog.sources_of_paper(two_id)} == {"bibtex"}


def test_one_paper_one_record_across_zotero_bibtex_digest_and_arxiv(parts, tmp_path):
    catalog, emb, store = parts
    spec = PAPERS[0]
    z = ZoteroFixture(tmp_path / "Zotero")
    # Zotero: no arXiv id, a DOI, the title in other case and punctuation
    z.add_item(spec["title"].upper().replace(":", " -"), [split(n) for n in spec["authors"]],
               fields={"DOI": "10.5555/slice.2024"}, collections=["Reading"])
    # .bib: only the DOI in common (a longer title)
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{x, title={SliceFormer (extended version)}, author={Someone, Else},"
                   " doi={10.5555/SLICE.2024}, journal={J}, year=2024}\n", encoding="utf-8")
    page = tmp_path / "Video.md"
    page.write_text(render_digest_page([spec], spec["date"], "Video Understanding"), encoding="utf-8")
    feed = tmp_path / "feed.xml"
    feed.write_text(render_atom_feed([spec]), encoding="utf-8")
    report = ingest_all([str(z.folder), str(bib), str(page), str(feed)], catalog, emb, store)
    assert report.errors == []
    rows = catalog.list_papers()
    assert len(rows) == 1
    kinds = {s["kind"] for s in catalog.sources_of_paper(rows[0]["id"])}
    assert kinds == {"zotero", "bibtex", "digest", "arxiv-atom"}
    paper = catalog.load_paper(rows[0]["id"])
    assert paper.arxiv_id == spec["id"] and paper.title == spec["title"]  # arXiv's metadata wins
    assert tables.labels_of(catalog.db, rows[0]["id"])["collections"] == ["Reading"]


def test_same_title_with_different_arxiv_ids_stays_two_records(parts, tmp_path):
    catalog, emb, store = parts
    a, b = dict(PAPERS[0]), dict(PAPERS[1])
    b["title"] = a["title"]
    b["authors"] = a["authors"]
    feed = tmp_path / "feed.xml"
    feed.write_text(render_atom_feed([a, b]), encoding="utf-8")
    ingest([str(feed)], catalog, emb, store, IngestOptions())
    assert {r["id"] for r in catalog.list_papers()} == {a["id"], b["id"]}


def test_an_arxiv_record_after_a_zotero_item_without_ids_joins_its_record(parts, tmp_path):
    catalog, emb, store = parts
    spec = PAPERS[1]
    z = ZoteroFixture(tmp_path / "Zotero")
    z.add_item(spec["title"], [split(n) for n in spec["authors"]], tags=["later"])
    ingest_all([str(z.folder)], catalog, emb, store)
    (first,) = catalog.list_papers()
    assert first["id"].startswith("t-") and first["arxiv_id"] is None
    feed = tmp_path / "feed.xml"
    feed.write_text(render_atom_feed([spec]), encoding="utf-8")
    ingest_all([str(feed)], catalog, emb, store)
    (row,) = catalog.list_papers()
    assert row["id"] == first["id"] and row["arxiv_id"] == spec["id"]
    assert catalog.find_paper_id(spec["id"]) == first["id"]  # `kb show ARXIV_ID` still finds it


def test_missing_or_broken_attachments_leave_a_metadata_only_paper(parts, tmp_path):
    catalog, emb, store = parts
    z = ZoteroFixture(tmp_path / "Zotero")
    gone = z.add_item(PAPERS[0]["title"], [split(PAPERS[0]["authors"][0])], fields={"abstractNote": "Gone."})
    z.attach_linked(gone, tmp_path / "not-synced.pdf")  # a file not on this computer: a note, not an error
    broken = z.add_item(PAPERS[1]["title"], [split(PAPERS[1]["authors"][0])], fields={"abstractNote": "Broken."})
    z.attach_stored(broken, b"%PDF-1.7 this is not really a pdf")
    report = ingest_all([str(z.folder)], catalog, emb, store)
    assert len(report.errors) == 1 and "zotero:" in report.errors[0][0]  # the unreadable PDF, named
    papers = {r["title"]: catalog.load_paper(r["id"]) for r in catalog.list_papers()}
    assert set(papers) == {PAPERS[0]["title"], PAPERS[1]["title"]}
    assert all(not p.pages and p.abstract for p in papers.values())
