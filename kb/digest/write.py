"""Writing a field's statements from the sentences assigned to it, every one checked against exactly those sentences.

Two ways, chosen by `mode`:
- "transform" (the bundled small model): one call per statement asks for a transformation that stays close to
  its one or two sentences (compress, merge, method step, takeaway; the summary compresses its sentences), after
  the worked example of kb.prompts.TRANSFORM_EXAMPLES (a compression that deletes words). The wrapping a small
  model puts around its sentence (a preamble line, list marks, a "Reflection:" label) is taken off
  (`repair_reply`: nothing is added or reworded), and the reply's first sentence that makes a claim is checked
  by kb.grounding.check.ground against those sentences alone. One the check passes is still not kept when it
  strays (`_strays`, stricter than the check: it credits the paper or its title's names with what the sentence
  says of something else, borrows words of the example, brings two content words its sentences lack, or opens
  with "It" where its sentence names the subject) or when it is only the start of its sentence cut before the
  predicate (`_truncated`). The check itself runs with the transformation's thresholds (TRANSFORM_CHECK: no new
  content word but synonyms, at most two runs of the sentences' words). A reply that only copies its sentences
  is shown as the quote it is; a failed one gives way to the assigned sentence itself, quoted. A one-sentence
  group whose reply was no claim, a copy or a stray gets one more try with the plainest task ("shorten": delete
  words); its result goes through the same.
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
from kb.grounding.sentences import norm_text, parse_citations, quotable, split_sentences
from kb.grounding.types import CHECK_QUOTE, REJECTED_BY_VERIFIER, Passage, Thresholds
from kb.grounding.verify import verify_kept
from kb.grounding.terms import content_stems
from kb.prompts import DIGEST_FIELDS, TRANSFORM_EXAMPLE, TRANSFORM_EXAMPLES, digest_messages, transform_messages

MODES = ("auto", "transform", "free")

# A transformation (compress, merge, restate as a step or takeaway) needs no word its sentences do not have, give or
# take a synonym (kb.grounding.synonyms): a new content word is an invention ("a step-by-step approach", "to
# evaluate the performance of agents", "active dereliction" for "debris removal"). And it is made of at most two
# runs of its sentences' words (a cut, or one piece of each merged sentence): a sentence reassembled from more
# pieces rebinds them ("disagreements can be predicted from the sampling implementation" for "disagreements
# predict quality, stemming from the sampling"). On the 114 statements of the 2024-05-22 digest that the other
# thresholds kept, labelled by an independent reader (86 fully supported): at most two pieces keeps 88, 85% fully
# supported (15 wrong ones caught, 11 right ones lost); at most three keeps 104, 81%; any number, 75%.
TRANSFORM_CHECK = Thresholds(max_new_words=0, max_pieces=2)

# which transformation each field asks for (one sentence: first name; two sentences: second)
_TASK = {"summary": ("compress", "merge"), "steps": ("step", "merge"), "takeaways": ("takeaway", "merge"),
         "prior_methods": ("prior", "merge")}
# where a transformation's one sentence is over: the model starts a new paragraph, a passage or an instruction
_STOP = ["\n\n", "\n<", "<passage", "</passage", "\nPaper:", "\nRewrite", "\nCombine", "\nShorten"]
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

    def _generate(self, messages: list[dict], max_tokens: int, stop: list[str] | None = None) -> tuple[str, bool]:
        # a paper's first call starts from a clean model state (its text never depends on the paper before it);
        # later calls may reuse the shared system prompt
        gen = self.generator.generate(messages, max_tokens=max_tokens, reuse_prefix=not self.first_call, stop=stop)
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
        kept, quote = self._attempt(name, task, group, fallback)
        if kept is None and quote.verdict.get("retry") and len(group) == 1:
            # the reply was no sentence, or only its source again: ask once more for the plainest transformation
            self.stats["retries"] += 1
            kept, second = self._attempt(name, "shorten", group, fallback)
            self.stats["retries_kept"] += kept is not None
            if kept is None and second.action == "replaced" and quote.action != "replaced":
                quote = second  # the last model text checked is the one a reader of the JSON is shown
        if kept is not None:
            return kept
        quote.verdict.pop("retry", None)
        return quote

    def _attempt(self, name: str, task: str, group: list[RoledSentence],
                 fallback: list[RoledSentence]) -> tuple[Statement | None, Statement]:
        """One transformation of `group`: (the kept statement, None) or (None, the quote shown instead, whose
        verdict has "retry": True when the reply was no claim or a copy)."""
        texts = [" ".join(s.text.split()) for s in group]
        source = " ".join(texts)
        budget = min(72, self.generator.count_tokens(source) + 8)
        raw, cut = self._generate(transform_messages(task, self.title, texts), budget, _STOP)
        reply = repair_reply(raw, source, self.title)
        passage = Passage(n=1, chunk_id="", paper_id="", title=self.title, text=source)
        grounded = ground(reply, [passage], self.embedder, mode="drop", thresholds=TRANSFORM_CHECK)
        candidates = [gs for gs in grounded.sentences if parse_citations(gs.original)[0].strip()]
        first = None
        for i, gs in enumerate(candidates):  # the first sentence of the reply that makes a claim
            clean = _strip_label(parse_citations(gs.original)[0], source, self.title)
            unfinished = cut and i == len(candidates) - 1 and not re.search(r"[.!?)\]]\W*$", clean)
            if not (gs.reason in ("not-a-claim", "duplicate") or len(re.findall(r"\w+", clean)) < 4 or unfinished
                    or not quotable(clean, self.title)):
                first = gs
                break
        if first is None:
            self.stats["not_claims"] += 1
            v = _verdict(candidates[0].verdict) if candidates else {"status": "no-answer"}
            return None, self.quote(fallback, "quoted", raw, {**v, "reason": "not-a-claim", "retry": True})
        verdict = _verdict(first.verdict)
        self.stats["generated"] += 1
        strayed = _strays(clean, source, self.title, name) if first.verdict.supported else ""
        if not first.verdict.supported or strayed:
            # unsupported; or it credits the paper with what its sentences say of earlier work, of the field or of
            # a part ("However, existing methods overfit" -> "The paper's method overfits"), or adds words of its own
            self.stats["replaced"] += 1
            if strayed:
                verdict = {**verdict, "status": "unsupported", "reason": strayed, "retry": True}
            return None, self.quote(fallback, "replaced", raw, verdict)
        if _truncated(clean, texts):  # the start of its sentence, cut before its predicate
            self.stats["replaced"] += 1
            return None, self.quote(fallback, "replaced", raw, {**verdict, "status": "unsupported",
                                                                "reason": "fragment", "retry": True})
        if _copies(clean, texts):  # the model returned its source: that is a quote, shown as one
            self.stats["copied"] += 1
            return None, self.quote(fallback, "quoted", raw, {**verdict, "retry": True})
        if self.verifier is not None:  # a second opinion on what would be shown as the model's own statement
            verify_kept(clean, first.verdict, [passage], self.verifier)
            verdict = _verdict(first.verdict)
            if first.verdict.status == REJECTED_BY_VERIFIER:
                self.stats["replaced"] += 1
                self.stats["rejected_by_verifier"] += 1
                return None, self.quote(fallback, "replaced", raw, verdict)
        self.stats["kept"] += 1
        clean = clean if clean.endswith((".", "!", "?")) else clean + "."
        cites = list(dict.fromkeys(self.cite(s) for s in group))
        return Statement(clean, cites, "kept", raw, verdict, role=group[0].role, kind="compressed",
                         check=first.verdict.check), None

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


# What a small model writes around its sentence: a preamble line ("Here's a shorter version:"), a quoted rewrite
# after a label ('Rewritten sentence: "..."'), list marks, and a leading "The sentence says that".
_QUOTED_REWRITE = re.compile(r'\b(?:rewritten|revised|shorter|combined|new)(?: sentence| version| step| takeaway)?'
                             r'\s*:\s*["“](?P<s>[^"”]{12,})["”]', re.I)
_PREAMBLE = re.compile(r"^[^\n]{0,80}:\s*$")
_MARKS = re.compile(r"^\s*(?:[-*•]|\(?\d+[.)]|\(?[ivx]+\)|step\s*\d*\s*[:.])\s+", re.I)
_META = re.compile(r"^(?:in other words,\s*|(?:the |this )?(?:original |given )?(?:sentence|passage|text) "
                   r"(?:says|states|means|explains|notes) that\s+)", re.I)
_LABEL = re.compile(r"^(?P<w>[A-Za-z][\w-]*(?: [A-Za-z][\w-]*)?)\s*:\s+(?=[A-Z0-9(])")


def repair_reply(reply: str, source: str, title: str) -> str:
    """The model's reply without the wrapping a small model puts around its sentence: a rewrite quoted after a
    label is taken out of its quotes, preamble lines ending in ":" and list marks go, as does a leading "The
    sentence says that". Nothing is added or reworded; what remains is checked as the model's text."""
    m = _QUOTED_REWRITE.search(reply)
    if m:
        return m.group("s").strip()
    lines = [ln.strip() for ln in reply.strip().split("\n") if ln.strip()]
    while len(lines) > 1 and _PREAMBLE.match(lines[0]):
        lines.pop(0)
    out = []
    for ln in lines:
        for _ in range(3):  # "1. 2) We ..." -> "We ..."
            ln = _MARKS.sub("", ln, count=1)
        ln = _strip_label(_META.sub("", ln), source, title)
        out.append(ln[:1].upper() + ln[1:])
    return "\n".join(out)


def _strip_label(clean: str, source: str, title: str) -> str:
    """`clean` without a label the model put before its sentence ("Reflection: 3D ...", "Takeaway: ..."). A word
    of the paper's own before the colon ("MOSS: ...") is a name, not a label, and stays."""
    clean = _MARKS.sub("", clean).strip()
    m = _LABEL.match(clean)
    if m and not re.search(rf"\b{re.escape(m.group('w'))}\b", f"{source} {title}", re.I):
        clean = clean[m.end():]
    return clean


_EXAMPLE_STEMS = content_stems(" ".join([TRANSFORM_EXAMPLE[0]] + [" ".join([*e[1], e[2]])
                                                                  for e in TRANSFORM_EXAMPLES]))


def _strays(clean: str, source: str, title: str, field: str) -> str:
    """Why a rewrite the check passed still says more than its sentences, or "" (stricter than the check, which
    reads the title's names as evidence and accepts synonyms, kb.grounding.synonyms): "misattributed" when it
    credits the paper (or its title's names) with what its sentences say of something else, "example" when it
    borrows words of the prompt's worked example, "added-words" when it brings two or more content words its
    sentences lack (synonyms included), "pronoun" when it opens with "It" or "They" where its sentences name the
    subject ("It's thought to be hard for modern LLMs" from "Detecting text generated by modern LLMs is thought to
    be hard": the cut moved the claim onto whatever "it" is)."""
    if speaks_of_itself(clean) and not speaks_of_itself(source):
        return "misattributed"
    pronoun = _PRONOUN_SUBJECT.match(clean)
    if pronoun and not any(re.match(rf"^(?:\w+,\s+)?{pronoun.group(1)}\b", s, re.I) for s in split_sentences(source)):
        return "pronoun"
    words, own = content_stems(clean), content_stems(source)
    title_only = (words & content_stems(title)) - own
    if field != "summary" and len(title_only) >= 2:  # "its strategy" -> "The AtomGS strategy"
        return "misattributed"
    new = words - own - content_stems(title)
    if new & _EXAMPLE_STEMS:
        return "example"
    return "added-words" if len(new) >= 2 else ""


_PRONOUN_SUBJECT = re.compile(r"^\s*(it|they)(?:'s|’s)?\b", re.I)

_PREDICATE = re.compile(r"^\W*(?:is|are|was|were|has|have|had|can|could|will|would|may|might|must|should|does|do|"
                        r"did)\b", re.I)


def _truncated(clean: str, sources: list[str]) -> bool:
    """The reply is the first half of one of its sentences or less, cut off where no clause ends ("The module
    pairs." for "The module pairs primitives with meshes in one pass."), or it is cut where the rest is the
    subject's own predicate ("X, aiming at Y." for "X, aiming at Y, is a challenging problem."): a fragment, though
    every word of it is the sentence's. A cut that keeps most of the sentence drops a trailing phrase (fine)."""
    c = norm_text(clean)
    for s in sources:
        words = s.split()
        for i in range(1, len(words)):
            if norm_text(" ".join(words[:i])) == c:
                rest = " ".join(words[i:])
                boundary = re.search(r"[,;:]\s*$", words[i - 1]) or words[i - 1].endswith(".")
                return bool(_PREDICATE.match(rest)) if boundary else i < len(words) / 2
    return False


def _copies(clean: str, sources: list[str]) -> bool:
    """The reply is one of its sources, or their whole text, give or take punctuation and case."""
    c = norm_text(clean)
    return any(c == norm_text(s) for s in sources) or c == norm_text(" ".join(sources))
