"""`kb digest` and `kb topics`: registered on the main app by `register(app)`."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional

import typer

from kb_cli.common import (ProgressBars, clean, configure_logging, errors_to_exit, fail, info, out as out_line,
                           print_json, session, state)

FORMATS = ("md", "html", "json")


def register(app: typer.Typer) -> None:
    """Add the `digest` and `topics` commands to `app`."""
    app.command("digest")(digest)
    app.command("topics")(topics)


def _slug(text: str) -> str:
    return re.sub(r"[^\w\-]+", "_", text, flags=re.UNICODE).strip("_") or "topic"


def output_path(out: str | None, digests_dir: Path, day: str, topic: str | None, fmt: str) -> Path | None:
    """Where the digest goes: None for stdout ("-"); a folder gets <date>[-topic].<ext> inside it."""
    if out == "-":
        return None
    name = f"{day}{'-' + _slug(topic) if topic else ''}.{fmt}"
    if out is None:
        return digests_dir / name
    path = Path(out).expanduser()
    if path.is_dir() or out.endswith(("/", os.sep)):
        return path / name
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def digest(
    date: str = typer.Option(..., "--date", help="The day (YYYY-MM-DD). A paper's date is its digest page's date, "
                             "else its arXiv date, else its PDF's date (the set `kb list --date` shows)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic's papers (see `kb topics`)."),
    out: Optional[str] = typer.Option(None, "--out", help="File or folder to write; '-' writes to stdout. "
                                      "Default: KB_HOME/digests/<date>[-topic].<ext>."),
    fmt: str = typer.Option("md", "--format", help="md (the digest pages' format) | html (one self-contained "
                            "page) | json (the same content as data, with citations and verdicts)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N papers."),
    refresh: bool = typer.Option(False, "--refresh", help="Regenerate papers even when cached."),
    order: str = typer.Option("relevance", "--order", help="relevance (most related to your library first, each "
                              "with the library paper it is close to) | listing (the listing's order)."),
    model: Optional[str] = typer.Option(None, "--model", help="Generation model (registered name or GGUF path)."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", help="Use an OpenAI-compatible server instead."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or notes; errors only."),
) -> None:
    """Write the digest of one day's papers, grouped by topic, every statement cited. Finished papers are cached,
    so a rerun is immediate and an interrupted run resumes."""
    from kb.digest.day import build_digest, check_date
    from kb.digest.cache import DigestCache
    from kb.digest.render import render
    from kb.backends.generators import get_generator
    from kb.digest.topics import resolve_topics

    if quiet:
        configure_logging(state["verbose"], True)
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'", code=2)
    with session(model=model, llm_url=llm_url) as s, errors_to_exit():
        date = check_date(date)
        st = s.settings
        generator = get_generator(st.model, st.llm_url, n_ctx=st.n_ctx, n_threads=st.n_threads, seed=st.seed,
                                  api_key=st.llm_api_key)
        # No kb lock: a digest reads one committed snapshot of the catalog (an ingest may run meanwhile) and
        # writes only its own cache, a separate SQLite file committed paper by paper.
        with s.catalog.snapshot():
            topic_defs = resolve_topics(st.home, s.catalog)
            # a read-only KB_HOME: the digest is still written (--out), only not cached
            cache_path = ":memory:" if s.catalog.readonly else st.home / "cache" / "digest.sqlite"
            with DigestCache(cache_path) as cache, ProgressBars(enabled=True) as bars:
                result = build_digest(date, s.catalog, s.embedder, generator, topic=topic, limit=limit,
                                      refresh=refresh, cache=cache, progress=bars, topics=topic_defs, order=order,
                                      verifier=s.verifier)
        text = render(result, fmt)
        target = output_path(out, st.digests_dir, date, topic, fmt)
        if target is not None:
            _write(target, text)
    if target is None:
        sys.stdout.write(clean(text))  # terminal-safe; files keep the text as rendered
        sys.stdout.flush()
    else:
        typer.echo(str(target))
    info(_summary(result))


def _summary(d) -> str:
    s = d.stats
    line = (f"{d.date}: {s['papers']} papers ({s['entries']} entries) in {s['topics']} topics, "
            f"{s['cached']} from cache; ")
    if s.get("also_announced"):
        line += f"{s['also_announced']} below min_relevance listed only; "
    if s["statements_generated"]:
        line += (f"{s['statements_kept']} of {s['statements_generated']} generated statements supported, "
                 f"{s['statements_replaced']} replaced by quotes, {s['statements_dropped']} dropped; ")
    return line + f"{s['seconds']:.1f} s"


def topics(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
    init: bool = typer.Option(False, "--init", help="Write a commented example KB_HOME/topics.toml to edit "
                              "(five topics with arXiv subscriptions, plus those of ingested digest pages)."),
) -> None:
    """List the digest topics: KB_HOME/topics.toml if it exists (name, description, keywords per [[topic]]),
    else the topics of ingested digest pages with keywords taken from their papers' titles."""
    from kb.digest.topics import load_topics, resolve_topics, topics_path, write_example_topics

    with session(create=init) as s, errors_to_exit():
        path = topics_path(s.settings.home)
        with s.catalog.snapshot():
            found = resolve_topics(s.settings.home, s.catalog)
        if init:
            write_example_topics(path, found)
            found = load_topics(path) or []
            info(f"wrote {len(found)} topics to {path}")
    if as_json:
        print_json({"file": str(path), "configured": path.is_file(), "topics": [t.to_dict() for t in found]})
        return
    if not found:
        info(f"no topics yet: ingest digest pages, or define topics in {path}")
        return
    width = max(len(t.name) for t in found)
    for t in found:
        desc = f"  {t.description}" if t.description else ""
        kws = f"  [{', '.join(t.keywords)}]" if t.keywords else ""
        feed = (f"  arXiv: {t.query or 'every paper'}" + (f" in {'+'.join(t.categories)}" if t.categories else "")
                if t.subscribed else "")
        out_line(f"{t.name:<{width}}  {t.papers:>4} papers{desc}{kws}{feed}")
    origin = f"from {path}" if path.is_file() else f"from ingested digest pages; `kb topics --init` writes them to {path}"
    info(f"{len(found)} topic(s), {origin}")
