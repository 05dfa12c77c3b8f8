"""Benchmark: the grounding check on human-labelled claims, with each rule's contribution and its speed.

1. AttributionBench dev (../shared/data/grounding/attributionbench-dev.jsonl): kept-precision, recall,
   reject-precision, macro-F1, overall and per source dataset. Targets: kept-precision >= 0.95, recall >= 0.45.
2. The digest audit (../shared/data/grounding/digest-audit-2024-05-22.jsonl): the share of each label kept.
   Targets: PARTIAL/UNSUPPORTED/EMPTY rejected >= 90%, SUPPORTED kept >= 80%.
3. With --ablate, both again with each rule of kb.grounding.align switched off alone: what each rule adds.
4. Milliseconds per statement, with a fresh (uncached) bundled MiniLM on the first --timing claims of each file.

    .venv/bin/python bench/grounding_eval.py [--ablate] [--timing 60] [--limit N]

Vectors are cached by text in bench/out/grounding-vectors.npz (git-ignored) so reruns measure the rules fast.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "grounding"
CACHE = ROOT / "bench" / "out" / "grounding-vectors.npz"


class CachedEmbedder:
    """Vectors by text, kept on disk between runs."""

    def __init__(self, inner, path: Path):
        self.inner, self.path, self.name = inner, path, getattr(inner, "name", "embedder")
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path.exists():
            data = np.load(path, allow_pickle=False)
            self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))

    def embed(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            for t, v in zip(missing, np.asarray(self.inner.embed(missing), dtype=np.float32)):
                self.vectors[t] = v
            self.dirty = True
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def save(self):
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            texts = list(self.vectors)
            np.savez(self.path, texts=np.array(texts), vectors=np.stack([self.vectors[t] for t in texts]))


def _pct(x):
    return "  -  " if x is None else f"{x:.3f}"


def run(claims, embedder, thresholds):
    from kb.grounding.evaluate import evaluate_claims

    return evaluate_claims(claims, embedder, thresholds)


def audit_summary(result) -> dict:
    by = {}
    for item in result.items:
        k, n = by.get(item["group"], (0, 0))
        by[item["group"]] = (k + item["kept"], n + 1)
    bad = [by.get(g, (0, 0)) for g in ("PARTIAL", "UNSUPPORTED", "EMPTY")]
    kept_bad, n_bad = sum(k for k, _ in bad), sum(n for _, n in bad)
    sup = by.get("SUPPORTED", (0, 0))
    return {"rejected_bad": (n_bad - kept_bad) / n_bad if n_bad else None,
            "kept_supported": sup[0] / sup[1] if sup[1] else None,
            **{g: f"{k}/{n} kept" for g, (k, n) in sorted(by.items())}}


def line(name, ab, au) -> str:
    d = ab.to_dict()
    return (f"{name:<26} AB kept-P {_pct(d['kept_precision'])} recall {_pct(d['recall'])} "
            f"mF1 {_pct(d['macro_f1'])} | audit bad rejected {_pct(au['rejected_bad'])} "
            f"SUPPORTED kept {_pct(au['kept_supported'])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ablate", action="store_true", help="also run with each rule switched off alone")
    ap.add_argument("--timing", type=int, default=60, help="claims per file timed with an uncached embedder")
    ap.add_argument("--data", type=Path, default=DATA,
                    help="folder of the two files (default: ../shared/data/grounding)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N AttributionBench claims")
    args = ap.parse_args()
    data = args.data
    if not data.is_dir():
        sys.exit(f"no data at {data}")
    from kb.backends.embedders import get_embedder
    from kb.grounding.evaluate import read_claims
    from kb.grounding.types import Thresholds

    ab_claims = read_claims(data / "attributionbench-dev.jsonl")
    if args.limit:
        ab_claims = ab_claims[: args.limit]
    au_claims = read_claims(data / "digest-audit-2024-05-22.jsonl")
    inner = get_embedder("all-MiniLM-L6-v2")
    emb = CachedEmbedder(inner, CACHE)
    base = Thresholds()
    ab, au = run(ab_claims, emb, base), run(au_claims, emb, base)
    emb.save()
    print("AttributionBench dev:")
    d = ab.to_dict()
    for name, g in [("all", d)] + list(d["groups"].items()):
        print(f"  {name:<20} n {g['n']:>5} kept {g['kept']:>5}  kept-P {_pct(g['kept_precision'])}  recall "
              f"{_pct(g['recall'])}  reject-P {_pct(g['reject_precision'])}  macro-F1 {_pct(g['macro_f1'])}")
    print("digest audit 2024-05-22:")
    print("  " + "  ".join(f"{k}: {v if isinstance(v, str) else _pct(v)}" for k, v in audit_summary(au).items()))
    if args.ablate:
        from kb.grounding.align import RULES

        print("each rule switched off alone:")
        print(line("(all rules)", ab, audit_summary(au)))
        for rule in RULES:
            t = replace(base, disabled=frozenset({rule}))
            print(line(f"without {rule}", run(ab_claims, emb, t), audit_summary(run(au_claims, emb, t))))
        t = replace(base, disabled=frozenset(RULES))
        print(line("(no new rules)", run(ab_claims, emb, t), audit_summary(run(au_claims, emb, t))))
    if args.timing:
        from kb.backends.embedders import MemoEmbedder

        inner.embed(["warm up"])
        for name, claims in (("AttributionBench", ab_claims), ("audit", au_claims)):
            part = claims[: args.timing]
            t0 = time.perf_counter()
            for c in part:
                run([c], MemoEmbedder(inner), base)
            ms = 1000 * (time.perf_counter() - t0) / len(part)
            words = sum(len(" ".join(c.references).split()) for c in part) / len(part)
            print(f"{name}: {ms:.0f} ms per statement (fresh vectors; {words:.0f} reference words per statement)")


if __name__ == "__main__":
    main()
