"""The digest as text in one of its formats: Markdown (kb.digest.markdown), HTML (kb.digest.html) or JSON."""
from __future__ import annotations

import json

from kb.digest.html import render_html
from kb.digest.markdown import render_markdown
from kb.digest.types import Digest

FORMATS = ("md", "html", "json")


def render(d: Digest, fmt: str) -> str:
    """The digest as text in `fmt`: "md", "json" or "html"."""
    if fmt == "md":
        return render_markdown(d)
    if fmt == "json":
        return render_json(d)
    if fmt == "html":
        return render_html(d)
    raise ValueError(f"unknown digest format {fmt!r} (md | html | json)")


def render_json(d: Digest) -> str:
    return json.dumps(d.to_dict(), ensure_ascii=False, indent=2) + "\n"
