"""Red-team: inputs are validated. Long or empty questions and queries, impossible dates, a negative -k, broken
question files and impossible page dates are clear one-line errors (or notes), never silent nonsense."""
from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from kb.dates import parse_day
from kb.answer.evaluate import load_questions
from kb.ingest.parsers.digest import parse_digest
from kb.types import KbError
from kb_cli.app import app
from samples.corpus import PAPERS
from samples.pages import render_digest_page

runner = CliRunner()


@pytest.fixture
def loaded(kb_env, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    monkeypatch.setenv("KB_VECTOR_STORE", "memory")
    page = tmp_path / "Robotics.md"
    page.write_text(render_digest_page(PAPERS[:2], PAPERS[0]["date"], "Robotics"), encoding="utf-8")
    assert runner.invoke(app, ["-q", "ingest", str(page)]).exit_code == 0
    return kb_env


def _one_line_error(result, *words):
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for w in words:
        assert w in result.stderr, result.stderr


@pytest.mark.parametrize("cmd", [["ask"], ["search"]])
def test_a_ten_thousand_character_question_is_refused_with_the_reason(loaded, cmd):
    result = runner.invoke(app, cmd + ["why" + "y" * 9997])
    _one_line_error(result, "10,000 characters", "at most")


@pytest.mark.parametrize("cmd", [["search", ""], ["search", "   "], ["ask", ""]])
def test_empty_query_is_an_error(loaded, cmd):
    _one_line_error(runner.invoke(app, cmd), "empty")


@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30", "tomorrowish", "22/05/2024"])
@pytest.mark.parametrize("cmd", [["list"], ["search", "gripper"], ["ask", "what is the gripper?"],
                                 ["digest", "--out", "-"]])
def test_impossible_dates_are_errors(loaded, cmd, value):
    result = runner.invoke(app, cmd + ["--date", value])
    _one_line_error(result, value, "YYYY-MM-DD")


def test_since_after_until_is_an_error(loaded):
    _one_line_error(runner.invoke(app, ["list", "--since", "2024-06-01", "--until", "2024-05-01"]), "after")


def test_today_and_yesterday_are_real_days(loaded):
    assert parse_day("today", today=date(2024, 3, 1)) == "2024-03-01"
    assert parse_day("Yesterday", today=date(2024, 3, 1)) == "2024-02-29"
    result = runner.invoke(app, ["list", "--date", "yesterday", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []  # a valid day with no papers
    with pytest.raises(KbError, match="not a calendar day"):
        parse_day("2024-13-45")


@pytest.mark.parametrize("cmd", [["search", "gripper"], ["ask", "what is the gripper?"]])
@pytest.mark.parametrize("k", ["-5", "0"])
def test_k_must_be_positive(loaded, cmd, k):
    result = runner.invoke(app, cmd + ["-k", k])
    assert result.exit_code == 2 and "-k" in result.stderr


@pytest.mark.parametrize("content,words", [
    (b'{"question": 5, "id": "2405.90001"}\n', [":1:", "question"]),
    (b'{"question": "ok?", "id": "2405.90001"}\n\x89PNG\r\n\x1a\n\x00\xff\xfe', [":2:", "UTF-8"]),
    (b'{"question": "ok?", "id": "2405.90001"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n", [":2:", "nested"]),
    (b'{"question": "' + b"why " * 2600 + b'", "id": "x"}\n', [":1:", "characters long"]),
    (b'{"question": "ok?", "id": {"a": 1}}\n', [":1:", "id"]),
])
def test_eval_question_file_errors_name_file_and_line(loaded, tmp_path, content, words):
    bad = tmp_path / "questions.jsonl"
    bad.write_bytes(content)
    with pytest.raises(KbError) as e:
        load_questions(bad)
    assert str(bad) in str(e.value) and all(w in str(e.value) for w in words)
    result = runner.invoke(app, ["eval", str(bad), "--no-generate"])
    _one_line_error(result, str(bad), *words)


def test_an_impossible_page_date_is_never_stored(kb_env, tmp_path):
    text = render_digest_page(PAPERS[:1], "2024-05-22", "NeRF").replace("2024-05-22", "2024-13-45")
    page = tmp_path / "NeRF.md"
    page.write_text(text, encoding="utf-8")
    parsed = parse_digest(page)
    assert parsed.papers and all(p.digest_date is None for p in parsed.papers)
    assert any("2024-13-45" in n for n in parsed.notes)
    result = runner.invoke(app, ["ingest", str(page)])
    assert result.exit_code == 0 and "2024-13-45" in result.stderr
    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert listed and all(p["date"] != "2024-13-45" for p in listed)
