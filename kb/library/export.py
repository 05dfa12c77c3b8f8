"""`kb export`: papers as BibTeX, RIS or CSL-JSON, with stable, readable citation keys.

Keys: the key the paper already has in the user's own library (a .bib entry's key, Zotero's "Citation Key:" line
from Better BibTeX) when there is one; else first author's surname + year + first significant title word,
lower-case ASCII (`alonso2024diffusion`); papers that would share a key get a, b, c ... in id order.
Entry types: a paper with a known venue is an `@article` (`@inproceedings` for a conference paper); an arXiv paper
without one is an `@misc` with `eprint`, `archivePrefix = {arXiv}` and `primaryClass`; anything else `@misc`.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from kb.types import KbError, Paper

FORMATS = ("bibtex", "ris", "csl-json")
_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "del", "della", "la", "le", "ten", "ter", "dos"}
_SKIP_WORDS = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "or", "with", "towards", "toward", "via",
               "from", "by", "at", "is", "are", "do", "does", "can", "how", "what", "why", "when", "we", "our"}
_CONFERENCE_TYPES = {"conferencepaper", "inproceedings", "proceedings"}


@dataclass
class Citation:
    """What an exported entry is made of (from a stored paper)."""

    key: str
    paper_id: str
    paper: Paper
    tags: list[str] = field(default_factory=list)

    @property
    def venue(self) -> str | None:
        return self.paper.extra.get("venue") or self.paper.extra.get("journal_ref") or None

    @property
    def year(self) -> str | None:
        return year_of(self.paper)

    @property
    def conference(self) -> bool:
        kind = str(self.paper.extra.get("item_type") or self.paper.extra.get("entry_type") or "").lower()
        return kind in _CONFERENCE_TYPES


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def split_name(name: str) -> tuple[str, str]:
    """("Alonso", "Maria") for "Maria Alonso", ("van der Berg", "Jan") for "Jan van der Berg"."""
    parts = name.split()
    if len(parts) <= 1:
        return name.strip(), ""
    i = len(parts) - 1
    while i > 1 and parts[i - 1].lower() in _PARTICLES:
        i -= 1
    if i > 0 and parts[i - 1].lower() in _PARTICLES:
        i -= 1
    return " ".join(parts[i:]), " ".join(parts[:i])


def year_of(paper: Paper) -> str | None:
    for value in (paper.published, paper.digest_date):
        if value and re.match(r"\d{4}", value):
            return value[:4]
    m = re.match(r"(\d{2})(\d{2})\.\d{4,5}$", paper.arxiv_id or "")
    return f"20{m.group(1)}" if m else None


def base_key(paper: Paper) -> str:
    own = paper.extra.get("bibtex_key")
    if own:
        return str(own)
    family = split_name(paper.authors[0])[0] if paper.authors else "anon"
    surname = re.sub(r"[^a-z]", "", _ascii(family.split()[-1] if family.split() else family).lower()) or "anon"
    words = [re.sub(r"[^a-z0-9]", "", w) for w in _ascii(paper.title).lower().split()]
    word = next((w for w in words if w and w not in _SKIP_WORDS), "")
    return f"{surname}{year_of(paper) or ''}{word}"


def assign_keys(papers: list[tuple[str, Paper]]) -> list[Citation]:
    """Citations in the given order, keys made unique (a, b, c ... in paper-id order within a clash)."""
    groups: dict[str, list[str]] = {}
    for pid, paper in papers:
        groups.setdefault(base_key(paper), []).append(pid)
    keys: dict[str, str] = {}
    for base, ids in groups.items():
        ordered = sorted(set(ids))
        for i, pid in enumerate(ordered):
            keys[pid] = base if len(ordered) == 1 else base + _suffix(i)
    return [Citation(keys[pid], pid, paper) for pid, paper in papers]


def _suffix(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(97 + r) + out
    return out


# BibTeX ------------------------------------------------------------------------------------------------------
_BIB_ESCAPE = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
               "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _bib(text: str) -> str:
    return "".join(_BIB_ESCAPE.get(c, c) for c in " ".join(str(text).split()))


def _bib_title(title: str) -> str:
    """Escaped, with words that carry capitals inside (SliceFormer, BERT) braced so styles keep their case."""
    words = []
    for w in _bib(title).split(" "):
        words.append("{" + w + "}" if re.search(r"[A-Za-z].*[A-Z]", w) and "\\" not in w else w)
    return " ".join(words)


def bibtex_entry(c: Citation) -> str:
    p = c.paper
    fields: list[tuple[str, str]] = [("title", _bib_title(p.title))]
    if p.authors:
        names = []
        for a in p.authors:
            family, given = split_name(a)
            names.append(_bib(f"{family}, {given}" if given else family))
        fields.append(("author", " and ".join(names)))
    if c.year:
        fields.append(("year", c.year))
    if c.venue:
        kind = "inproceedings" if c.conference else "article"
        fields.append(("booktitle" if c.conference else "journal", _bib(c.venue)))
        for name in ("volume", "number", "issue", "pages", "publisher"):
            if p.extra.get(name):
                fields.append(("number" if name == "issue" else name, _bib(p.extra[name])))
    else:
        kind = "misc"
    if p.extra.get("doi"):
        fields.append(("doi", _bib(p.extra["doi"])))
    if p.arxiv_id:
        fields += [("eprint", p.arxiv_id), ("archivePrefix", "arXiv")]
        primary = p.extra.get("primary_category") or next(iter(p.extra.get("categories") or []), None)
        if primary:
            fields.append(("primaryClass", _bib(primary)))
        fields.append(("url", f"https://arxiv.org/abs/{p.arxiv_id}"))
    elif p.extra.get("url") or p.pdf_url:
        fields.append(("url", _bib(p.extra.get("url") or p.pdf_url)))
    seen: set[str] = set()
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if not (k in seen or seen.add(k)))
    return f"@{kind}{{{c.key},\n{body}\n}}\n"


# RIS ---------------------------------------------------------------------------------------------------------
def ris_entry(c: Citation) -> str:
    p = c.paper
    kind = ("CPAPER" if c.conference else "JOUR") if c.venue else ("UNPB" if p.arxiv_id else "GEN")
    lines = [("TY", kind), ("ID", c.key), ("TI", p.title)]
    for a in p.authors:
        family, given = split_name(a)
        lines.append(("AU", f"{family}, {given}" if given else family))
    if c.year:
        lines.append(("PY", c.year))
    if p.published and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.published):
        lines.append(("DA", p.published.replace("-", "/")))
    if c.venue:
        lines.append(("T2", c.venue))
    if p.extra.get("doi"):
        lines.append(("DO", p.extra["doi"]))
    if p.arxiv_id:
        lines += [("UR", f"https://arxiv.org/abs/{p.arxiv_id}"), ("AN", f"arXiv:{p.arxiv_id}")]
    elif p.extra.get("url"):
        lines.append(("UR", p.extra["url"]))
    if p.abstract:
        lines.append(("AB", " ".join(p.abstract.split())))
    lines += [("KW", t) for t in c.tags]
    return "".join(f"{tag}  - {' '.join(str(v).split())}\n" for tag, v in lines) + "ER  - \n"


# CSL-JSON ----------------------------------------------------------------------------------------------------
def csl_item(c: Citation) -> dict:
    p = c.paper
    item: dict = {"id": c.key, "type": ("paper-conference" if c.conference else "article-journal") if c.venue
                  else "article", "title": p.title}
    if p.authors:
        item["author"] = [{"family": f, "given": g} if g else {"literal": f} for f, g in map(split_name, p.authors)]
    date = p.published or p.digest_date or c.year
    if date and re.match(r"\d{4}", date):
        item["issued"] = {"date-parts": [[int(x) for x in date.split("-")[:3] if x.isdigit()]]}
    if c.venue:
        item["container-title"] = c.venue
    if p.extra.get("doi"):
        item["DOI"] = p.extra["doi"]
    if p.arxiv_id:
        item.update({"URL": f"https://arxiv.org/abs/{p.arxiv_id}", "number": f"arXiv:{p.arxiv_id}",
                     "publisher": "arXiv"})
    elif p.extra.get("url"):
        item["URL"] = p.extra["url"]
    if p.abstract:
        item["abstract"] = " ".join(p.abstract.split())
    if c.tags:
        item["keyword"] = ", ".join(c.tags)
    return item


def render(citations: list[Citation], fmt: str) -> str:
    if fmt == "bibtex":
        return "\n".join(bibtex_entry(c) for c in citations)
    if fmt == "ris":
        return "\n".join(ris_entry(c) for c in citations)
    if fmt == "csl-json":
        return json.dumps([csl_item(c) for c in citations], ensure_ascii=False, indent=2) + "\n"
    raise KbError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")


def citations_for(catalog, ids: list[str]) -> list[Citation]:
    """Citations of stored papers (ids as stored), with their tags."""
    from kb.library.tables import labels_of

    loaded = []
    for pid in ids:
        paper = catalog.load_paper(pid)
        if paper is not None:
            loaded.append((pid, paper))
    cites = assign_keys(loaded)
    for c in cites:
        c.tags = labels_of(catalog.db, c.paper_id)["tags"]
    return cites


def select_papers(catalog, refs: list[str] | None = None, date: str | None = None, topic: str | None = None,
                  collection: str | None = None, everything: bool = False) -> list[str]:
    """Paper ids named by `refs` (ids, arXiv ids, unique prefixes) plus those matching all of the filters."""
    from kb.library.tables import papers_with_label

    refs = refs or []
    if not (refs or date or topic or collection or everything):
        raise KbError("say which papers to export: ids, --date, --topic, --collection, or --all")
    out: list[str] = []
    for ref in refs:
        pid = catalog.find_paper_id(ref)
        if pid is None:
            raise KbError(f"no paper matches '{ref}' (see `kb list`)")
        out.append(pid)
    if date or topic or collection or everything:
        rows = [r["id"] for r in catalog.list_papers(date=date, topic=topic)]
        if collection:
            members = papers_with_label(catalog.db, "collection", collection)
            if not members:
                raise KbError(f"no collection '{collection}' (see `kb show`)")
            rows = [pid for pid in rows if pid in members]
        out += rows
    return list(dict.fromkeys(out))


def export(catalog, fmt: str, **selection) -> str:
    """The selected papers (see select_papers) in `fmt`."""
    if fmt not in FORMATS:
        raise KbError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    return render(citations_for(catalog, select_papers(catalog, **selection)), fmt)
