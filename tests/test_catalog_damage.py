"""A damaged catalog is named, never a traceback and never a healthy-looking status (issue 9, red-team item 7).
The damage is made in the test's KB_HOME: bytes overwritten in the middle of catalog.sqlite, or the file cut to
zero bytes."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kb_cli.app import app

runner = CliRunner()


@pytest.fixture
def built(kb_with_samples):
    return kb_with_samples


def _one_line_damage(result, catalog) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(f"catalog {catalog} is damaged" in line for line in lines), result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_garbage_mid_file(built, sample_corpus):
    catalog = built / "catalog.sqlite"
    data = bytearray(catalog.read_bytes())
    middle = len(data) // 2  # past the schema pages, so the catalog still opens and `kb status` used to pass
    data[middle: middle + 20000] = b"\xde\xad\xbe\xef" * 5000
    catalog.write_bytes(bytes(data))

    status = runner.invoke(app, ["status", "--json"])  # was: exit 0 with counts
    _one_line_damage(status, catalog)
    assert not status.stdout.strip() or json.loads(status.stdout)["problems"]
    for args in (["search", "phoneme viseme"], ["ask", "What is a viseme?", "--model", "fake"],
                 ["ingest", str(sample_corpus / "pdf")],  # were tracebacks
                 ["reindex"]):  # was "reindexed: 0 chunks embedded"
        _one_line_damage(runner.invoke(app, args), catalog)


def test_zero_byte_catalog_is_not_a_new_empty_kb(built):
    catalog = built / "catalog.sqlite"
    catalog.write_bytes(b"")
    for args in (["status"], ["list"], ["search", "phoneme viseme"], ["ingest", str(built)]):
        result = runner.invoke(app, args)
        _one_line_damage(result, catalog)  # was: an empty knowledge base, exit 0
        assert "0 bytes" in result.stderr
    assert catalog.stat().st_size == 0  # left as found, for the user to restore
