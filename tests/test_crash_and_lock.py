"""Real processes: SIGKILL of `kb ingest` at several points, then a rerun completes the store; a second writer
waits or refuses. Uses the real embedded Chroma store and the fake embedder (to keep the run short)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb.store.lock import kb_lock
from kb.types import KbError

pytestmark = pytest.mark.slow

KB = [sys.executable, "-c", "from kb_cli.app import main; main()"]


def _env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_HOME=str(home), KB_EMBEDDER="fake-hash", KB_LOCK_TIMEOUT="1", HF_HUB_OFFLINE="1", **extra)
    return env


def _many_pdfs(folder: Path, n: int) -> Path:
    from samples.corpus import PAPERS
    from samples.pdfgen import render_pdf

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        spec = dict(PAPERS[i % len(PAPERS)])
        spec["id"] = f"2405.{80000 + i}"
        spec["title"] = f"{spec['title']} (variant {i})"
        render_pdf(spec, folder / f"{spec['id']}v1.pdf", repeat=6)
    return folder


def _state(home: Path) -> tuple[set, set, dict]:
    """(catalog chunk ids, Chroma ids, counts) read in a fresh process, like a user would."""
    code = (
        "import json; from kb.store.catalog import Catalog; from kb.store.vectors import ChromaStore; import sys\n"
        "c = Catalog(sys.argv[1] + '/catalog.sqlite'); s = ChromaStore(path=sys.argv[1] + '/chroma')\n"
        "ids = sorted(r[0] for r in c.db.execute('SELECT id FROM chunks'))\n"
        "print(json.dumps([ids, sorted(s.ids()), c.counts()]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(home)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cat, store, counts = json.loads(out.stdout)
    return set(cat), set(store), counts


def _progress(home: Path) -> tuple:
    """(papers, chunks with embeddings) committed so far, read without taking kb's lock ((-1, -1): no catalog)."""
    import sqlite3

    path = home / "catalog.sqlite"
    if not path.exists():
        return (-1, -1)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            return (db.execute("SELECT count(*) FROM papers").fetchone()[0],
                    db.execute("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:  # created but not yet initialised, or busy: no progress seen yet
        return (-1, -1)


def test_sigkill_at_any_point_then_rerun_completes(tmp_path):
    corpus = _many_pdfs(tmp_path / "pdfs", 24)
    ref_home, home = tmp_path / "ref", tmp_path / "killed"
    ok = subprocess.run(KB + ["-q", "ingest", str(corpus)], env=_env(ref_home), capture_output=True, text=True,
                        timeout=300)
    assert ok.returncode == 0, ok.stderr
    ref_ids, ref_store, ref_counts = _state(ref_home)
    assert ref_ids == ref_store and ref_counts["papers"] == 24

    killed_mid_run = 0
    # each run is killed once it has committed new work, plus a staggered extra delay, so the kills land in
    # parsing, embedding and indexing alike however fast the machine is
    for extra in (0.0, 0.1, 0.25, 0.4, 0.6):
        before = _progress(home)
        proc = subprocess.Popen(KB + ["-q", "ingest", str(corpus)], env=_env(home),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and _progress(home) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(extra)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        proc.wait(timeout=60)
        # After a kill the store opens and answers (no corruption): catalog and Chroma are readable.
        _state(home)
    assert killed_mid_run >= 2, "ingest finished before the kills; the corpus is too small to test anything"
    done = subprocess.run(KB + ["-q", "ingest", str(corpus)], env=_env(home), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    ids, store, counts = _state(home)
    assert ids == ref_ids  # same chunks as an uninterrupted run: nothing duplicated, nothing missing
    assert store == ids  # no orphan vectors, no missing vectors
    assert counts["papers"] == ref_counts["papers"] and counts["chunks_pending_index"] == 0


def test_second_writer_refuses_with_a_clear_message(tmp_path, sample_corpus):
    home = tmp_path / "home"
    home.mkdir()
    with kb_lock(home / "kb.lock", exclusive=True, timeout=1):
        t0 = time.monotonic()
        out = subprocess.run(KB + ["ingest", str(sample_corpus / "pdf")], env=_env(home), capture_output=True,
                             text=True, timeout=120)
        waited = time.monotonic() - t0
    assert out.returncode == 1
    assert "another kb process" in out.stderr and f"(pid {os.getpid()})" in out.stderr
    assert waited >= 1.0  # it waited for the lock timeout before refusing
    assert not (home / "catalog.sqlite").exists() or "papers" not in out.stdout


def test_second_writer_waits_then_proceeds(tmp_path):
    lock = tmp_path / "kb.lock"
    with kb_lock(lock, timeout=1):
        with pytest.raises(KbError, match="another kb process"):
            with kb_lock(lock, timeout=0.3):
                pass
    with kb_lock(lock, timeout=0.3):  # released: the next writer gets it at once
        pass
