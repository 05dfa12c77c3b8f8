"""Paper identifiers shared by every stage: arXiv ids in any usual spelling, and what a user may type for a paper."""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

# New-style ids (since April 2007): YYMM.NNNN (until 2014) or YYMM.NNNNN (from 2015), optional vN.
_NEW_ID = re.compile(r"(?P<id>(?P<yy>\d{2})(?P<mm>\d{2})\.(?P<num>\d{4,5}))(?:v(?P<v>\d+))?")
# Old-style ids: archive[.SUBJ]/YYMMNNN, e.g. hep-th/9901001, math.GT/0309136.
_OLD_ID = re.compile(r"(?P<id>[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?")
_ARXIV_HOSTS = ("arxiv.org", "www.arxiv.org", "export.arxiv.org")
# Real papers have a handful of versions; a number past this is not a version (and would overflow SQLite's
# 64-bit INTEGER if it were stored).
MAX_VERSION = 999


def parse_version(digits: str | None) -> int | None:
    """The version number in "v<digits>" as an int, or None when absent, 0, or implausibly large."""
    if not digits or len(digits) > len(str(MAX_VERSION)):
        return None
    version = int(digits)
    return version if 1 <= version <= MAX_VERSION else None


def normalize_arxiv_id(s: str) -> tuple[str, int | None] | None:
    """Return (id without version, version or None) for an arXiv identifier in any usual spelling, else None.

    Accepted: "2405.12211", "2405.12211v2", "arXiv:2405.12211v1", "https://arxiv.org/abs/2405.12211",
    "https://arxiv.org/pdf/2405.12211v1.pdf", a file name such as "2405.12211v2.pdf" (with or without folders),
    and old-style ids such as "hep-th/9901001". Anything else, including ids with an impossible month or a version
    of 0 or past MAX_VERSION, gives None.
    """
    if not isinstance(s, str):
        return None
    text = s.strip()
    if not text:
        return None
    if "://" in text:
        parsed = urllib.parse.urlparse(text)
        if parsed.hostname not in _ARXIV_HOSTS:
            return None
        m = re.fullmatch(r"/(?:abs|pdf)/(.+?)(?:\.pdf)?/?", parsed.path)
        return _match_id(m.group(1)) if m else None
    if text.lower().startswith("arxiv:"):
        return _match_id(text[len("arxiv:"):].strip())
    found = _match_id(text)
    if found:
        return found
    # A file name or path: look at the last component only, without a .pdf suffix.
    name = Path(text).name
    if name.lower().endswith(".pdf"):
        name = name[:-4]
    return _match_id(name)


def _match_id(text: str) -> tuple[str, int | None] | None:
    m = _NEW_ID.fullmatch(text)
    if m:
        yymm = int(m["yy"] + m["mm"])
        if not 1 <= int(m["mm"]) <= 12 or yymm < 704:
            return None
        if (len(m["num"]) == 5) != (yymm >= 1501):  # 4 digits until 2014, 5 digits since 2015
            return None
    else:
        m = _OLD_ID.fullmatch(text)
        if not m:
            return None
    version = parse_version(m["v"])
    if m["v"] and version is None:  # v0 or an absurd number: not an arXiv id
        return None
    return m["id"], version


def normalize_ref(ref: str) -> list[str]:
    """Candidate ids for what a user typed: the text itself and, if it names an arXiv paper, its bare id."""
    out = [ref.strip()]
    parsed = normalize_arxiv_id(ref.strip())
    if parsed:
        out.append(parsed[0])
    return out
