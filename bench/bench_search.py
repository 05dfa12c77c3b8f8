"""Benchmark: warm `kb search` latency on a 2,000-paper store vs the raw Chroma query it makes, in one run.

The store holds 2,000 synthetic abstracts-only papers (bench/synth.py) embedded with the real all-MiniLM-L6-v2,
built once through the real ingest path and cached under bench/out/ (git-ignored). Then, in one process:
  - baseline: ChromaStore.query of a precomputed query vector (depth 100), the raw vector-store cost;
  - kb search: kb.answer.retrieval.search (query embedding + BM25 + dense + fusion + grouping), warm.
Prints p50/p95 of both and their ratio. Target: kb search p50 <= 50 ms.

    .venv/bin/python bench/bench_search.py [--papers 2000] [--queries 100] [--rebuild]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synth import DATASETS, METHODS, TASKS, synthetic_specs  # noqa: E402


def build_store(home: Path, n: int, rebuild: bool):
    from kb.store.catalog import Catalog
    from kb.backends.embedders import get_embedder
    from kb.ingest.pipeline import IngestOptions, ingest
    from kb.store.vectors import open_store
    from samples.pages import render_oai_jsonl

    if rebuild and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(home / "catalog.sqlite")
    embedder = get_embedder("all-MiniLM-L6-v2")
    store = open_store("chroma", home / "chroma")
    have = catalog.counts()["papers"]
    if have != n:
        source = home / "papers.jsonl"
        source.write_text(render_oai_jsonl(synthetic_specs(n, seed=7)), encoding="utf-8")
        t0 = time.perf_counter()
        report = ingest([str(source)], catalog, embedder, store, IngestOptions(force=True))
        print(f"built {n}-paper store in {time.perf_counter() - t0:.0f} s ({report.chunks_embedded} chunks)")
    else:
        print(f"reusing cached store {home} ({have} papers, {catalog.counts()['chunks']} chunks)")
    return catalog, embedder, store


def queries(n: int) -> list[str]:
    rng = random.Random(1)
    forms = ["Which paper uses {m} for {t}?", "{t} with {m} on {d}", "How does {m} improve {t}?",
             "What results on {d} does the {t} method report?"]
    return [rng.choice(forms).format(m=rng.choice(METHODS), t=rng.choice(TASKS), d=rng.choice(DATASETS))
            for _ in range(n)]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    from kb.answer.retrieval import DEFAULT_PARAMS, dense, search

    catalog, embedder, store = build_store(ROOT / "bench" / "out" / f"search-{args.papers}", args.papers, args.rebuild)
    qs = queries(args.queries)
    vecs = embedder.embed(qs)
    for q in qs[:5]:  # warm up caches (model, sqlite pages, chroma segments)
        search(q, catalog, embedder, store, k=5)
    raw, ours, emb, parts = [], [], [], []
    for q, v in zip(qs, vecs):
        t0 = time.perf_counter()
        dense(store, v, DEFAULT_PARAMS.depth, None, False)
        t1 = time.perf_counter()
        res = search(q, catalog, embedder, store, k=5)
        t2 = time.perf_counter()
        raw.append((t1 - t0) * 1000)
        ours.append((t2 - t1) * 1000)
        emb.append(res.timings["embed"])
        parts.append(res.timings)
    print(f"store: {catalog.counts()['papers']} papers, {store.count()} vectors; {len(qs)} queries, depth "
          f"{DEFAULT_PARAMS.depth}")
    print(f"raw chroma query   p50 {pct(raw, 50):6.1f} ms  p95 {pct(raw, 95):6.1f} ms")
    print(f"kb search (warm)   p50 {pct(ours, 50):6.1f} ms  p95 {pct(ours, 95):6.1f} ms   "
          f"(query embedding p50 {statistics.median(emb):.1f} ms)")
    print("  median breakdown (ms): " + ", ".join(f"{key} {statistics.median(t[key] for t in parts):.1f}"
                                              for key in ("bm25", "embed", "dense", "fuse")))
    print(f"ratio kb search / raw chroma: p50 {pct(ours, 50) / pct(raw, 50):.2f}  p95 {pct(ours, 95) / pct(raw, 95):.2f}")
    print(f"target p50 <= 50 ms: {'met' if pct(ours, 50) <= 50 else 'NOT met'}")
    catalog.close()


if __name__ == "__main__":
    main()
