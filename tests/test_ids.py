"""Red-team: paper ids are literal. `kb remove "%..."` never matches by pattern, a prefix stands for a paper only
when it is unambiguous (and the CLI says so), and an absurdly long id is a clean one-line error."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from samples.corpus import PAPERS

runner = CliRunner()
IDS = sorted(p["id"] for p in PAPERS)


@pytest.fixture
def loaded(kb_env, sample_corpus, monkeypatch):
    monkeypatch.setenv("KB_VECTOR_STORE", "memory")
    assert runner.invoke(app, ["-q", "ingest", str(sample_corpus)]).exit_code == 0
    return kb_env


def _ids() -> list[str]:
    return sorted(p["id"] for p in json.loads(runner.invoke(app, ["list", "--json"]).stdout))


@pytest.mark.parametrize("ref", ["%0001", "%", "2405.9000_", "_405.90001", "2405*"])
def test_patterns_never_match(loaded, ref):
    result = runner.invoke(app, ["remove", ref])
    assert result.exit_code == 1 and "no paper matches" in result.stderr
    assert _ids() == IDS


def test_ambiguous_prefix_names_the_candidates(loaded):
    result = runner.invoke(app, ["show", "2405.9000"])
    assert result.exit_code == 1 and "several paper ids" in result.stderr and IDS[0] in result.stderr
    result = runner.invoke(app, ["remove", "2405.9000"])
    assert result.exit_code == 1 and _ids() == IDS


def test_exact_id_is_not_called_a_prefix(loaded):
    result = runner.invoke(app, ["show", IDS[2]])
    assert result.exit_code == 0 and "start of" not in result.stderr


def test_remove_by_unique_prefix_says_which_paper(loaded, tmp_path):
    from samples.pages import render_digest_page

    other = {**PAPERS[0], "id": "2312.00042", "title": "An Older Paper About Widgets", "date": "2023-12-01"}
    page = tmp_path / "old.md"
    page.write_text(render_digest_page([other], other["date"], "Widgets"), encoding="utf-8")
    assert runner.invoke(app, ["-q", "ingest", str(page)]).exit_code == 0
    result = runner.invoke(app, ["remove", "2312.0"])
    assert result.exit_code == 0, result.output
    assert "removed 2312.00042" in result.stdout and "start of paper id 2312.00042" in result.stderr
    assert _ids() == IDS


def test_short_prefix_is_not_enough(loaded):
    result = runner.invoke(app, ["remove", "2"])
    assert result.exit_code == 1 and "at least" in result.stderr
    assert _ids() == IDS


@pytest.mark.parametrize("cmd", [["remove"], ["show"], ["search", "gaussian", "--paper"]])
def test_huge_id_is_a_one_line_error(loaded, cmd):
    result = runner.invoke(app, cmd + ["9" * 100_000])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "too long" in lines[0] and len(lines[0]) < 300
    assert _ids() == IDS
