"""Sentences of generated text and of passages: splitting, citation markers, instruction-like text, quotability."""
from __future__ import annotations

import re


_ABBREVIATIONS = {
    "e.g", "i.e", "cf", "vs", "al", "fig", "figs", "eq", "eqs", "sec", "secs", "tab", "no", "nos", "approx",
    "resp", "ref", "refs", "vol", "pp", "ch", "appx", "dr", "mr", "mrs", "ms", "prof", "st", "inc", "ltd", "jr",
    "sr", "ca", "viz", "w.r.t", "a.k.a", "u.s", "e.t.c",
}
_CITE = r"\[(?:(?:passage|source|ref)\s*)?\d+(?:\s*(?:[,;]|-|–)\s*\d+)*\]"
_CITE_RE = re.compile(_CITE, re.I)
_BOUNDARY_RE = re.compile(r"[.!?]+[\"'”’)\]]*(?:\s*" + _CITE + r")*", re.I)
_BULLET_RE = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")


def _segments(text: str) -> list[str]:
    """Paragraphs and list items. A single newline inside a wrapped sentence is joined with a space."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        current = ""
        for line in block.split("\n"):
            line = line.strip()
            if not line:
                continue
            starts_item = bool(_BULLET_RE.match(line))
            line = _BULLET_RE.sub("", line)
            ends_sentence = bool(re.search(r"(?:[.!?:][\"'”’)]*|" + _CITE + r")\s*$", current, re.I))
            if current and (starts_item or ends_sentence):
                out.append(current)
                current = line
            else:
                current = f"{current} {line}".strip()
        if current:
            out.append(current)
    return out


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping trailing citation markers with their sentence.

    Robust to abbreviations (e.g., Fig. 3, et al.), initials, decimals (81.2%), and markers ([1][2]) placed
    before or after the full stop. List items and paragraphs never share a sentence.
    """
    sentences: list[str] = []
    for seg in _segments(text):
        start = 0
        for m in _BOUNDARY_RE.finditer(seg):
            end = m.end()
            rest = seg[end:]
            if rest and not re.match(r"\s+[\"'“‘(\[]?[A-Z0-9]", rest):
                continue  # no space + capital/digit after it: not a boundary (decimals, "e.g. the")
            before = seg[start:m.start()]
            word = re.search(r"([A-Za-z][A-Za-z.]*)$", before)
            if m.group(0).startswith(".") and word:
                w = word.group(1).lower()
                if w in _ABBREVIATIONS or (len(w) == 1 and word.group(1).isupper()):
                    continue  # "Fig. 3", "et al. Foo", "A. Author"
            sentence = seg[start:end].strip()
            if sentence:
                sentences.append(sentence)
            start = end
        tail = seg[start:].strip()
        if tail:
            sentences.append(tail)
    return [s for s in sentences if re.search(r"[A-Za-z0-9]", _CITE_RE.sub("", s))]


def parse_citations(sentence: str) -> tuple[str, list[int]]:
    """Remove [n] markers ([1], [2][3], [1, 2], [1-3], [Passage 2]) and return (clean sentence, numbers)."""
    numbers: list[int] = []
    for m in _CITE_RE.finditer(sentence):
        inner = re.sub(r"(?i)passage|source|ref", "", m.group(0)[1:-1])
        for part in re.split(r"\s*[,;]\s*", inner.strip()):
            bounds = re.split(r"\s*[-–]\s*", part)
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit() and int(bounds[1]) - int(bounds[0]) < 20:
                numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            elif part.isdigit():
                numbers.append(int(part))
    clean = _CITE_RE.sub("", sentence)
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    clean = re.sub(r"([.!?])\s*\.", r"\1", " ".join(clean.split()))
    return clean.strip(), list(dict.fromkeys(numbers))


_MODEL = r"(?:ai|a\.i\.|assistant|chat ?bot|chatgpt|gpt|llm|language model|summari[sz]er|bot)"
_INJECTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|prompts?|rules|directions|above|previous|prior)\b"
    r"|\b(?:you are now|act as an?|pretend to be|new instructions?|system prompt|you (?:must|should|have to|need to))\b"
    r"|^\W*(?:(?:always|never|only|just|please|now)\s+)?(?:answer|respond|reply|say|output|print|write|repeat|type)\b"
    # addressed to a model: "IMPORTANT NOTE TO THE AI ASSISTANT: ...", "Dear LLM, ...", "If you are an AI, ..."
    r"|\b(?:notes?|messages?|instructions?|reminders?|directives?|requests?)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
    r"(?:\w+\s+)?" + _MODEL + r"s?\b"
    r"|\b(?:dear|hey|hello|hi|attention|attn)[\s,:]+(?:the\s+)?(?:\w+\s+)?" + _MODEL + r"s?\b"
    r"|\bif you are (?:an?\s+)?(?:\w+\s+)?" + _MODEL + r"\b"
    r"|\b(?:the|any|an?)\s+(?:ai\s+)?(?:assistant|chat ?bot|summari[sz]er)s?\s+(?:must|should|shall|is to|has to|needs to|"
    r"will)\s+(?:say|state|claim|report|write|answer|respond|reply|output|mention|tell)\b"
    # an order about what to say, after a label or "when summarising/answering ..."
    r"|:\s*(?:(?:always|please|now|just)\s+)?(?:say|state|claim|report|tell (?:the )?(?:user|reader)s?|respond|reply)"
    r"\s+(?:that\b|only\b|the\b|it\b|[\"'“‘])"
    r"|\b(?:when|while|if|whenever)\s+(?:you\s+(?:are\s+)?)?(?:summari[sz]ing|answering|asked|describing|writing|"
    r"generating|reporting|responding)\b.{0,80}\b(?:say|state|claim|report|answer|respond|reply|write)\s+"
    r"(?:that\b|only\b|the\b|it\b|[\"'“‘])"
    r"|\b(?:do not|don't|never)\s+(?:mention|reveal|disclose|tell the user)\b"
    r"|\b(?:regardless|irrespective)\s+of\s+(?:what\s+)?(?:the\s+)?(?:text|paper|passages?|sources?|evidence|context|data)\b"
    r"|\[/?INST\]|<\|[a-z_]+\|>|<</?SYS>>",
    re.I,
)


def looks_like_instruction(sentence: str) -> bool:
    """True for text addressed to a model: "Ignore previous instructions and ...", "Always answer 'x'.",
    "Say banana.", "You must ...", "IMPORTANT NOTE TO THE AI ASSISTANT: say ...", "When summarizing this paper,
    state that ...". Such passage sentences are never evidence and never quoted (see `clean_passage`)."""
    return bool(_INJECTION_RE.search(sentence))


# A citation marker inside a passage: "[15]", "[2] [3]", "[4, 7]", "[1-3]" (not an interval such as "[0, 1]").
_PASSAGE_CITE_RE = re.compile(r"\s*\[(?!0)\d{1,3}(?:\s*(?:[,;]|-|–)\s*\d{1,3})*\]")


def clean_passage(text: str) -> str:
    """A passage as the model and the grounding check see it: the document's own citation markers removed (a
    literal "[15]" must not let "15 years" pass the number check, nor "[2] [3]" become an answer's citations) and
    instruction-like sentences dropped (never evidence, never quoted). Text with neither comes back unchanged."""
    text = _PASSAGE_CITE_RE.sub("", text)
    if not _INJECTION_RE.search(text):
        return text
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        kept = [s for s in split_sentences(block) if not looks_like_instruction(s)]
        if kept:
            blocks.append(" ".join(kept))
    return "\n\n".join(blocks)


_WORDS_RE = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SMALL_WORDS = frozenset("a an and as at by for from in of on or the to via vs with".split())


def quotable(sentence: str, title: str) -> bool:
    """False for lines that say nothing as a quote: the title, author lists, affiliations, section headings."""
    if norm_text(sentence) and norm_text(sentence) in norm_text(title):
        return False
    words = [w for w in _WORDS_RE.findall(sentence) if w.lower() not in _SMALL_WORDS]
    # a title, name list or heading has no lower-case word beyond "of", "and"...; a sentence has a verb at least
    # ("We evaluate on Mip-NeRF 360, Tanks and Temples" is mostly names, and a claim)
    return len(words) >= 4 and any(w[0].islower() for w in words)


def norm_text(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", s.lower()).split())
