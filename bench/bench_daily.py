"""`kb daily` over a fixture day: 100 abstract-only papers announced in 5 topics (the `kb topics --init` example),
served by the local fake arXiv (samples.arxiv_server). Prints the wall time split into fetch waits (politeness
delay), the rest of fetching, ingest (store + embed) and digest, and a rerun of the same day (no request).

    python bench/bench_daily.py [--delay 3] [--model fake|smollm2-135m-instruct] [--embedder all-MiniLM-L6-v2]

Default: arXiv's own delay (3 s), the bundled embedder, the fake generator (the real one takes minutes per 100
papers on 2 cores; pass --model smollm2-135m-instruct to measure it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.digest.topics_example import EXAMPLE_TOPICS  # noqa: E402
from samples.arxiv_server import ArxivServer, FakeArxiv, FakePaper  # noqa: E402

PHRASES = {  # a phrase each topic's example query matches
    "3DGS": ("gaussian splatting", ["cs.CV", "cs.GR"]),
    "Diffusion Models": ("denoising diffusion", ["cs.CV", "cs.LG"]),
    "NeRF": ("neural radiance fields", ["cs.CV", "cs.GR"]),
    "Talking Head Generation": ("talking head", ["cs.CV", "cs.SD"]),
    "元宇宙_虚拟人": ("digital human", ["cs.GR", "cs.HC"]),
}


def fixture_day(n: int = 100) -> list[FakePaper]:
    papers = []
    names = list(PHRASES)
    for i in range(n):
        topic = names[i % len(names)]
        phrase, cats = PHRASES[topic]
        kind = "cross" if i % 7 == 3 else "new"
        abstract = (f"We study {phrase} for task number {i}. Our method improves quality by {i % 9 + 1} points on "
                    f"three benchmarks while running {i % 4 + 2} times faster than prior work. Code is released.")
        papers.append(FakePaper(f"2405.{40000 + i}", 1, f"{phrase.title()} Study {i}", abstract,
                                [f"Author {i}", f"Coauthor {i}"], cats if kind == "new" else ["cs.LG", *cats],
                                "2024-05-22", kind=kind))
    return papers


def run(args, env, *cmd) -> tuple[dict, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from kb_cli.app import main; main()", "-q", *cmd, "--json"],
                         env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"kb {' '.join(cmd)} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout), wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=3.0)
    ap.add_argument("--model", default="fake")
    ap.add_argument("--embedder", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    state = FakeArxiv(listing_day="2024-05-24", listing=fixture_day())
    with tempfile.TemporaryDirectory() as tmp, ArxivServer(state) as srv:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "topics.toml").write_text(EXAMPLE_TOPICS, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
        env.update(KB_HOME=str(home), KB_ARXIV_API_URL=srv.api_url, KB_ARXIV_FEED_URL=srv.feed_url,
                   KB_ARXIV_DELAY=str(args.delay), KB_CONTACT="bench@example.org", KB_MODEL=args.model,
                   KB_EMBEDDER=args.embedder, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        first, wall = run(args, env, "daily", "--date", "2024-05-24")
        again, wall2 = run(args, env, "daily", "--date", "2024-05-24")
    t, f = first["timings"], first["fetch"]
    per_topic = ", ".join(f"{x['name']} {x['found']}" for x in f["topics"])
    print(f"kb daily, 100 abstract-only papers, 5 topics; delay {args.delay} s, embedder {args.embedder}, "
          f"generator {args.model}; {os.cpu_count()} CPUs")
    print(f"  papers stored: {f['new']} new; per topic: {per_topic}; requests: {f['requests']}")
    print(f"  wall (process, incl. start-up): {wall:.1f} s")
    print(f"  fetch waits (politeness):       {t['fetch_wait']:.1f} s")
    print(f"  fetch other (HTTP, parsing):    {t['fetch'] - t['fetch_wait']:.1f} s")
    print(f"  ingest (store + embed):         {t['ingest']:.1f} s")
    print(f"  digest ({first['digest_stats'].get('papers')} papers):            {t['digest']:.1f} s")
    print(f"  start-up and the rest:          {wall - t['fetch'] - t['ingest'] - t['digest']:.1f} s")
    print(f"  rerun of the same day: {wall2:.1f} s, state '{again['state']}', "
          f"{(again['fetch'] or {}).get('requests', 0)} requests")


if __name__ == "__main__":
    main()
