"""`kb eval-grounding FILE.jsonl`: the grounding check measured on human-labelled claims.

Each line holds a claim, the reference passages it should rest on, and a human label, in the AttributionBench
format (Li et al., 2024, arXiv:2402.15089): {"claim": ..., "references": [...], "attribution_label":
"attributable" | "not attributable"} (other keys ignored; `src_dataset` groups the figures). kb's own audit
format is read too: {"statement": ..., "cited": [{"text": ...}, ...], "label": "SUPPORTED" | "PARTIAL" |
"UNSUPPORTED" | "EMPTY"}, SUPPORTED counting as attributable (the label then groups the figures).

Every claim is checked with every reference cited, exactly as a generated sentence citing them all would be.
The figures: kept-precision (the share of kept claims that are attributable: what a reader can trust), recall
(the share of attributable claims kept), reject-precision (the share of rejected claims that are not
attributable) and macro-F1 over the two classes.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from kb.grounding.check import check_sentence
from kb.grounding.types import Embedder, Passage, Thresholds, Verdict
from kb.types import KbError

_TITLE_RE = re.compile(r"^\s*Title:\s*(.*?)\s*(?:\n|$)")


@dataclass
class LabelledClaim:
    claim: str
    references: list[str]
    attributable: bool
    group: str = ""  # src_dataset, or the audit label
    title: str = ""  # the paper's title when the file names one


def _parse_line(data: object, where: str) -> LabelledClaim:
    if not isinstance(data, dict):
        raise KbError(f"{where}: expected a JSON object")
    if "claim" in data:
        refs, label = data.get("references"), data.get("attribution_label")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise KbError(f"{where}: 'references' must be a list of strings")
        if label not in ("attributable", "not attributable"):
            raise KbError(f"{where}: 'attribution_label' must be \"attributable\" or \"not attributable\"")
        if not isinstance(data["claim"], str):
            raise KbError(f"{where}: 'claim' must be a string")
        return LabelledClaim(data["claim"], refs, label == "attributable", str(data.get("src_dataset") or ""))
    if "statement" in data:
        cited, label = data.get("cited"), data.get("label")
        if not isinstance(cited, list) or not all(isinstance(c, dict) and isinstance(c.get("text"), str)
                                                  for c in cited):
            raise KbError(f"{where}: 'cited' must be a list of objects with a 'text'")
        if label not in ("SUPPORTED", "PARTIAL", "UNSUPPORTED", "EMPTY"):
            raise KbError(f"{where}: 'label' must be SUPPORTED, PARTIAL, UNSUPPORTED or EMPTY")
        return LabelledClaim(str(data["statement"]), [c["text"] for c in cited], label == "SUPPORTED", label,
                             str(data.get("paper") or ""))
    raise KbError(f"{where}: needs 'claim', 'references' and 'attribution_label'")


def read_claims(path: str | Path) -> list[LabelledClaim]:
    """The labelled claims of a JSON-lines file; a bad line raises KbError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise KbError(f"{path}: cannot read ({e.strerror or e})") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise KbError(f"{path}:{i}: not valid JSON ({e.msg})") from None
        out.append(_parse_line(data, f"{path}:{i}"))
    if not out:
        raise KbError(f"{path}: no claims")
    return out


def reference_passages(references: Sequence[str], title: str = "") -> list[Passage]:
    """References as passages [1]..[k]; a leading "Title: ..." line becomes the passage's title."""
    out = []
    for n, ref in enumerate(references, 1):
        m = _TITLE_RE.match(ref)
        ref_title, text = (m.group(1), ref[m.end():]) if m else (title, ref)
        out.append(Passage(n=n, chunk_id=f"ref{n}", paper_id=f"ref{n}", title=ref_title, text=text.strip()))
    return out


def judge_claim(claim: LabelledClaim, embedder: Embedder, thresholds: Thresholds | None = None) -> Verdict:
    """The check's verdict on `claim` citing all its references."""
    passages = reference_passages(claim.references, claim.title)
    markers = "".join(f"[{p.n}]" for p in passages)
    body = claim.claim.strip()
    return check_sentence(f"{body} {markers}" if markers else body, passages, embedder, thresholds)


@dataclass
class Scores:
    n: int = 0
    tp: int = 0  # attributable, kept
    fp: int = 0  # not attributable, kept
    fn: int = 0  # attributable, rejected
    tn: int = 0  # not attributable, rejected

    def add(self, attributable: bool, kept: bool) -> None:
        self.n += 1
        if kept:
            self.tp, self.fp = self.tp + attributable, self.fp + (not attributable)
        else:
            self.fn, self.tn = self.fn + attributable, self.tn + (not attributable)

    def to_dict(self) -> dict:
        def div(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        def f1(p: float | None, r: float | None) -> float:
            return 2 * p * r / (p + r) if p and r else 0.0

        kp, rec = div(self.tp, self.tp + self.fp), div(self.tp, self.tp + self.fn)
        rp, rrec = div(self.tn, self.tn + self.fn), div(self.tn, self.tn + self.fp)
        return {"n": self.n, "attributable": self.tp + self.fn, "kept": self.tp + self.fp,
                "kept_precision": kp, "recall": rec, "reject_precision": rp, "reject_recall": rrec,
                "macro_f1": round((f1(kp, rec) + f1(rp, rrec)) / 2, 4)}


@dataclass
class GroundingEval:
    overall: Scores = field(default_factory=Scores)
    groups: dict[str, Scores] = field(default_factory=dict)
    ms_per_claim: float = 0.0
    items: list[dict] = field(default_factory=list)  # per claim: group, attributable, kept, missing

    def to_dict(self) -> dict:
        return {**self.overall.to_dict(), "ms_per_claim": round(self.ms_per_claim, 1),
                "groups": {k: v.to_dict() for k, v in sorted(self.groups.items())}}


def evaluate_claims(claims: Iterable[LabelledClaim], embedder: Embedder, thresholds: Thresholds | None = None,
                    judge: Callable[..., Verdict] = judge_claim,
                    progress: Callable[..., None] | None = None) -> GroundingEval:
    """Check every claim and score the verdicts against the labels. `judge(claim, embedder, thresholds)` is
    the check under test (the default: `judge_claim`)."""
    claims = list(claims)
    out = GroundingEval()
    spent = 0.0
    for i, c in enumerate(claims, 1):
        t0 = time.perf_counter()
        verdict = judge(c, embedder, thresholds)
        spent += time.perf_counter() - t0
        kept = verdict.supported
        out.overall.add(c.attributable, kept)
        if c.group:
            out.groups.setdefault(c.group, Scores()).add(c.attributable, kept)
        out.items.append({"group": c.group, "attributable": c.attributable, "kept": kept,
                          "missing": list(verdict.missing)})
        if progress:
            progress("claim", done=i, total=len(claims))
    out.ms_per_claim = 1000 * spent / len(claims) if claims else 0.0
    return out


def evaluate_file(path: str | Path, embedder: Embedder, thresholds: Thresholds | None = None,
                  progress: Callable[..., None] | None = None) -> GroundingEval:
    """`evaluate_claims` over the claims of a JSON-lines file (see `read_claims`)."""
    return evaluate_claims(read_claims(path), embedder, thresholds, progress=progress)
