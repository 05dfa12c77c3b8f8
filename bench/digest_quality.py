"""How readable and how honest a day's digest is, for this checkout and for a baseline version, in one run.

Run: `python bench/digest_quality.py [--date 2024-05-22] [--baseline main] [--limit N] [--threads 2] [--serial]`.

The day's digest pages (../shared/data/digests/DATE) are ingested into a temporary KB_HOME with the bundled embedder;
then each version (this checkout, and `--baseline`, a git ref checked out with `git archive` into a temp folder)
writes the day's digest with the bundled models in its own process, no cache. By default both run at the same
time (each with --threads), so both see the same load on a shared machine; `--serial` runs one after the other.
Reported per version, over the generated fields (summary ... workload; urls, affiliation, keywords excluded):
- statements shown, and statements that repeat an earlier one of the same paper (kb.digest.roles.repeats);
- quote share (verbatim quotes among shown statements) and generated share (the rest);
- share of the model's statements that passed the check (kept / checked);
- fields "not stated", and apart from them fields covered elsewhere ("nothing further": other fields show their
  sentences); link or code-release sentences outside Urls; prior-work statements about the paper itself
  ("the paper's ...", "we ...", or what the role classifier reads as a contribution, method or result);
- seconds per paper (wall) and CPU seconds per paper of the digest process.
Role accuracy of kb.digest.roles on the labelled fixtures (tests/fixtures/roles.json) is reported once.
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

from kb.digest.roles import classify, repeats, sentence_roles, speaks_of_itself  # noqa: E402

GENERATED = ("summary", "takeaways", "background", "prior_methods", "method", "results", "steps", "significance",
             "innovation", "workload")
SHOWN = ("kept", "replaced", "quoted", "extracted")

_RUN = r"""
import json, sys, time
from kb.store.catalog import Catalog
from kb.digest.day import build_digest
from kb.backends.embedders import get_embedder
from kb.backends.generators import get_generator
catalog_path, date, limit, threads, out = sys.argv[1:6]
emb = get_embedder("all-MiniLM-L6-v2")
gen = get_generator("smollm2-135m-instruct", n_threads=int(threads))
cat = Catalog(catalog_path)
t, c = time.perf_counter(), time.process_time()
d = build_digest(date, cat, emb, gen, limit=int(limit) if limit != "0" else None)
data = d.to_dict()
data["bench_seconds"] = time.perf_counter() - t
data["bench_cpu_seconds"] = time.process_time() - c
open(out, "w").write(json.dumps(data))
"""


def ingest_day(day: Path, folder: Path) -> Path:
    from kb.backends.embedders import get_embedder
    from kb.ingest.pipeline import ingest
    from kb.store.catalog import Catalog
    from kb.store.vectors import MemoryStore

    path = folder / "catalog.sqlite"
    catalog = Catalog(path)
    report = ingest([str(day)], catalog, get_embedder("all-MiniLM-L6-v2"), MemoryStore())
    catalog.close()
    if report.errors:
        raise SystemExit(f"ingest failed: {report.errors}")
    return path


def checkout(ref: str, folder: Path) -> Path:
    """The tracked files of `ref` in folder/baseline (`git archive`: the repository's worktree list is untouched)."""
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for link, target in (("kb_cli", "cli"), ("kb_models", "models")):
        if (tree / target).exists() and not (tree / link).exists():
            (tree / link).symlink_to(target)
    return tree


def start(tree: Path, catalog: Path, args, out: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    script = catalog.parent / f"run-{name}.py"
    script.write_text(_RUN)
    # each version digests its own copy of the catalog (a run writes nothing to it, but keeps them apart)
    own = catalog.parent / f"catalog-{name}.sqlite"
    own.write_bytes(catalog.read_bytes())
    return subprocess.Popen([sys.executable, str(script), str(own), args.date, str(args.limit), str(args.threads),
                             str(out)], cwd=str(tree), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def measure(data: dict) -> dict:
    papers = data["papers"]
    shown = repeats_n = quotes = not_stated = covered = links = prior_self = 0
    checked = kept = 0
    kinds: dict[str, int] = {}
    with_repeats = 0
    for p in papers:
        seen: list[str] = []
        before = repeats_n
        for name in GENERATED:
            f = p["fields"].get(name)
            if f is None:
                continue
            sts = [s for s in f["statements"] if s["action"] in SHOWN and s["text"]]
            not_stated += not sts and f.get("note") != "covered"
            covered += not sts and f.get("note") == "covered"  # "nothing further": shown under other fields
            for s in sts:
                shown += 1
                quote = s["action"] in ("replaced", "quoted")
                quotes += quote
                kind = s.get("kind") or ("quote" if quote else "generated")
                kinds[kind] = kinds.get(kind, 0) + 1
                repeats_n += any(repeats(s["text"], t) for t in seen)
                seen.append(s["text"])
                links += classify(s["text"]) == "resource"
                if name == "prior_methods" and (speaks_of_itself(s["text"]) or classify(
                        s["text"], "abstract", 0.3, "background") in ("contribution", "method", "result")):
                    prior_self += 1
        with_repeats += repeats_n > before
        st = p["stats"]
        checked += st.get("generated", 0)
        kept += st.get("kept", 0)
    n = len(papers)
    secs = data.get("bench_seconds", 0.0)
    return {"papers": n, "statements_shown": shown, "repeats_within_paper": repeats_n,
            "papers_with_repeats": with_repeats, "quote_share": round(quotes / shown, 3) if shown else None,
            "generated_share": round(1 - quotes / shown, 3) if shown else None, "kinds": kinds,
            "checked": checked, "kept": kept, "kept_share": round(kept / checked, 3) if checked else None,
            "fields_not_stated": not_stated, "fields_covered_elsewhere": covered, "links_outside_urls": links,
            "prior_work_about_itself": prior_self,
            "seconds_per_paper": round(secs / n, 2) if n else None,
            "cpu_seconds_per_paper": round(data.get("bench_cpu_seconds", 0.0) / n, 2) if n else None}


def role_accuracy(path: Path, pages: Path | None = None) -> dict:
    """Accuracy of the role classifier on labelled papers: [{"title", "kind", "sentences": [[text, role]...]}], or
    {arxiv_id: [role per abstract sentence]} for papers of the digest pages in `pages` (their text is read there)."""
    items = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(items, dict):
        if pages is None or not pages.is_dir():
            return {"skipped": f"no pages at {pages}"}
        from kb.grounding.sentences import split_sentences
        from kb.ingest.parsers.digest import parse_digest

        abstracts = {p.arxiv_id: p.abstract for f in sorted(pages.glob("*.md")) for p in parse_digest(f).papers}
        items = [{"title": k, "kind": "abstract", "sentences": list(zip(split_sentences(abstracts[k]), v))}
                 for k, v in items.items() if not k.startswith("_") and k in abstracts]
    right = total = 0
    confusions: dict[str, int] = {}
    for paper in items:
        texts = [t for t, _ in paper["sentences"]]
        got = sentence_roles([(paper.get("kind", "abstract"), texts)])[0]
        for (t, want), g in zip(paper["sentences"], got):
            total += 1
            right += g == want
            if g != want:
                confusions[f"{want}->{g}"] = confusions.get(f"{want}->{g}", 0) + 1
    return {"papers": len(items), "sentences": total, "accuracy": round(right / total, 3) if total else None,
            "confusions": dict(sorted(confusions.items(), key=lambda kv: -kv[1])[:8])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--date", default="2024-05-22")
    ap.add_argument("--pages", default=str(ROOT.parent / "shared" / "data" / "digests"))
    ap.add_argument("--baseline", default=None, help="git ref of the version to compare with (default: where this "
                    "branch left main, `git merge-base HEAD main`)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N papers (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--serial", action="store_true", help="run the versions one after the other")
    ap.add_argument("--keep", default="", help="folder to keep both digests' JSON in")
    ap.add_argument("--baseline-json", default="", help="reuse the baseline digest kept by an earlier --keep run "
                    "instead of writing it again (for iterating; ratios then compare two runs)")
    args = ap.parse_args()
    fixtures = sorted((ROOT / "tests" / "fixtures").glob("roles*.json"))
    day = Path(args.pages) / args.date
    report: dict = {"role_accuracy": {f.name: role_accuracy(f, day) for f in fixtures}}
    if not day.is_dir():
        print(json.dumps({**report, "skipped": f"no pages at {day}"}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="kb-quality-") as tmp:
        folder = Path(tmp)
        catalog = ingest_day(day, folder)
        if args.baseline is None:
            args.baseline = subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], check=True,
                                           capture_output=True, text=True).stdout.strip()
        base = checkout(args.baseline, folder)
        outs = {"new": folder / "new.json", "baseline": folder / "baseline.json"}
        trees = {"new": ROOT, "baseline": base}
        procs = {}
        if args.baseline_json:
            outs["baseline"] = Path(args.baseline_json)
        for name in ("baseline", "new"):
            if name == "baseline" and args.baseline_json:
                continue
            procs[name] = start(trees[name], catalog, args, outs[name], name)
            if args.serial:
                _wait(procs[name], name)
        for name, proc in procs.items():
            if not args.serial:  # a serial run waited for each one already
                _wait(proc, name)
        for name in ("baseline", "new"):
            data = json.loads(outs[name].read_text())
            report[name] = measure(data)
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                (Path(args.keep) / f"{name}.json").write_text(outs[name].read_text())
    b, n = report["baseline"], report["new"]
    report["ratios_new_over_baseline"] = {
        k: round(n[k] / b[k], 3) for k in ("seconds_per_paper", "cpu_seconds_per_paper", "statements_shown")
        if n.get(k) and b.get(k)}
    report["baseline_ref"] = args.baseline
    report["mode"] = ("baseline reused from " + args.baseline_json if args.baseline_json else
                      "serial" if args.serial else "parallel (same load on both)")
    print(json.dumps(report, indent=2, ensure_ascii=False))


def _wait(proc: subprocess.Popen, name: str) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{name} digest failed:\n{err.decode(errors='replace')[-3000:]}")


if __name__ == "__main__":
    main()
