"""`kb digest` and `kb topics` end to end with CliRunner, a temporary KB_HOME, the fake embedder and generator."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from kb.ingest.parsers.digest import parse_digest
from samples.corpus import PAPERS

runner = CliRunner()
DAY = "2024-05-22"
ON_DAY = {p["id"] for p in PAPERS if p["date"] == DAY}


@pytest.fixture
def home(kb_env, sample_corpus, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    result = runner.invoke(app, ["-q", "ingest", str(sample_corpus)])
    assert result.exit_code == 0, result.output
    return kb_env


def test_digest_writes_under_kb_home_and_prints_the_path(home):
    result = runner.invoke(app, ["digest", "--date", DAY, "-q"])
    assert result.exit_code == 0, result.output
    path = home / "digests" / f"{DAY}.md"
    assert result.stdout.strip() == str(path)
    parsed = parse_digest(path)
    assert {p.arxiv_id for p in parsed.papers} == ON_DAY and parsed.errors == []
    listed = json.loads(runner.invoke(app, ["list", "--date", DAY, "--json"]).stdout)
    assert {p["id"] for p in listed} == ON_DAY  # the same set as `kb list --date`

    html = runner.invoke(app, ["digest", "--date", DAY, "--format", "html", "--topic", "Diffusion Models", "-q"])
    target = home / "digests" / f"{DAY}-Diffusion_Models.html"
    assert html.exit_code == 0 and html.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_stdout_json_cache_and_refresh(home, tmp_path):
    first = runner.invoke(app, ["digest", "--date", DAY, "--format", "json", "--out", "-", "-q"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert {p["id"] for p in data["papers"]} == ON_DAY and data["stats"]["cached"] == 0
    assert data["stats"]["entries"] == len(ON_DAY) + 1  # EchoFace sits under two topics
    second = json.loads(runner.invoke(app, ["digest", "--date", DAY, "--format", "json", "--out", "-", "-q"]).stdout)
    assert second["stats"]["cached"] == len(ON_DAY) and second["stats"]["generated_papers"] == 0
    again = json.loads(runner.invoke(app, ["digest", "--date", DAY, "--format", "json", "--out", "-", "--refresh",
                                           "--limit", "1", "-q"]).stdout)
    assert again["stats"]["cached"] == 0 and len(again["papers"]) == 1
    folder = tmp_path / "out"
    folder.mkdir()
    to_dir = runner.invoke(app, ["digest", "--date", DAY, "--out", str(folder), "-q"])
    assert to_dir.stdout.strip() == str(folder / f"{DAY}.md") and (folder / f"{DAY}.md").is_file()


def test_no_papers_exits_1_naming_the_nearest_dates(home):
    result = runner.invoke(app, ["digest", "--date", "2024-05-30"])
    assert result.exit_code == 1
    assert "no papers dated 2024-05-30" in result.stderr
    assert "nearest dates with papers: 2024-05-22 (4 papers), 2024-05-21 (2 papers)" in result.stderr
    assert not (home / "digests").exists()
    bad = runner.invoke(app, ["digest", "--date", DAY, "--format", "pdf"])
    assert bad.exit_code == 2 and "--format must be one of md, html, json" in bad.stderr
    assert runner.invoke(app, ["digest", "--date", "yesterday"]).exit_code == 1


def test_topics_lists_defaults_and_init_writes_the_file(home):
    data = json.loads(runner.invoke(app, ["topics", "--json"]).stdout)
    assert data["configured"] is False
    names = [t["name"] for t in data["topics"]]
    assert "Diffusion Models" in names and "Talking Head Generation" in names
    assert runner.invoke(app, ["topics", "--init"]).exit_code == 0
    path = home / "topics.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + '\n[[topic]]\nname = "Remote Sensing"\ndescription = ""\nkeywords = ["satellite"]\n',
                    encoding="utf-8")
    data = json.loads(runner.invoke(app, ["topics", "--json"]).stdout)
    assert data["configured"] is True and data["topics"][-1]["name"] == "Remote Sensing"
    out = json.loads(runner.invoke(app, ["digest", "--date", DAY, "--topic", "Remote Sensing", "--format", "json",
                                         "--out", "-", "-q"]).stdout)
    assert [p["id"] for p in out["papers"]] == ["2405.90004"]  # TerraDiff: "satellite" in its title
    assert runner.invoke(app, ["topics", "--init"]).exit_code == 1  # never overwrites the user's file
    listing = runner.invoke(app, ["topics"])
    assert "Remote Sensing" in listing.stdout


def test_model_option_and_the_shared_lock(home, monkeypatch):
    from kb.store.lock import kb_lock

    monkeypatch.delenv("KB_MODEL")
    bad = runner.invoke(app, ["digest", "--date", DAY, "--model", "no-such-model", "--out", "-"])
    assert bad.exit_code == 1 and "no-such-model" in bad.stderr
    ok = runner.invoke(app, ["digest", "--date", DAY, "--model", "fake", "--limit", "1", "--out", "-", "-q"])
    assert ok.exit_code == 0 and ok.stdout.startswith("---\ntitle: ")
    with kb_lock(home / "kb.lock", exclusive=False):  # another reader: fine
        assert runner.invoke(app, ["digest", "--date", DAY, "--model", "fake", "--out", "-", "-q"]).exit_code == 0
    with kb_lock(home / "kb.lock", exclusive=True):  # a writer (e.g. `kb ingest`) holds the KB: the digest reads
        during = runner.invoke(app, ["digest", "--date", DAY, "--model", "fake", "--out", "-", "-q"])  # committed
    assert during.exit_code == 0 and during.stdout.startswith("---\ntitle: ")  # state (tests/test_readers_and_writers)
