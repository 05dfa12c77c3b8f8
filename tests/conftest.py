"""Shared fixtures. Unit tests use the fakes (hashing embedder, in-memory store) registered like real backends."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The bundled sample corpus (our synthetic PDFs, digest pages, Atom feed), written once per test session."""
    from samples.pages import write_sample_corpus

    folder = tmp_path_factory.mktemp("samples")
    write_sample_corpus(folder)
    return folder


@pytest.fixture
def kb_env(tmp_path, monkeypatch) -> Path:
    """A fresh KB_HOME with the fake embedder; returns the home folder."""
    home = tmp_path / "kbhome"
    monkeypatch.setenv("KB_HOME", str(home))
    monkeypatch.setenv("KB_EMBEDDER", "fake-hash")
    monkeypatch.setenv("KB_LOCK_TIMEOUT", "2")
    for var in ("KB_VECTOR_STORE", "KB_CHROMA_URL", "KB_MODEL", "KB_LLM_URL", "KB_VERIFIER"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def kb_with_samples(kb_env, sample_corpus) -> Path:
    """kb_env with the sample PDFs ingested through the CLI (real Chroma store, fake embedder)."""
    from typer.testing import CliRunner

    from kb_cli.app import app

    out = CliRunner().invoke(app, ["-q", "ingest", str(sample_corpus / "pdf"), "--json"])
    assert out.exit_code == 0, out.output
    return kb_env


def shared_digests() -> Path:
    path = SHARED / "data" / "digests"
    if not path.is_dir():
        pytest.skip(f"../shared is absent ({path}); these tests need the real digest pages")
    return path
