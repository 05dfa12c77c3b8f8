"""Ingest benchmark (not a test). Prints, measured in one run on the same chunks:

  pipeline chunks/s (parse + chunk + embed + store, real MiniLM + embedded Chroma)
  raw SentenceTransformer.encode chunks/s on exactly the texts the pipeline embedded
  ratio pipeline / raw            (target >= 0.85: embedding is the physical limit)
  re-ingest of the unchanged corpus / first ingest   (target <= 0.02)

Usage: python bench/bench_ingest.py [--papers N]
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


def make_corpus(folder: Path, n: int) -> Path:
    from samples.corpus import PAPERS
    from samples.pages import write_sample_corpus

    specs = []
    for i in range(n):
        spec = dict(PAPERS[i % len(PAPERS)])
        spec["id"] = f"2405.{70000 + i}"
        spec["title"] = f"{spec['title']} (variant {i})"
        specs.append(spec)
    write_sample_corpus(folder, specs)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=24)
    args = ap.parse_args()
    from kb.store.catalog import Catalog
    from kb.backends.embedders import get_embedder
    from kb.ingest.pipeline import IngestOptions, ingest
    from kb.settings import Settings
    from kb.store.vectors import ChromaStore

    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = make_corpus(tmp / "corpus", args.papers)
        embedder = get_embedder("all-MiniLM-L6-v2", batch_size=settings.embed_batch_size)
        embedder.embed(["warm up the model"])  # load once, outside both timings
        catalog = Catalog(tmp / "home" / "catalog.sqlite")
        store = ChromaStore(path=tmp / "home" / "chroma")
        opts = IngestOptions(batch_size=settings.embed_batch_size)

        t0 = time.perf_counter()
        report = ingest([str(corpus)], catalog, embedder, store, opts)
        first = time.perf_counter() - t0
        assert not report.errors, report.errors
        rows = catalog.db.execute("SELECT c.text, p.title FROM chunks c JOIN papers p ON p.id = c.paper_id").fetchall()
        texts = [f"{r['title']}\n{r['text']}" for r in rows]

        model = embedder._load()  # the same SentenceTransformer instance
        t0 = time.perf_counter()
        model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True)
        raw = time.perf_counter() - t0

        t0 = time.perf_counter()
        again = ingest([str(corpus)], catalog, embedder, store, opts)
        second = time.perf_counter() - t0
        assert again.parsed == 0

    n = len(texts)
    print(f"corpus: {args.papers} papers, {report.files} files, {n} chunks")
    print(f"pipeline: {first:.2f} s  {n / first:.1f} chunks/s")
    print(f"raw encode: {raw:.2f} s  {n / raw:.1f} chunks/s")
    print(f"ratio pipeline/raw: {(n / first) / (n / raw):.3f}  (target >= 0.85)")
    print(f"re-ingest unchanged: {second:.3f} s; ratio re-ingest/first: {second / first:.4f}  (target <= 0.02)")


if __name__ == "__main__":
    main()
