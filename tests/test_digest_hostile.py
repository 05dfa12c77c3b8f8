"""Red-team: third-party text in a generated digest page is inert. The Markdown page (published as a Hexo page)
and the HTML page never carry a planted <script>, <img onerror=...> or javascript: link as live markup, and the
Markdown page still parses back to the same papers."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator
from kb.digest.day import build_digest
from kb.digest.render import render
from kb.ingest.parsers.digest import parse_digest
from kb.ingest.pipeline import ingest
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore

DAY = "2024-03-07"
TITLE = 'Robust <script>alert("t")</script> Splatting [x](javascript:alert(1))'
AUTHORS = ['Eve <img src=x onerror="alert(2)">', "Bob [me](javascript:alert(3))"]
ABSTRACT = ("We study attacks <script>steal()</script> on renderers. Our method <img src=x onerror=alert(4)> is "
            "described at [this link](javascript:alert(5)) and <a href=\"javascript:alert(6)\">here</a>. "
            "Results improve by 3 points on the benchmark & more.")
COMMENT = "Accepted <iframe src=javascript:alert(7)></iframe>"

PAGE = f"""---
title: 3DGS
date: {DAY} 10:00:00
tags:
    - 3DGS
---

# {DAY} 更新

## {TITLE}

**Authors:{', '.join(AUTHORS)}**

{ABSTRACT}

[PDF](http://arxiv.org/abs/2403.00001v1) {COMMENT}

**Summary**
Planted summary.
"""


class _Active(HTMLParser):
    """Collects live markup: tags that run script, event handler attributes, javascript:/data: links."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "img", "object", "embed"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and value and value.strip().lower().startswith(("javascript:", "data:")):
                self.found.append(f"{tag}[{name}={value}]")


def active_markup(html_text: str) -> list[str]:
    p = _Active()
    p.feed(html_text)
    return p.found


def hostile_quote(messages) -> str:
    return 'Our method <img src=x onerror=alert(8)> works [see](javascript:alert(9)) [1].'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    page = folder / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    catalog = Catalog(folder / "catalog.sqlite")
    assert ingest([str(page)], catalog, HashEmbedder(), MemoryStore()).errors == []
    digest = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(hostile_quote))
    yield catalog, digest
    catalog.close()


def test_the_fixture_is_hostile():
    # the check itself finds live markup in the raw page rendered as Markdown (so the tests below can fail)
    assert len(active_markup(MarkdownIt("commonmark").render(PAGE))) >= 4


def test_markdown_page_carries_no_live_markup(hostile):
    _, digest = hostile
    md = render(digest, "md")
    html_out = MarkdownIt("commonmark").render(md)
    assert active_markup(html_out) == []
    for tag in html_out.split("<a ")[1:]:
        assert tag.startswith(('href="http', 'href="#"'))
    assert "&lt;script&gt;" in html_out  # shown as text, not dropped


def test_markdown_page_round_trips_hostile_text(hostile, tmp_path):
    catalog, digest = hostile
    page = tmp_path / "out.md"
    page.write_text(render(digest, "md"), encoding="utf-8")
    parsed = parse_digest(page)
    assert parsed.errors == [] and len(parsed.papers) == 1
    back, stored = parsed.papers[0], catalog.load_paper(parsed.papers[0].arxiv_id)
    assert back.title == stored.title == " ".join(TITLE.split())
    assert back.authors == stored.authors == AUTHORS
    assert back.abstract == stored.abstract and back.comment == stored.comment == COMMENT


def test_html_page_carries_no_live_markup(hostile):
    _, digest = hostile
    assert active_markup(render(digest, "html")) == []


def test_javascript_link_is_never_published(tmp_path):
    page = tmp_path / "js.md"
    page.write_text(PAGE.replace("http://arxiv.org/abs/2403.00001v1", "javascript://arxiv.org/abs/2403.00001v1"),
                    encoding="utf-8")
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert ingest([str(page)], catalog, HashEmbedder(), MemoryStore()).errors == []  # the link names an arXiv id
    digest = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(hostile_quote))
    for fmt in ("md", "html"):
        out = render(digest, fmt)
        out = MarkdownIt("commonmark").render(out) if fmt == "md" else out
        assert active_markup(out) == []
    catalog.close()
