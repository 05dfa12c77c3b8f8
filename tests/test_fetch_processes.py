"""Real processes against the fake arXiv: politeness across processes sharing one KB_HOME, and SIGKILL of
`kb fetch --pdf` mid-run followed by a rerun that completes without duplicates or repeated downloads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from samples.arxiv_server import ArxivServer, FakeArxiv, FakePaper, make_pdf

ROOT = Path(__file__).resolve().parents[1]
KB = [sys.executable, "-c", "from kb_cli.app import main; main()"]
DELAY = 0.2
DAY = "2024-05-24"

pytestmark = pytest.mark.slow


def _env(home: Path, srv: ArxivServer) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_HOME=str(home), KB_EMBEDDER="fake-hash", KB_ARXIV_API_URL=srv.api_url,
               KB_ARXIV_FEED_URL=srv.feed_url, KB_ARXIV_DELAY=str(DELAY), KB_CONTACT="reader@example.org",
               PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return env


def test_two_processes_share_the_delay_and_one_connection(tmp_path):
    code = ("import sys; from kb.feeds.client import PoliteClient\n"
            "c = PoliteClient(sys.argv[1], delay=float(sys.argv[2]))\n"
            "for i in range(4): c.get(sys.argv[3] + '?who=' + sys.argv[4] + '&i=' + str(i))\n")
    state = FakeArxiv()
    with ArxivServer(state) as srv:
        procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "arxiv"), str(DELAY),
                                   srv.api_url, who], env={**os.environ, "PYTHONPATH": str(ROOT)})
                 for who in ("a", "b")]
        assert [p.wait(timeout=60) for p in procs] == [0, 0]
    times = sorted(r["t"] for r in state.requests)
    assert len(times) == 8
    assert {r["path"].split("who=")[1][0] for r in state.requests} == {"a", "b"}
    assert min(b - a for a, b in zip(times, times[1:])) >= DELAY
    assert state.open_max == 1


def _day(n: int) -> list[FakePaper]:
    return [FakePaper(f"2405.{30000 + i}", 1, f"Gaussian Splatting Study {i}", f"Study {i} of gaussian splatting.",
                      [f"Author {i}"], ["cs.CV"], "2024-05-22") for i in range(n)]


def _catalog(home: Path) -> list[tuple]:
    import sqlite3

    db = sqlite3.connect(home / "catalog.sqlite")
    try:
        return sorted(db.execute("SELECT id, version, page_count FROM papers").fetchall())
    finally:
        db.close()


def test_sigkill_mid_fetch_then_rerun_completes_without_repeats(tmp_path):
    topics = ('[[topic]]\nname = "3DGS"\nquery = \'abs:"gaussian splatting"\'\ncategories = ["cs.CV"]\n'
              "pdf = true\n")
    state = FakeArxiv(listing_day=DAY, listing=_day(6), pdf_bytes=make_pdf("Gaussian Splatting Study", "Study."))
    with ArxivServer(state) as srv:
        home = tmp_path / "home"
        home.mkdir()
        (home / "topics.toml").write_text(topics, encoding="utf-8")
        proc = subprocess.Popen(KB + ["-q", "fetch", "--date", DAY], env=_env(home, srv),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and sum(r["path"].startswith("/pdf/") for r in state.requests) < 3:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # listing, API query and two PDFs done, the third in flight
        proc.wait(timeout=30)
        first = len(state.requests)
        assert 3 <= sum(r["path"].startswith("/pdf/") for r in state.requests[:first]) < 6
        done = subprocess.run(KB + ["fetch", "--date", DAY, "--json"], env=_env(home, srv), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        again = subprocess.run(KB + ["fetch", "--date", DAY, "--json"], env=_env(home, srv), capture_output=True,
                               text=True, timeout=120)
        assert again.returncode == 0 and json.loads(again.stdout)["requests"] == 0
    paths = Counter(r["path"] for r in state.requests)
    repeated = [p for p, n in paths.items() if n > 1]
    # only the download killed in flight may be asked again (resumed with a Range request)
    assert len(repeated) <= 1 and all(p.startswith("/pdf/") for p in repeated), repeated
    assert sum(p.startswith("/api/") or p.startswith("/atom/") for p in paths) == 2
    assert report["new"] == 6 and report["topics"][0]["found"] == 6  # statuses decided once, before the kill
    rows = _catalog(home)
    assert rows == [(f"2405.{30000 + i}", 1, 1) for i in range(6)]  # each paper once, all with full text
    assert sorted(p.name for p in (home / "papers").iterdir()) == [f"2405.{30000 + i}v1.pdf" for i in range(6)]
