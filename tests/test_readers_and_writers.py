"""Readers never wait for a writer, and lock messages name live processes only (issue 9, red-team item 10).

The writer is a real second process: it takes kb's write lock and holds an uncommitted catalog transaction that
deletes every paper and chunk, as an ingest in the middle of a batch would hold its own. Readers must answer
from what is committed, at once, and leave everything intact. Real embedded Chroma, fake embedder/generator."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.backends.generators import FakeGenerator, register_generator
from kb.store.lock import kb_lock
from kb.types import KbError
from kb_cli.app import app

pytestmark = pytest.mark.slow

runner = CliRunner()
DAY = "2024-05-22"
QUESTION = "How are phonemes turned into mouth shapes?"

_WRITER = """
import sqlite3, sys
from pathlib import Path
from kb.store.lock import kb_lock
home = Path(sys.argv[1])
with kb_lock(home / "kb.lock", exclusive=True, timeout=5):
    db = sqlite3.connect(str(home / "catalog.sqlite"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("DELETE FROM chunks")
    db.execute("DELETE FROM papers")
    print("holding", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    line = proc.stdout.readline()
    assert line.strip() == "holding", proc.stderr.read()
    return proc


def _release(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


@pytest.fixture
def built(kb_env, sample_corpus, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    out = runner.invoke(app, ["-q", "ingest", str(sample_corpus), "--json"])
    assert out.exit_code == 0, out.output
    return kb_env


def _reads() -> dict:
    results = {}
    for name, args in {
        "search": ["search", "phoneme viseme talking head", "--json"],
        "dense": ["search", "phoneme viseme talking head", "--mode", "dense", "--json"],
        "ask": ["ask", QUESTION, "--json"],
        "digest": ["digest", "--date", DAY, "--format", "json", "--out", "-", "-q"],
        "topics": ["topics", "--json"],
    }.items():
        out = runner.invoke(app, args)
        assert out.exit_code == 0, f"{name}: {out.output}"
        data = json.loads(out.stdout)
        if name in ("search", "dense"):
            results[name] = [(p["id"], [s["chunk_id"] for s in p["passages"]]) for p in data["papers"]]
        elif name == "ask":
            results[name] = (data["abstained"], data["answer"])
        elif name == "digest":
            results[name] = sorted(p["id"] for p in data["papers"])
        else:
            results[name] = data["topics"]
    return results


def test_reads_answer_from_committed_state_while_a_writer_holds_the_lock(built, sample_corpus):
    before = _reads()
    assert before["search"] and before["digest"] and not before["ask"][0]
    status_before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)

    writer = _child(_WRITER, str(built))
    try:
        during = _reads()  # each used to wait KB_LOCK_TIMEOUT (2 s here), then fail with "another kb process"
        assert during == before
        st = runner.invoke(app, ["status", "--json"])
        assert st.exit_code == 0 and json.loads(st.stdout)["writer"] == writer.pid
        blocked = runner.invoke(app, ["ingest", str(sample_corpus / "pdf")])
        assert blocked.exit_code == 1 and f"(pid {writer.pid})" in blocked.stderr  # a live writer is named
    finally:
        _release(writer)

    after = runner.invoke(app, ["status", "--json"])
    assert after.exit_code == 0, after.output  # nothing damaged: catalog checks out, index matches
    data = json.loads(after.stdout)
    assert data["problems"] == [] and "writer" not in data
    assert (data["papers"], data["chunks"], data["vectors"]) == (
        status_before["papers"], status_before["chunks"], status_before["vectors"])
    assert _reads() == before


class _IngestWhileGenerating(FakeGenerator):
    """A generator that, at its first call (the digest is generating), runs `kb ingest` in another process."""

    ingest_args: list[str] = []
    results: list[subprocess.CompletedProcess] = []

    def generate(self, messages, **kw):
        if not self.results:
            cmd = [sys.executable, "-c", "from kb_cli.app import main; main()", "-q", "ingest", *self.ingest_args]
            self.results.append(subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                                               env=dict(os.environ, KB_LOCK_TIMEOUT="1")))
        return super().generate(messages, **kw)


def test_ingest_runs_while_a_digest_generates(built, tmp_path):
    from samples.corpus import PAPERS
    from samples.pdfgen import render_pdf

    spec = dict(PAPERS[0], id="2405.99991", title="A paper ingested while a digest was being written")
    new_pdf = tmp_path / "new" / "2405.99991v1.pdf"
    new_pdf.parent.mkdir()
    render_pdf(spec, new_pdf)
    _IngestWhileGenerating.ingest_args = [str(new_pdf)]
    _IngestWhileGenerating.results = []
    register_generator("ingest-while-generating", lambda n_ctx=2048, n_threads=None, seed=0:
                       _IngestWhileGenerating(n_ctx=n_ctx))

    out = runner.invoke(app, ["digest", "--date", DAY, "--model", "ingest-while-generating", "--refresh",
                              "--out", "-", "--format", "json", "-q"])
    assert out.exit_code == 0, out.output
    assert _IngestWhileGenerating.results, "the digest never generated"
    ingest = _IngestWhileGenerating.results[0]
    assert ingest.returncode == 0, ingest.stderr  # was: "another kb process (pid …) is writing", exit 1
    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert "2405.99991" in {p["id"] for p in listed}


_READER = """
import sys
from pathlib import Path
from kb.store.lock import kb_lock
with kb_lock(Path(sys.argv[1]), exclusive=False, timeout=5):
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_lock_message_never_names_a_dead_process(tmp_path):
    lock = tmp_path / "kb.lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(str(dead.pid))  # left by a writer that was killed
    reader = _child(_READER, str(lock))
    try:
        with pytest.raises(KbError) as err:
            with kb_lock(lock, exclusive=True, timeout=0.3):
                pass
    finally:
        _release(reader)
    assert "another kb process" in str(err.value)
    assert f"pid {dead.pid}" not in str(err.value)  # was "(pid <dead>)"
    with kb_lock(lock, exclusive=True, timeout=0.3):  # released: the writer gets it, and clears its pid after
        assert Path(lock).read_text() == str(os.getpid())
    assert Path(lock).read_text() == ""


def test_searches_during_a_real_ingest_see_committed_papers_only(built, tmp_path):
    """A real `kb ingest` of 24 PDFs runs in another process while this one searches again and again: every
    search succeeds at once with papers that exist, and afterwards index and catalog agree exactly."""
    from samples.corpus import PAPERS
    from samples.pdfgen import render_pdf

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(24):
        spec = dict(PAPERS[i % len(PAPERS)], id=f"2405.{81000 + i}")
        spec["title"] = f"{spec['title']} (copy {i})"
        render_pdf(spec, folder / f"{spec['id']}v1.pdf", repeat=6)
    proc = subprocess.Popen([sys.executable, "-c", "from kb_cli.app import main; main()", "-q", "ingest",
                             str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    seen: set[str] = set()
    during = 0
    while proc.poll() is None:
        lock = built / "kb.lock"
        writing = lock.is_file() and lock.read_text().strip() == str(proc.pid)  # the writer writes its pid there
        for mode in ("hybrid", "dense"):
            out = runner.invoke(app, ["search", "phoneme viseme talking head", "--mode", mode, "-k", "10", "--json"])
            assert out.exit_code == 0, out.output
            seen |= {p["id"] for p in json.loads(out.stdout)["papers"]}
        during += writing and proc.poll() is None
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert during >= 1, "the ingest ended before any search overlapped it"

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["problems"] == [] and data["vectors"] == data["chunks"]
    papers = {p["id"] for p in json.loads(runner.invoke(app, ["list", "--json"]).stdout)}
    assert seen <= papers and len(papers) == len(PAPERS) + 24
