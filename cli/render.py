"""Human-readable rendering for the CLI (results on stdout, notes on stderr)."""
from __future__ import annotations

import json

from kb_cli.common import err, info, out


def ingest_report(r) -> None:
    info(f"{r.files} file(s): {r.parsed} parsed, {r.skipped} unchanged; papers: {r.papers_new} new, "
         f"{r.papers_updated} updated, {r.papers_removed} removed; chunks: +{r.chunks_added} -{r.chunks_removed}, "
         f"{r.chunks_embedded} embedded; {r.seconds:.1f} s")
    for src, note in r.notes:
        info(f"note: {src}: {note}")
    if r.errors:
        err(f"{len(r.errors)} problem(s):")
        for src, cause in r.errors:
            err(f"  {src}: {cause}")


def paper_row(r) -> dict:
    return {"id": r["id"], "date": r["date"], "title": r["title"], "authors": json.loads(r["authors"]),
            "topics": json.loads(r["topics"]), "sources": (r["kinds"] or "").split(","),
            "chunks": r["chunk_count"], "pages": r["page_count"], "dated_by": _dated_by(r)}


def _dated_by(r) -> str | None:
    """Which date `date` is (see README, Dates): digest page, arXiv announcement, submission, or PDF."""
    if r["digest_date"]:
        return "digest page"
    if json.loads(r["extra"] or "{}").get("announced"):
        return "announcement"
    if r["published"]:
        return "submission" if r["arxiv_id"] and "arxiv" in (r["kinds"] or "") else "pdf"
    return None


def paper_table(rows: list[dict]) -> None:
    if not rows:
        info("no papers match")
        return
    for d in rows:
        topics = ", ".join(d["topics"])
        by = "  (dated by submission)" if d["dated_by"] == "submission" else ""
        out(f"{d['id']:<16} {d['date'] or '----------':<10}  {d['title'][:70]:<70}  [{topics}]{by}")
    info(f"{len(rows)} paper(s)")


def paper_detail(catalog, pid: str) -> dict:
    from kb.store.catalog import paper_to_dict

    paper = catalog.load_paper(pid)
    d = paper_to_dict(paper)
    d["id"] = pid
    d["sources"] = [{"path": s["path"], "kind": s["kind"], "sha256": s["sha256"]} for s in catalog.sources_of_paper(pid)]
    d["chunk_count"] = len(catalog.chunk_ids(pid))
    d["full_text_pages"] = len(paper.pages)
    return d


def paper_detail_text(d: dict) -> None:
    out(d["title"])
    out(f"  id: {d['id']}" + (f"   arXiv: {d['arxiv_id']}v{d['arxiv_version'] or 1}" if d["arxiv_id"] else ""))
    out(f"  authors: {', '.join(d['authors']) or 'unknown'}")
    for k in ("published", "digest_date", "pdf_url", "comment", "page_count"):
        if d.get(k):
            out(f"  {k}: {d[k]}")
    if d["topics"]:
        out(f"  topics: {', '.join(d['topics'])}")
    out(f"  chunks: {d['chunk_count']}   full-text pages: {d['full_text_pages']}")
    out("  sources:")
    for s in d["sources"]:
        out(f"    {s['kind']:<12} {s['path']}")
    if d["sections"]:
        out("  sections:")
        for s in d["sections"]:
            out(f"    p.{s['page']:<3} {s['kind']:<13} {s['title']}")
    if d["abstract"]:
        out("  abstract:")
        out("    " + d["abstract"][:1200])
    for a in d["annotations"]:
        out(f"  annotation ({a['kind']}, from {a['source']}; machine-written, not evidence):")
        summary = a["data"].get("summary")
        if summary:
            out(f"    summary: {summary}")
        for t in a["data"].get("takeaways", [])[:7]:
            out(f"    - {t}")
