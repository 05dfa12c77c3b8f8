"""The ingest pipeline with fakes: one record per paper, idempotence, replacement, removal, bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb.store.catalog import Catalog
from kb.backends.embedders import HashEmbedder
from kb.ingest.pipeline import IngestOptions, ingest, remove_paper, reindex
from kb.types import KbError
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS


class CountingEmbedder(HashEmbedder):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0
        self.texts = 0

    def embed(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return super().embed(texts)


@pytest.fixture
def parts(tmp_path):
    return Catalog(tmp_path / "catalog.sqlite"), CountingEmbedder(), MemoryStore()


def consistent(catalog: Catalog, store) -> None:
    """Every catalog chunk is in the store, with nothing extra and nothing pending."""
    ids = {r[0] for r in catalog.db.execute("SELECT id FROM chunks")}
    assert store.ids() == ids
    assert store.count() == len(ids)
    counts = catalog.counts()
    assert counts["chunks_pending_embedding"] == 0 and counts["chunks_pending_index"] == 0


def test_sample_corpus_gives_one_record_per_paper(parts, sample_corpus):
    catalog, emb, store = parts
    report = ingest([str(sample_corpus)], catalog, emb, store, IngestOptions(chunk_tokens=120, chunk_overlap=16))
    assert report.errors == []
    ids = {p["id"] for p in PAPERS}
    rows = catalog.list_papers()
    assert {r["id"] for r in rows} == ids  # digest entry + Atom record + PDF merged into one record each
    consistent(catalog, store)
    for pid in ids:
        kinds = {s["kind"] for s in catalog.sources_of_paper(pid)}
        assert {"pdf", "digest", "arxiv-atom"} <= kinds, (pid, kinds)
        paper = catalog.load_paper(pid)
        spec = next(p for p in PAPERS if p["id"] == pid)
        assert paper.title == spec["title"]  # metadata from arXiv/digest, not the PDF's text
        assert paper.pages and paper.page_count == len(paper.pages)
        assert any(a.kind == "digest-summary" for a in paper.annotations)
        # the page's machine-written summary never becomes paper text
        summary = next(a for a in paper.annotations if a.kind == "digest-summary").data.get("summary", "")
        assert summary and all(summary not in p.text for p in paper.pages)
        assert paper.digest_date == spec["date"]


def test_reingest_of_unchanged_files_does_no_work(parts, sample_corpus):
    catalog, emb, store = parts
    ingest([str(sample_corpus)], catalog, emb, store)
    calls = emb.calls
    again = ingest([str(sample_corpus)], catalog, emb, store)
    assert again.parsed == 0 and again.skipped == again.files > 0
    assert emb.calls == calls and again.chunks_embedded == 0


def test_touched_but_identical_file_is_not_reparsed(parts, sample_corpus, tmp_path):
    catalog, emb, store = parts
    corpus = tmp_path / "c"
    shutil.copytree(sample_corpus, corpus)
    ingest([str(corpus)], catalog, emb, store)
    page = next(corpus.rglob("*.md"))
    page.write_bytes(page.read_bytes())  # new mtime, same content
    again = ingest([str(corpus)], catalog, emb, store)
    assert again.parsed == 0


def test_changed_file_replaces_its_chunks(parts, tmp_path):
    from samples.pages import render_digest_page

    catalog, emb, store = parts
    spec = dict(PAPERS[0])
    page = tmp_path / "Video.md"
    page.write_text(render_digest_page([spec], spec["date"], "Video Understanding"), encoding="utf-8")
    ingest([str(page)], catalog, emb, store)
    before = set(catalog.chunk_ids(spec["id"]))
    spec["abstract"] = "A completely different abstract about sparse voxel grids for robotics."
    page.write_text(render_digest_page([spec], spec["date"], "Video Understanding"), encoding="utf-8")
    report = ingest([str(page)], catalog, emb, store)
    after = set(catalog.chunk_ids(spec["id"]))
    assert report.parsed == 1 and before and after and not (before & after)
    assert "voxel" in " ".join(r["text"] for r in catalog.get_chunks(list(after)).values())
    consistent(catalog, store)


def test_paper_dropped_from_a_changed_page_is_removed(parts, tmp_path):
    from samples.pages import render_digest_page

    catalog, emb, store = parts
    page = tmp_path / "Mixed.md"
    page.write_text(render_digest_page(PAPERS[:2], "2024-05-22", "Mixed"), encoding="utf-8")
    ingest([str(page)], catalog, emb, store)
    assert len(catalog.list_papers()) == 2
    page.write_text(render_digest_page(PAPERS[:1], "2024-05-22", "Mixed"), encoding="utf-8")
    report = ingest([str(page)], catalog, emb, store)
    assert report.papers_removed == 1
    assert [r["id"] for r in catalog.list_papers()] == [PAPERS[0]["id"]]
    consistent(catalog, store)


def test_remove_deletes_paper_chunks_and_vectors(parts, sample_corpus):
    catalog, emb, store = parts
    ingest([str(sample_corpus)], catalog, emb, store)
    victim = PAPERS[0]["id"]
    assert remove_paper("arxiv:" + victim + "v1", catalog, store) == victim
    assert catalog.get_paper_row(victim) is None
    consistent(catalog, store)
    with pytest.raises(KbError, match="no paper matches"):
        remove_paper("9999.99999", catalog, store)


def test_bad_inputs_are_reported_and_the_batch_continues(parts, sample_corpus, tmp_path):
    from samples.pdfgen import make_encrypted_pdf, make_image_only_pdf, make_truncated_pdf

    catalog, emb, store = parts
    good = sample_corpus / "pdf"
    ingest([str(good)], catalog, emb, store)
    papers_before = {r["id"] for r in catalog.list_papers()}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.pdf").write_bytes(b"")
    (bad / "notes.pdf").write_text("just some text, not a PDF")
    make_image_only_pdf(bad / "scan.pdf")
    make_encrypted_pdf(bad / "locked.pdf", "secret", PAPERS[1])
    make_truncated_pdf(bad / "cut.pdf", 0.4, PAPERS[2])
    (bad / "latin1.md").write_bytes("---\ntitle: Caf\xe9\n---\n## x\n".encode("latin-1"))
    with open(bad / "huge.md", "wb") as f:  # sparse: 21 MiB of zeros without writing them
        f.truncate(21 * 2**20)
    unreadable = bad / "secret.pdf"
    shutil.copy(next(good.glob("*.pdf")), unreadable)
    unreadable.chmod(0)
    report = ingest([str(bad), str(tmp_path / "missing.pdf")], catalog, emb, store)
    unreadable.chmod(0o644)
    failed = {Path(src).name: cause for src, cause in report.errors}
    assert "empty.pdf" in failed and "notes.pdf" in failed and "missing.pdf" in failed
    assert "scanned" in failed["scan.pdf"]
    assert "encrypted" in failed["locked.pdf"] and "password" in failed["locked.pdf"]
    assert "cut.pdf" in failed or report.papers_new + report.papers_updated >= 1  # a truncated PDF may still be readable
    assert "UTF-8" in failed["latin1.md"]
    assert "too large" in failed["huge.md"]
    import os
    if os.geteuid() != 0:  # root can read anything
        assert "secret.pdf" in failed
    assert papers_before <= {r["id"] for r in catalog.list_papers()}  # nothing stored before is lost
    consistent(catalog, store)


def test_encrypted_pdf_opens_with_password(parts, tmp_path):
    from samples.pdfgen import make_encrypted_pdf

    catalog, emb, store = parts
    make_encrypted_pdf(tmp_path / "locked.pdf", "secret", PAPERS[1])
    report = ingest([str(tmp_path / "locked.pdf")], catalog, emb, store, IngestOptions(password="secret"))
    assert report.errors == [] and report.papers_new == 1
    assert [r["title"] for r in catalog.list_papers()] == [PAPERS[1]["title"]]


def test_index_built_with_another_embedder_is_refused(parts, sample_corpus):
    catalog, emb, store = parts
    ingest([str(sample_corpus / "pdf")], catalog, emb, store)
    other = HashEmbedder(dim=32, name="fake-hash-32")
    with pytest.raises(KbError, match="kb reindex"):
        ingest([str(sample_corpus / "pdf")], catalog, other, store)


def test_reindex_rebuilds_the_store_from_the_catalog_without_embedding(parts, sample_corpus):
    catalog, emb, store = parts
    ingest([str(sample_corpus)], catalog, emb, store)
    fresh = MemoryStore()
    calls = emb.calls
    reindex(catalog, emb, fresh, IngestOptions())
    assert emb.calls == calls
    consistent(catalog, fresh)


def test_rebuild_with_a_new_embedder(parts, sample_corpus):
    catalog, emb, store = parts
    ingest([str(sample_corpus / "pdf")], catalog, emb, store)
    other = HashEmbedder(dim=32, name="fake-hash-32")
    reindex(catalog, other, store, IngestOptions(), rebuild=True)
    consistent(catalog, store)
    assert store.get_info()["embedder"] == "fake-hash-32"
    ingest([str(sample_corpus / "pdf")], catalog, other, store)  # now accepted


def test_v1_then_v2_of_one_paper_is_one_record(parts, tmp_path):
    """The same arXiv id arriving as v1 (OAI JSON lines) and later as v2 (Atom) enriches one record."""
    from samples.pages import render_atom_feed, render_oai_jsonl

    catalog, emb, store = parts
    v1 = dict(PAPERS[0], version=1)
    v2 = dict(PAPERS[0], version=2, abstract=PAPERS[0]["abstract"] + " Version 2 adds a study of slice counts.")
    (tmp_path / "old.jsonl").write_text(render_oai_jsonl([v1]), encoding="utf-8")
    (tmp_path / "new.atom").write_text(render_atom_feed([v2]), encoding="utf-8")
    ingest([str(tmp_path / "old.jsonl")], catalog, emb, store)
    ingest([str(tmp_path / "new.atom")], catalog, emb, store)
    rows = catalog.list_papers()
    assert [r["id"] for r in rows] == [PAPERS[0]["id"]] and rows[0]["version"] == 2
    assert "slice counts" in catalog.load_paper(PAPERS[0]["id"]).abstract
    assert {s["kind"] for s in catalog.sources_of_paper(PAPERS[0]["id"])} == {"arxiv-jsonl", "arxiv-atom"}
    consistent(catalog, store)
