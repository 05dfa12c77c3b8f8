"""The per-date fetch journal (KB_HOME/fetch/<date>.<topics key>.json): what a run decided and what it has
finished, written atomically after every step, so a run killed at any point is completed by the next one
without repeating work.

Keys: "plan" {arxiv id: {"version", "status" (new | updated | skipped), "topics"}} decided before anything is
stored (so a rerun reports the same statuses), "topics" {name: [ids]}, "stored" {id: version}, "pdfs" {id: path},
"complete" (bool), "nothing" (arXiv announced nothing that day), "listing_day".
"""
from __future__ import annotations

import hashlib
import json
from datetime import date as Date
from datetime import timedelta
from pathlib import Path


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                self.data = {}  # a torn journal only costs re-deciding; the response cache still answers
        for key in ("plan", "topics", "stored", "pdfs"):
            self.data.setdefault(key, {})

    @property
    def complete(self) -> bool:
        return bool(self.data.get("complete"))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".part")
        tmp.write_text(json.dumps(self.data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)


def journal_path(folder: Path, name: str, topics: list) -> Path:
    """KB_HOME/fetch/<name>.<key>.json, the key naming the topics' subscriptions: fetching another set of topics
    (--topic, or an edited topics.toml) for the same day is another run, with its own journal."""
    spec = sorted(json.dumps([t.name, t.query, sorted(t.categories), t.cross_lists, t.replacements])
                  for t in topics)
    key = hashlib.sha1("\n".join(spec).encode("utf-8")).hexdigest()[:10]
    return Path(folder) / f"{name}.{key}.json"


def announced_days(folder: Path) -> list[str]:
    """Days whose journal records an announcement with papers."""
    days = []
    for path in sorted(Path(folder).glob("????-??-??.*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("complete") and not data.get("nothing"):
            days.append(path.name[:10])
    return sorted(set(days))


def nearest_announced(day: str, folder: Path) -> list[str]:
    """The closest announcement days before and after `day`: known ones from the journals, else the nearest
    weekdays (arXiv announces Sunday to Thursday evenings US Eastern, dated Monday to Friday)."""
    target = Date.fromisoformat(day)
    known = [Date.fromisoformat(d) for d in announced_days(folder)]
    before = [d for d in known if d < target]
    after = [d for d in known if d > target]
    out = []
    prev = max(before) if before else _weekday(target, -1)
    nxt = min(after) if after else _weekday(target, +1)
    out.append(prev.isoformat())
    out.append(nxt.isoformat())
    return out


def _weekday(day: Date, step: int) -> Date:
    d = day + timedelta(days=step)
    while d.weekday() >= 5:
        d += timedelta(days=step)
    return d
