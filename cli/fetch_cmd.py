"""`kb fetch` and `kb daily`: registered on the main app by `register(app)`."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from kb_cli.common import ProgressBars, err, errors_to_exit, fail, info, out, print_json, session, state

EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: offline, rate-limited or not announced yet; a scheduler retries later


def register(app: typer.Typer) -> None:
    """Add the `fetch` and `daily` commands to `app`."""
    app.command("fetch")(fetch)
    app.command("daily")(daily)


class FetchBars(ProgressBars):
    """The ingest bars plus one per topic queried and one for PDF downloads."""

    def __call__(self, event: str, **kw) -> None:
        if self.progress is None:
            return
        if event == "topic":
            self._update("topics", kw["index"], kw["total"], note=kw.get("name", ""))
        elif event == "pdf":
            self._update("pdfs", kw["index"], kw["total"], note=(kw.get("title") or "")[:40])
        else:
            super().__call__(event, **kw)


def _parts(s, refresh: bool, lock_writes: bool):
    """The polite client, endpoints and storage collaborators, from settings. With `lock_writes`, each write
    takes the KB_HOME writer lock (else the caller holds it)."""
    from contextlib import nullcontext

    from kb.feeds.client import PoliteClient
    from kb.feeds.fetch import Sources, Store
    from kb.store.lock import kb_lock

    st = s.settings
    client = PoliteClient(st.home / "cache" / "arxiv", delay=st.arxiv_delay, contact=st.contact, refresh=refresh,
                          on_wait=lambda sec, why: logging.getLogger("kb.feeds").debug("waiting %.1f s (%s)", sec, why))
    if not st.contact:
        info("note: set KB_CONTACT (your e-mail) so arXiv can reach you about your requests: kb config set contact ...")
    sources = Sources(client, st.arxiv_api_url, st.arxiv_feed_url)
    writer = (lambda: kb_lock(st.lock_path, exclusive=True, timeout=st.lock_timeout, on_wait=info)) \
        if lock_writes else nullcontext
    store = Store(s.catalog, s.embedder, s.store, s.ingest_options(), st.home / "papers", writer)
    return sources, store


def _topics(s, only: str | None):
    from kb.digest.topics import resolve_topics
    from kb.types import KbError

    found = resolve_topics(s.settings.home, s.catalog)
    if only is None:
        return found
    chosen = [t for t in found if t.name.casefold() == only.casefold()]
    if not chosen:
        raise KbError(f"unknown topic '{only}'; topics: {', '.join(t.name for t in found) or 'none'} (see `kb topics`)")
    return chosen


@contextmanager
def _temporary_failures_exit():
    """Offline / rate-limited / not yet announced: one line, exit 75 (try again later)."""
    from kb.feeds.client import OfflineError
    from kb.feeds.fetch import NotAnnouncedYet

    try:
        yield
    except (OfflineError, NotAnnouncedYet) as e:
        raise fail(str(e), code=EXIT_TEMPFAIL) from None


def fetch(
    date: Optional[str] = typer.Option(None, "--date", help="Announcement day (YYYY-MM-DD); default: arXiv's latest."),
    since: Optional[str] = typer.Option(None, "--since", help="Backfill: papers submitted on or after this day."),
    until: Optional[str] = typer.Option(None, "--until", help="Backfill: papers submitted on or before this day."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic (see `kb topics`)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also download the PDFs and index their full text."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Ask arXiv and report, but store nothing."),
    refresh: bool = typer.Option(False, "--refresh", help="Ask arXiv again even for queries answered today."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """Fetch arXiv's new papers for your topics (topics.toml: query, categories) into the knowledge base.
    Default: the papers announced on a day, dated by announcement. --since/--until: papers submitted in a range,
    dated by submission. Polite to arXiv (KB_ARXIV_DELAY between requests, responses cached for the day);
    rerun after an interruption to finish."""
    from kb.digest.day import check_date
    from kb.feeds.fetch import fetch_announced, fetch_submitted

    if (since is None) != (until is None):
        raise fail("--since and --until go together (a backfill range)", code=2)
    if date and since:
        raise fail("--date (announced) and --since/--until (submitted) are different modes; pick one", code=2)
    with session(create=True) as s, errors_to_exit(), _temporary_failures_exit():
        for d in (date, since, until):
            if d:
                check_date(d)
        sources, store = _parts(s, refresh, lock_writes=True)
        journal_dir = s.settings.home / "fetch"
        topics = _topics(s, topic)
        with FetchBars(enabled=not as_json) as bars:
            if since:
                report = fetch_submitted(since, until, topics, sources, store, journal_dir, pdf=pdf,
                                         dry_run=dry_run, progress=bars)
            else:
                report = fetch_announced(date, topics, sources, store, journal_dir, pdf=pdf, dry_run=dry_run,
                                         progress=bars)
        if report.errors and not as_json:
            for e in report.errors:
                err(f"error: {e}")
    if as_json:
        print_json(report.to_dict())
    else:
        _render(report)
    if report.errors:
        raise typer.Exit(1)


def _render(r) -> None:
    if r.nothing_announced:
        out(f"arXiv announced nothing on {r.date}; nearest announced dates: {', '.join(r.nearest)}")
        return
    what = f"{r.date} (announced)" if r.mode == "announced" else f"{r.since} to {r.until} (dated by submission)"
    width = max([len(t.name) for t in r.topics] + [5])
    for t in r.topics:
        out(f"{t.name:<{width}}  {t.found:>4} found  {t.new:>4} new  {t.updated:>4} updated  "
              f"{t.skipped:>4} skipped" + (f"  {t.pdfs} PDFs" if t.pdfs else ""))
    verb = "would store" if r.dry_run else ("already fetched" if r.already_done else "stored")
    out(f"{what}: {verb} {len(r.papers)} papers ({r.count('new')} new, {r.count('updated')} updated); "
          f"{r.requests} requests sent, {r.cached} answered from today's cache, {r.waited:.1f} s waited")


def daily(
    date: Optional[str] = typer.Option(None, "--date", help="Announcement day (YYYY-MM-DD); default: arXiv's latest."),
    pdf: bool = typer.Option(False, "--pdf", help="Also download PDFs (as `kb fetch --pdf`)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """Fetch the day's papers for every topic, ingest them, and write the day's digest (KB_HOME/digests/<date>.md).
    For cron / systemd timers: a rerun does nothing new; exit 0 done or nothing to do, 1 failed, 75 try again
    later (offline, rate-limited, not announced yet). Each run logs to KB_HOME/logs/."""
    from kb.backends.generators import get_generator
    from kb.digest.day import check_date
    from kb.feeds.daily import run_daily
    from kb.store.lock import kb_lock

    with session(create=True) as s, errors_to_exit():
        st = s.settings
        handler = _run_log(st.home / "logs", date)
        try:
            with _temporary_failures_exit():
                if date:
                    check_date(date)
                sources, store = _parts(s, refresh=False, lock_writes=False)  # daily holds the lock throughout
                topics = _topics(s, None)
                generator = get_generator(st.model, st.llm_url, n_ctx=st.n_ctx, n_threads=st.n_threads,
                                          seed=st.seed, api_key=st.llm_api_key)
                with kb_lock(st.lock_path, exclusive=True, timeout=st.lock_timeout, on_wait=info):
                    with FetchBars(enabled=not as_json) as bars:
                        report = run_daily(date, topics, sources, store, st.home / "fetch", generator,
                                           st.digests_dir, st.home / "cache" / "digest.sqlite", pdf=pdf,
                                           progress=bars)
            logging.getLogger("kb.daily").info("%s: %s", report.state, report.message)
        except typer.Exit as e:
            logging.getLogger("kb.daily").error("failed (exit %s)", e.exit_code)
            raise
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
    if as_json:
        print_json(report.to_dict())
    else:
        out(report.message)
    if report.state == "not announced yet":
        raise typer.Exit(EXIT_TEMPFAIL)
    if report.fetch is not None and report.fetch.errors:
        raise typer.Exit(1)


def _run_log(folder: Path, day: str | None) -> logging.Handler:
    """A log file for this run: KB_HOME/logs/daily-<UTC time>[-<date>].log, at INFO level."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"daily-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}{'-' + day if day else ''}.log"
    handler = logging.FileHandler(folder / name, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
        for h in root.handlers:
            if h is not handler and h.level == logging.NOTSET:
                h.setLevel(logging.ERROR if state["quiet"] else
                           (logging.WARNING if not state["verbose"] else logging.INFO))
    return handler
