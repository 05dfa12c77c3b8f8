"""`kb fetch` / `kb daily` against a local fake arXiv (samples.arxiv_server, 127.0.0.1 only; never the internet).

Politeness is asserted from the server's own request timestamps (lower bounds only: KB_ARXIV_DELAY apart)."""
from __future__ import annotations

import json
import socket
import time

import pytest
from typer.testing import CliRunner

from arxiv_fixture import DAY, SATURDAY, TOPICS_TOML, weekday_listing
from kb_cli.app import app
from samples.arxiv_server import ArxivServer, FakeArxiv, FakePaper, make_pdf

runner = CliRunner()
DELAY = 0.2


@pytest.fixture
def arxiv(kb_env, monkeypatch):
    state = FakeArxiv(listing_day=DAY, listing=weekday_listing(), pdf_bytes=make_pdf("A paper", "Its abstract."))
    (kb_env / "topics.toml").parent.mkdir(parents=True, exist_ok=True)
    (kb_env / "topics.toml").write_text(TOPICS_TOML, encoding="utf-8")
    with ArxivServer(state) as srv:
        monkeypatch.setenv("KB_ARXIV_API_URL", srv.api_url)
        monkeypatch.setenv("KB_ARXIV_FEED_URL", srv.feed_url)
        monkeypatch.setenv("KB_ARXIV_DELAY", str(DELAY))
        monkeypatch.setenv("KB_CONTACT", "reader@example.org")
        monkeypatch.setenv("KB_MODEL", "fake")
        yield state


def fetch_json(*args) -> dict:
    result = runner.invoke(app, ["fetch", "--json", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def gaps(state: FakeArxiv) -> list[float]:
    times = sorted(r["t"] for r in state.requests)
    return [b - a for a, b in zip(times, times[1:])]


def test_announced_day_selects_per_topic_and_is_polite(arxiv):
    report = fetch_json("--date", DAY)
    topics = {t["name"]: t for t in report["topics"]}
    # 3DGS: its query within cs.CV/cs.GR, new + cross (not the replacement: replacements = false)
    assert {p["id"] for p in report["papers"] if "3DGS" in p["topics"]} == {"2405.20001", "2405.20003"}
    # NeRF: every cs.GR entry of kind new (cross_lists = false), no query, so no API request
    assert {p["id"] for p in report["papers"] if "NeRF" in p["topics"]} == {"2405.20001", "2405.20005"}
    assert (topics["3DGS"]["found"], topics["3DGS"]["new"], topics["NeRF"]["new"]) == (2, 2, 2)
    assert report["requests"] == len(arxiv.requests) == 2  # one listing, one API query (3DGS)
    assert arxiv.requests[0]["path"] == "/atom/cs.CV+cs.GR"
    # the API is asked which of the topic's listed entries its query matches (the replacement is not asked about)
    assert "id_list=2405.20001%2C2405.20002%2C2405.20003%2C2405.20005%2C2405.20006&" in arxiv.requests[1]["path"]
    assert all(g >= DELAY for g in gaps(arxiv)), gaps(arxiv)
    assert arxiv.open_max == 1
    assert all(r["agent"].startswith("kb/") and "reader@example.org" in r["agent"] for r in arxiv.requests)
    # a paper's date is its announcement date: 2405.20001 was submitted on 05-21, announced on 05-24
    listed = json.loads(runner.invoke(app, ["list", "--date", DAY, "--json"]).stdout)
    assert {p["id"] for p in listed} == {"2405.20001", "2405.20003", "2405.20005"}
    assert json.loads(runner.invoke(app, ["list", "--date", "2024-05-21", "--json"]).stdout) == []
    assert {p["dated_by"] for p in listed} == {"announcement"}


def test_second_run_of_the_day_sends_no_request(arxiv):
    fetch_json("--date", DAY)
    sent = len(arxiv.requests)
    again = fetch_json("--date", DAY)
    assert len(arxiv.requests) == sent and again["requests"] == 0
    assert (again["new"], again["skipped"]) == (0, 3)
    # without --date: the latest listing, already asked today, comes from the cache
    latest = fetch_json()
    assert len(arxiv.requests) == sent and latest["date"] == DAY
    # --refresh asks again
    fetch_json("--date", DAY, "--refresh")
    assert len(arxiv.requests) == sent + 2


def test_a_new_version_of_a_known_paper_is_reported_updated(arxiv, kb_env):
    (kb_env / "topics.toml").write_text(TOPICS_TOML.replace('categories = ["cs.CV", "cs.GR"]',
                                                            'categories = ["cs.CV", "cs.GR"]\nreplacements = true'))
    arxiv.listing = [FakePaper("2405.10004", 1, "Old Gaussian Splatting Paper", "A gaussian splatting method.",
                               ["Ed Fox"], ["cs.CV"], "2024-05-10")]
    arxiv.listing_day = "2024-05-13"
    assert fetch_json("--date", "2024-05-13")["new"] == 1
    arxiv.listing, arxiv.listing_day = weekday_listing(), DAY
    report = fetch_json("--date", DAY)
    old = next(p for p in report["papers"] if p["id"] == "2405.10004")
    assert (old["status"], old["version"]) == ("updated", 2)
    assert next(t for t in report["topics"] if t["name"] == "3DGS")["updated"] == 1
    shown = json.loads(runner.invoke(app, ["show", "2405.10004", "--json"]).stdout)
    assert shown["arxiv_version"] == 2 and shown["title"] == "Old Gaussian Splatting Paper, Revised"
    assert shown["extra"]["announce_type"] == "replace"


def test_weekend_is_not_an_error(arxiv):
    arxiv.listing, arxiv.listing_day = [], SATURDAY
    result = runner.invoke(app, ["fetch", "--date", SATURDAY])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (f"arXiv announced nothing on {SATURDAY}; nearest announced dates: "
                                     "2024-05-24, 2024-05-27")
    sent = len(arxiv.requests)
    assert runner.invoke(app, ["fetch", "--date", SATURDAY]).exit_code == 0
    assert len(arxiv.requests) == sent  # the empty day is journaled too


def test_offline_is_one_line_and_exit_75(kb_env, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (kb_env / "topics.toml").parent.mkdir(parents=True, exist_ok=True)
    (kb_env / "topics.toml").write_text(TOPICS_TOML, encoding="utf-8")
    monkeypatch.setenv("KB_ARXIV_FEED_URL", f"http://127.0.0.1:{port}/atom")
    monkeypatch.setenv("KB_ARXIV_API_URL", f"http://127.0.0.1:{port}/api/query")
    monkeypatch.setenv("KB_CONTACT", "reader@example.org")
    result = runner.invoke(app, ["fetch", "--date", DAY])
    assert result.exit_code == 75
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach arXiv at 127.0.0.1:{port}")
    assert lines[0].endswith("(offline?)")


def test_429_then_success_waits_retry_after(arxiv):
    arxiv.faults.append(("/atom", 429, {"Retry-After": "1"}))
    report = fetch_json("--date", DAY)
    assert report["new"] == 3 and report["requests"] == 3  # 429, the listing again, the API query
    times = [r["t"] for r in arxiv.requests]
    assert times[1] - times[0] >= 1.0  # Retry-After honoured
    assert all(g >= DELAY for g in gaps(arxiv))


def test_503_without_retry_after_backs_off_then_gives_up_clearly(arxiv, monkeypatch):
    import kb.feeds.client as client

    monkeypatch.setattr(client, "MAX_TRIES", 2)
    arxiv.faults += [("/atom", 503, {}), ("/atom", 503, {})]
    result = runner.invoke(app, ["fetch", "--date", DAY])
    assert result.exit_code == 1
    assert "answered HTTP 503" in result.stderr and "after 2 tries" in result.stderr
    assert len(arxiv.requests) == 2 and gaps(arxiv)[0] >= 2 * DELAY  # backoff: delay * 2 ** try


def test_an_empty_page_with_a_positive_total_is_asked_again(arxiv):
    arxiv.empty_pages = 1
    report = fetch_json("--date", DAY)
    assert {p["id"] for p in report["papers"] if "3DGS" in p["topics"]} == {"2405.20001", "2405.20003"}
    api = [r["path"] for r in arxiv.requests if r["path"].startswith("/api")]
    assert len(api) == 2 and api[0] == api[1]


def test_dry_run_stores_nothing(arxiv, kb_env):
    result = runner.invoke(app, ["fetch", "--date", DAY, "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "would store 3 papers (3 new, 0 updated)" in result.stdout
    assert json.loads(runner.invoke(app, ["list", "--json"]).stdout) == []
    assert not list((kb_env / "fetch").glob(f"{DAY}*"))  # no journal: the real run will do the work


def test_pdf_download_checks_content_and_size_then_ingests_full_text(arxiv, kb_env, monkeypatch):
    import kb.feeds.fetch as fetch

    arxiv.pdf_bytes = b"<html>not a pdf</html>"
    result = runner.invoke(app, ["fetch", "--date", DAY, "--pdf"])
    assert result.exit_code == 1 and "is not a PDF" in result.stderr
    assert not list((kb_env / "papers").glob("*"))  # nothing kept
    arxiv.pdf_bytes = make_pdf("Fast Gaussian Splatting on Phones", "We render 3DGS scenes on phones.")
    monkeypatch.setattr(fetch, "MAX_PDF_BYTES", len(arxiv.pdf_bytes) - 1)
    result = runner.invoke(app, ["fetch", "--date", DAY, "--pdf"])
    assert result.exit_code == 1 and "over the" in result.stderr and "limit" in result.stderr
    monkeypatch.setattr(fetch, "MAX_PDF_BYTES", 10 * 2**20)
    report = fetch_json("--date", DAY, "--pdf")
    assert sorted(p.name for p in (kb_env / "papers").glob("*")) == [
        "2405.20001v1.pdf", "2405.20003v1.pdf", "2405.20005v1.pdf"]
    assert sum(t["pdfs"] for t in report["topics"]) == 4  # 2405.20001 is in both topics
    shown = json.loads(runner.invoke(app, ["show", "2405.20001", "--json"]).stdout)
    assert shown["full_text_pages"] == 1 and shown["arxiv_version"] == 1
    assert all(g >= DELAY for g in gaps(arxiv)) and arxiv.open_max == 1  # downloads are as polite
    sent = len(arxiv.requests)
    fetch_json("--date", DAY, "--pdf")
    assert len(arxiv.requests) == sent  # nothing downloaded twice


def test_backfill_is_dated_by_submission(arxiv):
    report = fetch_json("--since", "2024-05-22", "--until", "2024-05-23")
    assert report["mode"] == "submitted" and report["dated_by"] == "submission"
    assert {p["id"] for p in report["papers"]} == {"2405.20003", "2405.20005", "2405.20006"}
    api = [r["path"] for r in arxiv.requests]
    assert all("submittedDate" in p for p in api) and len(api) == 2
    listed = json.loads(runner.invoke(app, ["list", "--date", "2024-05-23", "--json"]).stdout)
    assert {p["id"] for p in listed} == {"2405.20005", "2405.20006"}
    assert {p["dated_by"] for p in listed} == {"submission"}
    assert "(dated by submission)" in runner.invoke(app, ["list", "--date", "2024-05-23"]).stdout
    result = runner.invoke(app, ["fetch", "--since", "2024-05-22", "--until", "2024-05-23"])
    assert "(dated by submission)" in result.stdout


def test_daily_fetches_ingests_digests_and_reruns_idempotently(arxiv, kb_env):
    result = runner.invoke(app, ["daily", "--date", DAY, "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["state"] == "done" and data["fetch"]["new"] == 3
    digest = kb_env / "digests" / f"{DAY}.md"
    text = digest.read_text(encoding="utf-8")
    assert "Fast Gaussian Splatting on Phones" in text and "Radiance Fields for Rooms" in text
    logs = list((kb_env / "logs").glob("daily-*.log"))
    assert len(logs) == 1 and "done" in logs[0].read_text()
    sent = len(arxiv.requests)
    again = runner.invoke(app, ["daily", "--date", DAY])
    assert again.exit_code == 0 and "up to date" in again.stdout
    assert len(arxiv.requests) == sent
    # a weekday not announced yet: exit 75 so the scheduler retries; a weekend: exit 0
    assert runner.invoke(app, ["daily", "--date", "2024-05-27"]).exit_code == 75
    arxiv.listing, arxiv.listing_day = [], SATURDAY
    weekend = runner.invoke(app, ["daily", "--date", SATURDAY])
    assert weekend.exit_code == 0 and f"arXiv announced nothing on {SATURDAY}" in weekend.stdout


def test_listing_parser_reads_kinds_versions_and_abstracts():
    from kb.feeds.listing import feed_url, parse_listing
    from samples.arxiv_server import listing_feed

    state = FakeArxiv(listing_day=DAY, listing=weekday_listing(), base="http://127.0.0.1:9")
    listing = parse_listing(listing_feed(state, ["cs.CV", "cs.GR", "cs.LG"]).encode(), "fixture")
    assert listing.day == DAY
    kinds = {e.arxiv_id: (e.kind, e.version) for e in listing.entries}
    assert kinds["2405.20003"] == ("cross", 1) and kinds["2405.10004"] == ("replace", 2)
    first = listing.entries[0].paper
    assert first.abstract == "We render 3DGS scenes on phones at 60 fps."
    assert first.authors == ["Ada Park", "Bo Chen"] and first.pdf_url == "http://127.0.0.1:9/pdf/2405.20001v1"
    empty = parse_listing(listing_feed(FakeArxiv(listing_day=SATURDAY), ["cs.CV"]).encode(), "fixture")
    assert (empty.day, empty.entries) == (SATURDAY, [])
    assert feed_url("https://rss.arxiv.org/atom/", ["cs.GR", "cs.CV"]) == "https://rss.arxiv.org/atom/cs.CV+cs.GR"


def test_topics_subscription_keys_and_old_files(tmp_path):
    from kb.digest.topics import load_topics
    from kb.types import KbError

    old = tmp_path / "old.toml"
    old.write_text('[[topic]]\nname = "X"\nkeywords = ["x"]\n', encoding="utf-8")
    (t,) = load_topics(old)
    assert (t.query, t.categories, t.cross_lists, t.replacements, t.subscribed) == ("", [], True, False, False)
    new = tmp_path / "new.toml"
    new.write_text(TOPICS_TOML, encoding="utf-8")
    a, b = load_topics(new)
    assert a.query.startswith('ti:"gaussian splatting"') and a.categories == ["cs.CV", "cs.GR"] and a.cross_lists
    assert b.categories == ["cs.GR"] and b.cross_lists is False and b.subscribed
    bad = tmp_path / "bad.toml"
    bad.write_text('[[topic]]\nname = "X"\ncategories = "cs.CV"\n', encoding="utf-8")
    with pytest.raises(KbError, match="categories must be a list"):
        load_topics(bad)
    bad.write_text('[[topic]]\nname = "X"\ncross_lists = "yes"\n', encoding="utf-8")
    with pytest.raises(KbError, match="cross_lists must be true or false"):
        load_topics(bad)


def test_topics_init_writes_the_commented_example(kb_env):
    from conftest import SHARED

    result = runner.invoke(app, ["topics", "--init"])
    assert result.exit_code == 0, result.stderr
    text = (kb_env / "topics.toml").read_text(encoding="utf-8")
    assert text.startswith("# kb topics") and "cross_lists" in text and "replacements" in text
    data = json.loads(runner.invoke(app, ["topics", "--json"]).stdout)
    names = {t["name"] for t in data["topics"]}
    assert all(t["query"] and t["categories"] for t in data["topics"])
    pages = SHARED / "data" / "digests"
    expected = {p.stem for p in pages.glob("*/*.md")} if pages.is_dir() else {
        "3DGS", "Diffusion Models", "NeRF", "Talking Head Generation", "元宇宙_虚拟人"}
    assert names == expected
    listing = runner.invoke(app, ["topics"]).stdout
    assert "arXiv: ti:\"gaussian splatting\" OR abs:\"gaussian splatting\" OR abs:3DGS in cs.CV+cs.GR" in listing


def test_fetch_does_not_hold_the_writer_lock_while_talking_to_arxiv(arxiv, kb_env):
    from kb.store.lock import kb_lock
    from kb.types import KbError

    free = []

    def hook(path):
        try:
            with kb_lock(kb_env / "kb.lock", exclusive=True, timeout=0):
                free.append(path)
        except KbError:
            pass

    arxiv.hook = hook
    fetch_json("--date", DAY, "--pdf")
    assert len(free) == len(arxiv.requests) == 5  # listing, API query, three PDFs: another writer could go on


def test_a_past_day_the_feed_no_longer_holds_points_to_backfill(arxiv):
    result = runner.invoke(app, ["fetch", "--date", "2024-05-23"])
    assert result.exit_code == 1
    assert "only holds its latest announcement (2024-05-24)" in result.stderr
    assert "kb fetch --since 2024-05-23 --until 2024-05-23" in result.stderr


def test_progress_reports_topics_papers_and_pdfs(arxiv, kb_env):
    from kb.backends.embedders import get_embedder
    from kb.digest.topics import load_topics
    from kb.feeds.client import PoliteClient
    from kb.feeds.fetch import Sources, Store, fetch_announced
    from kb.ingest.pipeline import IngestOptions
    from kb.store.catalog import Catalog
    from kb.store.vectors import open_store

    events = []
    client = PoliteClient(kb_env / "cache" / "arxiv", delay=DELAY)
    sources = Sources(client, arxiv.base + "/api/query", arxiv.base + "/atom")
    kb_env.mkdir(parents=True, exist_ok=True)
    with Catalog(kb_env / "catalog.sqlite") as catalog:
        store = Store(catalog, get_embedder("fake-hash"), open_store("memory", kb_env / "chroma"), IngestOptions(),
                      kb_env / "papers")
        report = fetch_announced(DAY, load_topics(kb_env / "topics.toml"), sources, store, kb_env / "fetch",
                                 pdf=True, progress=lambda event, **kw: events.append((event, kw.get("index"),
                                                                                      kw.get("total"))))
    assert report.count("new") == 3
    assert [e for e in events if e[0] == "topic"] == [("topic", 1, 2), ("topic", 2, 2)]
    assert ("paper", 3, 3) in events and ("pdf", 3, 3) in events


def test_one_topic_then_all_topics(arxiv):
    one = fetch_json("--date", DAY, "--topic", "nerf")
    assert [t["name"] for t in one["topics"]] == ["NeRF"] and one["new"] == 2
    assert [r["path"] for r in arxiv.requests] == ["/atom/cs.GR"]  # NeRF has no query: the listing only
    both = fetch_json("--date", DAY)
    status = {p["id"]: p["status"] for p in both["papers"]}
    assert status == {"2405.20001": "skipped", "2405.20005": "skipped", "2405.20003": "new"}
    sent = len(arxiv.requests)
    assert fetch_json("--date", DAY)["requests"] == 0 and len(arxiv.requests) == sent
    assert runner.invoke(app, ["fetch", "--topic", "nope"]).exit_code == 1


def test_a_partial_download_resumes_with_a_range_request(arxiv, tmp_path):
    from kb.feeds.client import PoliteClient

    body = arxiv.pdf_bytes
    target = tmp_path / "papers" / "x.pdf"
    target.parent.mkdir()
    (target.parent / "x.pdf.part").write_bytes(body[:100])  # what a killed download left
    client = PoliteClient(tmp_path / "state", delay=0)
    client.download(arxiv.base + "/pdf/2405.20001v1", target, max_bytes=len(body))
    assert target.read_bytes() == body and not (target.parent / "x.pdf.part").exists()
    assert arxiv.requests[-1]["range"] == "bytes=100-"


def test_retry_after_reads_seconds_and_http_dates():
    from email.utils import formatdate

    from kb.feeds.client import MAX_RETRY_WAIT, _retry_after

    assert _retry_after("7", default=1.0) == 7.0
    assert _retry_after(None, default=2.5) == 2.5
    assert 25 <= _retry_after(formatdate(time.time() + 30, usegmt=True), default=1.0) <= 30
    assert _retry_after("86400", default=1.0) == MAX_RETRY_WAIT
    assert _retry_after("soon", default=4.0) == 4.0


def test_a_bad_setting_is_one_line_not_a_traceback(arxiv, monkeypatch):
    monkeypatch.setenv("KB_ARXIV_DELAY", "-1")
    result = runner.invoke(app, ["fetch", "--date", DAY])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting: arxiv_delay: Input should be greater than or equal to 0 (got '-1')"]


def test_backfill_pages_through_the_results(arxiv, monkeypatch):
    import kb.feeds.api as api

    monkeypatch.setattr(api, "PAGE_SIZE", 2)
    report = fetch_json("--since", "2024-05-01", "--until", "2024-05-31", "--topic", "3DGS")
    assert {p["id"] for p in report["papers"]} == {"2405.20001", "2405.20003", "2405.10004"}
    starts = [r["path"].split("start=")[1].split("&")[0] for r in arxiv.requests]
    assert starts == ["0", "2"] and report["topics"][0]["requests"] == 2


def test_a_query_arxiv_refuses_is_named(arxiv, kb_env):
    """arXiv reports a bad request as an Atom entry titled Error (our fake does so for a query it cannot read)."""
    (kb_env / "topics.toml").write_text('[[topic]]\nname = "Bad"\nquery = "ti: OR"\ncategories = ["cs.CV"]\n')
    result = runner.invoke(app, ["fetch", "--date", DAY])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: arXiv refused the query 'ti: OR': "
                                     "fake arXiv cannot read the term 'ti: OR'")
