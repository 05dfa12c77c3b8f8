"""Rank papers by relevance to the user's library (kb.library.tables.library_papers: Zotero, .bib, own PDFs, stars).

A paper's vector is the mean of its stored chunk embeddings (the front matter, abstract and introduction when the
paper has them, so a full-text library paper and an abstract-only listing are compared on like text), unit
length; nothing is embedded at ranking time. A candidate's relevance is its highest cosine similarity to a
library paper, each library paper weighted by how recently it joined the library (weight 1.0 when just added,
halfway to `1 - recency` after `half_life_days`), so new interests count a little more than old ones. The library
paper that gives the maximum is the one the candidate is "close to" (`neighbours` > 1 scores with the mean of
that many best library papers instead; 1 keeps the shown score equal to the similarity to the paper named). A
candidate that is itself in the library is compared with the rest of it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.library import tables
from kb.types import KbError

_FRONT = ("front", "abstract", "introduction")
NEIGHBOURS = 1


@dataclass
class Relevance:
    paper_id: str
    score: float  # recency-weighted cosine similarity to the closest library paper
    close_to: str  # that library paper's id
    close_title: str

    def to_dict(self) -> dict:
        return {"id": self.paper_id, "relevance": round(self.score, 4), "close_to": self.close_to,
                "close_to_title": self.close_title}


@dataclass
class Profile:
    """The library as vectors: `ids[i]` has unit vector `matrix[i]` and recency weight `weights[i]`."""

    ids: list[str]
    matrix: np.ndarray
    weights: np.ndarray
    titles: dict[str, str]

    def __len__(self) -> int:
        return len(self.ids)


def paper_vectors(db, ids: list[str]) -> dict[str, np.ndarray]:
    """{paper id: unit mean vector of its (front-matter) chunk embeddings}; papers not yet embedded are absent."""
    rows: dict[str, list[tuple[str, bytes]]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        q = ",".join("?" * len(part))
        for pid, kind, blob in db.execute(f"SELECT paper_id, kind, embedding FROM chunks WHERE paper_id IN ({q})"
                                          " AND embedding IS NOT NULL AND kind != 'references'", part):
            rows.setdefault(pid, []).append((kind, blob))
    out = {}
    for pid, chunks in rows.items():
        chosen = [b for k, b in chunks if k in _FRONT] or [b for _, b in chunks]
        vec = np.mean([np.frombuffer(b, dtype=np.float32) for b in chosen], axis=0)
        norm = float(np.linalg.norm(vec))
        if norm > 0:
            out[pid] = (vec / norm).astype(np.float32)
    return out


def library_profile(catalog, now: float | None = None, half_life_days: float = 90.0,
                    recency: float = 0.2) -> Profile:
    """The library papers that have embeddings, with their recency weights."""
    members = tables.library_papers(catalog.db, downloads=Path(catalog.path).parent / "papers")
    vectors = paper_vectors(catalog.db, sorted(members))
    ids = [pid for pid in sorted(members) if pid in vectors]
    now = time.time() if now is None else now
    ages = np.array([max(0.0, now - members[pid]) / 86400.0 for pid in ids], dtype=np.float32)
    weights = 1.0 - recency * (1.0 - 0.5 ** (ages / half_life_days))
    titles = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        q = ",".join("?" * len(part))
        titles.update({r[0]: r[1] for r in catalog.db.execute(f"SELECT id, title FROM papers WHERE id IN ({q})", part)})
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    matrix = np.stack([vectors[pid] for pid in ids]) if ids else np.zeros((0, dim), dtype=np.float32)
    return Profile(ids, matrix, weights.astype(np.float32), titles)


def rank(catalog, candidate_ids: list[str], profile: Profile | None = None, neighbours: int = NEIGHBOURS
         ) -> dict[str, Relevance]:
    """{candidate id: Relevance}; empty when the library is empty. Candidates without embeddings are absent."""
    profile = library_profile(catalog) if profile is None else profile
    if not len(profile):
        return {}
    vectors = paper_vectors(catalog.db, list(dict.fromkeys(candidate_ids)))
    ids = [pid for pid in dict.fromkeys(candidate_ids) if pid in vectors]
    if not ids:
        return {}
    cand = np.stack([vectors[pid] for pid in ids])
    if cand.shape[1] != profile.matrix.shape[1]:
        raise KbError("library and candidate embeddings differ in size; run `kb reindex --rebuild`")
    scores = (cand @ profile.matrix.T) * profile.weights[None, :]
    index = {pid: i for i, pid in enumerate(profile.ids)}
    out = {}
    for row, pid in enumerate(ids):
        s = scores[row]
        if pid in index:  # a library paper is not close to itself
            s = s.copy()
            s[index[pid]] = -np.inf
        best = int(np.argmax(s))
        if not np.isfinite(s[best]):
            continue
        finite = s[np.isfinite(s)]
        top = np.sort(finite)[-min(neighbours, len(finite)):]
        lib_id = profile.ids[best]
        out[pid] = Relevance(pid, float(top.mean()), lib_id, profile.titles.get(lib_id, lib_id))
    return out


def by_relevance(ids: list[str], relevance: dict[str, Relevance]) -> list[str]:
    """`ids` most relevant first; papers without a score keep their listing order after the scored ones."""
    pos = {pid: i for i, pid in enumerate(ids)}
    return sorted(ids, key=lambda pid: (pid not in relevance, -relevance[pid].score if pid in relevance else 0.0,
                                        pos[pid]))


def recommend(catalog, date: str | None = None, k: int = 10, profile: Profile | None = None) -> tuple[str, list[dict]]:
    """(the day, its `k` papers most relevant to the library, across topics). Without `date`: the latest day
    that has papers outside the library. Raises KbError when the library is empty or the day has no papers."""
    profile = library_profile(catalog) if profile is None else profile
    if not len(profile):
        raise KbError("your library is empty: `kb ingest` a Zotero folder, a .bib file or your PDFs, "
                      "or `kb star ID` papers you like")
    library = set(profile.ids)
    if date is None:
        dates = [r["date"] for r in catalog.list_papers() if r["id"] not in library and r["date"]
                 and len(r["date"]) == 10]
        if not dates:
            raise KbError("no dated papers outside your library; ingest a day's listing first")
        date = max(dates)
    rows = [r for r in catalog.list_papers(date=date) if r["id"] not in library]
    if not rows:
        raise KbError(f"no papers dated {date} outside your library")
    rel = rank(catalog, [r["id"] for r in rows], profile)
    by_id = {r["id"]: r for r in rows}
    out = []
    for pid in by_relevance([r["id"] for r in rows], rel)[:max(0, k)]:
        r = by_id[pid]
        item = {"id": pid, "title": r["title"], "arxiv_id": r["arxiv_id"], "date": r["date"]}
        item.update(rel[pid].to_dict() if pid in rel else {"relevance": None, "close_to": None,
                                                           "close_to_title": None})
        out.append(item)
    return date, out
