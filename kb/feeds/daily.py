"""`kb daily`: fetch the day's papers for every topic, ingest them, write the day's digest. Meant for cron or a
systemd timer: idempotent (a rerun the same day sends no request and regenerates nothing), and its outcome is one
of a few states a scheduler can act on (see DailyReport.state).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from kb.digest.topics import Topic
from kb.feeds.fetch import FetchReport, NotAnnouncedYet, Sources, Store, fetch_announced
from kb.feeds.journal import Journal, journal_path

log = logging.getLogger(__name__)


@dataclass
class DailyReport:
    date: str | None
    state: str = ""  # "done" | "up to date" | "nothing announced" | "not announced yet"
    fetch: FetchReport | None = None
    digest_path: str | None = None
    digest_stats: dict = field(default_factory=dict)
    message: str = ""
    timings: dict = field(default_factory=dict)  # seconds: fetch_wait, fetch (requests + parsing), ingest, digest

    def to_dict(self) -> dict:
        return {"date": self.date, "state": self.state, "message": self.message, "digest": self.digest_path,
                "digest_stats": self.digest_stats, "timings": self.timings,
                "fetch": self.fetch.to_dict() if self.fetch else None}


def run_daily(day: str | None, topics: list[Topic], sources: Sources, store: Store, journal_dir: Path,
              generator, digests_dir: Path, digest_cache: Path, pdf: bool = False, progress=None) -> DailyReport:
    """Fetch + ingest (kb.feeds.fetch), then the digest of every topic to digests_dir/<date>.md."""
    report = DailyReport(date=day)
    t0 = time.perf_counter()
    try:
        fetched = fetch_announced(day, topics, sources, store, journal_dir, pdf=pdf, progress=progress)
    except NotAnnouncedYet as e:
        report.state, report.message = "not announced yet", str(e)
        return report
    report.fetch, report.date = fetched, fetched.date
    fetch_total = time.perf_counter() - t0
    report.timings = {"fetch_wait": fetched.waited, "fetch": round(fetch_total - fetched.ingest_seconds, 3),
                      "ingest": round(fetched.ingest_seconds, 3), "digest": 0.0}
    if fetched.nothing_announced:
        report.state = "nothing announced"
        report.message = (f"arXiv announced nothing on {fetched.date}; nearest announced dates: "
                          f"{', '.join(fetched.nearest)}")
        return report
    journal = Journal(journal_path(journal_dir, fetched.date, [t for t in topics if t.subscribed]))
    target = Path(digests_dir) / f"{fetched.date}.md"
    previous = journal.data.get("digest") or {}
    if fetched.already_done and target.is_file() and previous.get("path") == str(target):
        report.state, report.digest_path = "up to date", str(target)
        report.message = f"{fetched.date} is up to date: nothing new since the last run; digest at {target}"
        return report
    t1 = time.perf_counter()
    report.digest_path, report.digest_stats = _digest(fetched.date, topics, store, generator, target,
                                                      digest_cache, progress)
    report.timings["digest"] = round(time.perf_counter() - t1, 3)
    journal.data["digest"] = {"path": report.digest_path, "papers": report.digest_stats.get("papers", 0)}
    journal.save()
    report.state = "done"
    report.message = (f"{fetched.date}: {fetched.count('new')} new, {fetched.count('updated')} updated, "
                      f"{fetched.count('skipped')} already known; digest of {report.digest_stats.get('papers', 0)} "
                      f"papers at {target}")
    return report


def _digest(day: str, topics: list[Topic], store: Store, generator, target: Path, cache_path: Path,
            progress) -> tuple[str | None, dict]:
    from kb.digest.cache import DigestCache
    from kb.digest.day import NoPapersError, build_digest
    from kb.digest.render import render

    try:
        with DigestCache(cache_path) as cache:
            result = build_digest(day, store.catalog, store.embedder, generator, cache=cache, progress=progress,
                                  topics=topics)
    except NoPapersError:
        log.info("no papers dated %s in the knowledge base: no digest written", day)
        return None, {"papers": 0}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_text(render(result, "md"), encoding="utf-8")
    tmp.replace(target)
    log.info("digest of %s written to %s", day, target)
    return str(target), result.stats
