"""Print the abstention signals (best-passage cosine, question-word coverage, fused margin) for answerable and
off-corpus questions, so the thresholds in kb.answer.ask.Relevance can be chosen and checked. Not a test.

    KB_HOME=/tmp/kb python bench/calibrate_abstention.py bench/questions/*.jsonl

Uses the knowledge base and embedder named by the settings (KB_HOME, KB_EMBEDDER...).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kb.answer.ask import Relevance, relevance_signals, should_abstain  # noqa: E402
from kb.answer.evaluate import load_questions  # noqa: E402
from kb.answer.retrieval import search  # noqa: E402
from kb.wiring import open_session  # noqa: E402


def main(files: list[str]) -> None:
    s = open_session()
    rel = Relevance.for_embedder(s.embedder.name)
    rows = {"answerable": [], "off-corpus": []}
    for f in files:
        for q in load_questions(f):
            res = search(q["question"], s.catalog, s.embedder, s.store, k=5, with_similarity=True)
            sig = relevance_signals(q["question"], res, s.catalog)
            kind = "off-corpus" if q.get("expect") == "none" else "answerable"
            rows[kind].append((sig["best_similarity"], sig["idf_coverage"], sig["margin"], q["question"],
                               should_abstain(sig, rel)))
    for kind, vals in rows.items():
        if not vals:
            continue
        sims = np.array([v[0] for v in vals])
        covs = np.array([v[1] for v in vals])
        print(f"{kind:11} n={len(vals):3}  similarity min {sims.min():.3f} p5 {np.percentile(sims, 5):.3f} "
              f"median {np.median(sims):.3f} p95 {np.percentile(sims, 95):.3f} max {sims.max():.3f} | idf coverage "
              f"min {covs.min():.2f} median {np.median(covs):.2f} max {covs.max():.2f} | abstained "
              f"{sum(v[4] for v in vals)}")
        for sim, cov, margin, question, abst in sorted(vals)[:6] if kind == "answerable" else sorted(vals)[-6:]:
            print(f"    sim {sim:.3f} idfcov {cov:.2f} margin {margin:.2f} {'ABSTAIN' if abst else 'answer '} "
                  f"{question[:80]}")
    print(f"thresholds: {rel}")


if __name__ == "__main__":
    main(sys.argv[1:])
