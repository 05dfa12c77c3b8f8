"""Writing a field's statements from the sentences assigned to it, every one checked against exactly those sentences.

Two ways, chosen by `mode`:
- "transform" (the bundled small model): one call per statement asks for a transformation that stays close to
  its one or two sentences (compress, merge, one-sentence summary, method step, takeaway). The reply's first
  sentence is checked by kb.grounding.check.ground against those sentences alone; a reply that only copies them
  is shown as the quote it is; a failed one gives way to the assigned sentence itself, quoted.
- "free" (bigger models, `--model` / `--llm-url`): one call per field asks the field's question over the field's
  sentences as numbered passages; every sentence of the reply goes through the same check against them.
With a verifier (KB_VERIFIER, kb.backends.verifiers) each statement the check keeps (in transform mode: that is
not a copy of its sentences) is also put to it; one it rejects is treated like one that failed the check.
Each statement's `check` says what its shown text passed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from kb.digest.roles import RoledSentence, speaks_of_itself
from kb.digest.types import Statement
from kb.grounding.check import ground
from kb.grounding.sentences import norm_text, parse_citations, quotable
from kb.grounding.types import CHECK_QUOTE, REJECTED_BY_VERIFIER, Passage, Thresholds
from kb.grounding.verify import verify_kept
from kb.prompts import DIGEST_FIELDS, digest_messages, transform_messages

MODES = ("auto", "transform", "free")

# A transformation (compress, merge, restate as a step or takeaway) needs no word its sentences do not have, give or
# take a synonym (kb.grounding.synonyms): a new content word is an invention ("a step-by-step approach", "to
# evaluate the performance of agents", "active dereliction" for "debris removal").
TRANSFORM_CHECK = Thresholds(max_new_words=0)

# which transformation each field asks for (one sentence: first name; two sentences: second)
_TASK = {"summary": ("summary", "summary"), "steps": ("step", "merge"), "takeaways": ("takeaway", "merge"),
         "prior_methods": ("prior", "merge")}
_FREE_TOKENS = {"summary": 64, "takeaways": 160, "steps": 140}


def resolve_mode(mode: str, generator) -> str:
    """"auto": transformations for the bundled 135M model (and the test fakes), free-form for anything bigger."""
    if mode not in MODES:
        raise ValueError(f"unknown digest generation mode {mode!r} ({' | '.join(MODES)})")
    if mode != "auto":
        return mode
    name = str(getattr(generator, "name", "")).lower()
    return "transform" if ("135m" in name or name == "fake") else "free"


@dataclass
class Writer:
    """Writes statements for one paper. `cite(sentence) -> n` numbers the paper's sources."""

    title: str
    generator: object
    embedder: object
    cite: Callable[[RoledSentence], int]
    stats: dict
    mode: str = "transform"
    first_call: bool = True
    verifier: object = None  # optional, kb.backends.verifiers: a second opinion on what the check keeps

    def _generate(self, messages: list[dict], max_tokens: int) -> tuple[str, bool]:
        # a paper's first call starts from a clean model state (its text never depends on the paper before it);
        # later calls may reuse the shared system prompt
        gen = self.generator.generate(messages, max_tokens=max_tokens, reuse_prefix=not self.first_call)
        self.first_call = False
        self.stats["calls"] += 1
        self.stats["prompt_tokens"] += gen.prompt_tokens
        self.stats["completion_tokens"] += gen.completion_tokens
        self.stats["generation_seconds"] += gen.seconds
        return gen.text, gen.completion_tokens >= max_tokens

    def quote(self, group: list[RoledSentence], action: str = "quoted", generated: str = "",
              verdict: dict | None = None) -> Statement:
        text = " ".join(" ".join(s.text.split()) for s in group)
        cites = list(dict.fromkeys(self.cite(s) for s in group))
        return Statement(text, cites, action, generated, verdict, role=group[0].role, kind="quote", check=CHECK_QUOTE)

    def field(self, name: str, groups: list[list[RoledSentence]]) -> list[Statement]:
        if not groups:
            return []
        if self.mode == "free":
            return self._free(name, groups)
        return [self._transform(name, g) for g in groups]

    # ----------------------------------------------------------------------------------------- transformations

    def _transform(self, name: str, group: list[RoledSentence]) -> Statement:
        fallback = group[:1] if name == "summary" else group  # the summary falls back to what the paper does
        tasks = _TASK.get(name, ("compress", "merge"))
        task = tasks[0] if len(group) == 1 else tasks[1]
        texts = [" ".join(s.text.split()) for s in group]
        source = " ".join(texts)
        budget = min(72, self.generator.count_tokens(source) + 8)
        reply, cut = self._generate(transform_messages(task, self.title, texts), budget)
        passage = Passage(n=1, chunk_id="", paper_id="", title=self.title, text=source)
        grounded = ground(reply, [passage], self.embedder, mode="drop", thresholds=TRANSFORM_CHECK)
        first = next((gs for gs in grounded.sentences if parse_citations(gs.original)[0].strip()), None)
        if first is None:
            self.stats["not_claims"] += 1
            return self.quote(fallback, "quoted", reply, {"status": "no-answer"})
        clean = parse_citations(first.original)[0]
        # list marks and labels the model puts before its sentence ("- ", "Step 1:", "Reflection: ...")
        clean = re.sub(r"^\s*(?:[-*•]|\d+[.)]|step\s*\d*\s*[:.]|takeaway\s*:)\s*", "", clean, flags=re.I).strip()
        clean = re.sub(r"^[A-Z][\w-]*\s*:\s+(?=[A-Z])", "", clean)
        verdict = _verdict(first.verdict)
        unfinished = cut and len(grounded.sentences) == 1 and not re.search(r"[.!?)\]]\W*$", clean)
        if first.reason in ("not-a-claim", "duplicate") or len(re.findall(r"\w+", clean)) < 4 or unfinished or \
                not quotable(clean, self.title):
            self.stats["not_claims"] += 1
            return self.quote(fallback, "quoted", reply, {**verdict, "reason": "not-a-claim"})
        self.stats["generated"] += 1
        if not first.verdict.supported or (speaks_of_itself(clean) and not speaks_of_itself(source)):
            # unsupported, or it credits the paper with what its sentences say of earlier work or of the field
            # ("However, existing methods overfit" -> "The paper's method overfits")
            self.stats["replaced"] += 1
            if first.verdict.supported:
                verdict = {**verdict, "status": "unsupported", "reason": "misattributed"}
            return self.quote(fallback, "replaced", reply, verdict)
        if _copies(clean, texts):  # the model returned its source: that is a quote, shown as one
            self.stats["copied"] += 1
            return self.quote(fallback, "quoted", reply, verdict)
        if self.verifier is not None:  # a second opinion on what would be shown as the model's own statement
            verify_kept(clean, first.verdict, [passage], self.verifier)
            verdict = _verdict(first.verdict)
            if first.verdict.status == REJECTED_BY_VERIFIER:
                self.stats["replaced"] += 1
                self.stats["rejected_by_verifier"] += 1
                return self.quote(fallback, "replaced", reply, verdict)
        self.stats["kept"] += 1
        clean = clean if clean.endswith((".", "!", "?")) else clean + "."
        cites = list(dict.fromkeys(self.cite(s) for s in group))
        return Statement(clean, cites, "kept", reply, verdict, role=group[0].role, kind="compressed",
                         check=first.verdict.check)

    # ----------------------------------------------------------------------------------------- free-form

    def _free(self, name: str, groups: list[list[RoledSentence]]) -> list[Statement]:
        sentences = [s for g in groups for s in g]
        passages = [Passage(n=i + 1, chunk_id="", paper_id="", title=self.title, text=" ".join(s.text.split()))
                    for i, s in enumerate(sentences)]
        reply, cut = self._generate(digest_messages(name, self.title, passages), _FREE_TOKENS.get(name, 100))
        grounded = ground(reply, passages, self.embedder, mode="replace", focus=DIGEST_FIELDS[name],
                          verifier=self.verifier)
        out: list[Statement] = []
        last = len(grounded.sentences) - 1
        for i, gs in enumerate(grounded.sentences):
            clean = parse_citations(gs.original)[0]
            v = _verdict(gs.verdict)
            # no citations on a kept sentence: the model's "no answer" (a dropped one has none either: it failed)
            if (gs.action == "kept" and not gs.citations) or gs.reason in ("not-a-claim", "duplicate") or \
                    not quotable(clean, self.title) or (cut and i == last and not re.search(r"[.!?)\]]\W*$", clean)):
                self.stats["not_claims"] += 1
                out.append(Statement("", [], "dropped", gs.original, {**v, "reason": "not-a-claim"}))
                continue
            self.stats["generated"] += 1
            self.stats[gs.action] += 1
            self.stats["rejected_by_verifier"] += gs.verdict.status == REJECTED_BY_VERIFIER
            if gs.action == "dropped":
                out.append(Statement("", [], "dropped", gs.original, {**v, "reason": "unsupported"}))
            elif gs.action == "replaced":
                src = sentences[gs.verdict.quote_passage - 1]
                out.append(self.quote([src], "replaced", gs.original, v))
            else:
                cited = [sentences[n - 1] for n in gs.citations]
                cites = list(dict.fromkeys(self.cite(s) for s in cited))
                out.append(Statement(clean, cites, "kept", gs.original, v, role=cited[0].role, kind="generated",
                                     check=gs.verdict.check))
        if not any(s.shown for s in out):
            out.append(self.quote(groups[0]))
        return out


def _verdict(v) -> dict:
    d = {"status": v.status, "score": v.score, "overlap": v.overlap, "similarity": v.similarity,
         "missing": list(v.missing)}
    if v.verifier_score is not None:
        d["verifier_score"] = v.verifier_score
    return d


def _copies(clean: str, sources: list[str]) -> bool:
    """The reply is one of its sources, or their whole text, give or take punctuation and case."""
    c = norm_text(clean)
    return any(c == norm_text(s) for s in sources) or c == norm_text(" ".join(sources))
