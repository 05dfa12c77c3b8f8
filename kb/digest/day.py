"""`kb digest --date`: the daily digest of one day's papers, written locally, every generated statement cited.

Which papers belong to a date (the same rule as `kb list --date`, see Catalog.list_papers): a paper's date is the
date of the digest page that listed it, else its arXiv announcement/submission date, else the date in its PDF.

Papers are grouped by topic (kb.digest.topics), each paper's digest is written by kb.digest.paper, and per-paper results
are cached (kb.digest.cache) under a key of the paper's content, the model, the prompt version and the embedder:
a second run of the same day reads every paper back, `refresh=True` regenerates, an interrupted run resumes with
the first paper it had not finished. Rendering lives in kb.digest.markdown (Markdown, JSON) and kb.digest.html.

Within each topic, papers are ordered by relevance to the user's library (kb.library.ranking; `order="listing"`
keeps the listing's order), each with the library paper it is closest to; a topic's `min_relevance` moves the
papers below it into the topic's "also announced" list (title and link, nothing generated). With an empty
library nothing is reordered or moved.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import date as Date
from datetime import datetime, timezone
from typing import Callable

from kb.store.catalog import Catalog
from kb.digest.cache import DigestCache
from kb.digest.paper import digest_paper
from kb.digest.roles import ROLE_VERSION
from kb.digest.write import resolve_mode
from kb.digest.types import Digest, PaperDigest, TopicGroup
from kb.grounding.check import GROUNDING_VERSION
from kb.library.export import bibtex_entry, citations_for
from kb.library.ranking import by_relevance, rank
from kb.prompts import PROMPT_VERSION
from kb.digest.topics import OTHER, Topic, assign_topics, default_topics, group_by_topic
from kb.dates import parse_day, valid_day
from kb.types import KbError

log = logging.getLogger(__name__)

ORDERS = ("relevance", "listing")
# Bump when the per-paper digest logic changes in a way the cache must not survive.
# 3: fields read role-assigned sentences (kb.digest.roles); 4: statements record the check they passed
# (Statement.check); 5: transformations, "covered" fields; 6: a rewrite opening with "It" where its sentence
# names the subject is not kept
DIGEST_VERSION = "6"
Progress = Callable[..., None]


class NoPapersError(KbError):
    """No paper has the requested date; `nearest` lists (date, paper count) of the closest dates that have some."""

    def __init__(self, day: str, nearest: list[tuple[str, int]], topic: str | None = None):
        self.date, self.nearest, self.topic = day, nearest, topic
        what = f"no papers of topic '{topic}' dated {day}" if topic else f"no papers dated {day}"
        if nearest:
            listed = ", ".join(f"{d} ({n} paper{'s' if n != 1 else ''})" for d, n in nearest)
            hint = f"nearest dates with papers: {listed}"
        else:
            hint = "the knowledge base has no dated papers yet; add some with `kb ingest`"
        super().__init__(f"{what} (a paper's date is its digest page's date, else its arXiv date, else its PDF's "
                         f"date); {hint}")


def check_date(day: str) -> str:
    """`day` as an ISO date (YYYY-MM-DD; "today" and "yesterday" resolved), else KbError."""
    return parse_day(day, "--date")


def nearest_dates(catalog: Catalog, day: str, n: int = 5, topic: str | None = None) -> list[tuple[str, int]]:
    """The `n` dates closest to `day` that have papers (optionally of `topic`), with their paper counts."""
    counts: dict[str, int] = {}
    for row in catalog.list_papers(topic=topic):
        d = row["date"]
        if valid_day(d):  # a malformed date stored by an older version is skipped, never a crash
            counts[d] = counts.get(d, 0) + 1
    target = Date.fromisoformat(day)
    ranked = sorted(counts, key=lambda d: (abs((Date.fromisoformat(d) - target).days), d))
    return [(d, counts[d]) for d in ranked[:n]]


def paper_key(row, model: str, embedder_name: str, mode: str = "transform", verifier_key: str = "") -> str:
    """Cache key of one paper's digest: its content (chunks' hash and the metadata shown), model, prompts, embedder,
    generation mode, the versions of the digest logic, of the role rules and of the grounding check, and the
    verifier (name, threshold) if any."""
    parts = [row["content_hash"] or "", row["title"], row["authors"], row["abstract"], row["comment"] or "",
             row["pdf_url"] or "", row["arxiv_id"] or "", str(row["version"] or ""), row["extra"],
             model, PROMPT_VERSION, embedder_name, DIGEST_VERSION, GROUNDING_VERSION, ROLE_VERSION, mode]
    if verifier_key:  # no verifier: the same key as without one
        parts.append(verifier_key)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def build_digest(day: str, catalog: Catalog, embedder, generator, *, topic: str | None = None,
                 limit: int | None = None, refresh: bool = False, cache: DigestCache | None = None,
                 progress: Progress | None = None, topics: list[Topic] | None = None, mode: str = "auto",
                 order: str = "relevance", verifier=None) -> Digest:
    """The digest of the papers dated `day`, grouped by topic.

    `topics`: the topic definitions (default: the topics seen on ingested digest pages, see kb.digest.topics).
    `topic`: only that topic's papers. `limit`: only the first N papers. `cache`: where finished papers are kept
    (None: no cache); `refresh`: regenerate even when cached. `progress("paper", index=, total=, title=, cached=)`
    is called before each paper and once at the end (index == total). `mode`: how statements are generated
    ("transform" | "free" | "auto", see kb.digest.write). `verifier` (optional, kb.backends.verifiers): a second
    opinion on every generated statement the grounding check keeps.
    Raises NoPapersError (a KbError) when no paper has that date (or topic), naming the nearest dates that do.
    """
    day = check_date(day)
    if order not in ORDERS:
        raise KbError(f"order must be one of {', '.join(ORDERS)}, not '{order}'")
    progress = progress or (lambda *a, **k: None)
    rows = catalog.list_papers(date=day)
    if not rows:
        raise NoPapersError(day, nearest_dates(catalog, day))
    topics = default_topics(catalog) if topics is None else topics
    papers = [{"id": r["id"], "title": r["title"], "abstract": r["abstract"], "topics": json.loads(r["topics"])}
              for r in rows]
    assignment = assign_topics(papers, topics, embedder)
    groups = group_by_topic(assignment, [r["id"] for r in rows], topics)
    if topic is not None:
        wanted = [g for g in groups if g[0].casefold() == topic.casefold()]
        if not wanted:
            known = {t.name.casefold() for t in topics} | {OTHER.casefold()}
            if topic.casefold() not in known:
                names = ", ".join(t.name for t in topics) or "none"
                raise KbError(f"unknown topic '{topic}'; topics: {names} (see `kb topics`)")
            present = ", ".join(f"{g[0]} ({len(g[1])})" for g in groups)
            raise KbError(f"no papers of topic '{topic}' dated {day}; that day has: {present}")
        groups = wanted
    by_id = {r["id"]: r for r in rows}
    relevance = rank(catalog, [r["id"] for r in rows])  # {} with an empty library
    groups, also = _by_relevance(groups, relevance, topics, order, by_id)
    pids = list(dict.fromkeys(pid for _, ids in groups for pid in ids))
    if limit is not None:
        pids = pids[:max(0, limit)]
        groups = [(name, [pid for pid in ids if pid in pids]) for name, ids in groups]
        groups = [(name, ids) for name, ids in groups if ids or also.get(name)]
    keys = {c.paper_id: c for c in citations_for(catalog, pids)}
    model = getattr(generator, "name", "generator")
    embedder_name = getattr(embedder, "name", "embedder")
    mode = resolve_mode(mode, generator)
    done: dict[str, PaperDigest] = {}
    hits = 0
    t0 = time.perf_counter()
    for i, pid in enumerate(pids):
        row = by_id[pid]
        key = paper_key(row, model, embedder_name, mode,
                        getattr(verifier, "key", "") if verifier is not None else "")
        cached = cache.get(key) if cache is not None and not refresh else None
        progress("paper", index=i, total=len(pids), title=row["title"], cached=cached is not None)
        if cached is not None:
            pd = PaperDigest.from_dict(cached)
            pd.cached = True
            hits += 1
        else:
            pd = digest_paper(pid, catalog, embedder, generator, mode=mode, verifier=verifier)
            if cache is not None:
                cache.put(key, pid, model, PROMPT_VERSION, pd.to_dict())
        pd.topics = list(assignment.get(pid, []))
        pd.relevance = round(relevance[pid].score, 4) if pid in relevance else None
        pd.close_to = relevance[pid].close_title if pid in relevance else None
        pd.bibtex = bibtex_entry(keys[pid]) if pid in keys else ""
        done[pid] = pd
    progress("paper", index=len(pids), total=len(pids), title="", cached=False)
    described = {t.name: t.description for t in topics}
    result = Digest(
        date=day, topic=topic, groups=[TopicGroup(name, described.get(name, ""), ids, also.get(name, [])) for name, ids in groups],
        papers=done, model=model, prompt_version=PROMPT_VERSION, embedder=embedder_name,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        verifier=getattr(verifier, "name", "") if verifier is not None else "",
    )
    result.stats = _stats(result, hits, time.perf_counter() - t0)
    return result


def _by_relevance(groups: list[tuple[str, list[str]]], relevance: dict, topics: list[Topic], order: str,
                  by_id: dict) -> tuple[list[tuple[str, list[str]]], dict[str, list[dict]]]:
    """Each group most relevant first (order "relevance"), and the papers below its topic's min_relevance taken
    out into {topic: [{id, title, link, relevance}]}. Papers without a score (not embedded yet) stay."""
    if not relevance:
        return groups, {}
    floor = {t.name: t.min_relevance for t in topics if t.min_relevance is not None}
    out, also = [], {}
    for name, ids in groups:
        if order == "relevance":
            ids = by_relevance(ids, relevance)
        low = [pid for pid in ids if name in floor and pid in relevance and relevance[pid].score < floor[name]]
        if low:
            also[name] = [{"id": pid, "title": by_id[pid]["title"], "link": _link(by_id[pid]),
                           "relevance": round(relevance[pid].score, 4)} for pid in low]
            ids = [pid for pid in ids if pid not in low]
        out.append((name, ids))
    return [(n, ids) for n, ids in out if ids or n in also], also


def _link(row) -> str | None:
    return f"https://arxiv.org/abs/{row['arxiv_id']}" if row["arxiv_id"] else row["pdf_url"]


def _stats(d: Digest, hits: int, seconds: float) -> dict:
    per = [p.stats for p in d.papers.values()]
    total = lambda key: sum(s.get(key, 0) for s in per)  # noqa: E731
    generated = total("generated")
    return {
        "papers": len(d.papers), "entries": d.entries, "also_announced": sum(len(g.also) for g in d.groups),
        "topics": len(d.groups), "cached": hits,
        "generated_papers": len(d.papers) - hits, "seconds": round(seconds, 3),
        "statements_generated": generated, "statements_kept": total("kept"),
        "statements_replaced": total("replaced"), "statements_dropped": total("dropped"),
        "quotes_added": total("quoted"), "not_claims": total("not_claims"),
        "statements_rejected_by_verifier": total("rejected_by_verifier"),
        "grounding_pass_rate": round(total("kept") / generated, 4) if generated else None,
    }
