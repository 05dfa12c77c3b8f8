"""`kb fetch`: a day's new arXiv papers for the user's topics, into the knowledge base.

Announced mode (default): the day's listing feed for the union of the topics' categories gives the papers
announced that day and each entry's kind (new / cross / replace / replace-cross); a topic keeps the entries of
its categories whose kind it wants (new; cross when `cross_lists`; replace when `replacements`), and when it has
a query, only those the API matches (`id_list` = those entries, `search_query` = the query). Papers are dated by
their announcement (extra["announced"]).

Backfill mode (`since`/`until`): one paged API query per topic by submission date; papers are dated by
submission (extra["dated_by"] = "submission").

All requests go through kb.feeds.client (politeness, response cache); progress is recorded in a per-date
kb.feeds.journal, so an interrupted run is completed by the next and a finished day sends no request at all.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Callable

from kb.digest.topics import Topic
from kb.feeds import api
from kb.feeds.client import PoliteClient
from kb.feeds.journal import Journal, journal_path, nearest_announced
from kb.feeds.listing import ListingEntry, feed_url, parse_listing
from kb.types import KbError, Paper

log = logging.getLogger(__name__)

Progress = Callable[..., None]
MAX_PDF_BYTES = 50 * 2**20
LISTING_MAX_AGE = 3600.0  # seconds a cached listing answers "the latest announcement" (a new one comes daily)
STORE_BATCH = 25  # papers stored (and journaled) together


class NotAnnouncedYet(KbError):
    """The listing feed does not have the requested day yet (arXiv announces at 20:00 US Eastern)."""


@dataclass
class Sources:
    """Where to ask, and how: the endpoints from settings and the polite client."""

    client: PoliteClient
    api_url: str
    feed_url: str


@dataclass
class TopicReport:
    name: str
    found: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    pdfs: int = 0
    requests: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FetchReport:
    date: str | None
    mode: str  # "announced" | "submitted"
    since: str | None = None
    until: str | None = None
    topics: list[TopicReport] = field(default_factory=list)
    papers: list[dict] = field(default_factory=list)  # id, version, status, topics, kind
    nothing_announced: bool = False
    nearest: list[str] = field(default_factory=list)
    already_done: bool = False
    dry_run: bool = False
    requests: int = 0
    cached: int = 0
    waited: float = 0.0  # seconds spent in politeness delays / Retry-After
    ingest_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def dated_by(self) -> str:
        return "announcement" if self.mode == "announced" else "submission"

    def count(self, status: str) -> int:
        return sum(1 for p in self.papers if p["status"] == status)

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "topics"}
        d["topics"] = [t.to_dict() for t in self.topics]
        d["dated_by"] = self.dated_by
        d.update(new=self.count("new"), updated=self.count("updated"), skipped=self.count("skipped"))
        return d


@dataclass
class Store:
    """What storing needs: the catalog, embedder, vector store and ingest options (kb.wiring builds them), and
    `writer`, entered around each write (the CLI passes the KB_HOME writer lock, so other kb commands are not
    kept waiting through politeness delays and downloads)."""

    catalog: object
    embedder: object
    store: object
    options: object
    papers_dir: Path
    writer: Callable[[], AbstractContextManager] = nullcontext


def _wanted_kinds(t: Topic) -> set[str]:
    kinds = {"new"}
    if t.cross_lists:
        kinds.add("cross")
    if t.replacements:
        kinds.add("replace")
        if t.cross_lists:
            kinds.add("replace-cross")
    return kinds


def topic_categories(t: Topic) -> list[str]:
    return t.categories or api.query_categories(t.query)


def fetch_announced(day: str | None, topics: list[Topic], sources: Sources, store: Store, journal_dir: Path,
                    pdf: bool = False, dry_run: bool = False, progress: Progress | None = None) -> FetchReport:
    """Fetch the papers announced on `day` (None: the latest announcement) for `topics`."""
    progress = progress or (lambda *a, **k: None)
    t0 = time.perf_counter()
    topics = _subscribed(topics)
    for t in topics:
        if not topic_categories(t):
            raise KbError(f"topic '{t.name}' has a query but no categories: announced mode reads the listing of "
                          "categories; add categories = [...] to it in topics.toml (or use --since/--until)")
    report = FetchReport(date=day, mode="announced", dry_run=dry_run, topics=[TopicReport(t.name) for t in topics])
    if day is not None:
        journal = Journal(journal_path(journal_dir, day, topics))
        if _finished(journal, topics, pdf, sources):
            return _from_journal(report, journal, t0)
    categories = sorted({c for t in topics for c in topic_categories(t)})
    url = feed_url(sources.feed_url, categories)
    before = sources.client.stats.sent
    # "the latest listing" is cached for an hour only; a given day's listing for the day (see client)
    listing = parse_listing(sources.client.get(url, max_age=LISTING_MAX_AGE if day is None else None), url)
    if day is not None and listing.day != day and sources.client.stats.sent == before:
        sources.client.forget(url)  # a listing cached before the day was announced: ask again
        listing = parse_listing(sources.client.get(url), url)
    listed = listing.day
    if day is None:
        if listed is None:
            raise KbError(f"{url}: the listing does not say which day it is")
        day = report.date = listed
        journal = Journal(journal_path(journal_dir, day, topics))
        if _finished(journal, topics, pdf, sources):
            return _from_journal(report, journal, t0)
    weekend = Date.fromisoformat(day).weekday() >= 5
    if listed != day:
        if weekend:
            return _nothing(report, journal, journal_dir, dry_run, t0, sources)
        if listed and listed < day:
            raise NotAnnouncedYet(f"arXiv has not announced {day} yet (its listing is still {listed}); arXiv "
                                  "announces at 20:00 US Eastern, Sunday to Thursday")
        raise KbError(f"arXiv's listing feed only holds its latest announcement ({listed}); for {day} use "
                      f"`kb fetch --since {day} --until {day}` (papers then dated by submission)")
    if not listing.entries:
        return _nothing(report, journal, journal_dir, dry_run, t0, sources)
    journal.data["listing_day"] = listed
    chosen: dict[str, tuple[Paper, ListingEntry, list[str]]] = {}
    for i, (t, tr) in enumerate(zip(topics, report.topics)):
        kinds, cats = _wanted_kinds(t), set(topic_categories(t))
        candidates = [e for e in listing.entries if e.kind in kinds and cats & set(e.categories)]
        before = sources.client.stats.sent
        if t.query and candidates:
            matched = {p.arxiv_id: p for p in api.by_ids(sources.client, sources.api_url,
                                                         [e.arxiv_id for e in candidates], t.query)}
        else:
            matched = {e.arxiv_id: None for e in candidates}
        tr.requests = sources.client.stats.sent - before
        for e in candidates:
            if e.arxiv_id not in matched:
                continue
            paper = matched[e.arxiv_id] or e.paper
            _, _, names = chosen.setdefault(e.arxiv_id, (paper, e, []))
            names.append(t.name)
        tr.found = sum(1 for e in candidates if e.arxiv_id in matched)
        progress("topic", index=i + 1, total=len(topics), name=t.name)
    papers = []
    for arxiv_id, (paper, entry, names) in chosen.items():
        paper.topics = names
        paper.arxiv_version = max(paper.arxiv_version or 1, entry.version)
        if entry.paper.pdf_url and not paper.pdf_url:
            paper.pdf_url = entry.paper.pdf_url
        paper.extra.update(announced=day, announce_type=entry.kind, dated_by="announcement",
                           categories=paper.extra.get("categories") or entry.categories)
        papers.append(paper)
    return _finish(report, papers, topics, journal, store, sources, pdf, dry_run, progress, t0)


def fetch_submitted(since: str, until: str, topics: list[Topic], sources: Sources, store: Store,
                    journal_dir: Path, pdf: bool = False, dry_run: bool = False,
                    progress: Progress | None = None) -> FetchReport:
    """Backfill: papers submitted between `since` and `until` (inclusive) matching each topic's query/categories."""
    progress = progress or (lambda *a, **k: None)
    t0 = time.perf_counter()
    if until < since:
        raise KbError(f"--until {until} is before --since {since}")
    topics = _subscribed(topics)
    report = FetchReport(date=None, mode="submitted", since=since, until=until, dry_run=dry_run,
                         topics=[TopicReport(t.name) for t in topics])
    journal = Journal(journal_path(journal_dir, f"submitted-{since}-{until}", topics))
    if _finished(journal, topics, pdf, sources):
        return _from_journal(report, journal, t0)
    chosen: dict[str, Paper] = {}
    for i, (t, tr) in enumerate(zip(topics, report.topics)):
        before = sources.client.stats.sent
        query = f"({api.topic_query(t.query, t.categories)}) AND {api.submitted_range(since, until)}"
        found = api.search(sources.client, sources.api_url, query, sort_by="submittedDate")
        tr.requests = sources.client.stats.sent - before
        tr.found = len(found)
        for p in found:
            if p.arxiv_id in chosen:
                chosen[p.arxiv_id].topics.append(t.name)
            else:
                p.topics = [t.name]
                chosen[p.arxiv_id] = p
        progress("topic", index=i + 1, total=len(topics), name=t.name)
    papers = list(chosen.values())
    for p in papers:  # a paper fetched earlier from a listing keeps its announcement date
        row = store.catalog.get_paper_row(p.arxiv_id)
        announced = json.loads(row["extra"]).get("announced") if row else None
        p.extra.update(announced=announced, dated_by="announcement") if announced else p.extra.update(
            dated_by="submission")
    return _finish(report, papers, topics, journal, store, sources, pdf, dry_run, progress, t0)


def _subscribed(topics: list[Topic]) -> list[Topic]:
    subscribed = [t for t in topics if t.subscribed]
    if not subscribed:
        raise KbError("no topic has an arXiv query or categories to fetch; add query = '...' and/or "
                      "categories = [...] to your topics (`kb topics --init` writes an example)")
    return subscribed


def _nothing(report: FetchReport, journal: Journal, journal_dir: Path, dry_run: bool, t0: float,
             sources: Sources) -> FetchReport:
    report.nothing_announced = True
    report.nearest = nearest_announced(report.date, journal_dir)
    if not dry_run:
        journal.data.update(complete=True, nothing=True)
        journal.save()
    return _stamp(report, sources, t0)


def _finished(journal: Journal, topics: list[Topic], pdf: bool, sources: Sources) -> bool:
    """Whether the journal's run is complete, including the PDFs this run wants (--pdf, or a topic's pdf)."""
    if not journal.complete or sources.client.refresh:
        return False
    with_pdf = {t.name for t in topics if pdf or t.pdf}
    wanted = [pid for pid, p in journal.data["plan"].items() if with_pdf & set(p["topics"])]
    return all(pid in journal.data["pdfs"] for pid in wanted)


def _from_journal(report: FetchReport, journal: Journal, t0: float) -> FetchReport:
    """A day already finished: report what it holds, sending nothing."""
    report.already_done = True
    if journal.data.get("nothing"):
        report.nothing_announced = True
        report.nearest = nearest_announced(report.date, journal.path.parent)
    for tr in report.topics:
        tr.found = len(journal.data["topics"].get(tr.name, []))
        tr.skipped = tr.found
    report.papers = [{"id": pid, "version": p["version"], "status": "skipped", "topics": p["topics"]}
                     for pid, p in journal.data["plan"].items()]
    report.seconds = time.perf_counter() - t0
    return report


def _status(catalog, paper: Paper, journal: Journal) -> str:
    planned = journal.data["plan"].get(paper.arxiv_id)
    if planned and planned["version"] == paper.arxiv_version:
        return planned["status"]  # decided by an earlier, interrupted run
    row = catalog.get_paper_row(paper.arxiv_id)
    if row is None:
        return "new"
    if (row["version"] or 0) < (paper.arxiv_version or 0):
        return "updated"
    return "skipped"


def _finish(report: FetchReport, papers: list[Paper], topics: list[Topic], journal: Journal, store: Store,
            sources: Sources, pdf: bool, dry_run: bool, progress: Progress, t0: float) -> FetchReport:
    from kb.ingest.pipeline import ingest_papers

    by_topic = {t.name: t for t in topics}
    for p in papers:
        status = _status(store.catalog, p, journal)
        report.papers.append({"id": p.arxiv_id, "version": p.arxiv_version, "status": status, "topics": p.topics,
                              "title": p.title, "kind": p.extra.get("announce_type")})
        for tr in report.topics:
            if tr.name in p.topics:
                setattr(tr, status, getattr(tr, status) + 1)
    if dry_run:
        return _stamp(report, sources, t0)
    journal.data["topics"] = {tr.name: [p["id"] for p in report.papers if tr.name in p["topics"]]
                              for tr in report.topics}
    journal.data["plan"] = {p["id"]: {"version": p["version"], "status": p["status"], "topics": p["topics"]}
                            for p in report.papers}
    journal.save()
    todo = [p for p in papers if journal.data["stored"].get(p.arxiv_id) != p.arxiv_version]
    t_ingest = time.perf_counter()
    for i in range(0, len(todo), STORE_BATCH):
        batch = todo[i:i + STORE_BATCH]
        with store.writer():
            ingest_papers(batch, store.catalog, store.embedder, store.store, store.options, progress=progress)
        journal.data["stored"].update({p.arxiv_id: p.arxiv_version for p in batch})
        journal.save()
    want_pdf = [p for p in papers if pdf or any(by_topic[n].pdf for n in p.topics if n in by_topic)]
    for i, p in enumerate(want_pdf):
        progress("pdf", index=i, total=len(want_pdf), title=p.title)
        try:
            if _pdf(p, journal, store, sources):
                for tr in report.topics:
                    tr.pdfs += tr.name in p.topics
        except KbError as e:
            report.errors.append(f"{p.arxiv_id}: {e}")
            log.warning("PDF of %s: %s", p.arxiv_id, e)
    if want_pdf:
        progress("pdf", index=len(want_pdf), total=len(want_pdf), title="")
    report.ingest_seconds = time.perf_counter() - t_ingest  # includes PDF downloads; their waits are in `waited`
    journal.data["complete"] = not report.errors
    journal.save()
    return _stamp(report, sources, t0)


def _pdf(p: Paper, journal: Journal, store: Store, sources: Sources) -> bool:
    """Download and ingest one paper's PDF unless done already; True when it was done now."""
    from kb.ingest.pipeline import ingest

    key = f"{p.arxiv_id}v{p.arxiv_version}"
    target = store.papers_dir / f"{key.replace('/', '_')}.pdf"
    if journal.data["pdfs"].get(p.arxiv_id) == key:
        return False
    if not p.pdf_url:
        raise KbError("no PDF link")
    if not target.is_file():
        sources.client.download(p.pdf_url, target, MAX_PDF_BYTES)
    with store.writer():
        result = ingest([str(target)], store.catalog, store.embedder, store.store, store.options)
    if result.errors:
        raise KbError(f"downloaded {target.name} but could not ingest it: {result.errors[0][1]}")
    journal.data["pdfs"][p.arxiv_id] = key
    journal.save()
    return True


def _stamp(report: FetchReport, sources: Sources, t0: float) -> FetchReport:
    stats = sources.client.stats
    report.requests, report.cached, report.waited = stats.sent, stats.cached, round(stats.waited, 3)
    report.seconds = time.perf_counter() - t0
    return report
