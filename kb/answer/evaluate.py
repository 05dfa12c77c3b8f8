"""`kb eval FILE.jsonl`: retrieval, answer citation, grounding and abstention metrics over a question set.

Each line is {"question": ..., "id": "<arXiv id or paper id>"} (the paper that answers it) or
{"question": ..., "expect": "none"} (nothing in the knowledge base answers it: kb must abstain).
Without a generator only retrieval and the abstention decision are evaluated (fast); with one, every question
goes through `kb.answer.ask.answer` and the answer's citations and grounding are scored too.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from kb.answer.ask import Relevance, answer, relevance_signals, should_abstain
from kb.answer.retrieval import Filters, RetrievalParams, check_query, search
from kb.types import KbError

CUTOFFS = (1, 5, 10)


def load_questions(path: str | Path) -> list[dict]:
    """Read a question file (JSON lines; blank lines and lines starting with # are skipped). Every problem is a
    KbError naming the file and line: unreadable or binary files, bad or too deeply nested JSON, a question that
    is not text, empty or too long."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise KbError(f"{p}: cannot read question file ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise KbError(f"{p}:{line}: not UTF-8 text (a binary file?); a question file is JSON lines") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise KbError(f"{p}:{line}: not text (NUL byte; a binary file?); a question file is JSON lines")
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise KbError(f"{p}:{i}: not valid JSON ({e.msg})") from e
        except RecursionError:
            raise KbError(f"{p}:{i}: JSON nested too deeply") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise KbError(f"{p}:{i}: each line needs a \"question\" (text)")
        try:
            check_query(item["question"], "question")
        except KbError as e:
            raise KbError(f"{p}:{i}: {e}") from None
        if "id" not in item and item.get("expect") != "none":
            raise KbError(f"{p}:{i}: each line needs an \"id\" (expected paper) or \"expect\": \"none\"")
        if "id" in item and not isinstance(item["id"], (str, int, float)):
            raise KbError(f"{p}:{i}: \"id\" must be a paper id (text)")
        out.append(item)
    if not out:
        raise KbError(f"{p}: no questions in the file")
    return out


def _ranks(found: list[str], expected: str | None) -> int | None:
    return found.index(expected) + 1 if expected in found else None


def recall_table(ranks: list[int | None]) -> dict:
    """Recall@1/5/10 and MRR for 1-based ranks (None = not found)."""
    n = len(ranks)
    if not n:
        return {"n": 0}
    table: dict = {"n": n}
    for c in CUTOFFS:
        table[f"recall@{c}"] = round(sum(1 for r in ranks if r is not None and r <= c) / n, 4)
    table["mrr"] = round(sum(1.0 / r for r in ranks if r is not None) / n, 4)
    return table


@dataclass
class EvalReport:
    mode: str
    generated: bool
    items: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        answerable = [i for i in self.items if not i["expect_none"] and i["expected"]]
        none = [i for i in self.items if i["expect_none"]]
        abstained = [i for i in self.items if i["abstained"]]
        tp = sum(1 for i in abstained if i["expect_none"])
        out: dict = {
            "questions": len(self.items), "answerable": len(answerable), "expect_none": len(none),
            "unknown_ids": [i["id"] for i in self.items if not i["expect_none"] and not i["expected"]],
            "mode": self.mode, "generated": self.generated,
            "retrieval": recall_table([i["retrieval_rank"] for i in answerable]),
            "abstention": {
                "precision": round(tp / len(abstained), 4) if abstained else None,
                "recall": round(tp / len(none), 4) if none else None,
                "abstained": len(abstained), "wrongly_abstained": len(abstained) - tp,
            },
            "seconds": round(self.seconds, 2),
        }
        if self.generated:
            sentences = sum(i["sentences"] for i in self.items)
            citations = sum(i["citations"] for i in self.items)
            out["answer"] = recall_table([i["answer_rank"] for i in answerable])
            out["grounding_pass_rate"] = round(sum(i["supported"] for i in self.items) / sentences, 4) if sentences else None
            out["citation_resolution"] = round(sum(i["resolved"] for i in self.items) / citations, 4) if citations else None
            out["generated_sentences"] = sentences
            out["fallback_answers"] = sum(1 for i in self.items if i.get("fallback"))
            out["invented_papers"] = sum(i["invented"] for i in self.items)
        return out

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "items": self.items}


def evaluate(lines: Iterable[dict], catalog, embedder, store, generator=None, *, mode: str = "hybrid", k: int = 10,
             filters: Filters | None = None, relevance: Relevance | None = None, max_tokens: int = 200,
             params: RetrievalParams | None = None, progress: Callable[..., None] | None = None,
             verifier=None) -> EvalReport:
    """Run every question; see the module docstring. `generator=None` evaluates retrieval + abstention only;
    `verifier`: passed on to `answer`."""
    questions = list(lines)
    rel = relevance or Relevance.for_embedder(getattr(embedder, "name", ""))
    report = EvalReport(mode=mode, generated=generator is not None)
    t0 = time.perf_counter()
    for idx, q in enumerate(questions):
        if progress:
            progress("question", index=idx, total=len(questions), title=q["question"])
        expect_none = q.get("expect") == "none"
        expected = None if expect_none else catalog.find_paper_id(str(q["id"]))
        res = search(q["question"], catalog, embedder, store, k=max(k, 10), filters=filters, mode=mode,
                     params=params, with_similarity=True)
        found = [p.paper_id for p in res.papers]
        item = {"question": q["question"], "id": q.get("id"), "expected": expected, "expect_none": expect_none,
                "retrieval_rank": _ranks(found, expected), "top": found[:3]}
        if generator is None:
            item["abstained"] = not res.papers or should_abstain(relevance_signals(q["question"], res, catalog), rel)
        else:
            ans = answer(q["question"], catalog, embedder, store, generator, k=k, filters=filters, mode=mode,
                         max_tokens=max_tokens, relevance=rel, params=params, verifier=verifier)
            item.update(_score_answer(ans, catalog, expected))
        report.items.append(item)
    if progress:
        progress("question", index=len(questions), total=len(questions), title="")
    report.seconds = time.perf_counter() - t0
    return report


def _score_answer(ans, catalog, expected: str | None) -> dict:
    cited = ans.cited_papers()
    from kb.prompts import NO_ANSWER

    # the model's own sentences (not fallback quotes), its "no answer" sentence aside: it claims nothing
    generated = [s for s in ans.sentences if s.action in ("kept", "replaced", "dropped") and s.shown != NO_ANSWER]
    resolved = 0
    shown_cites = [(n, s) for s in ans.shown for n in _markers(s)]
    by_n = {src.n: src for src in ans.sources}
    chunks = catalog.get_chunks([src.chunk_id for src in ans.sources])
    for n, _ in shown_cites:
        src = by_n.get(n)
        row = chunks.get(src.chunk_id) if src else None
        text = " ".join(row["text"].split()) if row is not None else ""
        if text and src.quote and all(q in text for q in src.quotes or [src.quote]):
            resolved += 1
    return {
        "abstained": ans.abstained, "answer_rank": None if ans.abstained else _ranks(cited, expected),
        "cited": cited, "answer": ans.text, "sentences": len(generated),
        "supported": sum(1 for s in generated if s.verdict.supported), "citations": len(shown_cites),
        "resolved": resolved, "fallback": ans.fallback,
        "invented": sum(1 for pid in cited if catalog.get_paper_row(pid) is None),
        "timings": ans.timings,
    }


def _markers(sentence: str) -> list[int]:
    from kb.grounding.sentences import parse_citations

    return parse_citations(sentence)[1]
