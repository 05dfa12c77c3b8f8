"""Benchmark `kb digest`: seconds per paper with the default models on 2 cores, the overhead over raw llama-cpp
generation of the same tokens, and the grounding pass rate of generated statements on real digest papers.

Run: `python bench/bench_digest.py [--papers 2] [--shared-papers 30] [--threads 2] [--work DIR]`.

1. Speed: the sample corpus (full PDFs) is ingested with all-MiniLM-L6-v2; `build_digest` writes `--papers` papers
   with SmolLM2-135M-Instruct (no cache), recording every prompt and how many tokens came back. The baseline then
   replays exactly those prompts through llama-cpp's `create_completion` (same prompt tokens, same number of
   generated tokens, greedy), in the same process with the same loaded model. Ratio = digest / baseline; the target
   is <= 1.15 (retrieval, prompt fitting, grounding and rendering cost at most 15% on top of generation).
   Also reported: the digest's time over the generation time inside the digest itself (measured at the same
   moments, so it is the figure least disturbed by other load on the machine).
2. Grounding: the pages of ../shared/data/digests/2024-05-22 (skipped when absent) are ingested and their day is
   digested; reported: statements generated, kept (supported), replaced by quotes, dropped, and the pass rate.
   Per-paper results are cached under --work, so an interrupted run resumes.
Wall-clock and process CPU seconds are both reported: on a busy machine wall time is inflated for both sides.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.store.catalog import Catalog  # noqa: E402
from kb.digest.day import build_digest  # noqa: E402
from kb.digest.cache import DigestCache  # noqa: E402
from kb.digest.render import render  # noqa: E402
from kb.backends.embedders import get_embedder  # noqa: E402
from kb.backends.generators import get_generator  # noqa: E402
from kb.ingest.pipeline import ingest  # noqa: E402
from kb.store.vectors import MemoryStore  # noqa: E402

SHARED_DAY = Path(__file__).resolve().parents[2] / "shared" / "data" / "digests" / "2024-05-22"


class Recording:
    """Wraps a generator: records (messages, max_tokens, completion tokens) of every call."""

    def __init__(self, inner):
        self.inner, self.calls, self.seconds = inner, [], 0.0
        self.name, self.n_ctx = inner.name, inner.n_ctx

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def generate(self, messages, *, max_tokens, on_token=None, stop=None, reuse_prefix=False):
        g = self.inner.generate(messages, max_tokens=max_tokens, on_token=on_token, stop=stop,
                                reuse_prefix=reuse_prefix)
        self.calls.append((messages, max_tokens, g.completion_tokens, reuse_prefix))
        self.seconds += g.seconds
        return g


def evaluated_tokens(prompts: list[tuple[list[int], bool]]) -> int:
    """Prompt tokens llama.cpp evaluates: with reuse, only what follows the prefix shared with the last prompt."""
    total, last = 0, []
    for tokens, reuse in prompts:
        shared = 0
        if reuse:
            while shared < min(len(tokens), len(last)) and tokens[shared] == last[shared]:
                shared += 1
        total += len(tokens) - shared
        last = tokens
    return total


def clock():
    return time.perf_counter(), time.process_time()


def since(t0) -> tuple[float, float]:
    return time.perf_counter() - t0[0], time.process_time() - t0[1]


def ingest_into(folder: Path, sources: list[str], embedder) -> Catalog:
    catalog = Catalog(folder / "catalog.sqlite")
    report = ingest(sources, catalog, embedder, MemoryStore())
    if report.errors:
        raise SystemExit(f"ingest failed: {report.errors[:3]}")
    return catalog


def speed(work: Path, papers: int, threads: int, embedder) -> dict:
    from samples.pages import write_sample_corpus

    corpus = work / "samples"
    if not corpus.exists():
        write_sample_corpus(corpus)
    catalog = ingest_into(work / "speed-kb", [str(corpus)], embedder)
    gen = get_generator("smollm2-135m-instruct", n_threads=threads)
    gen.generate([{"role": "user", "content": "Hello"}], max_tokens=2)  # load the model before timing
    embedder.embed(["warm up"])
    rec = Recording(gen)
    t0 = clock()
    digest = build_digest("2024-05-22", catalog, embedder, rec, limit=papers)
    render(digest, "html"), render(digest, "md")
    wall, cpu = since(t0)
    llm = gen._model()
    # the exact prompt tokens the digest sent; replayed with the same KV-cache reuse (a shared prefix is
    # evaluated once by both sides), so the ratio measures kb's own overhead
    prompts = [(gen._fit(m, mt)[0], n, reuse) for m, mt, n, reuse in rec.calls]
    llm.reset()
    t1 = clock()
    for tokens, n, reuse in prompts:
        if not reuse:
            llm.reset()
        llm.create_completion(prompt=tokens, max_tokens=max(1, n), temperature=0.0, top_k=1, seed=0,
                              repeat_penalty=gen.repeat_penalty)  # the same sampling as kb's generator
    raw_wall, raw_cpu = since(t1)
    catalog.close()
    n = len(digest.papers)
    return {"papers": n, "calls": len(rec.calls), "prompt_tokens": sum(len(t) for t, _, _ in prompts),
            "prompt_tokens_evaluated": evaluated_tokens([(t, r) for t, _, r in prompts]),
            "completion_tokens": sum(c[2] for c in rec.calls),
            "digest_s_per_paper": round(wall / n, 2), "raw_s_per_paper": round(raw_wall / n, 2),
            "ratio_wall": round(wall / raw_wall, 3),
            "ratio_to_own_generation": round(wall / rec.seconds, 3),  # same moment: least sensitive to load
            "non_generation_s_per_paper": round((wall - rec.seconds) / n, 2), "digest_cpu_s": round(cpu, 1), "raw_cpu_s": round(raw_cpu, 1),
            "ratio_cpu": round(cpu / raw_cpu, 3) if raw_cpu else None}


def grounding(work: Path, papers: int | None, threads: int, embedder) -> dict | None:
    if not SHARED_DAY.is_dir():
        print(f"skipping the grounding pass rate: {SHARED_DAY} is absent", file=sys.stderr)
        return None
    catalog = ingest_into(work / "shared-kb", [str(SHARED_DAY)], embedder)
    gen = get_generator("smollm2-135m-instruct", n_threads=threads)
    t0 = clock()

    def progress(event, index, total, title, cached):
        if index < total:
            print(f"  [{index + 1}/{total}] {'cached ' if cached else ''}{title[:70]}", file=sys.stderr, flush=True)

    with DigestCache(work / "digest-cache.sqlite") as cache:
        digest = build_digest("2024-05-22", catalog, embedder, gen, limit=papers, cache=cache, progress=progress)
    wall, _ = since(t0)
    (work / "shared-2024-05-22.html").write_text(render(digest, "html"), encoding="utf-8")
    (work / "shared-2024-05-22.json").write_text(render(digest, "json"), encoding="utf-8")
    catalog.close()
    s = digest.stats
    return {"papers": s["papers"], "entries": s["entries"], "topics": s["topics"], "cached": s["cached"],
            "statements_generated": s["statements_generated"], "kept": s["statements_kept"],
            "replaced": s["statements_replaced"], "dropped": s["statements_dropped"],
            "quotes_added": s["quotes_added"], "pass_rate": s["grounding_pass_rate"],
            "not_stated_fields": sum(f.not_stated for p in digest.papers.values() for f in p.fields.values()),
            "seconds": round(wall, 1), "html": str(work / "shared-2024-05-22.html")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--papers", type=int, default=2, help="sample papers for the speed measurement")
    ap.add_argument("--shared-papers", type=int, default=None, help="limit the real-day papers (default: all 30)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="work folder (kept; reuse it to resume)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-grounding", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])  # "2 cores" means 2 cores
    work = args.work or Path(tempfile.mkdtemp(prefix="kb-bench-digest-"))
    work.mkdir(parents=True, exist_ok=True)
    embedder = get_embedder("all-MiniLM-L6-v2")
    out: dict = {"cores": len(os.sched_getaffinity(0)), "threads": args.threads, "work": str(work),
                 "load_avg": os.getloadavg()[0]}
    if not args.skip_speed:
        out["speed"] = speed(work, args.papers, args.threads, embedder)
        print(json.dumps(out["speed"]), file=sys.stderr, flush=True)
    if not args.skip_grounding:
        out["grounding"] = grounding(work, args.shared_papers, args.threads, embedder)
    out["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
