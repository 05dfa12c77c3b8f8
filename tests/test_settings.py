"""Red-team: settings. A malformed config.toml is a one-line error naming file and line for every command, and
`kb config set` repairs it; KB_HOME='~/x' is expanded once, everywhere; an empty KB_HOME is an error, never the
current folder; read commands on a missing KB_HOME say so instead of creating it."""
from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from kb_cli.app import app

runner = CliRunner()
READS = [["list"], ["status"], ["show", "2405.90001"], ["search", "gripper"], ["ask", "what is a gripper?"],
         ["topics"], ["digest", "--date", "2024-05-22", "--out", "-"], ["remove", "2405.90001"], ["reindex"]]


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


@pytest.fixture
def bad_config(kb_env):
    kb_env.mkdir(parents=True)
    (kb_env / "config.toml").write_text('model = "fake"\nn_ctx = = 12\nseed = 3\n', encoding="utf-8")
    return kb_env / "config.toml"


@pytest.mark.parametrize("args", READS + [["ingest", "nothing.pdf"], ["config", "show"]])
def test_malformed_config_is_one_line_naming_file_and_line(bad_config, args):
    line = _one_line(runner.invoke(app, args))
    assert f"{bad_config}:2:" in line and "config set" in line


def test_config_set_repairs_a_malformed_file(bad_config):
    result = runner.invoke(app, ["config", "set", "seed", "7"])
    assert result.exit_code == 0, result.output
    assert "n_ctx = = 12" in result.stderr and "config.toml.bak" in result.stderr
    assert (bad_config.parent / "config.toml.bak").read_text(encoding="utf-8").count("n_ctx = = 12") == 1
    assert "seed = 7\n" in bad_config.read_text(encoding="utf-8")  # a number stays a TOML number
    shown = runner.invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == 0 and '"seed": 7' in shown.stdout and '"model": "fake"' in shown.stdout


def test_a_bad_value_is_one_line(kb_env, monkeypatch):
    monkeypatch.setenv("KB_N_CTX", "lots")
    line = _one_line(runner.invoke(app, ["config", "show"]))
    assert "invalid setting: n_ctx" in line and "lots" in line


def test_tilde_home_is_expanded_once_for_config_and_data(kb_env, tmp_path, monkeypatch, sample_corpus):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("KB_HOME", "~/kbx")
    monkeypatch.setenv("KB_VECTOR_STORE", "memory")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert runner.invoke(app, ["config", "set", "seed", "5"]).exit_code == 0
    assert runner.invoke(app, ["-q", "ingest", str(sample_corpus / "digests")]).exit_code == 0
    home = tmp_path / "user" / "kbx"
    assert (home / "config.toml").is_file() and (home / "catalog.sqlite").is_file()
    assert not (cwd / "~").exists()  # nothing went to a literal "~" folder
    status = runner.invoke(app, ["status", "--json"])  # (exit 1: the memory store of this process is empty)
    assert f'"home": "{home}"' in status.stdout and f'"catalog": "{home / "catalog.sqlite"}"' in status.stdout


def test_empty_kb_home_is_an_error_not_the_current_folder(kb_env, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_HOME", "")
    monkeypatch.chdir(tmp_path)
    for args in (["status"], ["config", "show"], ["config", "set", "seed", "1"], ["ingest", "x.pdf"]):
        line = _one_line(runner.invoke(app, args))
        assert "KB_HOME" in line and "empty" in line
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in tmp_path.iterdir())
    assert not (tmp_path / "catalog.sqlite").exists() and not (tmp_path / "config.toml").exists()


@pytest.mark.parametrize("args", READS)
def test_read_commands_on_a_missing_home_say_so(kb_env, tmp_path, monkeypatch, args):
    missing = tmp_path / "typo-home"
    monkeypatch.setenv("KB_HOME", str(missing))
    line = _one_line(runner.invoke(app, args))
    assert f"no knowledge base at {missing}" in line
    assert not missing.exists()
