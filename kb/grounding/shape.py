"""Whether a generated sentence is a claim at all, and the word tokens the window rules read.

`claim_shape` says why some text is no claim: a link, a heading or list fragment, a dependent clause cut from its
sentence ("if you're using the Save As method"), a name with only a relative clause ("Slicedit, a method for video
editing that leverages a T2I model."), or talk about the text ("the paper mentions ...", "described in detail in the
article"). `words` tokenises for the rules of kb.grounding.align ("n't" and difficulty phrases read as "not").
"""
from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"[a-z]+(?:'t)?")

_URL_RE = re.compile(r"https?://\S+|www\.\S+|\]\(\S*\)|\S+\.(?:github\.io|com|org|net)\S*", re.I)
_META_RE = re.compile(
    r"\b(?:paper|article|text|passage|document|source|section|study|authors?|it|this)\s+(?:also\s+|further\s+|"
    r"briefly\s+|only\s+)?(?:does not |doesn't |do not |did not )?(?:mention|mentions|mentioned|talks? about|"
    r"touch(?:es)? (?:on|upon)|refers? to)\b"
    r"|\b(?:described|discussed|explained|detailed|covered|outlined)\s+in\s+(?:more\s+|further\s+|greater\s+)?"
    r"detail\b"
    r"|\b(?:is|are|was|were)\s+not\s+(?:mentioned|discussed|described|stated|specified|provided|given|explained)\b"
    r"|\b(?:no|any)\s+(?:information|mention|details?)\s+(?:on|about|of|regarding)\b",
    re.I)
_BASE_VERBS = frozenset("""
achieve use show make take give find get run reach yield improve outperform produce allow enable lead learn
require remain become go create select add open click check keep set put sing sang sung win won hold held made
found gave took got ran went came began led told said saw knew built grew wrote bought brought kept left lost met
paid sent sold spent stood taught thought understood became fell felt
""".split())
_NOUN_BEFORE = frozenset("""
with of for to in on from by at into onto via the a an their its our his her these those this that each every all
some many several few both various multiple
""".split())
_SUBORDINATORS = frozenset("if when whenever because although though while since unless whether which that or and but "
                           "as so".split())
CONNECTIVES = frozenset("""
additionally also furthermore moreover meanwhile finally first second third lastly despite however therefore thus
hence overall instead similarly consequently nevertheless nonetheless besides likewise accordingly specifically
notably importantly generally typically ultimately alternatively conversely otherwise indeed still yet then next
""".split())
_DANGLING = frozenset("is are was were the a an of and or than its their".split())
_FINITE_HINT = frozenset("""
is are was were be been being am has have had do does did can could will would may might shall should must
""".split())


# Difficulty read as negation: "existing methods struggle to handle X" / "face challenges when handling X" say they
# do not handle X; a shortening that drops the phrase ("It handles X") affirms what the source negates.
_DIFFICULTY_RE = re.compile(
    r"\b(?:struggl(?:e|es|ed|ing)|(?:face|faces|faced|facing)\s+(?:\w+\s+)?(?:challenges?|difficult(?:y|ies))"
    r"(?:\s+(?:when|in|with))?)\b")


def words(text: str) -> list[str]:
    """Lower-case word tokens with "n't" read as "not" and hyphens joined ("state-of-the-art" -> one word)."""
    text = re.sub(r"n['’]t\b", " not", text.lower())
    text = _DIFFICULTY_RE.sub(" not ", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", "", text)
    return _TOKEN_RE.findall(text)


_APPOSITIVE_RE = re.compile(r"^([^,]{1,60}),\s+(?:a|an|the)\s[^,]*?\b(?:that|which|who)\b([^,]*)$", re.I)


def _appositive_only(sentence: str) -> bool:
    """A name, a noun phrase after its comma, and a relative clause with the only verb: "X, a method for Y that
    does Z." -- no main clause. Not "In short, the model that we train reaches 80%" (an opening phrase), nor
    "X, a tribe that lived there prompted Y" (a second verb: the main one)."""
    m = _APPOSITIVE_RE.match(sentence.strip().rstrip("."))
    lead = words(m.group(1))[:1] if m else []
    if not m or not lead or lead[0] in CONNECTIVES | _NOUN_BEFORE | _SUBORDINATORS | _OPENERS:
        return False
    head = words(m.group(1))
    if any(w in _FINITE_HINT or w in _PRONOUNS for w in head) or any(_verb_like(w) for w in head[1:]):
        return False  # "We propose FewSplat, a model that ...": the verb is before the comma
    rel = words(m.group(2))
    verbs = [w for prev, w in zip(["that"] + rel, rel)
             if prev not in _NOUN_BEFORE and (w in _FINITE_HINT or _verb_like(w))]
    return len(verbs) <= 1


_OPENERS = frozenset("in on at as after before during upon under within".split())
_PRONOUNS = frozenset("we they i you he she it".split())


def claim_shape(sentence: str) -> str:
    """Why `sentence` is no claim ("link", "fragment", "meta-talk"), or "" for a claim."""
    if _URL_RE.search(sentence):
        return "link"
    ws = words(sentence)
    letters = [t for t in re.findall(r"[A-Za-z][A-Za-z'’\-]*", sentence)]
    small = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "via", "with"}
    lower = [t for t in letters if t[0].islower() and t.lower() not in small]
    if ws and ws[0] in _SUBORDINATORS and sentence.lstrip()[:1].islower():
        return "fragment"  # "if you're using the Save As method": a dependent clause cut from its sentence
    if len(letters) < 4 or not lower or sentence.rstrip().endswith((":", ";", ",", "-")):
        return "fragment"  # a heading, a name list, a cut-off line
    if ws and ws[-1] in _DANGLING or any(not re.search(r"[A-Za-z]", c) for c in sentence.split(";")[1:]):
        return "fragment"  # "The dataset used is [1].", "... generation; 3": cut off, or a list's debris
    subject = any(w in ("we", "they", "i", "you", "he", "she", "it", "who", "that") for w in ws[:-1])
    # "HUGS" is a name, no verb; nor is an -s word after a preposition or determiner ("editing with images")
    lowered = [t.lower() for prev, t in zip(letters, letters[1:])
               if not any(c.isupper() for c in t) and prev.lower() not in _NOUN_BEFORE]
    lowered += [letters[0].lower()] if letters and letters[0].lower() in _BASE_VERBS else []  # "Select ..."
    if not subject and not any(w in _FINITE_HINT for w in ws) and not any(_verb_like(w) for w in lowered):
        return "fragment"  # no verb at all: a noun phrase
    if _appositive_only(sentence):
        return "fragment"  # "Slicedit, a method for video editing that leverages a T2I model.": a noun phrase
    head, colon, rest = sentence.partition(":")
    if colon and len(head.split()) <= 4 and rest.strip() and claim_shape(rest.strip()) == "fragment":
        return "fragment"  # "The 3D VTON: A new approach to editing with images." -- a heading and a noun phrase
    if _META_RE.search(sentence):
        return "meta-talk"
    return ""


def _verb_like(w: str) -> bool:
    """A crude finite-verb test for a word after the first: -s/-ed forms ("uses", "improved") and a few irregulars."""
    if w in _BASE_VERBS:
        return True
    return len(w) > 3 and (w.endswith("ed") or (w.endswith("s") and not w.endswith(("ss", "us", "is", "ics"))))
