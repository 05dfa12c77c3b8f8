"""Word-level evidence for the grounding check: content words with light stemming, numbers, and names.

`content_stems` gives the words that carry meaning (stopwords and paraphrase filler removed, suffixes stripped so
"reaches"/"reach" and "encoder"/"encoding" meet). `fact_numbers` and `fact_entities` list the hard facts of a
generated sentence -- every one must appear in a cited passage -- and `number_set` / `entity_keys` index what a
passage offers, generously (number words, hyphen and spacing variants, plurals).
"""
from __future__ import annotations

import re

STOPWORDS = frozenset("""
a about above after again against all almost along already also although always am among an and another any
are around as at be became because become becomes been before being below between both but by can could did do
does doing done down during each either else enough etc even ever every for from further had has have having he
her here hers herself him himself his how however i if in into is it its itself just least less like made make
makes many may me might more most much must my myself neither no nor not now of off often on once one only onto
or other others otherwise our ours ourselves out over own per rather same several she should since so some
such than that the their theirs them themselves then there therefore these they this those though through thus
to too toward towards under until up upon us very via was we well were what whatever when where whereas whether
which while who whom whose why will with within without would yet you your yours yourself
""".split())

# Words a paraphrase adds around the facts ("The paper proposes a novel approach that uses ...").
FILLER = frozenset("""
paper papers article work works study studies author authors propose proposes proposed proposing present
presents presented introduce introduces introduced introducing approach approaches novel new show shows shown
showed demonstrate demonstrates demonstrated use uses used using based called named able allows allow enables
enable overall specifically particular various different main key important significant significantly
""".split())

_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15", "twenty": "20", "thirty": "30", "fifty": "50",
    "hundred": "100", "thousand": "1000", "twice": "2", "double": "2", "half": "0.5", "one": "1", "single": "1",
}

_SUFFIXES = (
    "ational", "ization", "ations", "ation", "izing", "ising", "ingly", "nesses", "ness", "ments", "ment", "ings",
    "ing", "edly", "ers", "er", "ed", "ies", "es", "ly", "s", "e",
)
_KEEP_S = ("ss", "us", "is")

# Irregular verb forms, read as their base form so "sang" matches "sings" and "won" matches "wins" (a suffix
# stripper cannot). Forms that are also common nouns or directions ("rose", "left", "saw", "bore") are left out.
_IRREGULAR = {form: base for base, forms in (
    ("arise", "arose arisen"), ("beat", "beaten"), ("begin", "began begun"), ("break", "broke broken"),
    ("bring", "brought"), ("build", "built"), ("buy", "bought"), ("choose", "chose chosen"), ("come", "came"),
    ("deal", "dealt"), ("draw", "drew drawn"), ("drive", "drove driven"), ("eat", "ate eaten"),
    ("fall", "fell fallen"), ("feel", "felt"), ("fight", "fought"), ("find", "found"), ("flee", "fled"),
    ("fly", "flew flown"), ("forget", "forgot forgotten"), ("freeze", "froze frozen"), ("get", "got gotten"),
    ("give", "gave given"), ("go", "went gone goes going"), ("grow", "grew grown"), ("hide", "hid hidden"),
    ("hold", "held"),
    ("know", "knew known"), ("lead", "led"), ("lose", "lost"), ("mean", "meant"), ("meet", "met"),
    ("pay", "paid"), ("ride", "rode ridden"), ("run", "ran"), ("say", "said"), ("seek", "sought"),
    ("sell", "sold"), ("send", "sent"), ("shake", "shook shaken"), ("sing", "sang sung"), ("sleep", "slept"),
    ("speak", "spoke spoken"), ("spend", "spent"), ("stand", "stood"), ("steal", "stole stolen"),
    ("strike", "struck stricken"), ("swim", "swam swum"), ("take", "took taken"), ("teach", "taught"),
    ("tell", "told"), ("think", "thought"), ("throw", "threw thrown"), ("understand", "understood"),
    ("undergo", "underwent undergone"), ("undertake", "undertook undertaken"), ("wear", "wore worn"),
    ("win", "won"), ("withdraw", "withdrew withdrawn"), ("write", "wrote written"),
) for form in forms.split()}


def stem(word: str) -> str:
    """A light suffix stripper: one suffix off, stem of 3+ letters, doubled final consonant undone."""
    w = word.lower()
    w = _IRREGULAR.get(w, w)
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            if suf == "s" and w.endswith(_KEEP_S):
                continue
            if suf == "es" and w.endswith("sses"):
                return w[:-2]
            w = w[: -len(suf)] + ("y" if suf == "ies" else "")
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeioulsz":
        w = w[:-1]
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


_WORD_RE = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def content_stems(text: str) -> set[str]:
    """Stemmed content words of `text` (numbers included, stopwords, filler and single letters removed)."""
    out = set()
    for tok in _WORD_RE.findall(text.lower()):
        if tok in STOPWORDS or tok in FILLER or (len(tok) < 2 and not tok.isdigit()):
            continue
        out.add(stem(tok))
    return out


# Numbers ---------------------------------------------------------------------------------------------------------

FACT_NUMBER_RE = re.compile(r"(?<![\w.\-/])(\d+(?:,\d{3})*(?:\.\d+)?)(\s?%|\s?x\b|×)?")
_ANY_NUMBER_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def _number_key(s: str) -> str:
    s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        return s
    return str(int(value)) if value == int(value) else repr(value)


def fact_numbers(sentence: str) -> list[tuple[str, str]]:
    """Stand-alone numbers in a sentence as (as written, key): "81.2%" -> ("81.2%", "81.2"), "3.1x" -> "3.1".

    Digits inside names (Kinetics-400, A100, top-1, V2) are left to `fact_entities`.
    """
    out = []
    for m in FACT_NUMBER_RE.finditer(sentence):
        surface = (m.group(1) + (m.group(2) or "")).replace(" ", "")
        out.append((surface, _number_key(m.group(1))))
    return out


def number_contexts(sentence: str, window: int = 4) -> list[tuple[str, str, set[str]]]:
    """Each stand-alone number with the content stems of the `window` words on either side of it:
    ("68.4%", "68.4", {"model", "run"}) for "The model runs at 68.4%"."""
    out = []
    for m in FACT_NUMBER_RE.finditer(sentence):
        before = sentence[: m.start()].split()[-window:]
        after = sentence[m.end():].split()[:window]
        surface = (m.group(1) + (m.group(2) or "")).replace(" ", "")
        context = content_stems(" ".join(before + after)) - number_set(" ".join(before + after))
        out.append((surface, _number_key(m.group(1)), context))
    return out


def number_set(text: str) -> set[str]:
    """Every number a passage states, digits anywhere (also inside names) and number words."""
    keys = {_number_key(m.group(0)) for m in _ANY_NUMBER_RE.finditer(text)}
    keys |= {_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS}
    return keys


# Names -------------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-.'’+]*[A-Za-z0-9+]|[A-Za-z0-9]")
_CAPITAL_EXEMPT = STOPWORDS | FILLER | frozenset("""
figure fig table section appendix equation eq first second third finally moreover furthermore additionally
""".split())


def _key(token: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", token.lower())


def _variants(key: str, raw: str = "s") -> list[str]:
    """`key` and, for a plural ending in a lower-case "s" (GPUs, layers), the singular; "AtomGS" stays whole."""
    out = [key]
    if len(key) > 3 and key.endswith("s") and raw.endswith("s"):
        out.append(key[:-1])
    return out


def _is_name(token: str, first: bool) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", token)
    if not letters:
        return False
    has_digit = any(c.isdigit() for c in token)
    inner_caps = any(c.isupper() for c in token[1:])
    if has_digit or inner_caps:
        return True  # A100, Kinetics-400, SliceFormer, ViT, LEVIR-CC, GPU, FLOPs
    if token[0].isupper():
        return not first and token.lower() not in _CAPITAL_EXEMPT and len(token) > 1
    return False


def fact_entities(sentence: str) -> list[tuple[str, list[str]]]:
    """Names in a sentence -- CamelCase, acronyms, alphanumerics, capitalised words after the first -- as
    (as written, acceptable keys)."""
    out = []
    tokens = list(_TOKEN_RE.finditer(sentence))
    for i, m in enumerate(tokens):
        token = re.sub(r"['’]s$", "", m.group(0))
        if re.fullmatch(r"\d+(?:[.,]\d+)*[x×]?", token):
            continue  # plain numbers are fact_numbers' job
        first = i == 0 or bool(re.search(r"[:;]\s*$", sentence[: m.start()]))
        if _is_name(token, first):
            out.append((token, _variants(_key(token), token)))
    return out


def entity_keys(text: str) -> set[str]:
    """Keys under which a passage's words can match a name: each token, its hyphen parts, and adjacent pairs and
    triples joined ("Kinetics 400" matches "Kinetics-400")."""
    parts = [re.sub(r"['’]s$", "", t) for t in _TOKEN_RE.findall(text)]
    keys = [_key(t) for t in parts]
    out: set[str] = set()
    for i, k in enumerate(keys):
        out.update(_variants(k, parts[i]))
        for piece in re.split(r"[-.]", parts[i]):
            if piece:
                out.update(_variants(_key(piece), piece))
        if i + 1 < len(keys):
            out.update(_variants(k + keys[i + 1], parts[i + 1]))
        if i + 2 < len(keys):
            out.update(_variants(k + keys[i + 1] + keys[i + 2], parts[i + 2]))
    out.discard("")
    return out


# Comparative claims. A sentence can reuse every word and number of a passage and still add a comparison the
# passage never makes ("runs at 162 frames per second, faster than previous methods"). Each comparison word in a
# sentence (the triggers) needs a cited passage making a comparison of that kind (any of the accepted word starts).
_COMPARISONS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("faster", "quicker", "speedup"), ("faster", "quicker", "speedup", "speed", "accelerat")),
    (("slower",), ("slower", "slow", "costly", "expensive")),
    (("better", "outperform", "surpass", "superior"),
     ("better", "outperform", "surpass", "superior", "exceed", "improv", "stateoftheart", "sota", "beat", "gain")),
    (("worse", "inferior", "underperform"), ("worse", "inferior", "underperform", "degrad", "fail", "drop", "lack")),
    (("than",), ("than", "outperform", "surpass", "exceed", "superior", "compar", "versus", "baseline", "over")),
    (("stateoftheart", "sota"), ("stateoftheart", "sota", "best", "outperform", "surpass", "leading")),
)


def fact_comparisons(sentence: str) -> list[tuple[str, tuple[str, ...]]]:
    """The comparison words of a sentence as (as written, word starts of which a cited passage needs one)."""
    out = []
    tokens = [m.group(0) for m in _TOKEN_RE.finditer(sentence)]
    for i, token in enumerate(tokens):
        key = _key(token)
        if key == "than" and ((i and tokens[i - 1].lower() in ("rather", "other"))
                              or (i + 1 < len(tokens) and tokens[i + 1][0].isdigit())):
            continue  # "rather than" compares nothing; "more than 100" is the number check's job
        for triggers, accepted in _COMPARISONS:
            if key.startswith(triggers):
                out.append((token, accepted))
                break
    return out


def makes_comparison(keys: set[str], accepted: tuple[str, ...]) -> bool:
    """Whether a passage (its `entity_keys`) has a word starting with one of `accepted`."""
    return any(k.startswith(accepted) for k in keys)
