"""Honest labels: every shown statement says what check it passed -- a quote (verbatim from the source), the
deterministic check (words, numbers and bindings) or that and the verifier -- in `kb ask` (terminal and JSON) and
in the digest (Markdown, HTML, JSON); the notes say what was dropped and why; the Markdown still round-trips."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator, quote_first_passage
from kb.backends.verifiers import FakeVerifier, register_verifier
from kb.digest.cache import DigestCache
from kb.digest.day import build_digest
from kb.digest.markdown import statement_text
from kb.digest.render import render
from kb.digest.types import QUOTE_MARK, STATEMENT_CHECKS
from kb.grounding.sentences import split_sentences
from kb.grounding.types import CHECK_LABELS, CHECK_MARKS, CHECK_QUOTE, CHECK_VERIFIER, CHECK_WORDS
from kb.ingest.parsers.digest import parse_digest
from kb.ingest.pipeline import ingest
from kb.prompts import TRANSFORMS
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore

DAY = "2024-05-22"
SLICE_Q = "Which model recognises actions from thin planes cut through a video clip instead of whole frames?"
WORDS, VERIFIED = CHECK_MARKS[CHECK_WORDS], CHECK_MARKS[CHECK_VERIFIER]
runner = CliRunner()

register_verifier("test-yes", lambda threshold=0.5, **_: FakeVerifier(lambda p, c: 0.95, threshold, "test-yes"))
register_verifier("test-no", lambda threshold=0.5, **_: FakeVerifier(lambda p, c: 0.05, threshold, "test-no"))


# kb ask -------------------------------------------------------------------------------------------------------


@pytest.fixture
def home(kb_env, sample_corpus, monkeypatch):
    from kb_cli.app import app

    monkeypatch.setenv("KB_MODEL", "fake")  # quotes the first sentence of passage [1]: the check keeps it
    assert runner.invoke(app, ["-q", "ingest", str(sample_corpus)]).exit_code == 0
    return app


def test_ask_marks_each_sentence_with_the_check_it_passed(home, monkeypatch):
    plain = runner.invoke(home, ["ask", SLICE_Q, "--no-stream"])
    assert plain.exit_code == 0, plain.output
    answer_line = plain.stdout.split("\n\n")[1]
    assert re.search(r"\[\d+\]" + WORDS + r"\.", answer_line) and VERIFIED not in answer_line
    assert f"Checks: {WORDS} {CHECK_LABELS[CHECK_WORDS]}" in plain.stdout and "verifier" not in plain.stdout
    data = json.loads(runner.invoke(home, ["ask", SLICE_Q, "--json"]).stdout)
    assert data["checks"] == [CHECK_WORDS] * len(data["shown"])
    assert data["sentences"][0]["check"] == CHECK_WORDS and data["sentences"][0]["verdict"]["verifier_score"] is None

    monkeypatch.setenv("KB_VERIFIER", "test-yes")
    checked = runner.invoke(home, ["ask", SLICE_Q, "--no-stream"])
    assert re.search(r"\[\d+\]" + VERIFIED + r"\.", checked.stdout.split("\n\n")[1])
    assert f"{VERIFIED} {CHECK_LABELS[CHECK_VERIFIER]} test-yes" in checked.stdout
    data = json.loads(runner.invoke(home, ["ask", SLICE_Q, "--json"]).stdout)
    assert data["checks"] == [CHECK_VERIFIER] * len(data["shown"]) and data["verifier"] == "test-yes"
    assert data["sentences"][0]["verdict"]["verifier_score"] == 0.95

    monkeypatch.setenv("KB_VERIFIER", "test-no")
    data = json.loads(runner.invoke(home, ["ask", SLICE_Q, "--json"]).stdout)
    assert data["sentences"][0]["verdict"]["status"] == "rejected-by-verifier"
    assert CHECK_WORDS not in data["checks"] and CHECK_VERIFIER not in data["checks"]
    if not data["abstained"]:  # what is shown instead is a marked quote
        assert set(data["checks"]) == {CHECK_QUOTE} and all(s.startswith("“") for s in data["shown"])
        text = runner.invoke(home, ["ask", SLICE_Q, "--no-stream"]).stdout
        assert QUOTE_MARK in text and WORDS not in text


def test_ask_note_says_why_sentences_were_dropped(home, monkeypatch):
    from kb.answer.ask import _note
    from kb.grounding.types import GroundedSentence, Verdict

    echo = GroundedSentence("Question: x?", "", [], Verdict("no-citation", 0, 0, 0), "dropped", "not-a-claim")
    failed = GroundedSentence("x [1].", "", [], Verdict("unsupported", 0, 0, 0), "dropped", "unsupported")
    vetoed = GroundedSentence("y [1].", "", [], Verdict("rejected-by-verifier", 0, 0, 0), "dropped", "unsupported")
    assert _note([echo]) == ""  # an echoed prompt line claims nothing: not counted as an unsupported sentence
    assert _note([echo, failed, vetoed]) == ("1 sentence was not supported by the sources and dropped; "
                                             "1 sentence was rejected by the verifier and dropped.")


# kb digest ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, sample_corpus):
    folder = tmp_path_factory.mktemp("labels-kb")
    c = Catalog(folder / "catalog.sqlite")
    assert ingest([str(sample_corpus)], c, HashEmbedder(), MemoryStore()).errors == []
    yield c
    c.close()


def _replies(messages) -> str:
    """The digest's transformations (kb.digest.write, transform mode): a takeaway the sources do not support, a
    method step that is only a heading, every other one its sentence shortened (kept, checked)."""
    user = messages[-1]["content"]
    m = re.search(r'<passage id="1">\s*(.*?)\s*</passage>', user, re.S)
    if m is None:  # free-form (not used by these tests' generator, named "fake")
        return quote_first_passage(messages)
    if TRANSFORMS["takeaway"] in user or TRANSFORMS["merge"] in user and "takeaway" in user:
        return "The method wins every benchmark by 45 points on 9000 GPUs [1]."
    if TRANSFORMS["step"] in user:
        return "Key Findings"
    first = split_sentences(m.group(1))[0]
    rest = first.split(", ", 1)[-1]
    return rest[:1].upper() + rest[1:]


def _digest(catalog, verifier=None, **kw):
    return build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(_replies), topic="Diffusion Models",
                        verifier=verifier, **kw)


def _kept(d):
    return [s for p in d.papers.values() for s in p.statements() if s.action == "kept"]


def test_digest_marks_checked_statements_and_quotes_in_every_format(catalog, tmp_path):
    d = _digest(catalog)
    kept = _kept(d)
    assert kept and all(s.check == CHECK_WORDS for s in kept)
    quotes = [s for p in d.papers.values() for s in p.statements() if s.is_quote and s.shown]
    assert all(s.check == CHECK_QUOTE for s in quotes)
    md = render(d, "md")
    for s in kept:
        assert statement_text(s).endswith(f"]{WORDS}.") and statement_text(s) in md
    assert CHECK_LABELS[CHECK_WORDS] in md.split("# 2024-05-22")[0]  # the legend in the preface
    assert "Marks: " + WORDS in md and VERIFIED not in md
    html = render(d, "html")
    assert f'<span class="check" title="{CHECK_LABELS[CHECK_WORDS]}">{WORDS}</span>' in html
    assert html.count('<span class="check" title=') >= len(kept)
    data = json.loads(render(d, "json"))
    assert data["checks"] == STATEMENT_CHECKS and data["verifier"] is None
    shown = [s for p in data["papers"] for f in p["fields"].values() for s in f["statements"] if s["action"] == "kept"]
    assert shown and {s["check"] for s in shown} == {CHECK_WORDS}
    extracted = [s for p in data["papers"] for f in p["fields"].values() for s in f["statements"]
                 if s["action"] == "extracted"]
    assert extracted and {s["check"] for s in extracted} == {"extracted"}

    # the Markdown still parses back to the same papers, marks included in the notes
    page = tmp_path / "d.md"
    page.write_text(md, encoding="utf-8")
    parsed = parse_digest(page)
    assert parsed.errors == [] and {p.arxiv_id for p in parsed.papers} == set(d.papers)
    for back in parsed.papers:
        mine = d.papers[back.arxiv_id]
        assert back.annotations[0].data["takeaways"] == [statement_text(s) for s in mine.field("takeaways").shown]


def test_digest_notes_say_what_was_dropped_and_why(catalog):
    d = _digest(catalog)
    md, html = render(d, "md"), render(d, "html")
    for p in d.papers.values():
        reasons = [(s.verdict or {}).get("reason") for s in p.statements() if s.action == "dropped"]
        if "not-a-claim" in reasons:  # "Key Findings": a heading, never counted as an unsupported statement
            assert "not a claim (a heading, a fragment" in md
    assert "9000 GPUs" not in md
    assert "not supported by the sources and" in md and "not supported by the sources and" in html


def test_digest_with_a_verifier_labels_it_and_drops_what_it_rejects(catalog, tmp_path):
    yes = FakeVerifier(lambda p, c: 0.95, name="nli-test")
    d = _digest(catalog, yes)
    kept = _kept(d)
    assert kept and all(s.check == CHECK_VERIFIER and s.verdict["verifier_score"] == 0.95 for s in kept)
    md, html = render(d, "md"), render(d, "html")
    assert all(statement_text(s).endswith(f"]{VERIFIED}.") for s in kept)
    assert "verifier nli-test" in md.split("# 2024-05-22")[0] and "verifier nli-test" in html
    assert json.loads(render(d, "json"))["verifier"] == "nli-test"

    no = FakeVerifier(lambda p, c: 0.05, name="nli-test")
    rejected = _digest(catalog, no)
    assert _kept(rejected) == [] and rejected.stats["statements_kept"] == 0
    assert rejected.stats["statements_rejected_by_verifier"] == len(kept)
    md, html = render(rejected, "md"), render(rejected, "html")
    assert "rejected by the verifier and" in md and "rejected by the verifier and" in html
    assert f"]{WORDS}" not in md and f"]{VERIFIED}" not in md


def test_cached_digests_are_not_served_across_verifiers(catalog, tmp_path):
    cache = DigestCache(tmp_path / "digest.sqlite")
    _digest(catalog, cache=cache)
    assert _digest(catalog, cache=cache).stats["cached"] == 2
    checked = _digest(catalog, FakeVerifier(lambda p, c: 0.05), cache=cache)
    assert checked.stats["cached"] == 0 and _kept(checked) == []
    assert _digest(catalog, FakeVerifier(lambda p, c: 0.05, threshold=0.01), cache=cache).stats["cached"] == 0
    assert _digest(catalog, cache=cache).stats["cached"] == 2  # no verifier: the same key as before
    cache.close()


def test_readme_documents_the_verifier_settings_and_every_label():
    from pathlib import Path

    from kb.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in (f for f in Settings.model_fields if f.startswith("verifier")):
        assert f"KB_{name.upper()}" in readme, name
    for check, mark in CHECK_MARKS.items():
        assert f"| {mark} | `{check}` |" in readme, check
    assert "| (none) | `extracted` |" in readme and set(STATEMENT_CHECKS) == {*CHECK_MARKS, "extracted"}


def test_free_form_digest_statements_go_through_the_verifier(catalog):
    """Bigger models (mode "free"): each statement the check keeps is put to the verifier too."""
    plain = _digest(catalog, mode="free")
    kept = _kept(plain)
    assert kept and {s.check for s in kept} == {CHECK_WORDS}
    yes = _digest(catalog, FakeVerifier(lambda p, c: 0.95, name="nli-test"), mode="free")
    assert len(_kept(yes)) == len(kept) and {s.check for s in _kept(yes)} == {CHECK_VERIFIER}
    no = _digest(catalog, FakeVerifier(lambda p, c: 0.05, name="nli-test"), mode="free")
    assert _kept(no) == [] and no.stats["statements_rejected_by_verifier"] == len(kept)
    shown = [s for p in no.papers.values() for s in p.statements() if s.shown and s.action != "extracted"]
    assert shown and {s.check for s in shown} == {CHECK_QUOTE}
