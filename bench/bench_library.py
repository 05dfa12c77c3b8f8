"""Library ranking benchmark (not a test). A synthetic library of 200 papers about two of six topics (a .bib file)
and a fixture day of 100 papers spread over all six (an Atom feed), written by samples.library so the right
answer is known. Prints, measured in one run:

  pairwise accuracy: how often a day paper of a topic the library is about ranks above one it is not about
                     (1.0 = always, 0.5 = chance), for the relevance ranking and for the listing's own order
  precision@10 of the relevance ranking (share of the top 10 from the library's topics; the day has 1/3)
  ranking cost per day: ms to rank the day (library profile + scoring), and as a share of the time it took to
                     ingest (parse + embed + store) that day's listing in the same run

Usage: python bench/bench_library.py [--embedder all-MiniLM-L6-v2|fake-hash] [--library 200] [--day 100]
       [--topical 0.45]  (share of topic words in each abstract; 0.1 makes the day much harder)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ABOUT = ["diffusion", "graphs"]
DAY = "2024-06-03"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedder", default="all-MiniLM-L6-v2")
    ap.add_argument("--library", type=int, default=200)
    ap.add_argument("--day", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5, help="ranking runs to average")
    ap.add_argument("--topical", type=float, default=0.45,
                    help="share of an abstract's words from its topic (lower: a harder day)")
    args = ap.parse_args()
    from kb.backends.embedders import get_embedder
    from kb.library.ingest import ingest_all
    from kb.library.ranking import by_relevance, library_profile, rank
    from kb.store.catalog import Catalog
    from kb.store.vectors import MemoryStore
    from samples.library import day_feed, library_bib, make_day, make_library, pairwise_accuracy

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bib = tmp / "library.bib"
        bib.write_text(library_bib(make_library(args.library, ABOUT, topical=args.topical)), encoding="utf-8")
        day = make_day(args.day, topical=args.topical)
        feed = tmp / "day.xml"
        feed.write_text(day_feed(day, DAY), encoding="utf-8")
        embedder = get_embedder(args.embedder)
        embedder.embed(["warm up"])
        catalog = Catalog(tmp / "home" / "catalog.sqlite")
        store = MemoryStore()
        report = ingest_all([str(bib)], catalog, embedder, store)
        assert not report.errors, report.errors
        t0 = time.perf_counter()
        report = ingest_all([str(feed)], catalog, embedder, store)
        ingest_s = time.perf_counter() - t0
        assert not report.errors, report.errors

        listing = [r["id"] for r in catalog.list_papers(date=DAY)]
        listing = sorted(listing, key=lambda pid: [p["id"] for p in day].index(pid))  # the feed's order
        times = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            rel = rank(catalog, listing, library_profile(catalog))
            times.append(time.perf_counter() - t0)
        ranked = by_relevance(listing, rel)
        relevant = {p["id"] for p in day if p["topic"] in ABOUT}
        acc = pairwise_accuracy(ranked, relevant)
        base = pairwise_accuracy(listing, relevant)
        p10 = sum(1 for pid in ranked[:10] if pid in relevant) / 10
        rank_ms = 1000 * sum(times) / len(times)
        catalog.close()

    print(f"library: {args.library} papers about {', '.join(ABOUT)}; day: {len(listing)} papers over 6 topics "
          f"({len(relevant)} of the library's topics); embedder {args.embedder}; topical words {args.topical:.0%}")
    print(f"pairwise accuracy, relevance order: {acc:.4f}   listing order (baseline): {base:.4f}")
    print(f"precision@10, relevance order: {p10:.2f}   (share of relevant papers in the day: "
          f"{len(relevant) / len(listing):.2f})")
    print(f"ranking cost per day: {rank_ms:.1f} ms (mean of {len(times)}); ingest of the day's listing: "
          f"{ingest_s:.2f} s; ratio ranking/ingest: {rank_ms / 1000 / ingest_s:.4f}")


if __name__ == "__main__":
    main()
