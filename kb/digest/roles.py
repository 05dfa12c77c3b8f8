"""The rhetorical role of each source sentence, and which digest field reads which sentences.

Every sentence of a paper's evidence (its abstract, and with a PDF the body) gets one role: background, gap
(earlier work and what it lacks), contribution (what this paper does), method (a step or part of it), result (what
it achieved, with numbers), significance (why it matters), resource (code, data, project page) or other. The
classifier is a few cue-phrase rules plus the sentence's position and section kind: abstracts follow a near-fixed
order (context, gap, "we propose", how, results, outlook, code), so a sentence without a cue takes the role its
neighbours suggest. Deterministic, no model, microseconds per sentence.

`allocate` then hands the sentences to the digest's fields by role, each sentence to at most one field (the
Summary alone may restate the contribution and the headline result): prior work reads only sentences about
earlier work, a link or code release only ever goes to Urls, never to results or steps.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.grounding.terms import content_stems
from kb.grounding.sentences import norm_text

# Bump when a rule change can move a sentence to another field (part of the cache key).
# 2: "our" of everyone ("our visual world") is not the paper; announcements of contributions are "other";
# "we show that it is possible to ..." is what the paper does, not a result.
ROLE_VERSION = "2"

ROLES = ("background", "gap", "contribution", "method", "result", "significance", "resource", "other")


def _re(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


_URL = _re(r"https?://|www\.|github\.com|\bgithub\b|huggingface\.co")
_RESOURCE = _re(
    r"\b(?:code|codes|source code|implementation|models?|weights|checkpoints?|data(?:set)?s?|benchmark|demos?|"
    r"videos?|project page|website|materials?)\b[^.]{0,60}\b(?:(?:is|are|will be|would be|has been|have been|"
    r"be|made)\s+(?:publicly |freely |openly )?(?:available|released|accessible|open[- ]sourced?)|can be found)|\b(?:we|will) (?:release|open-source|make)\b[^.]{0,60}\b(?:code|data|models?|available|"
    r"public)|\bproject page\b|\bpublicly available\b")
_FIRST_PERSON = _re(r"\b(?:we|our|us)\b|\bthe proposed\b|\bthis (?:paper|work|study|article|letter|survey|review)\b|"
                    r"\b(?:in|with) this (?:paper|work)\b|\bhere,")
_CONTRIBUTION = _re(
    r"\b(?:we|this (?:paper|work|study|article|letter))\s+(?:\w+ly\s+)?(?:propose|present|introduce|develop|devise|"
    r"put forward|contribute|offer|formulate|tackle|address|explore|investigate|study|examine|survey|review|"
    r"provide|analy[sz]e|establish|report|describe|demonstrate that|pioneer|unveil|build|design|create|curate|"
    r"construct a (?:new |novel )?(?:dataset|benchmark))\w*\b|"
    r"\b(?:in this (?:paper|work|study|letter|article)|to (?:this end|address|tackle|overcome|solve|bridge|fill|"
    r"mitigate|alleviate|remedy) (?:these|this|the|such)\b|here,? we)\b|"
    r"\b(?:called|dubbed|named|termed|coined)\b|\bthis (?:survey|review|tutorial)\b|"
    r"\b(?:our|the proposed) (?:method|approach|framework|model|system|pipeline|technique|algorithm)\b[^.]{0,20}"
    r"\b(?:is|are)\b[^.]{0,10}\b(?:first|novel|new)\b")
_SURVEY = _re(r"\b(?:this|our|the present) (?:survey|review|tutorial|overview)\b|\bwe (?:survey|review)\b|"
              r"\b(?:comprehensive|systematic|thorough) (?:survey|review|overview)\b")
_GAP = _re(
    r"\b(?:however|nevertheless|nonetheless|unfortunately|despite|although)\b|"
    r"\b(?:existing|previous|prior|earlier|current|conventional|traditional|classical|mainstream|recent|most|"
    r"many|state-of-the-art|sota|typical)\s+(?:\w+\s+){0,3}?(?:methods?|approaches|works?|techniques|"
    r"models|systems|studies|solutions|pipelines|frameworks|algorithms|research|efforts|literature|attempts)\b|"
    r"\b(?:suffer|struggle|fail|lack|limited|limitation|hinder|remain[s]? (?:a |an )?(?:open|challeng|difficult|"
    r"unclear|unexplored|underexplored)|overlook|neglect|ignore|insufficient|inadequate|costly|expensive|"
    r"prohibitive|bottleneck|drawback|shortcoming|challenging|difficult|problematic|inaccura)\w*\b")
_RESULT = _re(
    r"\b(?:outperform|surpass|exceed|beat)\w*\b|\b(?:state[- ]of[- ]the[- ]art|sota|superior|favorabl[ey])\b|"
    r"\b(?:experiment|evaluation|result|ablation|comparison|test|benchmark|user stud)\w*\b[^.]{0,60}\b(?:show|"
    r"demonstrat|confirm|indicat|reveal|verif|validat|prove|highlight|suggest)\w*|"
    r"\b(?:we|our (?:method|approach|model|framework|system))\b[^.]{0,20}\b(?:show|demonstrat|validat|verif|"
    r"evaluat|confirm)\w*\b|\d+(?:\.\d+)?\s*(?:%|x\b|×|times\b|dB\b|fps\b|FPS\b)")
# weaker result words: a result only with a number or an experiment word next to them
_RESULT_WEAK = _re(r"\b(?:achiev|attain|improv|reduc|boost|speed[s -]?up|accelerat|competitive|comparable)\w*\b")
_SIGNIFICANCE = _re(
    r"\b(?:pav(?:e|es|ing) the way|opens? (?:up )?(?:new|the)|we (?:believe|hope|envision|anticipate)|"
    r"implications?|(?:could|can|may|might) (?:be (?:used|applied|beneficial|useful|extended)|benefit|facilitate|"
    r"serve|inspire|enable)|broader|future (?:research|work|studies|directions)|promising (?:direction|avenue|"
    r"step|tool)|valuable (?:insight|resource|tool)|step (?:forward|towards?)|a new (?:paradigm|perspective)|"
    r"potential (?:to|for|applications?)|practical (?:applications?|use|value)|real-world applications?)\b")
_METHOD = _re(
    r"\b(?:specifically|first(?:ly)?|second(?:ly)?|then|next|finally|subsequently|afterwards|moreover|"
    r"furthermore|additionally|in addition|meanwhile|besides)\b\s*,?|"
    r"\b(?:we|it|our (?:method|approach|framework|model|system|pipeline))\s+(?:\w+ly\s+)?(?:use|employ|leverage|"
    r"adopt|apply|exploit|utili[sz]e|incorporate|integrate|combine|construct|train|learn|optimi[sz]e|model|"
    r"represent|encode|decode|extract|predict|estimate|fuse|condition|first|then|further|also|consist|compris|"
    r"contain|design|introduce a|add|replace|initiali[sz]e|render|generate|map|project|compute|define|formulate|"
    r"regulari[sz]e|enforce|guide|distill|fine-tune|finetune|inject|align|decompose)\w*\b|"
    r"\b(?:module|branch|encoder|decoder|loss|network|block|layer|mechanism|strategy|stage|component|head)s?\b"
    r"[^.]{0,40}\b(?:is|are)\s+(?:\w+ly\s+)?(?:designed|proposed|introduced|used|employed|applied|adopted|"
    r"built|constructed|developed|trained)\b|\b(?:by|via|through) (?:\w+ing)\b|\bconsists? of\b|"
    r"\b(?:during|in) (?:the )?(?:training|inference|testing|test) (?:process|phase|stage|time)?\b|"
    r"\bthe (?:key|core|main) idea\b")

# Section kinds and the role a sentence there takes when no cue says otherwise
_SECTION_DEFAULT = {"related": "gap", "method": "method", "experiments": "result", "conclusion": "significance",
                    "introduction": "background", "appendix": "other", "body": "other"}
_EVIDENCE_KINDS = ("abstract", "introduction", "related", "method", "experiments", "conclusion", "body", "appendix")
_COST = _re(r"\b(?:GPUs?|TPUs?|hours?|minutes?|seconds?|ms\b|milliseconds?|real[- ]time|fps\b|frames per second|"
            r"memory|VRAM|GB\b|parameters|params|FLOPs|latency|throughput|inference (?:time|speed)|training (?:time|"
            r"cost)|faster|speed[s -]?up|\d+(?:\.\d+)?\s*[x×]\b)", )
_METRIC = _re(r"\b\d+(?:\.\d+)?\s*(?:%|x\b|×|dB\b|fps\b|times\b)|\b\d+\.\d+\b")
_NOVEL_STRONG = _re(r"\b(?:novel|for the first time|unlike|in contrast to|different from)\b")
_NOVEL = _re(r"\b(?:novel|first|new|unlike|in contrast to|different from|instead of|rather than|for the first time)\b")


# "our" of everyone, not of the authors ("images found in our visual world"): no sign the sentence is the paper's
_GENERIC_OUR = _re(r"\bour\s+(?:\w+\s+)?(?:world|lives|life|society|environment|surroundings|planet|brains?|eyes|"
                   r"senses|everyday|daily|species|universe|bodies)\b")
# A sentence that only announces the contributions listed after it ("... our paper presents three key
# contributions.", "Our contributions are as follows:") says nothing of them itself.
_ANNOUNCE = _re(r"\bcontributions?\s*[.:]?\s*$|"
                r"\bcontributions?\b[^.]{0,40}\b(?:as follows|below|following)\s*[.:]?\s*$")

_SELF = _re(r"\b(?:the|this|our|present|current) (?:paper|work|study|article|letter|survey|method|approach|"
            r"framework|authors?)(?:'s)?\b|\b(?:we|our|us)\b|\bthe proposed\b")


def speaks_of_itself(text: str) -> bool:
    """The text speaks of the paper itself ("the paper's strategy", "we", "the proposed method")."""
    return bool(_SELF.search(text))


def classify(sentence: str, kind: str = "abstract", position: float = 0.0, previous: str = "") -> str:
    """The role of one sentence. `kind`: its chunk's section kind; `position`: 0..1 within its section (abstract);
    `previous`: the role of the sentence before it in the same section ("" for the first)."""
    s = " ".join(sentence.split())
    if _URL.search(s) or _RESOURCE.search(s):
        return "resource"
    if _ANNOUNCE.search(s):
        return "other"
    first = bool(_FIRST_PERSON.search(_GENERIC_OUR.sub(" ", s)))
    if kind == "related" and not first:
        return "gap"
    if _CONTRIBUTION.search(s) and not (kind in ("experiments",) and _RESULT.search(s)):
        if _RESULT.search(s) and re.search(r"\b(?:show|demonstrat|outperform|achiev)\w*", s, re.I) and \
                not re.search(r"\b(?:propose|present|introduce)\w*|\bthat it is (?:possible|feasible)\b", s, re.I):
            return "result"
        return "contribution"
    evaluated = bool(_METRIC.search(s) or re.search(r"\b(?:experiment|result|evaluat|benchmark|dataset)", s, re.I))
    if (_RESULT.search(s) or (_RESULT_WEAK.search(s) and evaluated)) and (first or _METRIC.search(s) or previous in (
            "result", "method", "contribution")):
        return "result"
    if _SIGNIFICANCE.search(s) and (position >= 0.5 or kind == "conclusion"):
        return "significance"
    if _GAP.search(s) and not first:
        return "gap"
    if _METHOD.search(s) and (first or previous in ("contribution", "method")):
        return "method"
    if first:  # "We ..." with no other cue: what the paper does, in the order of the abstract
        return "method" if previous in ("contribution", "method") else "contribution"
    if kind in _SECTION_DEFAULT and kind != "introduction":
        return _SECTION_DEFAULT[kind]
    if previous in ("", "background", "gap") and position < 0.5:
        return "background"
    if previous in ("contribution", "method"):
        return "method"
    if previous == "result" and position > 0.6:
        return "result"
    if _SIGNIFICANCE.search(s):
        return "significance"
    return "background" if position < 0.4 else "other"


@dataclass
class RoledSentence:
    """One sentence of the paper's evidence with its role. `chunk`: the index of its chunk in the chunk list."""

    idx: int  # reading order over the whole paper
    text: str
    role: str
    chunk: int
    kind: str  # the section kind it comes from

    @property
    def cost(self) -> bool:
        return bool(_COST.search(self.text))


def sentence_roles(sections: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Roles of the sentences of each (section kind, sentences) pair, in order."""
    out = []
    for kind, sentences in sections:
        roles: list[str] = []
        for i, s in enumerate(sentences):
            position = i / max(1, len(sentences) - 1) if len(sentences) > 1 else 0.0
            roles.append(classify(s, kind, position, roles[-1] if roles else ""))
        if is_survey(sentences):  # what a survey "does" is what it covers: no method of its own
            roles = ["contribution" if r == "method" else r for r in roles]
        out.append(roles)
    return out


def is_survey(sentences: list[str]) -> bool:
    """The paper says it is a survey / review (in its first sentences that speak of the paper itself)."""
    return any(_SURVEY.search(s) for s in sentences)


# ---------------------------------------------------------------------------------------------------------------
# allocation: which field reads which sentences


@dataclass
class Allocation:
    """For each digest field, groups of sentences; each group becomes one statement."""

    groups: dict[str, list[list[RoledSentence]]] = field(default_factory=dict)
    survey: bool = False

    def sentences(self, name: str) -> list[RoledSentence]:
        return [s for g in self.groups.get(name, []) for s in g]


# How many statements each field may have (each statement rests on one sentence, or two adjacent ones)
LIMITS = {"background": 1, "prior_methods": 1, "method": 1, "innovation": 1, "steps": 3, "results": 1,
          "significance": 1, "workload": 1, "takeaways": 3}


def _pairs(sentences: list[RoledSentence], limit: int, merge: bool) -> list[list[RoledSentence]]:
    """Up to `limit` groups; with `merge`, two adjacent short sentences of the same role share one group."""
    out: list[list[RoledSentence]] = []
    i = 0
    while i < len(sentences) and len(out) < limit:
        a = sentences[i]
        b = sentences[i + 1] if i + 1 < len(sentences) else None
        if merge and b is not None and b.idx == a.idx + 1 and len(a.text) + len(b.text) <= 320:
            out.append([a, b])
            i += 2
        else:
            out.append([a])
            i += 1
    return out


def allocate(sentences: list[RoledSentence], survey: bool = False, exclude: set[int] = frozenset()) -> Allocation:
    """Hand sentences to fields by role; each sentence goes to one field at most. The summary restates the first
    contribution (and the headline result) without using them up. `exclude`: sentences (idx) no field but the
    summary may use (the summary shows them verbatim)."""
    used: set[int] = set(exclude)
    by_role = {r: [s for s in sentences if s.role == r] for r in ROLES}
    alloc = Allocation(survey=survey)

    def free(items):
        return [s for s in items if s.idx not in used]

    def take(name: str, groups: list[list[RoledSentence]]) -> None:
        groups = [g for g in groups if g]
        if groups:
            alloc.groups[name] = groups
            used.update(s.idx for g in groups for s in g)

    contributions = by_role["contribution"]
    results = by_role["result"]
    # the headline result the summary restates: one with a number ("experiments show it works" is no headline)
    headline = next((s for s in results if _METRIC.search(s.text)), None)
    what = contributions[0] if contributions else (by_role["method"][0] if by_role["method"] else None)
    if what is not None:
        alloc.groups["summary"] = [[what] + ([headline] if headline is not None and headline.idx != what.idx
                                             and len(what.text) + len(headline.text) <= 420 else [])]
    take("background", _pairs(free(by_role["background"]), LIMITS["background"], merge=True))
    take("prior_methods", _pairs(free(by_role["gap"]), LIMITS["prior_methods"], merge=True))
    if not survey:  # a survey proposes no method of its own
        take("method", [free(contributions)[:1] or free(by_role["method"])[:1]])
    # what is new: a further contribution with a novelty word, or a method sentence that sets itself apart
    novel = [s for s in free(contributions) if _NOVEL.search(s.text)] + \
        [s for s in free(by_role["method"]) if _NOVEL_STRONG.search(s.text)]
    take("innovation", [(novel or free(contributions))[:1]])
    if not survey:
        take("steps", [[s] for s in free(by_role["method"])[:LIMITS["steps"]]])
    plain = [s for s in free(results) if not s.cost]
    ordered = ([headline] if headline is not None and headline in plain else []) + \
        [s for s in plain if s is not headline]  # the headline result first
    take("results", [[s] for s in (ordered or free(results))[:LIMITS["results"]]])
    take("workload", [[s] for s in [s for s in free(results + by_role["method"]) if s.cost][:1]])
    take("significance", [free(by_role["significance"])[:1]])
    # takeaways: what no other field took, findings and contributions first, then context, in reading order
    first = free(by_role["result"] + by_role["contribution"] + by_role["method"] + by_role["significance"])
    context = free(by_role["background"] + by_role["gap"])
    rest = sorted(first, key=lambda s: s.idx)[:LIMITS["takeaways"]]
    rest += sorted(context, key=lambda s: s.idx)[:LIMITS["takeaways"] - len(rest)]
    take("takeaways", [[s] for s in sorted(rest, key=lambda s: s.idx)])
    return alloc


# ---------------------------------------------------------------------------------------------------------------
# repeated statements


def repeats(a: str, b: str) -> bool:
    """Two statements say the same: equal, one within the other, or 80% of their content words shared."""
    na, nb = norm_text(a), norm_text(b)
    if not na or not nb:
        return False
    if na == nb or (min(len(na), len(nb)) >= 25 and (na in nb or nb in na)):
        return True
    sa, sb = content_stems(a), content_stems(b)
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= 0.8


def covers(statement: str, sentence: str, share: float = 0.6) -> bool:
    """`statement` says most of what `sentence` says: at least `share` of its content words."""
    words = content_stems(sentence)
    return bool(words) and len(words & content_stems(statement)) / len(words) >= share
