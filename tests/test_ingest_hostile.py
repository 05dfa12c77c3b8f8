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
