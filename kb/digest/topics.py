"""Topics for the daily digest: what they are, where they come from, and which papers belong to each.

A topic is a name, an optional description and a list of keywords. Users define topics in KB_HOME/topics.toml:

    [[topic]]
    name = "Diffusion Models"
    description = "Generative diffusion and score-based models for images, video and audio"
    keywords = ["diffusion", "denoising", "score-based"]
    min_relevance = 0.35   # optional: papers less relevant to your library are only listed ("also announced")

A topic is also an arXiv subscription for `kb fetch` (kb.feeds): `query` in the arXiv API's search syntax,
`categories` whose daily listing it reads, `cross_lists` (default true) and `replacements` (default false) for
those listing entries, and `pdf` (default false) to download full texts. All keys but `name` are optional.

Without that file the topics are the ones seen in ingested digest pages (each page is one topic), with keywords
derived from the titles of their papers (words frequent in one topic's titles and rare in the others').

Assignment (`assign_topics`), in order; a paper may belong to several topics:
1. a paper listed on a digest page keeps that page's topic when a topic of that name (case-insensitive) exists;
2. a configured keyword (topics.toml) that occurs as a whole word or phrase in the paper's title or abstract
   adds that topic (keywords derived for default topics only take part in step 3's fallback, so they never move
   a paper away from the page that listed it);
3. a paper still without a topic goes to the topic whose "name: description; keywords" text is closest to its
   title and abstract by embedding cosine (at least `min_similarity`; topics within `tie` of the best one too),
   else to "Other".
"""
from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from kb.store.catalog import Catalog
from kb.types import KbError

TOPICS_FILE = "topics.toml"
OTHER = "Other"

_STOP = set("""a an and are as at be by for from has have in into is it its of on or over that the their this to
towards toward via with without using based new novel model models method methods approach learning network networks
via your our we can all any more less high low large small efficient fast real time free through under between
across beyond one two three single multi fine grained""".split())


@dataclass
class Topic:
    """A digest topic. `source` is "config" (topics.toml) or "digest pages" (a default)."""

    name: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    source: str = "config"
    papers: int = 0  # catalog papers whose digest page listed them under this name (for `kb topics`)
    query: str = ""  # arXiv API search_query, e.g. 'ti:"gaussian splatting" OR abs:3DGS'
    categories: list[str] = field(default_factory=list)  # arXiv categories whose listing `kb fetch` reads
    cross_lists: bool = True  # keep listing entries cross-listed into the categories
    replacements: bool = False  # keep listing entries that are new versions of older papers
    pdf: bool = False  # `kb fetch` downloads this topic's PDFs
    min_relevance: float | None = None  # below it (kb.library.ranking), a paper is listed, not digested

    @property
    def subscribed(self) -> bool:
        """Whether `kb fetch` has something to ask arXiv for this topic."""
        return bool(self.query or self.categories)

    @property
    def configured(self) -> bool:
        return self.source == "config"

    def text(self) -> str:
        """What the topic's embedding is computed from: "name: description; keyword, keyword"."""
        text = self.name + (f": {self.description}" if self.description else "")
        return text + (f"; {', '.join(self.keywords)}" if self.keywords else "")

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "keywords": list(self.keywords),
                "source": self.source, "papers": self.papers, "query": self.query,
                "categories": list(self.categories), "cross_lists": self.cross_lists,
                "replacements": self.replacements, "pdf": self.pdf,
                "min_relevance": self.min_relevance}


def topics_path(home: Path) -> Path:
    return Path(home) / TOPICS_FILE


def load_topics(path: Path) -> list[Topic] | None:
    """Topics from a topics.toml file, or None when it does not exist. Raises KbError naming the file and cause."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KbError(f"{path}: cannot read topics ({e})") from e
    items = data.get("topic", [])
    if not isinstance(items, list):
        raise KbError(f"{path}: 'topic' must be an array of tables ([[topic]] blocks)")
    topics: list[Topic] = []
    seen: set[str] = set()
    for i, item in enumerate(items, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise KbError(f"{path}: topic #{i} has no name")
        description = item.get("description", "")
        keywords = item.get("keywords", [])
        if not isinstance(description, str):
            raise KbError(f"{path}: topic '{name}': description must be a string")
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise KbError(f"{path}: topic '{name}': keywords must be a list of strings")
        if name.strip().lower() in seen:
            raise KbError(f"{path}: topic '{name}' is defined twice")
        min_relevance = item.get("min_relevance")
        if min_relevance is not None and (isinstance(min_relevance, bool)
                                          or not isinstance(min_relevance, (int, float))):
            raise KbError(f"{path}: topic '{name}': min_relevance must be a number (e.g. 0.35)")
        seen.add(name.strip().lower())
        topic = Topic(name.strip(), description.strip(), [k.strip() for k in keywords if k.strip()],
                      min_relevance=None if min_relevance is None else float(min_relevance))
        _subscription(item, topic, f"{path}: topic '{name}'")
        topics.append(topic)
    return topics


def _subscription(item: dict, topic: Topic, where: str) -> None:
    """Read the optional arXiv subscription keys of one [[topic]] table into `topic` (KbError when mistyped)."""
    query = item.get("query", "")
    if not isinstance(query, str):
        raise KbError(f"{where}: query must be a string in the arXiv search syntax")
    categories = item.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) and c.strip() for c in categories):
        raise KbError(f"{where}: categories must be a list of arXiv categories, e.g. [\"cs.CV\", \"cs.GR\"]")
    bad = [c for c in categories if not re.fullmatch(r"[A-Za-z\-]+(\.[A-Za-z\-]+)?", c.strip())]
    if bad:
        raise KbError(f"{where}: '{bad[0]}' is not an arXiv category (e.g. cs.CV, astro-ph, math.AG)")
    for key in ("cross_lists", "replacements", "pdf"):
        if key in item and not isinstance(item[key], bool):
            raise KbError(f"{where}: {key} must be true or false")
    topic.query = query.strip()
    topic.categories = [c.strip() for c in categories]
    topic.cross_lists = item.get("cross_lists", True)
    topic.replacements = item.get("replacements", False)
    topic.pdf = item.get("pdf", False)


def save_topics(path: Path, topics: Sequence[Topic]) -> Path:
    """Write `topics` as a topics.toml file (for the user to edit), atomically."""

    def q(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string

    blocks = []
    for t in topics:
        kws = ", ".join(q(k) for k in t.keywords)
        block = f"[[topic]]\nname = {q(t.name)}\ndescription = {q(t.description)}\nkeywords = [{kws}]\n"
        if t.query:
            block += f"query = {q(t.query)}\n"
        if t.categories:
            block += f"categories = [{', '.join(q(c) for c in t.categories)}]\n"
        if t.subscribed:
            block += (f"cross_lists = {str(t.cross_lists).lower()}\nreplacements = {str(t.replacements).lower()}\n"
                      f"pdf = {str(t.pdf).lower()}\n")
        if t.min_relevance is not None:
            block += f"min_relevance = {t.min_relevance}\n"
        blocks.append(block)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(blocks), encoding="utf-8")
    tmp.replace(path)
    return path


def write_example_topics(path: Path, found: Sequence[Topic] = ()) -> Path:
    """Write the commented example topics.toml (kb.digest.topics_example), followed by the topics in `found`
    (e.g. those of ingested digest pages) that it does not already name. Refuses to overwrite a file."""
    from kb.digest.topics_example import EXAMPLE_TOPICS

    path = Path(path)
    if path.exists():
        raise KbError(f"{path} exists already; edit it (or remove it to start again from the example)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_topics(tmp, [t for t in found if t.name.casefold() not in _example_names()])
    extra = tmp.read_text(encoding="utf-8")
    tmp.write_text(EXAMPLE_TOPICS + ("\n# Topics seen on ingested digest pages\n\n" + extra if extra else ""),
                   encoding="utf-8")
    tmp.replace(path)
    return path


def _example_names() -> set[str]:
    from kb.digest.topics_example import EXAMPLE_TOPICS

    return {t["name"].casefold() for t in tomllib.loads(EXAMPLE_TOPICS)["topic"]}


def _title_words(title: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]|\d+[A-Za-z]+[A-Za-z0-9]*", title)
    out = []
    for w in words:
        low = w.lower()
        if low in _STOP or len(low) < 3:
            continue
        out.append(w if (w.isupper() or any(c.isdigit() for c in w)) else low)
    return list(dict.fromkeys(out))


def default_topics(catalog: Catalog, max_keywords: int = 6) -> list[Topic]:
    """The topics seen in ingested digest pages, sorted by name, with keywords derived from their papers' titles
    (a word scores its count in the topic's titles times how specific it is to that topic)."""
    titles: dict[str, list[str]] = {}
    for row in catalog.db.execute("SELECT title, topics FROM papers"):
        for t in json.loads(row["topics"]):
            if t and t.strip():
                titles.setdefault(t.strip(), []).append(row["title"])
    counts = {name: Counter(w for title in ts for w in _title_words(title)) for name, ts in titles.items()}
    spread = Counter(w for c in counts.values() for w in c)  # in how many topics a word occurs
    topics = []
    for name in sorted(titles, key=str.casefold):
        c = counts[name]
        ranked = sorted(c, key=lambda w: (-(c[w] / spread[w]), -c[w], w))
        keywords = [w for w in ranked if c[w] >= 2 or len(titles[name]) == 1][:max_keywords]
        topics.append(Topic(name, "", keywords, source="digest pages", papers=len(titles[name])))
    return topics


def resolve_topics(home: Path, catalog: Catalog) -> list[Topic]:
    """The user's topics (KB_HOME/topics.toml) when the file exists, else the defaults from the catalog."""
    configured = load_topics(topics_path(home))
    if configured is None:
        return default_topics(catalog)
    counts = Counter(t.casefold() for row in catalog.db.execute("SELECT topics FROM papers")
                     for t in json.loads(row["topics"]))
    for t in configured:
        t.papers = counts.get(t.name.casefold(), 0)
    return configured


def _keyword_re(keyword: str) -> re.Pattern:
    parts = [re.escape(p) for p in keyword.split()]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(parts) + r"(?!\w)", re.I)


def assign_topics(papers: Sequence[dict], topics: Sequence[Topic], embedder, min_similarity: float = 0.3,
                  tie: float = 0.03) -> dict[str, list[str]]:
    """Map each paper id to its topic names (see the module docstring for the rule).

    `papers` are dicts with id, title, abstract and topics (list of str), e.g. catalog rows turned into dicts.
    Papers matching no topic get [OTHER]. `embedder` is only used when some paper needs step 3.
    """
    by_name = {t.name.casefold(): t.name for t in topics}
    order = {t.name: i for i, t in enumerate(topics)}
    patterns = {t.name: [_keyword_re(k) for k in t.keywords] for t in topics if t.configured}
    out: dict[str, list[str]] = {}
    pending: list[dict] = []
    for p in papers:
        names = [by_name[s.casefold()] for s in p.get("topics") or [] if s.casefold() in by_name]
        text = f"{p.get('title', '')}\n{p.get('abstract', '')}"
        for name, regexes in patterns.items():
            if any(r.search(text) for r in regexes):
                names.append(name)
        out[p["id"]] = sorted(dict.fromkeys(names), key=lambda n: order[n])
        if not names:
            pending.append(p)
    if pending and topics:
        tvecs = _unit(embedder.embed([t.text() for t in topics]))
        pvecs = _unit(embedder.embed([f"{p.get('title', '')}. {p.get('abstract', '')}" for p in pending]))
        sims = pvecs @ tvecs.T
        for p, row in zip(pending, sims):
            best = float(row.max())
            if best >= min_similarity:
                out[p["id"]] = [t.name for t, s in zip(topics, row) if s >= best - tie]
    for pid, names in out.items():
        if not names:
            out[pid] = [OTHER]
    return out


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def group_by_topic(assignment: dict[str, list[str]], order: Sequence[str], topics: Sequence[Topic]) -> list[tuple[str, list[str]]]:
    """[(topic name, [paper ids in `order`])] for the topics that have papers, in the topics' order, "Other" last."""
    names = [t.name for t in topics] + [OTHER]
    groups = []
    for name in names:
        ids = [pid for pid in order if name in assignment.get(pid, [])]
        if ids:
            groups.append((name, ids))
    return groups
