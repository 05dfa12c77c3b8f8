"""Alignment of a generated sentence onto one place of its cited passages.

Word overlap with the cited passages as a whole, and embedding similarity, are high for the errors a small model
makes most: the right words with the wrong binding (a number or qualifier attached to another quantity, a module
credited with another module's role), a true clause followed by an invented one (", which is then used as a
baseline"), an invented qualifier ("the first to", "with high accuracy"), an absence or negation the text does
not state. So a sentence must also align onto a *window* -- one sentence of a cited passage, or two adjacent ones,
with the passage's title -- that passes every rule below at once:

- coverage: the window holds at least `min_window_overlap` of the sentence's content words (so the words are
  bound together as in one source statement, not gathered from all over the passages);
- clauses: each clause of the sentence (split at ", which", "; ", ", while", ", allowing" ...) holds at least
  `min_clause_overlap` of its own content words in that window (a true clause does not carry an invented one);
- purpose: "using A to do B" needs A and B in one piece of a window sentence (between commas, "and", "which"):
  the source has A do B, not A do one thing and another part B ("uses NeRF to estimate pose" when NeRF renders
  training views and a network estimates pose);
- question (kb ask): a word the sentence shares with the user's question is in that window too (a small model
  echoes the question into a true sentence about something else);
- facts: every number and name of the sentence is in that window (facts bound together as the source binds them),
  and so is a capitalised first word ("Pink sang ...": a name or the subject, not a connective like "Moreover");
- qualifiers: every evaluative, novelty or comparison word ("first", "novel", "significantly", "accurate",
  "robust", "better") is one the window uses too, and a hedge or quantifier the window puts right before a word
  the sentence keeps ("predominantly operate", "many existing") or on a number it keeps ("approximately
  300,000", "over 90%") is kept, or another in its place;
- quotes: what the sentence puts in quotation marks is in the window (its sentences or title) as a run of the
  same content words ("sings 'Gone Gone Gone'" fails on a page that only has "Since U Been Gone");
- polarity: a sentence states a negation or absence ("does not", "fails to", "lacks") only when the window does,
  and does not drop a negation the window states about the same words (two or more of them: one shared word is
  often chance -- "No. 20 on the chart", "unlike ISM, which ...").

Independently of the window, `claim_shape` (kb.grounding.shape) says why some text is no claim at all: a link, a
heading or list fragment, a dependent clause cut from its sentence ("if you're using the Save As method"), a name
with only a relative clause, or talk about the text ("the paper mentions ...", "described in detail in the
article").

Each rule has a name in RULES; `Thresholds.disabled` switches rules off one at a time to measure what each adds
(bench/grounding_eval.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

from kb.grounding.bounds import Bounds, number_bounds, unbounded
from kb.grounding.phrases import contains, quoted
from kb.grounding.shape import CONNECTIVES, claim_shape, words  # noqa: F401 - claim_shape is part of this API
from kb.grounding.synonyms import synonym_key, synonym_keys
from kb.grounding.terms import (FILLER, STOPWORDS, content_stems, entity_keys, fact_entities, fact_numbers,
                                number_set, stem)

# Hedges and quantifiers: a shortening that drops one ("Recent world models operate ..." for "... predominantly
# operate ...") states more than its source.
HEDGES = frozenset("""
may might could often usually typically predominantly mostly partially partly some many most several largely
primarily generally potentially sometimes rarely occasionally frequently commonly possibly likely seem seems
seemingly apparently probably perhaps arguably presumably approximately roughly nearly almost
""".split())
# Words between a hedge and the word it qualifies ("seems to be essential"): read past them.
_HEDGE_SKIP = frozenset("to be been that the a an".split())

RULES = ("claim_shape", "coverage", "binding", "purpose", "clauses", "facts", "qualifiers", "polarity", "question",
         "quotes")


# Negation and absence. "n't" forms are normalised to "not" first.
_NEGATIONS = frozenset("""
not no never none nor neither without cannot unable fail fails failed failing lack lacks lacked lacking absent
absence nothing nobody nowhere unlike
""".split())

# Evaluative, novelty and comparison words: a sentence may use one only when its window does (word families
# share a key, so "accurate" is backed by "accuracy" and "novel" by "new").
_QUALIFIER_FAMILIES = {
    "novel": "novel first pioneer pioneering unprecedented",
    "only": "only sole solely unique uniquely exclusively",
    "signific": "significant significantly substantial substantially considerable considerably dramatically "
                "drastically greatly markedly remarkable remarkably",
    "accura": "accurate accurately precise precisely",
    "high": "high highly",
    "efficien": "efficient efficiently efficiency",
    "robust": "robust robustly robustness",
    "effectiv": "effective effectively effectiveness",
    "superior": "superior better best outperform outperforms outperformed outperforming surpass surpasses "
                "surpassed exceed exceeds exceeded",
    "worse": "worse worst inferior underperform underperforms",
    "stateoftheart": "stateoftheart sota",
    "comprehensive": "comprehensive thorough extensive extensively",
    "fast": "fast faster fastest quick quickly rapid rapidly realtime speedup",
    "crucial": "crucial essential critical vital key",
    "major": "major important importance",
    "easy": "easy easily simple simply",
    "strong": "strong strongly",
    "excellent": "excellent outstanding impressive",
    "previous": "previous previously prior traditional conventional existing",
    "largest": "largest biggest greatest highest most",
    "smallest": "smallest lowest least fewest",
    "already": "already",
    "all": "all always every",
    "common": "common commonly widely",
}
_QUALIFIER = {w: key for key, words in _QUALIFIER_FAMILIES.items() for w in words.split()}
_ALSO_BACKED_BY = {"novel": "new", "stateoftheart": "best outperform outperforms surpass surpasses"}

# Where a clause ends and another begins: a relative or participle clause after a comma, a semicolon, a contrast.
_CLAUSE_SPLIT_RE = re.compile(
    r";\s+|,\s+(?=(?:which|where|while|whereas|thereby|thus|hence|so that|making|allowing|enabling|leading|"
    r"resulting|providing|ensuring|as it|as they|as this|because|since|but|and (?:then|thus|also|is|are|was|were|"
    r"it|they|this|can))\b)|\s+(?=(?:which is|which are|which was|which were|which can|which has|which then)\b)",
    re.I)

def negated(ws: Iterable[str]) -> bool:
    return any(w in _NEGATIONS for w in ws)


def qualifiers(ws: Iterable[str]) -> dict[str, str]:
    """The evaluative words among `ws` as {family key: word as written}."""
    out: dict[str, str] = {}
    for w in ws:
        key = _QUALIFIER.get(w)
        if key and key not in out:
            out[key] = w
    return out


def clauses(sentence: str) -> list[str]:
    """The clauses of a sentence: split at a semicolon and before relative, participle and contrast clauses."""
    parts = [p.strip(" ,;") for p in _CLAUSE_SPLIT_RE.split(sentence)]
    return [p for p in parts if p]


@dataclass
class Window:
    """One passage sentence, or two adjacent ones, with the passage's title."""

    passage: int
    stems: set[str]
    words: set[str]  # every word, stemmed and as written (qualifier and negation tests)
    numbers: set[str]
    keys: set[str]
    negated: set[str]  # content stems of the words a negation in the window applies to ("not X Y Z")
    parts: tuple[set[str], ...] = ()  # a two-sentence window: each sentence's content stems (without the title's)
    texts: tuple[str, ...] = ()  # the window's sentences (without the title)
    title: str = ""  # the passage's title, whole (the quotes rule)

    # Computed on first use: only a sentence that says "using A to do B" reads `pieces`, and only a
    # transformation's stricter thresholds (kb.digest.write) read `syn` and `seq`.
    @cached_property
    def pieces(self) -> tuple[frozenset, ...]:
        """The content stems of each comma- or clause-delimited piece of the window's sentences."""
        return tuple(frozenset(content_stems(p)) for t in self.texts for p in _PIECE_RE.split(t))

    @cached_property
    def syn(self) -> frozenset:
        """kb.grounding.synonyms keys of `stems`."""
        return frozenset(synonym_keys(self.stems))

    @cached_property
    def hedged(self) -> frozenset:
        """The stems of the words a hedge or quantifier stands right before ("predominantly operate", "many
        existing"): a sentence that keeps such a word keeps a hedge too."""
        out = set()
        for t in self.texts:
            ws = re.findall(r"[a-z]+|\d+", t.lower().replace("-", ""))  # with numbers: "approximately 300" hedges
            for i, x in enumerate(ws):  # the number (kb.grounding.bounds), not the word after it
                if x in HEDGES:
                    after = [y for y in ws[i + 1: i + 4] if y not in _HEDGE_SKIP][:1]
                    out.update(stem(y) for y in after if len(y) > 3 and y.isalpha())
        return frozenset(out)

    @cached_property
    def bounds(self) -> Bounds:
        """Its numbers' hedges and bounds ("approximately 300,000", "over 90%"): kb.grounding.bounds."""
        return number_bounds(" ".join(self.texts))

    @cached_property
    def acronyms(self) -> frozenset:
        """Its all-capital names of three letters or more ("DIAMOND", "SPEAK"), lower-cased."""
        return frozenset(a.lower() for t in self.texts for a in re.findall(r"\b[A-Z]{3,}\b", t))

    @cached_property
    def quoted(self) -> tuple[str, ...]:
        """`seq` with the title's (the quotes rule: a quoted song title may be the page's title)."""
        return self.seq + ("",) + key_sequence(self.title)

    @cached_property
    def seq(self) -> tuple[str, ...]:
        """The content words in reading order, as synonym keys (the pieces rule)."""
        return key_sequence(" ".join(self.texts))


@dataclass
class SentenceInfo:
    stems: set[str]
    words: set[str]
    numbers: set[str]
    keys: set[str]
    negated: set[str]
    text: str = ""


_PIECE_RE = re.compile(r"[,;:()]|\s(?:and|which|while|whereas|but|then)\s")


def _negated_stems(ws: list[str], reach: int = 4) -> set[str]:
    out: set[str] = set()
    for i, w in enumerate(ws):
        if w in _NEGATIONS:
            out |= content_stems(" ".join(ws[i + 1: i + 1 + reach])) | {"_"}
    return out


def sentence_info(sentence: str) -> SentenceInfo:
    ws = words(sentence)
    return SentenceInfo(content_stems(sentence), set(ws) | {stem(w) for w in ws}, number_set(sentence),
                        entity_keys(sentence), _negated_stems(ws), sentence)


def windows(n: int, infos: Sequence[SentenceInfo], title: str) -> list[Window]:
    """The windows of a passage numbered `n`: each sentence alone and each two adjacent, with the title's names.

    Only the names (kb.grounding.align.title_names), numbers and name keys of the title join each window: its
    other words would let a sentence bind anything to the paper's topic ("supports manipulation with end-to-end
    learning of mesh and appearance" held together by the title "Direct Learning of Mesh and Appearance").
    Measured against the whole title: AttributionBench dev kept-precision 0.875 -> 0.881, recall 0.316 -> 0.309;
    audit file bad statements rejected 78% -> 86%, SUPPORTED kept 55% -> 49% (the three lost restate the
    title: "starts from the problem of creating 3D Gaussians for mirror reflection reconstruction"). A window
    of the title alone, tried as well, let one more bad statement through and kept no more good ones."""
    full = sentence_info(title) if title else SentenceInfo(set(), set(), set(), set(), set())
    names = sentence_info(" ".join(title_names(title))) if title else full
    t = SentenceInfo(names.stems, names.words, full.numbers, full.keys, set())
    out = [Window(n, s.stems | t.stems, s.words | t.words, s.numbers | t.numbers, s.keys | t.keys, s.negated,
                  texts=(s.text,), title=title) for s in infos]
    for a, b in zip(infos, infos[1:]):
        out.append(Window(n, a.stems | b.stems | t.stems, a.words | b.words | t.words,
                          a.numbers | b.numbers | t.numbers, a.keys | b.keys | t.keys, a.negated | b.negated,
                          (a.stems, b.stems), (a.text, b.text), title))
    return out


def title_names(title: str) -> list[str]:
    """The names in a title, whatever its capitalisation: what precedes a colon ("MeshFlow: ..."), CamelCase,
    acronyms and words with digits ("3DGS", "NeRF", "Kinetics-400"); not its title-cased ordinary words."""
    head, colon, _ = title.partition(":")
    out = head.split() if colon and len(head.split()) <= 3 else []
    out += re.findall(r"\b[\w-]*(?:[a-z][A-Z]|[A-Z]{2}|\d)[\w-]*\b", title)
    return out


@dataclass
class Claim:
    """What the window rules need of a generated sentence, computed once."""

    stems: set[str]
    clause_stems: list[set[str]]
    numbers: list[tuple[str, str]]
    entities: list[tuple[str, list[str]]]
    qualifiers: dict[str, str]
    negated: set[str]  # as Window.negated: what the sentence's negations apply to ({"_"} at least when negated)
    bound: set[str]  # the content stems the cited passages use somewhere (a window must hold them together)
    pairs: list[tuple[str, str, frozenset, frozenset]]  # content stems within a clause at most one content word
    # apart ("texture decoder", "decoder paint"), each with the clause's stems up to the first and from the second
    lead: str = ""  # the sentence's first word when capitalised content ("Pink sang ..."): a name, or a subject
    purposes: tuple = ()  # (instrument's last content stem, purpose verb stem): "using NeRF to estimate ..."
    asked: frozenset = frozenset()  # the sentence's words that come from the user's question
    seq: tuple[str, ...] = ()  # as Window.seq
    titled: tuple[str, ...] = ()  # its Title-case words ("Diamonds"): a name the window writes in capitals must
    # keep them
    hedged: bool = False  # it uses a hedge or quantifier itself ("often", "many", "may")
    bounds: Bounds = field(default_factory=lambda: ({}, set()))  # its numbers' hedges and bounds ("over 90%"):
    # kb.grounding.bounds
    opposites: dict = field(default_factory=dict)  # word of `seq` -> its opposites by prefix ("accurat" ->
    # {"inaccurat", "unaccurat", ...}; "inaccurat" -> {"accurat"}), for the polarity rule
    quotes: tuple[tuple[str, ...], ...] = ()  # what it puts in quotation marks, as key_sequence (the quotes rule)


# The frames a model puts around an answer to a digest question (kb.prompts.DIGEST_FIELDS) -- "This paper starts
# from the problem of ...", "The method proposed in this paper works by ...", "The paper discusses ..." -- are no
# facts about the paper: the window rules read what follows them.
_FRAME_RE = re.compile(
    r"^\s*(?:in\s+)?(?:this|the)\s+(?:paper|work|study)(?:'s)?\s+(?:starts?|begins?)\s+(?:from|with)\s+"
    r"(?:the\s+)?(?:problem|challenge|question|context)\s+(?:of|that)\s+"
    r"|^\s*the\s+(?:main\s+)?(?:method|approach)\s+(?:proposed|presented|introduced|used)\s+in\s+(?:this|the)\s+"
    r"paper\s+works?\s+by\s+"
    r"|^\s*the\s+results\s+of\s+(?:this|the)\s+paper\s+matter\s+because\s+(?:they|it)\s+"
    r"|^\s*(?:the\s+)?(?:main\s+)?(?:focus|goal|aim)\s+(?:of\s+(?:this|the)\s+paper\s+)?(?:is|lies)\s+(?:on|in)\s+"
    r"|^\s*(?:this|the)\s+paper\s+is\s+about\s+"
    r"|^\s*(?:this|the)\s+(?:paper|work|study|article|survey)\s+(?:also\s+)?(?:discusses|describes|explores|"
    r"examines|investigates|studies|reviews|covers|focuses\s+on)\s+",
    re.I)


def claim(sentence: str, pool: set[str] | None = None, asked: frozenset = frozenset()) -> Claim:
    """`pool`: the content stems of all cited windows (words found nowhere are the overlap rule's business)."""
    ws = words(sentence)
    sentence = _FRAME_RE.sub("", sentence)
    parts = clauses(sentence)
    stems = content_stems(sentence)
    clause_stems = [s for s in (content_stems(p) for p in parts) if s] if len(parts) > 1 else []
    if pool is not None:
        clause_stems = [s & pool for s in clause_stems if s & pool]
    pairs = []
    for part in parts:
        seq = stem_list(part)  # as content_stems reads them
        pairs += [(seq[i], seq[j], frozenset(seq[: i + 1]), frozenset(seq[j:]))
                  for i in range(len(seq)) for j in (i + 1, i + 2) if j < len(seq) and seq[i] != seq[j]]
    first = re.match(r"\s*([A-Z][a-z]+)\s+[a-z]", sentence)  # "Pink sang", not "Norman Borlaug", "Single-use"
    lead = first.group(1) if first and first.group(1).lower() not in STOPWORDS | FILLER | CONNECTIVES else ""
    seq = key_sequence(sentence)
    purposes = []
    for m in _PURPOSE_RE.finditer(sentence):
        tool, verb = stem_list(m.group(1)), stem_list(m.group(2))
        if tool and verb:
            purposes.append((tool[-1], verb[0]))
    return Claim(stems, clause_stems, fact_numbers(sentence), fact_entities(sentence), qualifiers(ws),
                 _negated_stems(ws),
                 stems & pool if pool is not None else stems, pairs, lead, tuple(purposes), frozenset(stems & asked),
                 seq, tuple(re.findall(r"\b[A-Z][a-z]+\b", sentence)), hedged=bool(HEDGES & set(ws)),
                 bounds=number_bounds(sentence),
                 opposites={x: _unprefixed(x) | {p + x for p in _NEG_PREFIXES} for x in set(seq)},
                 quotes=tuple(q for q in (key_sequence(m) for m in quoted(sentence)) if q))


_PURPOSE_RE = re.compile(r"\b(?:using|uses|use|used|leverag(?:es|ing|e)|employ(?:s|ing)?|via)\s+([^,;]{3,80}?)\s+"
                         r"to\s+([a-z]+)", re.I)


def stem_list(text: str) -> list[str]:
    return [stem(w) for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS and w not in FILLER
            and len(w) > 1]


def _share(stems: set[str], window: set[str]) -> float:
    return len(stems & window) / len(stems) if stems else 1.0


def key_sequence(text: str) -> tuple[str, ...]:
    """The content words of `text` in reading order, each as its synonym key."""
    return tuple(synonym_key(stem(w)) for w in re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower())
                 if w not in STOPWORDS and w not in FILLER and (len(w) > 1 or w.isdigit()))


def pieces(claim_seq: Sequence[str], window_seq: Sequence[str]) -> int:
    """How many runs of consecutive content words of the window the claim is made of, taking at each step the
    longest run that continues it (a word the window lacks counts as a piece of its own). A shortened sentence
    is one or two pieces; a sentence reworded or reassembled ("can be predicted from X" for "predict Y,
    stemming from X") is more."""
    i, n = 0, 0
    while i < len(claim_seq):
        best = 0
        for j in range(len(window_seq)):
            k = 0
            while i + k < len(claim_seq) and j + k < len(window_seq) and claim_seq[i + k] == window_seq[j + k]:
                k += 1
            best = max(best, k)
        i += max(best, 1)
        n += 1
    return n


def unaligned(stems: set[str], w: Window) -> set[str]:
    """The words of `stems` that `w` holds neither as written nor as a synonym (kb.grounding.synonyms)."""
    return {s for s in stems if s not in w.stems and synonym_key(s) not in w.syn}


def failures(c: Claim, w: Window, min_overlap: float, min_clause_overlap: float,
             disabled: frozenset[str] = frozenset(), max_new: int | None = None,
             max_pieces: int | None = None) -> list[str]:
    """What `w` does not back of `c`, as (rule, detail) strings; [] when the window supports the sentence."""
    out = []
    if "coverage" not in disabled and _share(c.stems, w.stems) < min_overlap:
        out.append("coverage")
    if max_pieces is not None and (n := pieces(c.seq, w.seq)) > max_pieces:
        out.append(f"pieced ({n} pieces)")  # reworded, not shortened
    if max_new is not None and len(new := unaligned(c.stems, w)) > max_new:
        out.append(f"new words ({' '.join(sorted(new))})")  # a transformation adds nothing
    if "binding" not in disabled and w.parts:
        a_part, b_part = w.parts
        for x, y, before, after in c.pairs:  # side by side in the sentence, each in only one of the two sentences
            if before <= a_part and after <= b_part and len(a_part) <= 3:
                continue  # a heading glued to the sentence after it ("4 Experiments We train ...")
            if (x in a_part) != (y in a_part) and (x in b_part) != (y in b_part) and {x, y} <= w.stems:
                out.append(f"binding ({x} {y})")
                break
    if "purpose" not in disabled:
        for tool, verb in c.purposes:
            if tool in w.stems and not any(tool in p and verb in p for p in w.pieces):
                out.append(f"purpose ({tool} to {verb})")  # "using A to do B" where the source has A do something else
                break
    if "question" not in disabled and c.asked - w.stems:
        out.append(f"question words ({' '.join(sorted(c.asked - w.stems))})")  # echoed, not found here
    if "clauses" not in disabled:
        for cs in c.clause_stems:
            if _share(cs, w.stems) < min_clause_overlap:
                out.append("clause")
                break
    if "facts" not in disabled:
        out += [shown for shown, key in c.numbers if key not in w.numbers]
        out += [name for name, keys in c.entities if not any(k in w.keys for k in keys)]
        if c.lead and c.lead.lower() not in w.words and stem(c.lead.lower()) not in w.words:
            out.append(c.lead)  # the sentence's subject, or a name at its start, is not in the window
        out += [f"{t} (a name written otherwise)" for t in c.titled if _recased(t, w)]
    if "quotes" not in disabled:
        out += [f"quoted ({' '.join(q)})" for q in c.quotes if not contains(w.quoted, q)]  # not as the source has it
    if "qualifiers" not in disabled:
        if not c.hedged and HEDGES & w.words and (dropped := c.stems & w.hedged):
            out.append(f"dropped hedge ({' '.join(sorted(dropped))})")  # "operate" for "predominantly operate"
        if c.numbers and (bare := unbounded(c.bounds, w.bounds)):
            out.append(f"dropped hedge ({' '.join(bare)})")  # "300,000 pairs" for "approximately 300,000"
        for key, word in c.qualifiers.items():
            backing = f"{_QUALIFIER_FAMILIES[key]} {_ALSO_BACKED_BY.get(key, '')}".split()
            if not any(x in w.words for x in backing):
                out.append(word)
    if "polarity" not in disabled:
        said = c.negated - {"_"}
        if c.negated and not (said & w.negated if said and w.negated - {"_"} else w.negated):
            out.append("negation")  # "does not", "fails to": the window negates none of what the sentence does
        elif not c.negated and len((w.negated - {"_"}) & c.stems) >= 2:
            out.append("dropped negation")  # the window negates words the sentence affirms
        if swapped := _swapped_polarity(c, w):
            out.append(f"opposite ({swapped})")
    return out


def _recased(word: str, w: Window) -> bool:
    """`word` ("Diamonds") is one of `w`'s all-capital names ("DIAMOND") written in other letters, perhaps with an
    "s": a small model turning a name into an ordinary word. Only when the window has no such ordinary word."""
    low = word.lower()
    if not w.texts or not ({low, low[:-1] if low.endswith("s") else low} & w.acronyms):
        return False
    return not any(re.search(rf"\b{re.escape(word)}\b", t) for t in w.texts)


_NEG_PREFIXES = ("non", "dis", "in", "un", "im", "ir", "il")


def _unprefixed(word: str) -> set[str]:
    """The word without a negative prefix ("inaccurat" -> "accurat"), for each prefix it may carry."""
    return {word[len(p):] for p in _NEG_PREFIXES if word.startswith(p) and len(word) - len(p) >= 4}


def _swapped_polarity(c: Claim, w: Window) -> str:
    """A word of the sentence put in the place of its opposite by prefix, next to the same word as in the window:
    "the correlation between the disagreements and inaccurate reconstruction" where the window says "... and
    accurate reconstruction" (and "inaccurate" only elsewhere). "" when there is none."""
    opposite = {x: o & w.stems for x, o in c.opposites.items()}
    if not any(opposite.values()):
        return ""  # cheap exit: the window has no opposite of any word of the sentence
    adjacent = set(zip(w.seq, w.seq[1:]))
    for x, y in zip(c.seq, c.seq[1:]):
        if (x, y) in adjacent:
            continue
        for o in opposite[y]:
            if (x, o) in adjacent:
                return f"{y} for {o}"
        for o in opposite[x]:
            if (o, y) in adjacent:
                return f"{x} for {o}"
    return ""


def best_window(c: Claim, ws: Sequence[Window], min_overlap: float, min_clause_overlap: float,
                disabled: frozenset[str] = frozenset(), max_new: int | None = None,
                max_pieces: int | None = None) -> tuple[Window | None, list[str]]:
    """A window that supports the sentence (and []), else the one that fails fewest rules and its failures."""
    best: tuple[Window | None, list[str]] = (None, ["no window"])
    best_key = None
    for w in ws:
        fails = failures(c, w, min_overlap, min_clause_overlap, disabled, max_new, max_pieces)
        if not fails:
            return w, []
        key = (len(fails), -_share(c.stems, w.stems))
        if best_key is None or key < best_key:
            best, best_key = (w, fails), key
    return best
