"""What a new user trips over: -q/-v after the command, and a real digest page of a day with no papers."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from samples.corpus import PAPERS
from samples.pages import render_digest_page

runner = CliRunner()


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "Robotics.md"
    paper = {**PAPERS[0], "topic": "Robotics"}
    path.write_text(render_digest_page([paper], paper["date"], "Robotics"), encoding="utf-8")
    return path


@pytest.mark.parametrize("args", [["-q", "ingest", "{page}"], ["ingest", "-q", "{page}"], ["ingest", "{page}", "-q"],
                                  ["ingest", "{page}", "--quiet"]])
def test_quiet_before_or_after_the_command(kb_env, page, args):
    result = runner.invoke(app, [a.format(page=page) for a in args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no summary line, no progress: quiet


def test_without_quiet_the_summary_is_shown(kb_env, page):
    result = runner.invoke(app, ["ingest", str(page)])
    assert result.exit_code == 0 and "file(s)" in result.stderr


@pytest.mark.parametrize("flag", ["-v", "-vv", "--verbose"])
def test_verbose_after_the_command(kb_env, page, flag):
    assert runner.invoke(app, ["-q", "ingest", str(page)]).exit_code == 0
    result = runner.invoke(app, ["search", flag, "gripper", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert "1." in result.stdout


def test_flags_after_double_dash_are_arguments(kb_env, page):
    assert runner.invoke(app, ["-q", "ingest", str(page)]).exit_code == 0
    result = runner.invoke(app, ["search", "--json", "--", "-v"])
    assert result.exit_code == 0, result.output  # "-v" was the query, not the flag


EMPTY_DAY = """
---
title: NeRF
date: 2024-05-06 12:21:50
author: Kedreamix
categories: Paper
tags:
    - NeRF
description: NeRF 方向最新论文已更新，请持续关注 Update in 2024-05-06
keywords: NeRF
mathjax: true
---

>⚠️ 以下所有内容总结都来自于 Google的大语言模型[Gemini-Pro](https://ai.google.dev/)的能力，如有错误，仅供参考，谨慎使用
>🔴 请注意：千万不要用于严肃的学术场景，只能用于论文阅读前的初筛！

# 2024-05-06 更新

"""


def test_a_day_with_no_papers_is_a_valid_page(kb_env, page, tmp_path):
    empty = tmp_path / "NeRF.md"
    empty.write_text(EMPTY_DAY, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(empty), str(page)])
    assert result.exit_code == 0, result.output
    assert "2024-05-06" in result.stderr and "no papers" in result.stderr
    report = json.loads(runner.invoke(app, ["ingest", "--force", str(empty), "--json"]).stdout)
    assert report["errors"] == [] and report["notes"][0]["source"] == str(empty)
    # a page with no date heading and no papers is still not a digest page
    other = tmp_path / "blog.md"
    other.write_text(EMPTY_DAY.replace("# 2024-05-06 更新", "Just a blog post."), encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(other)])
    assert result.exit_code == 1 and "not a digest page" in result.stderr
