"""Digest output: the Markdown page round-trips through the digest page parser (and `kb ingest`), the JSON holds
citations and verdicts, the HTML is self-contained with working citation anchors and renders in Chromium."""
from __future__ import annotations

import json

from kb.digest.roles import ROLES
from kb.digest.types import KINDS
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kb.store.catalog import Catalog
from kb.digest.day import build_digest
from kb.digest.html import anchor
from kb.digest.markdown import statement_text
from kb.digest.render import render
from kb.digest.types import QUOTE_MARK
from kb.digest.types import NOT_STATED
from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator
from kb.ingest.pipeline import ingest
from kb.ingest.parsers.digest import parse_digest
from kb.store.vectors import MemoryStore

DAY = "2024-05-22"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def kb(tmp_path_factory, sample_corpus):
    folder = tmp_path_factory.mktemp("render-kb")
    catalog = Catalog(folder / "catalog.sqlite")
    assert ingest([str(sample_corpus)], catalog, HashEmbedder(), MemoryStore()).errors == []
    yield catalog
    catalog.close()


def replies(messages) -> str:
    """Mostly faithful (the first passage's first sentence), but one hallucination per takeaways list."""
    from kb.backends.generators import quote_first_passage

    good = quote_first_passage(messages)
    if "bullet" in messages[-1]["content"]:
        return f"- {good}\n- The method wins every benchmark by 45 points on 9000 GPUs [1]."
    if "method step" in messages[-1]["content"]:  # a transformation that invents its facts
        return "The method wins every benchmark by 45 points on 9000 GPUs."
    return good


@pytest.fixture(scope="module")
def digest(kb):
    return build_digest(DAY, kb, HashEmbedder(), FakeGenerator(replies))


def test_markdown_round_trips_through_the_digest_parser(digest, kb, tmp_path):
    page = tmp_path / "digest.md"
    page.write_text(render(digest, "md"), encoding="utf-8")
    parsed = parse_digest(page)
    assert parsed.errors == []
    assert len(parsed.papers) == digest.entries  # a paper under two topics appears under both
    by_id = {p.arxiv_id: p for p in parsed.papers}
    assert set(by_id) == set(digest.papers)
    for pid, back in by_id.items():
        stored = kb.load_paper(pid)
        assert back.title == stored.title and back.authors == stored.authors
        assert back.abstract == stored.abstract  # generated text never lands in the abstract
        assert back.comment == stored.comment and back.arxiv_version == stored.arxiv_version
        assert back.digest_date == DAY
        notes = back.annotations[0].data
        mine = digest.papers[pid]
        assert notes["summary"] == statement_text(mine.field("summary").shown[0])
        assert notes["takeaways"] == [statement_text(s) for s in mine.field("takeaways").shown]
        n = notes["notes"]
        assert n["title"] == stored.title and n["authors"] == ", ".join(stored.authors)
        assert n["affiliation"].startswith(mine.field("affiliation").shown[0].text)
        assert n["keywords"] == [NOT_STATED] and f"https://arxiv.org/abs/{pid}" in n["urls"]
        assert len(n["summary"]) == 4 and n["summary"][0].startswith("Research background:")
        assert len(n["methods"]) == len(mine.field("steps").shown)
        assert "(1): Significance:" in n["conclusion"] and "(2): Innovation:" in n["conclusion"]
        assert "(3): Workload:" in n["conclusion"]  # each on its own line, not run together
        assert "Sources" not in n["raw"]  # the sources block stays out of the notes


def test_ingesting_a_generated_page_gives_the_same_papers(kb, tmp_path):
    one_topic = build_digest(DAY, kb, HashEmbedder(), FakeGenerator(), topic="Diffusion Models")
    page = tmp_path / "diffusion.md"
    page.write_text(render(one_topic, "md"), encoding="utf-8")
    fresh = Catalog(tmp_path / "fresh.sqlite")
    report = ingest([str(page)], fresh, HashEmbedder(), MemoryStore())
    assert report.errors == [] and report.papers_new == len(one_topic.papers) == 2
    for row in fresh.list_papers():
        old = kb.get_paper_row(row["id"])
        assert (row["title"], row["authors"], row["abstract"], row["comment"], row["date"]) == \
               (old["title"], old["authors"], old["abstract"], old["comment"], DAY)
        assert json.loads(row["topics"]) == ["Diffusion Models"]
        annotation = fresh.load_paper(row["id"]).annotations[0]
        summary = one_topic.papers[row["id"]].field("summary").shown[0]
        assert annotation.kind == "digest-summary" and annotation.data["summary"] == statement_text(summary)
    fresh.close()


def test_all_topics_page_gives_each_paper_its_topics_back(digest, tmp_path):
    assert len(digest.groups) > 1
    page = tmp_path / "all.md"
    page.write_text(render(digest, "md"), encoding="utf-8")
    fresh = Catalog(tmp_path / "fresh.sqlite")
    assert ingest([str(page)], fresh, HashEmbedder(), MemoryStore()).errors == []
    want: dict[str, set] = {}
    for g in digest.groups:
        for pid in g.paper_ids:
            want.setdefault(pid, set()).add(g.name)
    got = {row["id"]: set(json.loads(row["topics"])) for row in fresh.list_papers()}
    assert got == want  # the "# Topic" headings, never the page title "Daily digest DATE"
    fresh.close()


def test_markdown_has_every_section_and_marks_quotes(digest):
    md = render(digest, "md")
    assert md.startswith("---\ntitle: Daily digest 2024-05-22\ndate: 2024-05-22 ")
    yaml = pytest.importorskip("yaml")
    front = yaml.safe_load(md.split("---\n")[1])  # Hexo reads it as YAML
    assert front["title"] == "Daily digest 2024-05-22" and str(front["date"]).startswith(DAY)
    assert front["categories"] == "Paper" and front["tags"] == [g.name for g in digest.groups]
    assert front["description"].startswith(f"{len(digest.papers)} papers of {DAY}")
    assert f"\n# {DAY} 更新\n" in md
    for label in ("**Summary**", "**Key Takeaways**", "<p>Title: ", "<p>Authors: ", "<p>Affiliation: ",
                  "<p>Keywords: ", "<p>Urls: ", "<p>Summary:</p>", "<p>(2): Past methods and their problem: ",
                  "<p>(4): Task and performance: ", "<p>Methods:</p>", "<p>Conclusion:</p>",
                  "<summary>Sources</summary>"):
        assert md.count(label) == digest.entries, label
    replaced = [s for p in digest.papers.values() for s in p.statements() if s.action == "replaced"]
    dropped = [s for p in digest.papers.values() for s in p.statements() if s.action == "dropped"]
    assert replaced or dropped  # the hallucinated takeaway never shows unmarked
    assert "9000 GPUs" not in md and "45 points" not in md
    for s in replaced:
        assert f"“{s.text.rstrip('.')}” {''.join(f'[{n}]' for n in s.citations)}{QUOTE_MARK}" in md
    for pid, p in digest.papers.items():
        for src in p.sources:
            assert f"- [{src.n}] {src.where}: “{src.quote}”" in md


def test_json_holds_citations_and_verdicts(digest):
    data = json.loads(render(digest, "json"))
    assert data["date"] == DAY and data["stats"]["papers"] == len(data["papers"])
    assert {t["name"] for t in data["topics"]} == {g.name for g in digest.groups}
    for paper in data["papers"]:
        numbers = {s["n"] for s in paper["sources"]}
        assert {"chunk_id", "page", "section", "quotes", "text"} <= set(paper["sources"][0])
        for name, field in paper["fields"].items():
            assert field["not_stated"] == (not any(s["action"] != "dropped" and s["text"] for s in field["statements"]))
            for s in field["statements"]:
                assert set(s["citations"]) <= numbers
                if s["generated"]:
                    assert s["verdict"]["status"] in ("supported", "unsupported", "no-citation", "bad-citation")
                    # a supported reply that only copies its source is shown as the quote it is
                    assert (s["action"] == "kept") == (s["verdict"]["status"] == "supported" and s["kind"] != "quote"
                                                       and s["verdict"].get("reason") != "duplicate")
                if s["action"] != "dropped" and name not in ("affiliation", "keywords", "urls"):
                    assert s["role"] in ROLES and s["kind"] in KINDS
        generated = [s for f in paper["fields"].values() for s in f["statements"] if s["generated"]]
        # every model reply is counted once, checked or no claim (a retried statement had two replies)
        assert paper["stats"]["generated"] + paper["stats"]["not_claims"] == \
            len(generated) + paper["stats"]["retries"]
        assert paper["stats"]["kept"] == sum(1 for s in generated if s["action"] == "kept")


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.srcs, self.stack, self.errors = set(), [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if "src" in a or tag in ("link", "script", "img", "iframe"):
            self.srcs.append((tag, a))
        if tag not in ("meta", "br", "img", "link", "input", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_every_citation_links_to_its_quote(digest):
    page = render(digest, "html")
    c = _Collect()
    c.feed(page)
    assert c.errors == [] and c.stack == []
    assert c.srcs == []  # no scripts, images, stylesheets or frames from anywhere
    assert not re.search(r"@import|url\(", page)
    cites = [h for h in c.hrefs if re.fullmatch(r"#p-.*-s\d+", h)]
    assert cites and all(h[1:] in c.ids for h in cites)
    for pid, p in digest.papers.items():
        assert anchor(pid) in c.ids
        for src in p.sources:
            assert f"{anchor(pid)}-s{src.n}" in c.ids
    assert page.count('class="quoted"') >= sum(1 for p in digest.papers.values() for s in p.statements()
                                              if s.is_quote and s.shown)
    assert "9000 GPUs" not in page
    for g in digest.groups:
        assert f">{g.name}<span class=\"count\">" in page.replace("&amp;", "&")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)")
def test_html_renders_in_headless_chromium(digest, tmp_path):
    page = tmp_path / "digest.html"
    page.write_text(render(digest, "html"), encoding="utf-8")
    shot = tmp_path / "digest.png"
    profile = tempfile.mkdtemp()
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]
    try:
        dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
        subprocess.run(base + [f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                       capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert dom.returncode == 0, dom.stderr[-500:]
    for p in digest.papers.values():
        assert p.title.split(":")[0] in dom.stdout
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real page, not a blank one
