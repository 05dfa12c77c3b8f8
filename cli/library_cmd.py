"""`kb export`, `kb star`, `kb unstar`, `kb recommend`: your reference library. Registered by `register(app)`.

(`kb ingest` of a Zotero folder or a .bib file, and `kb list --collection/--tag/--starred`, live with the other
ingest and list options in kb_cli.app and call into kb.library.)"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from kb_cli.common import errors_to_exit, fail, info, print_json, session

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("star")(star)
    app.command("unstar")(unstar)
    app.command("recommend")(recommend)


def export(
    refs: Optional[List[str]] = typer.Argument(None, help="Paper ids, arXiv ids or unique id prefixes."),
    date: Optional[str] = typer.Option(None, "--date", help="Papers of this date (YYYY-MM-DD)."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Papers of this topic."),
    collection: Optional[str] = typer.Option(None, "--collection", help="Papers in this Zotero collection."),
    everything: bool = typer.Option(False, "--all", help="Every paper in the knowledge base."),
    fmt: str = typer.Option("bibtex", "--format", help="bibtex | ris | csl-json."),
    out: Optional[str] = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """Citations of papers (BibTeX, RIS or CSL-JSON) with stable, readable keys such as alonso2024diffusion.
    arXiv papers are @misc with eprint, archivePrefix and primaryClass, or @article when a venue is known."""
    from kb.library.export import FORMATS, export as run_export

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'", code=2)
    with session() as s, errors_to_exit():
        text = run_export(s.catalog, fmt, refs=refs or [], date=date, topic=topic, collection=collection,
                          everything=everything)
    if out:
        path = Path(out).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        info(f"wrote {path}")
    else:
        typer.echo(text, nl=False)


def _set_star(ref: str, on: bool, as_json: bool) -> None:
    from kb.library import tables
    from kb.store.lock import kb_lock

    with session() as s, errors_to_exit():
        pid = s.catalog.find_paper_id(ref)
        if pid is None:
            raise fail(f"no paper matches '{ref}' (see `kb list`)")
        with kb_lock(s.settings.lock_path, exclusive=True, timeout=s.settings.lock_timeout, on_wait=info):
            with s.catalog.transaction():
                changed = tables.star(s.catalog.db, pid) if on else tables.unstar(s.catalog.db, pid)
    if as_json:
        print_json({"id": pid, "starred": on, "changed": changed})
    else:
        what = "starred" if on else "unstarred"
        print(f"{what} {pid}" if changed else f"{pid} was already {what}")


def star(ref: str = typer.Argument(..., help="Paper id, arXiv id, or a unique id prefix."), as_json: bool = JSON) -> None:
    """Add a paper to your library (it then shapes the digest's order and `kb recommend`)."""
    _set_star(ref, True, as_json)


def unstar(ref: str = typer.Argument(..., help="Paper id, arXiv id, or a unique id prefix."),
           as_json: bool = JSON) -> None:
    """Take a starred paper out of your library again."""
    _set_star(ref, False, as_json)


def recommend(
    date: Optional[str] = typer.Option(None, "--date", help="The day (YYYY-MM-DD); default: the latest day "
                                       "with papers outside your library."),
    k: int = typer.Option(10, "-k", min=1, help="How many papers."),
    as_json: bool = JSON,
) -> None:
    """The day's papers most relevant to your library (Zotero, .bib, your PDFs, starred), across topics."""
    from kb.digest.day import check_date
    from kb.library.ranking import recommend as run_recommend

    with session() as s, errors_to_exit():
        if date:
            check_date(date)
        day, items = run_recommend(s.catalog, date=date, k=k)
    if as_json:
        print_json({"date": day, "papers": items})
        return
    for i, it in enumerate(items, 1):
        print(f"{i:>2}. {it['title']}  [{it['arxiv_id'] or it['id']}]")
        if it["close_to"]:
            print(f"    close to: {it['close_to_title']} ({it['relevance']:.2f})")
    info(f"{len(items)} paper(s) of {day}, most relevant to your library first")


def print_labels(d: dict) -> None:
    """The collections, tags and star of one paper (after `kb show ID`'s other lines)."""
    if d.get("collections"):
        print(f"  collections: {', '.join(d['collections'])}")
    if d.get("tags"):
        print(f"  tags: {', '.join(d['tags'])}")
    if d.get("starred"):
        print("  starred: yes")


def print_overview(d: dict) -> None:
    """`kb show` without an id: the library's collections and tags."""
    print("collections:" if d["collections"] else "collections: none")
    for c in d["collections"]:
        print(f"  {c['name']}  ({c['papers']})")
    print("tags:" if d["tags"] else "tags: none")
    for t in d["tags"]:
        print(f"  {t['name']}  ({t['papers']})")
    print(f"starred: {d['starred']}")
