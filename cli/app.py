"""kb command line. Each command parses options, calls one library function, renders the result, and maps
expected errors to exit codes. Heavy imports happen inside commands so `kb --help` stays fast."""
from __future__ import annotations

from typing import List, Optional

import typer

from kb_cli import render
from kb_cli.common import (GlobalOptionsGroup, ProgressBars, configure_logging, err, errors_to_exit, info,
                           out, print_json, resolve_ref, session)

app = typer.Typer(help="kb: a local knowledge base for research papers, with cited answers and daily digests.",
                  cls=GlobalOptionsGroup, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Show or change settings (KB_HOME/config.toml; KB_* env vars win).",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


@app.callback()
def main_options(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More diagnostics on stderr (-vv for debug); "
                                "also accepted after the command."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes; errors only; also accepted "
                               "after the command."),
) -> None:
    configure_logging(verbose, quiet)


@app.command()
def ingest(
    paths: List[str] = typer.Argument(..., help="PDFs, digest pages (.md), arXiv Atom (.xml) / OAI JSON lines "
                                      "(.jsonl), folders (recursive), globs, arXiv ids/URLs (arxiv:2405.12211), "
                                      "a Zotero data folder (~/Zotero), or BibTeX files (.bib)."),
    password: Optional[str] = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    force: bool = typer.Option(False, "--force", help="Re-parse files even when unchanged."),
    chroma_url: Optional[str] = typer.Option(None, "--chroma-url", help="Use a Chroma server (http://host:port)."),
    as_json: bool = JSON,
) -> None:
    """Add papers to the knowledge base. Unchanged files are skipped; rerun after an interruption to finish."""
    from kb.library.ingest import ingest_all as run_ingest
    from kb.store.lock import kb_lock

    with session(create=True, chroma_url=chroma_url) as s, errors_to_exit():
        with kb_lock(s.settings.lock_path, exclusive=True, timeout=s.settings.lock_timeout, on_wait=info):
            with ProgressBars(enabled=not as_json) as bars:
                report = run_ingest(paths, s.catalog, s.embedder, s.write_store,
                                    s.ingest_options(password=password, force=force), progress=bars)
    if as_json:
        print_json(report.to_dict())
    else:
        render.ingest_report(report)
    if report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_papers(
    date: Optional[str] = typer.Option(None, "--date", help="Only papers of this date (YYYY-MM-DD, today, yesterday)."),
    since: Optional[str] = typer.Option(None, "--since", help="Papers on or after this date."),
    until: Optional[str] = typer.Option(None, "--until", help="Papers on or before this date."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Only papers of this topic."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only papers with a source of this kind: pdf, digest, "
                                       "arxiv, zotero, bibtex."),
    collection: Optional[str] = typer.Option(None, "--collection", help="Only papers in this Zotero collection."),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only papers with this tag (Zotero tag, .bib keyword)."),
    starred: bool = typer.Option(False, "--starred", help="Only papers marked with `kb star`."),
    as_json: bool = JSON,
) -> None:
    """List papers. A paper's date is its digest page's date, else its arXiv announcement date (`kb fetch`), else
    its arXiv submission date, else its PDF's date."""
    from kb.dates import check_range, parse_day
    from kb.library.tables import filter_ids

    with session() as s, errors_to_exit():
        date, since, until = (parse_day(v, name) if v else None
                              for v, name in ((date, "--date"), (since, "--since"), (until, "--until")))
        check_range(since, until)
        rows = s.catalog.list_papers(date=date, topic=topic, kind=kind, since=since, until=until)
        if collection or tag or starred:
            keep = set(filter_ids(s.catalog.db, [r["id"] for r in rows], collection, tag, starred))
            rows = [r for r in rows if r["id"] in keep]
        data = [render.paper_row(r) for r in rows]
    if as_json:
        print_json(data)
    else:
        render.paper_table(data)


@app.command()
def show(ref: Optional[str] = typer.Argument(None, help="Paper id, arXiv id, or a unique id prefix; without it, "
                                             "your library's collections and tags."), as_json: bool = JSON) -> None:
    """Show one paper: metadata, sources, sections, chunk count, annotations, collections and tags."""
    from kb.library.tables import overview, paper_labels
    from kb_cli.library_cmd import print_labels, print_overview

    with session() as s, errors_to_exit():
        if ref is None:
            data = overview(s.catalog.db)
        else:
            pid = resolve_ref(s.catalog, ref)
            data = {**render.paper_detail(s.catalog, pid), **paper_labels(s.catalog.db, pid)}
    if as_json:
        print_json(data)
    elif ref is None:
        print_overview(data)
    else:
        render.paper_detail_text(data)
        print_labels(data)


@app.command()
def status(as_json: bool = JSON) -> None:
    """Counts of papers and chunks, where the store is, which models are configured, and any problem found
    (a lost or damaged index, a damaged catalog): problems go to stderr and the exit code is 1."""
    import json as _json

    from kb.store.dbfile import CatalogDamaged
    from kb.store.health import index_status

    with session() as s:
        data = {
            "home": str(s.settings.home),
            "catalog": str(s.settings.catalog_path),
            "vector_store": s.settings.vector_store,
            "vector_store_location": s.store_location(),
            "embedder": s.settings.embedder,
            "generator": s.settings.llm_url or s.settings.model,
        }
        damage = s.catalog.integrity_problem()
        if damage:  # counts would only repeat the damage, or look healthy while pages are lost
            data["problems"] = [str(CatalogDamaged(s.catalog.path, damage))]
        else:
            with s.catalog.snapshot():
                data.update(index=_json.loads(s.catalog.get_meta("index_info") or "null"), **s.catalog.counts())
            index = index_status(s.catalog, lambda: s.store, s.settings.lock_path)
            if s.catalog.readonly:
                data["read_only"] = True
                info(f"KB_HOME {s.settings.home} is read-only: reads work (dense search from the catalog's "
                     "embeddings); the vector index was not checked")
            data.update(vectors=index["vectors"], problems=[p for p in [index["problem"]] if p])
            if index["writer"] is not None:
                data["writer"] = index["writer"] or "unknown pid"
                info(f"another kb process ({'pid ' + str(index['writer']) if index['writer'] else 'pid unknown'}) "
                     "is writing: the counts are what it has committed so far; the index was not checked")
    if as_json:
        print_json(data)
    else:
        for k, v in data.items():
            if k != "problems":
                out(f"{k:<26} {v}")
    for p in data["problems"]:
        err(f"problem: {p}")
    if data["problems"]:
        raise typer.Exit(1)


@app.command()
def remove(ref: str = typer.Argument(..., help="Paper id, arXiv id, or a unique id prefix."), as_json: bool = JSON) -> None:
    """Remove a paper, its chunks and its vectors."""
    from kb.ingest.pipeline import remove_paper
    from kb.store.lock import kb_lock

    with session() as s, errors_to_exit():
        with kb_lock(s.settings.lock_path, exclusive=True, timeout=s.settings.lock_timeout, on_wait=info):
            pid = remove_paper(resolve_ref(s.catalog, ref), s.catalog, s.write_store)
    if as_json:
        print_json({"removed": pid})
    else:
        out(f"removed {pid}")


@app.command()
def reindex(
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-chunk and re-embed everything with current settings."),
    as_json: bool = JSON,
) -> None:
    """Rebuild the vector store from the catalog (after a lost/corrupt index, or with --rebuild a new embedder)."""
    from kb.ingest.pipeline import reindex as run_reindex
    from kb.store.lock import kb_lock

    with session() as s, errors_to_exit():
        with kb_lock(s.settings.lock_path, exclusive=True, timeout=s.settings.lock_timeout, on_wait=info):
            with ProgressBars(enabled=not as_json) as bars:
                report = run_reindex(s.catalog, s.embedder, s.rebuild_store(), s.ingest_options(), rebuild=rebuild,
                                     progress=bars)
    if as_json:
        print_json(report.to_dict())
    else:
        out(f"reindexed: {report.chunks_embedded} chunks embedded, store rebuilt in {report.seconds:.1f} s")


@app.command()
def models(as_json: bool = JSON) -> None:
    """List the registered models, their packages and licences, and whether each is installed."""
    from kb.types import KbError
    from kb_models import MODELS

    data = []
    for spec in MODELS.values():
        try:
            where = str(spec.locate())
        except KbError as e:
            where = f"not installed ({e})"
        data.append({"name": spec.name, "kind": spec.kind, "package": spec.package, "licence": spec.licence,
                     "description": spec.description, "path": where})
    if as_json:
        print_json(data)
    else:
        for d in data:
            out(f"{d['name']:<24} {d['kind']:<10} {d['licence']:<18} {d['path']}")


@config_app.command("show")
def config_show(as_json: bool = JSON) -> None:
    """Print the effective settings."""
    from kb.settings import load_settings

    with errors_to_exit():
        data = load_settings().model_dump(mode="json")
    if as_json:
        print_json(data)
    else:
        for k, v in data.items():
            out(f"{k:<18} {v}")


@config_app.command("set")
def config_set(key: str = typer.Argument(..., help="Setting name (see `kb config show`)."),
               value: str = typer.Argument(..., help="New value.")) -> None:
    """Set a value in KB_HOME/config.toml."""
    from kb.settings import write_config_value

    with errors_to_exit():
        path, dropped = write_config_value(key, value)
    for line in dropped:
        info(f"dropped a line that was not valid TOML: {line}")
    if dropped:
        info(f"the old file is kept as {path.name}.bak")
    out(f"{key} = {value}  ({path})")


from kb_cli import digest_cmd  # noqa: E402
digest_cmd.register(app)


from kb_cli import ask_cmd  # noqa: E402
ask_cmd.register(app)


from kb_cli import fetch_cmd  # noqa: E402
fetch_cmd.register(app)


from kb_cli import library_cmd  # noqa: E402
library_cmd.register(app)


from kb_cli import grounding_cmd  # noqa: E402
grounding_cmd.register(app)


def main() -> None:
    app()
