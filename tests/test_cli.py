"""The CLI end to end with CliRunner and a temporary KB_HOME (fake embedder, real embedded Chroma)."""
from __future__ import annotations

import json
import subprocess
import sys

import click
import typer.main
from typer.testing import CliRunner

from kb_cli.app import app
from samples.corpus import PAPERS

runner = CliRunner()


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    group = typer.main.get_command(app)
    names = []
    for path, cmd in _commands(group):
        assert (cmd.help or "").strip(), f"`kb {' '.join(path)}` has no help text"
        result = runner.invoke(app, list(path) + ["--help"])
        assert result.exit_code == 0 and "Usage" in result.output
        names.append(path[0])
    assert {"ingest", "list", "show", "status", "remove", "reindex"} <= set(names)


def test_importing_the_cli_does_not_import_heavy_libraries():
    code = ("import sys, kb_cli.app, kb, kb.ingest.pipeline, kb.store.catalog\n"
            "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'sentence_transformers') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_ingest_list_show_status_remove(kb_env, sample_corpus):
    result = runner.invoke(app, ["-q", "ingest", str(sample_corpus), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["papers_new"] == len(PAPERS) and report["errors"] == []

    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert {p["id"] for p in listed} == {p["id"] for p in PAPERS}
    on_day = json.loads(runner.invoke(app, ["list", "--date", "2024-05-22", "--json"]).stdout)
    assert {p["id"] for p in on_day} == {p["id"] for p in PAPERS if p["date"] == "2024-05-22"}
    topic = PAPERS[0]["topic"] if isinstance(PAPERS[0]["topic"], str) else PAPERS[0]["topic"][0]
    by_topic = json.loads(runner.invoke(app, ["list", "--topic", topic, "--json"]).stdout)
    assert PAPERS[0]["id"] in {p["id"] for p in by_topic}

    shown = json.loads(runner.invoke(app, ["show", PAPERS[0]["id"], "--json"]).stdout)
    assert shown["title"] == PAPERS[0]["title"] and shown["chunk_count"] > 0
    assert {s["kind"] for s in shown["sources"]} >= {"pdf", "digest", "arxiv-atom"}
    assert any(s["kind"] == "method" for s in shown["sections"])
    assert shown["annotations"] and shown["annotations"][0]["kind"] == "digest-summary"

    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert status["papers"] == len(PAPERS) and status["chunks"] > 0
    assert status["index"]["embedder"] == "fake-hash" and status["chunks_pending_index"] == 0

    again = json.loads(runner.invoke(app, ["-q", "ingest", str(sample_corpus), "--json"]).stdout)
    assert again["parsed"] == 0 and again["chunks_embedded"] == 0

    gone = runner.invoke(app, ["remove", PAPERS[0]["id"]])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["show", PAPERS[0]["id"]]).exit_code == 1


def test_failures_exit_nonzero_with_one_line_per_file(kb_env, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_text("not a pdf")
    result = runner.invoke(app, ["-q", "ingest", str(bad), str(tmp_path / "nope.pdf")])
    assert result.exit_code == 1
    assert "broken.pdf" in result.stderr and "nope.pdf" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_paper_and_bad_config(kb_env):
    from kb.store.catalog import Catalog

    r = runner.invoke(app, ["show", "does-not-exist"])
    assert r.exit_code == 1 and "no knowledge base at" in r.stderr and not kb_env.exists()
    kb_env.mkdir()
    Catalog(kb_env / "catalog.sqlite").close()
    r = runner.invoke(app, ["show", "does-not-exist"])
    assert r.exit_code == 1 and "no paper matches" in r.stderr
    r = runner.invoke(app, ["config", "set", "no_such_key", "1"])
    assert r.exit_code == 1 and "unknown setting" in r.stderr
    r = runner.invoke(app, ["config", "set", "chunk_tokens", "128"])
    assert r.exit_code == 0
    shown = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert shown["chunk_tokens"] == 128
