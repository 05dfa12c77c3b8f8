"""Red-team: terminal escapes in third-party text (a title that writes the clipboard with OSC 52, an OSC 8 link,
colours) are never printed raw by the commands that show papers, passages, answers or errors."""
from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from kb_cli.common import clean
from samples.pages import render_digest_page

runner = CliRunner()
DAY = "2024-04-02"
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
COLOUR = "\x1b[31;1m\x1b[8m"
C1 = "\x9b2J\x9d0;title\x9c"
TITLE = f"Gaussian {OSC52}Splatting for {OSC8} Phones {COLOUR}Everywhere{C1}"
PAPER = {
    "id": "2404.93001", "version": 1, "date": DAY, "topic": f"Splat{COLOUR}ting",
    "title": TITLE, "authors": [f"Ada {OSC52}Byrne", "Cem Demir"], "affiliation": "Lab", "comment": None,
    "sections": [], "references": [],
    "abstract": (f"Gaussian splatting renders scenes on phones {OSC52} at sixty frames per second. "
                 f"The method compresses {COLOUR}scenes to twenty megabytes with little loss of quality."),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def loaded(kb_env, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    monkeypatch.setenv("KB_VECTOR_STORE", "memory")
    page = tmp_path / "page.md"
    page.write_text(render_digest_page([PAPER], DAY, "Splatting"), encoding="utf-8")
    result = runner.invoke(app, ["-q", "ingest", str(page)])
    assert result.exit_code == 0, result.output
    return kb_env


def test_clean_removes_escapes_and_keeps_text():
    assert clean(TITLE) == "Gaussian Splatting for click Phones Everywhere"
    assert clean("line one\n\tline two") == "line one\n\tline two"


@pytest.mark.parametrize("args", [
    ["list"], ["list", "--date", DAY], ["show", PAPER["id"]], ["search", "gaussian splatting phones"],
    ["search", "gaussian splatting phones", "--json"], ["ask", "How fast does gaussian splatting render on phones?"],
    ["topics"], ["show", f"nope{OSC52}"],
])
def test_commands_never_print_terminal_escapes(loaded, args):
    result = runner.invoke(app, args)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Splatting" in text or "nope" in text or "Gaussian" in text, text  # the command showed the paper
    assert not _CONTROL.search(text.replace("\n", "").replace("\t", "")), repr(text)


def test_progress_notes_carry_no_escapes_or_markup(capsys):
    from kb_cli.common import ProgressBars, state

    state["quiet"] = False
    with ProgressBars(enabled=True) as bars:
        bars("paper", index=1, total=2, title="[link=http://e/]x[/link]\x1b]52;c;QQ==\x07T")
    text = capsys.readouterr().err
    assert "papers" in text  # the bar was drawn
    assert "\x1b]52" not in text and "QQ==" not in text and "\x1b]8;" not in text
    assert "[link=http://e/]x[/link]" in text  # shown as text, not turned into a hyperlink


def test_fetch_report_lines_are_terminal_safe(capsys):
    """`kb fetch` / `kb daily` print arXiv's dates and the user's topic names through the terminal-safe path."""
    from types import SimpleNamespace

    from kb_cli.fetch_cmd import _render

    topic = SimpleNamespace(name=f"Splat{OSC52}", found=1, new=1, updated=0, skipped=0, pdfs=0)
    report = SimpleNamespace(nothing_announced=False, mode="announced", date=f"2024-04-02{OSC8}", topics=[topic],
                             dry_run=False, already_done=False, papers=[1], count=lambda kind: 1, requests=1,
                             cached=0, waited=0.0)
    _render(report)
    report.nothing_announced, report.nearest = True, [f"2024-04-01{COLOUR}"]
    _render(report)
    shown = capsys.readouterr().out
    assert "Splat" in shown and "2024-04-01" in shown and not _CONTROL.search(shown.replace("\n", ""))
