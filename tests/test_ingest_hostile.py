"""Hostile inputs to `kb ingest`: FIFOs, symlink loops, odd file names, malformed metadata, absurd versions,
damaged copies of stored PDFs, a full disk. Each test builds its input in the test's temporary folder."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from kb.backends.embedders import HashEmbedder
from kb.ingest.pipeline import IngestOptions, ingest
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def parts(tmp_path):
    return Catalog(tmp_path / "catalog.sqlite"), HashEmbedder(), MemoryStore()


@pytest.fixture(scope="module")
def good_pdf(tmp_path_factory) -> Path:
    from samples.pdfgen import render_pdf

    path = tmp_path_factory.mktemp("good") / "good.pdf"
    render_pdf(PAPERS[0], path)
    return path


@contextmanager
def fifo_watch(path: Path):
    """Make a FIFO at `path` and watch it: whenever a reader has it open (and so is blocked on it), write end
    opened and closed at once, which unblocks the reader with end-of-file. Yields a list of how often that
    happened; a pipeline that never reads the FIFO leaves it empty. Without the watcher such a reader would
    block for ever."""
    os.mkfifo(path)
    readers: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads
            except OSError:
                stop.wait(0.01)
                continue
            readers.append(1)
            os.close(fd)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield readers
    finally:
        stop.set()
        t.join()


# ---------------------------------------------------------------------------------------------- 4. hangs


def test_fifo_named_like_a_pdf_is_refused_not_read(parts, tmp_path):
    catalog, emb, store = parts
    fifo = tmp_path / "x.pdf"
    with fifo_watch(fifo) as readers:
        report = ingest([str(fifo)], catalog, emb, store)
    assert readers == [], "the pipeline opened the FIFO (it would block for ever)"
    [(src, cause)] = report.errors
    assert src.endswith("x.pdf") and "named pipe" in cause


def test_folder_with_a_fifo_ingests_its_files_and_reports_the_fifo(parts, tmp_path, good_pdf):
    catalog, emb, store = parts
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(good_pdf.read_bytes())
    with fifo_watch(folder / "pipe.pdf") as readers:
        report = ingest([str(folder)], catalog, emb, store)
    assert readers == []
    assert report.papers_new == 1
    assert [Path(s).name for s, _ in report.errors] == ["pipe.pdf"]


def test_recursive_glob_does_not_follow_a_symlink_loop(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "p.pdf").write_bytes(b"%PDF-1.4")
    (d / "q.pdf").write_bytes(b"%PDF-1.4")
    for name in ("a", "b"):  # two links back to d: following them globs 2**40 paths
        os.symlink(".", d / name)
    os.symlink("..", d / "sub" / "up")
    code = ("import json, sys; from kb.ingest.sources import expand_inputs; "
            "i, e = expand_inputs([sys.argv[1]]); print(json.dumps([x.ref for x in i]))")
    out = subprocess.run([sys.executable, "-c", code, str(d / "**" / "*.pdf")], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert sorted(Path(p).name for p in __import__("json").loads(out.stdout)) == ["p.pdf", "q.pdf"]


# ------------------------------------------------------------------------------- 5. one bad file, one line


def test_symlink_loop_in_a_folder_is_one_error_and_the_batch_goes_on(parts, tmp_path, good_pdf):
    catalog, emb, store = parts
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(good_pdf.read_bytes())
    os.symlink("loop.pdf", folder / "loop.pdf")
    report = ingest([str(folder)], catalog, emb, store)
    assert report.papers_new == 1
    [(src, cause)] = report.errors
    assert Path(src).name == "loop.pdf" and "loop" in cause


def test_file_name_that_is_not_utf8_is_named_in_one_printable_line(kb_env, tmp_path, good_pdf):
    import json

    from typer.testing import CliRunner

    from kb_cli.app import app

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(good_pdf.read_bytes())
    odd = os.fsdecode(bytes(folder) + b"/caf\xe9.pdf")  # Latin-1 bytes in a UTF-8 file system
    Path(odd).write_bytes(good_pdf.read_bytes())
    result = CliRunner().invoke(app, ["-q", "ingest", str(folder), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["papers_new"] == 1
    [error] = report["errors"]
    assert error["source"].endswith("caf\\xe9.pdf") and "UTF-8" in error["error"]


def test_oai_lines_with_wrong_types_or_deep_nesting_are_errors_per_line(parts, tmp_path, good_pdf):
    import json

    from samples.pages import render_oai_jsonl

    catalog, emb, store = parts
    good = json.loads(render_oai_jsonl([PAPERS[1]]))
    bad = [dict(good, id=PAPERS[2]["id"], title=["a", "list"]),
           dict(good, id=PAPERS[2]["id"], abstract={"an": "object"}),
           dict(good, id=PAPERS[2]["id"], comments=7.5, authors=3, versions="v1"),  # odd but readable
           dict(good, id=[PAPERS[2]["id"]])]
    lines = [json.dumps(good)] + [json.dumps(b) for b in bad] + ["[" * 100_000 + "]" * 100_000,
                                                                 '{"id": ' + "[" * 100_000 + "]" * 100_000 + "}"]
    (tmp_path / "oai.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "good.pdf").write_bytes(good_pdf.read_bytes())
    report = ingest([str(tmp_path / "oai.jsonl"), str(tmp_path / "good.pdf")], catalog, emb, store)
    causes = [cause for _, cause in report.errors]
    assert any("line 2" in c and "'title'" in c for c in causes)
    assert any("line 3" in c and "'abstract'" in c for c in causes)
    assert any("line 5" in c and "'id'" in c for c in causes)
    assert any("line 6" in c and "nested" in c for c in causes) and any("line 7" in c for c in causes)
    assert len(report.errors) == 5  # line 4 is odd but readable
    rows = catalog.list_papers()
    assert {PAPERS[1]["id"], PAPERS[2]["id"]} <= {r["id"] for r in rows}
    assert PAPERS[0]["title"] in {r["title"] for r in rows}  # the PDF after the bad file went in too


def test_absurd_version_numbers_never_reach_sqlite(parts, tmp_path, good_pdf):
    import json

    from samples.pages import render_digest_page, render_oai_jsonl

    catalog, emb, store = parts
    huge = 99999999999999999999  # > 2**63: SQLite cannot store it
    named = tmp_path / f"{PAPERS[1]['id']}v{huge}.pdf"
    from samples.pdfgen import render_pdf
    render_pdf(PAPERS[1], named)
    page = tmp_path / "day.md"
    page.write_text(render_digest_page([PAPERS[0], dict(PAPERS[2], version=huge)], "2024-05-22", "Mixed"),
                    encoding="utf-8")
    line = json.loads(render_oai_jsonl([PAPERS[3]]))
    lines = [json.dumps(dict(line, versions=[{"version": f"v{huge}"}])),
             json.dumps(dict(line, id=f"{PAPERS[4]['id']}v{huge}"))]
    (tmp_path / "oai.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest([str(page), str(tmp_path / "oai.jsonl"), str(named)], catalog, emb, store)
    rows = {r["id"]: r for r in catalog.list_papers()}
    assert PAPERS[0]["id"] in rows and PAPERS[3]["id"] in rows  # the sane entries of both files
    assert rows[PAPERS[3]["id"]]["version"] is None  # an absurd version is no version
    assert PAPERS[2]["id"] not in rows and PAPERS[4]["id"] not in rows
    assert any(r["title"] == PAPERS[1]["title"] for r in rows.values())  # the PDF, by its title
    assert all(r["version"] is None or r["version"] < 1000 for r in rows.values())
    failed = {Path(s).name for s, _ in report.errors}
    assert failed == {"day.md", "oai.jsonl"}, report.errors
    asked = ingest([f"arxiv:{PAPERS[4]['id']}v{huge}"], catalog, emb, store)  # typed: no network call, one line
    [(_, cause)] = asked.errors
    assert "not a valid arXiv id" in cause


# ------------------------------------------------------------------------------- 3. silent loss of full text


def _damaged_copy(good: Path, target: Path) -> Path:
    """`good` cut off just before its last page's objects, with an end marker after the cut: a broken copy that
    MuPDF opens by repairing it, losing the last page's text."""
    import pymupdf

    data = good.read_bytes()
    with pymupdf.open(good) as doc:
        xref = doc[-1].xref
    cut = data.index(f"\n{xref} 0 obj".encode())
    target.write_bytes(data[:cut] + b"\n%%EOF\n")
    return target


def test_damaged_copy_of_a_stored_pdf_does_not_replace_its_full_text(parts, tmp_path, good_pdf):
    from kb.ingest.parsers.pdf import read_pdf

    catalog, emb, store = parts
    stored = tmp_path / "paper.pdf"
    stored.write_bytes(good_pdf.read_bytes())
    ingest([str(stored)], catalog, emb, store)
    [row] = catalog.list_papers()
    before = catalog.chunk_ids(row["id"])
    text_before = [p.text for p in catalog.load_paper(row["id"]).pages]
    damaged = _damaged_copy(good_pdf, tmp_path / "copy.pdf")
    broken = read_pdf(damaged)
    assert broken.extra.get("repaired") and sum(map(len, (p.text for p in broken.pages))) < sum(map(len, text_before))

    report = ingest([str(damaged)], catalog, emb, store)  # a second, broken copy elsewhere
    assert [Path(s).name for s, _ in report.errors] == ["copy.pdf"] and "damaged" in report.errors[0][1]
    assert catalog.chunk_ids(row["id"]) == before
    assert [p.text for p in catalog.load_paper(row["id"]).pages] == text_before

    _damaged_copy(good_pdf, stored)  # the stored file itself overwritten by a broken copy
    report = ingest([str(stored)], catalog, emb, store)
    assert [Path(s).name for s, _ in report.errors] == ["paper.pdf"]
    assert catalog.chunk_ids(row["id"]) == before
    again = ingest([str(stored)], catalog, emb, store)  # still reported on the next run, not "unchanged"
    assert again.errors and again.skipped == 0


def test_a_removed_papers_unchanged_file_ingests_again(parts, tmp_path, good_pdf):
    from kb.ingest.pipeline import remove_paper
    from samples.pages import render_digest_page

    catalog, emb, store = parts
    (tmp_path / "paper.pdf").write_bytes(good_pdf.read_bytes())
    page = tmp_path / "day.md"
    page.write_text(render_digest_page(PAPERS[1:3], "2024-05-22", "Mixed"), encoding="utf-8")
    ingest([str(tmp_path)], catalog, emb, store)
    everything = {r["id"] for r in catalog.list_papers()}
    pdf_paper = next(r["id"] for r in catalog.list_papers() if r["title"] == PAPERS[0]["title"])
    chunks = set(catalog.chunk_ids(pdf_paper))
    remove_paper(pdf_paper, catalog, store)
    remove_paper(PAPERS[1]["id"], catalog, store)  # one of the two papers of the digest page
    report = ingest([str(tmp_path)], catalog, emb, store)
    assert report.errors == [] and report.papers_new == 2 and report.skipped == 0
    assert {r["id"] for r in catalog.list_papers()} == everything
    assert set(catalog.chunk_ids(pdf_paper)) == chunks
    assert store.ids() == {r[0] for r in catalog.db.execute("SELECT id FROM chunks")}
    assert ingest([str(tmp_path)], catalog, emb, store).skipped == 2  # and then unchanged again


# ------------------------------------------------------------------------------------------- 14. disk full


def _no_space(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_catalog_disk_stops_with_one_message_and_loses_nothing(parts, tmp_path, good_pdf):
    from kb.diskfull import DiskFullError
    from samples.pages import render_digest_page

    catalog, emb, store = parts
    first = tmp_path / "first.md"
    first.write_text(render_digest_page(PAPERS[1:2], "2024-05-22", "One"), encoding="utf-8")
    ingest([str(first)], catalog, emb, store)
    stored = {r["id"]: catalog.chunk_ids(r["id"]) for r in catalog.list_papers()}
    (tmp_path / "big.pdf").write_bytes(good_pdf.read_bytes())
    pages = catalog.db.execute("PRAGMA page_count").fetchone()[0]
    catalog.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite now answers SQLITE_FULL, as on a full disk
    with pytest.raises(DiskFullError) as caught:
        ingest([str(tmp_path / "big.pdf")], catalog, emb, store)
    message = str(caught.value)
    assert "disk full while storing" in message and "big.pdf" in message
    assert "Nothing was lost" in message and str(tmp_path) in message and "MiB free" in message
    assert {r["id"]: catalog.chunk_ids(r["id"]) for r in catalog.list_papers()} == stored  # rolled back, intact
    catalog.db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the same command finishes the job
    again = ingest([str(tmp_path / "big.pdf")], catalog, emb, store)
    assert again.errors == [] and again.papers_new == 1
    assert store.ids() == {r[0] for r in catalog.db.execute("SELECT id FROM chunks")}


def test_full_disk_while_writing_vectors_is_one_message(parts, tmp_path, good_pdf, monkeypatch):
    from kb.diskfull import DiskFullError

    catalog, emb, store = parts
    (tmp_path / "a.pdf").write_bytes(good_pdf.read_bytes())
    monkeypatch.setattr(store, "upsert", _no_space)
    with pytest.raises(DiskFullError, match="disk full while writing embeddings and vectors"):
        ingest([str(tmp_path / "a.pdf")], catalog, emb, store)
    monkeypatch.undo()
    again = ingest([str(tmp_path / "a.pdf")], catalog, emb, store)  # rerun: pending vectors are written
    assert again.skipped == 1 and store.count() == catalog.counts()["chunks"] > 0


def test_full_disk_while_saving_a_download_leaves_no_partial_file(parts, tmp_path, good_pdf, monkeypatch):
    import kb.ingest.parsers.arxiv as arxiv
    from kb.diskfull import DiskFullError
    from kb.types import Paper

    catalog, emb, store = parts
    paper = Paper(title=PAPERS[0]["title"], arxiv_id=PAPERS[0]["id"], arxiv_version=1, source_kind="arxiv-api")
    monkeypatch.setattr(arxiv, "fetch_arxiv", lambda ref, api_url: (paper, good_pdf.read_bytes()))
    real_write = Path.write_bytes

    def half_then_full(self, data):
        real_write(self, data[: len(data) // 2])
        _no_space()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    downloads = tmp_path / "papers"
    with pytest.raises(DiskFullError, match=f"disk full while storing arxiv:{PAPERS[0]['id']}"):
        ingest([f"arxiv:{PAPERS[0]['id']}"], catalog, emb, store, IngestOptions(download_dir=downloads))
    assert list(downloads.iterdir()) == []


def test_cli_says_disk_full_in_one_line(kb_env, tmp_path, good_pdf, monkeypatch):
    import sqlite3

    from typer.testing import CliRunner

    import kb.settings
    from kb.store.catalog import Catalog as Cat
    from kb_cli.app import app

    runner = CliRunner()
    (tmp_path / "a.pdf").write_bytes(good_pdf.read_bytes())

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Cat, "replace_chunks", full)
    result = runner.invoke(app, ["-q", "ingest", str(tmp_path / "a.pdf")])
    assert result.exit_code == 1 and not isinstance(result.exception, sqlite3.Error)
    assert result.stderr.startswith("error: disk full while storing") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    monkeypatch.setattr(kb.settings, "write_config_value", _no_space)  # any other write: the same one line
    result = runner.invoke(app, ["config", "set", "chunk_tokens", "128"])
    assert result.exit_code == 1 and not isinstance(result.exception, OSError)
    assert result.stderr.startswith("error: disk full while writing") and "Nothing was lost" in result.stderr
