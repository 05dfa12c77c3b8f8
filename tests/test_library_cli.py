"""The library commands end to end: ingest a Zotero folder, list/show by collection and tag, star, export,
recommend, ask --bibtex (CliRunner, temporary KB_HOME, fake embedder)."""
from __future__ import annotations

import json

import bibtexparser
import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from samples.library import day_feed, make_day
from tests.zotero_fixture import ZoteroFixture

runner = CliRunner()
DAY = "2024-06-03"


@pytest.fixture
def home(kb_env, tmp_path):
    z = ZoteroFixture(tmp_path / "Zotero")
    z.add_item("Score based denoising diffusion samplers for image synthesis", [("María", "Alonso")],
               fields={"date": "2024-03-02 March 2, 2024", "extra": "arXiv: 2403.11111",
                       "abstractNote": "Diffusion denoising score sampler noise schedule guidance image synthesis."},
               collections=["Generative/Diffusion"], tags=["to-read"])
    z.add_item("Message passing on molecule graphs", [("Li", "Chen")], fields={
        "date": "2023-01-00 January 2023", "DOI": "10.1234/graphs.1", "publicationTitle": "Journal of Graphs",
        "abstractNote": "Graph node edge message passing molecule adjacency."}, collections=["Graphs"])
    feed = tmp_path / "day.xml"
    feed.write_text(day_feed(make_day(12), DAY), encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(z.folder), str(feed)])
    assert result.exit_code == 0, result.output
    return kb_env


def test_list_by_collection_and_tag_and_show_labels(home):
    out = runner.invoke(app, ["list", "--collection", "Diffusion", "--json"])
    assert out.exit_code == 0
    assert [r["id"] for r in json.loads(out.stdout)] == ["2403.11111"]
    out = runner.invoke(app, ["list", "--collection", "Generative", "--json"])  # a parent collection
    assert [r["id"] for r in json.loads(out.stdout)] == ["2403.11111"]
    out = runner.invoke(app, ["list", "--tag", "to-read", "--json"])
    assert [r["id"] for r in json.loads(out.stdout)] == ["2403.11111"]
    out = runner.invoke(app, ["show", "--json"])
    data = json.loads(out.stdout)
    assert data["collections"] == [{"name": "Generative/Diffusion", "papers": 1}, {"name": "Graphs", "papers": 1}]
    assert data["tags"] == [{"name": "to-read", "papers": 1}]
    out = runner.invoke(app, ["show", "2403.11111"])
    assert "collections: Generative/Diffusion" in out.stdout and "tags: to-read" in out.stdout


def test_star_unstar_and_list_starred(home):
    day_paper = make_day(12)[3]["id"]
    assert runner.invoke(app, ["star", day_paper]).exit_code == 0
    out = runner.invoke(app, ["list", "--starred", "--json"])
    assert [r["id"] for r in json.loads(out.stdout)] == [day_paper]
    assert runner.invoke(app, ["unstar", day_paper]).exit_code == 0
    assert json.loads(runner.invoke(app, ["list", "--starred", "--json"]).stdout) == []
    bad = runner.invoke(app, ["star", "9999.99999"])
    assert bad.exit_code == 1 and "no paper matches" in bad.output


def test_export_formats_and_selection(home, tmp_path):
    out = runner.invoke(app, ["export", "--collection", "Graphs", "--format", "bibtex"])
    assert out.exit_code == 0, out.output
    (entry,) = bibtexparser.parse_string(out.stdout).entries
    assert entry.key == "chen2023message" and entry.entry_type == "article" and entry["doi"] == "10.1234/graphs.1"
    target = tmp_path / "day.ris"
    out = runner.invoke(app, ["export", "--date", DAY, "--format", "ris", "--out", str(target)])
    assert out.exit_code == 0 and target.read_text().count("TY  - UNPB") == 12
    out = runner.invoke(app, ["export", "2403.11111", "--format", "csl-json"])
    assert json.loads(out.stdout)[0]["id"] == "alonso2024score"
    assert runner.invoke(app, ["export"]).exit_code == 1  # nothing selected
    assert runner.invoke(app, ["export", "--all", "--format", "endnote"]).exit_code == 2


def test_recommend_json(home):
    out = runner.invoke(app, ["recommend", "-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    topics = {p["id"]: p["topic"] for p in make_day(12)}
    assert data["date"] == DAY and len(data["papers"]) == 3
    assert {topics[p["id"]] for p in data["papers"]} <= {"diffusion", "graphs"}
    assert all(p["close_to_title"] for p in data["papers"])


def test_ask_bibtex_appends_the_cited_papers(home, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    q = "What do score based denoising diffusion samplers do for image synthesis?"
    out = runner.invoke(app, ["ask", q, "--bibtex", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["abstained"] is False
    cited = [p["arxiv_id"] for p in data["papers"]]
    entries = bibtexparser.parse_string(data["bibtex"]).entries
    assert [e["eprint"] for e in entries] == cited and "2403.11111" in cited
    text = runner.invoke(app, ["ask", q, "--bibtex", "--no-stream"])
    assert "\nBibTeX:\n" in text.stdout and "@misc{alonso2024score," in text.stdout
    plain = runner.invoke(app, ["ask", q, "--no-stream"])
    assert "BibTeX" not in plain.stdout


def test_digest_order_option(home, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    out = runner.invoke(app, ["digest", "--date", DAY, "--format", "json", "--out", "-", "--limit", "3", "-q"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    rel = [p["relevance"] for p in data["papers"]]
    assert all(p["close_to"] for p in data["papers"]) and rel == sorted(rel, reverse=True)
    topics = {p["id"]: p["topic"] for p in make_day(12)}
    assert {topics[p["id"]] for p in data["papers"]} <= {"diffusion", "graphs"}  # the day's most relevant 3
    listing = runner.invoke(app, ["digest", "--date", DAY, "--format", "json", "--out", "-", "--limit", "3", "-q",
                                  "--order", "listing"])
    by_title = sorted(make_day(12), key=lambda p: p["title"])  # the listing's order: `kb list --date`
    assert [p["id"] for p in json.loads(listing.stdout)["papers"]] == [p["id"] for p in by_title[:3]]
    bad = runner.invoke(app, ["digest", "--date", DAY, "--order", "random", "-q"])
    assert bad.exit_code == 1 and "order must be one of" in bad.output
