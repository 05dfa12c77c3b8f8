"""Experiment (not used by kb): rerank `kb search`'s top 10 papers by the best MiniLM cosine between the question
and any sentence of a paper's title/abstract, mixed with the fused score (min-max normalised, weight w).
Prints paper-level Recall@1 per question set for several w; w = 0 is kb's own ranking, the baseline.

    .venv/bin/python bench/rerank_experiment.py --home KB_HOME paraphrased-hard paraphrased-heldout

Measured (session 2, 2,052-paper store: 52 real + 2,000 synthetic papers): w=0.3 gave hard .878 -> .898,
held-out .900 -> .933, shared-2024-05-22 1.0 -> 1.0 (one question per set), at ~1 s per query for the sentence
embeddings; not adopted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.backends.embedders import MemoEmbedder  # noqa: E402
from kb.grounding.sentences import split_sentences  # noqa: E402
from kb.answer.retrieval import search  # noqa: E402
from kb.settings import Settings  # noqa: E402
from kb.wiring import open_session  # noqa: E402

WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)


def _minmax(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / ((x.max() - x.min()) or 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="an ingested KB_HOME (real MiniLM embeddings)")
    ap.add_argument("sets", nargs="+", help="names of bench/questions/*.jsonl files")
    args = ap.parse_args()
    s = open_session(Settings(home=args.home))
    emb = MemoEmbedder(s.embedder)

    def sentences(pid: str) -> list[str]:
        title, abstract = s.catalog.db.execute("SELECT title, abstract FROM papers WHERE id = ?", (pid,)).fetchone()
        return [title] + [x for x in split_sentences(abstract or "") if len(x.split()) >= 4]

    for name in args.sets:
        lines = (ROOT / "bench" / "questions" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        qs = [q for q in (json.loads(x) for x in lines if x.strip()) if q.get("id")]
        hits = dict.fromkeys(WEIGHTS, 0)
        for q in qs:
            papers = search(q["question"], s.catalog, s.embedder, s.store, k=10).papers
            if not papers:
                continue
            qv = emb.embed([q["question"]])[0]
            fused = _minmax(np.array([p.score for p in papers]))
            best = _minmax(np.array([float((emb.embed(sentences(p.paper_id)) @ qv).max()) for p in papers]))
            for w in WEIGHTS:
                hits[w] += papers[int(np.argmax((1 - w) * fused + w * best))].paper_id == q["id"]
        print(name, len(qs), "R@1 by weight:", {w: round(c / len(qs), 3) for w, c in hits.items()}, flush=True)
    s.close()


if __name__ == "__main__":
    main()
