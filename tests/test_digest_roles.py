"""Evidence assigned by role (kb.digest.roles) and generation the check can verify (kb.digest.write), with fakes:
each field reads the sentences of its role, each sentence serves one field, no statement repeats within a paper,
links stay in Urls, a survey has no method steps, transformations are checked against exactly their sentences."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator
from kb.backends.generators import quote_first_passage as quote_first
from kb.digest.day import build_digest, paper_key
from kb.digest.paper import GENERATED_FIELDS as GENERATED
from kb.digest.render import render
from kb.digest.roles import RoledSentence, allocate, classify, repeats, sentence_roles
from kb.digest.types import NOT_STATED
from kb.digest.write import resolve_mode
from kb.grounding.sentences import split_sentences
from kb.ingest.parsers.digest import parse_digest
from kb.ingest.pipeline import ingest
from kb.store.catalog import Catalog
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS
from samples.pages import render_digest_page
from tests.conftest import shared_digests

DAY = "2024-05-22"
FIXTURES = Path(__file__).parent / "fixtures"

ABSTRACT = (
    "Reconstructing a scene from a handful of photographs is central to mapping, robotics and virtual tours. "
    "Existing radiance field methods need dozens of views and overfit badly when only three are given. "
    "In this paper, we propose FewSplat, a splatting model that shares a learned prior across scenes. "
    "Specifically, we first predict a depth map for each view with a frozen monocular network. "
    "We then fuse the depth maps into a point cloud that initialises the Gaussians. "
    "Finally, a consistency loss ties the rendered depth to the predicted one. "
    "On LLFF with three views, FewSplat reaches 21.4 dB PSNR, 1.9 dB above the best prior method. "
    "Our approach opens the way to casual capture of scenes with a phone. "
    "Code is available at https://example.org/fewsplat."
)
SURVEY = (
    "Talking-head generation has moved from warping methods to diffusion models in five years. "
    "This survey reviews more than 200 papers on audio-driven and video-driven talking heads. "
    "We organise them by the representation they animate and the signal that drives them. "
    "However, evaluation protocols still differ from paper to paper, which makes results hard to compare."
)


def _catalog(tmp_path, abstract: str, title: str = "FewSplat: Sparse-View Splatting with a Shared Prior",
             comment: str = "") -> Catalog:
    spec = {**PAPERS[0], "abstract": abstract, "title": title, "comment": comment}
    page = tmp_path / "page.md"
    page.write_text(render_digest_page([spec], DAY, "3DGS"), encoding="utf-8")
    catalog = Catalog(tmp_path / "c.sqlite")
    assert ingest([str(page)], catalog, HashEmbedder(), MemoryStore()).errors == []
    return catalog


def _one(tmp_path, abstract=ABSTRACT, gen=None, **kw):
    catalog = _catalog(tmp_path, abstract, **{k: v for k, v in kw.items() if k in ("title",)})
    d = build_digest(DAY, catalog, HashEmbedder(), gen or FakeGenerator(),
                     **{k: v for k, v in kw.items() if k == "mode"})
    catalog.close()
    return d, next(iter(d.papers.values()))


def _labelled(path: Path) -> list[tuple[list[str], list[str], list[str]]]:
    items = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for paper in items:
        texts = [t for t, _ in paper["sentences"]]
        got = sentence_roles([(paper.get("kind", "abstract"), texts)])[0]
        out.append((texts, [r for _, r in paper["sentences"]], got))
    return out


def test_roles_of_our_labelled_synthetic_papers():
    pairs = [(w, g) for _, want, got in _labelled(FIXTURES / "roles.json") for w, g in zip(want, got)]
    right = sum(w == g for w, g in pairs)
    assert len(pairs) >= 20 and right / len(pairs) >= 0.9
    # the rules that matter most never slip: links are resources, "we propose" is the contribution
    assert classify("Code is available at https://example.org/x.") == "resource"
    assert classify("Our project page is at https://x.github.io/y/.", "abstract", 0.9, "result") == "resource"
    assert classify("However, existing methods overfit with three views.", "abstract", 0.2, "background") == "gap"
    assert classify("In this paper, we propose FewSplat, a splatting model.", "abstract", 0.3, "gap") == \
        "contribution"
    # "not only ... but also" describes the task, not a gap in earlier work
    assert classify("The task involves not only retrieving relevant information but also localising changes.",
                    "abstract", 0.2, "background") == "background"


def test_roles_of_five_shared_papers_we_labelled():
    day = shared_digests() / DAY  # skips without ../shared
    labels = json.loads((FIXTURES / "roles_shared.json").read_text(encoding="utf-8"))
    abstracts = {p.arxiv_id: p.abstract for f in sorted(day.glob("*.md")) for p in parse_digest(f).papers}
    right = total = 0
    for arxiv_id, want in labels.items():
        if arxiv_id.startswith("_"):
            continue
        sentences = split_sentences(abstracts[arxiv_id])
        assert len(sentences) == len(want), arxiv_id
        got = sentence_roles([("abstract", sentences)])[0]
        right += sum(w == g for w, g in zip(want, got))
        total += len(want)
        assert [g for g in got if g == "resource"] == [w for w in want if w == "resource"], arxiv_id
    assert total >= 40 and right / total >= 0.75


def _roled(texts: list[str]) -> list[RoledSentence]:
    roles = sentence_roles([("abstract", texts)])[0]
    return [RoledSentence(i, t, r, 0, "abstract") for i, (t, r) in enumerate(zip(texts, roles))]


def test_each_sentence_serves_one_field_and_prior_work_reads_only_earlier_work():
    sentences = _roled(split_sentences(ABSTRACT))
    alloc = allocate(sentences)
    seen: dict[int, str] = {}
    for name, groups in alloc.groups.items():
        if name == "summary":  # may restate the contribution and the headline result
            continue
        for g in groups:
            for s in g:
                assert s.idx not in seen, (s.text, seen.get(s.idx), name)
                seen[s.idx] = name
    assert {s.role for s in alloc.sentences("prior_methods")} == {"gap"}
    assert all(s.role != "resource" for g in alloc.groups.values() for grp in g for s in grp)
    assert {s.role for s in alloc.sentences("steps")} == {"method"}
    summary = alloc.sentences("summary")
    assert summary[0].role == "contribution" and any(re.search(r"\d", s.text) for s in summary)
    # context no other field took still reaches the reader, as a takeaway
    more = _roled(split_sentences(ABSTRACT.replace("tours. ", "tours. Phones now hold good cameras. Most people "
                                                   "share scenes as photos. ", 1)))
    took = allocate(more)
    assert [s.text for s in took.sentences("takeaways") if s.role == "background"] == [
        "Most people share scenes as photos."]
    # a result without a number is no headline: the summary says what the paper does, alone
    vague = _roled(split_sentences(ABSTRACT.replace("reaches 21.4 dB PSNR, 1.9 dB above", "beats")))
    assert [s.role for s in allocate(vague).sentences("summary")] == ["contribution"]


def test_digest_fields_follow_roles_and_links_stay_in_urls(tmp_path):
    _, p = _one(tmp_path)
    assert [s.text for s in p.field("prior_methods").shown] == [
        "Existing radiance field methods need dozens of views and overfit badly when only three are given."]
    assert p.field("background").shown[0].text.startswith("Reconstructing a scene")
    assert len(p.field("steps").shown) >= 2 and all(s.role == "method" for s in p.field("steps").shown)
    assert [s.role for s in p.field("results").shown] == ["result"]
    assert [s.role for s in p.field("significance").shown] == ["significance"]
    for name, f in p.fields.items():
        for s in f.shown:
            assert name == "urls" or ("http" not in s.text and s.role != "resource"), (name, s.text)
    assert "https://example.org/fewsplat" in [s.text for s in p.field("urls").shown]
    assert p.field("workload").not_stated  # no sentence on cost: not stated, not invented


def test_a_survey_has_no_method_steps(tmp_path):
    _, p = _one(tmp_path, SURVEY, title="Talking Heads: A Survey")
    for name in ("method", "steps"):
        assert p.field(name).not_stated and p.field(name).note == "survey"
    assert p.field("prior_methods").shown[0].role == "gap"
    (tmp_path / "again").mkdir()
    d, _ = _one(tmp_path / "again", SURVEY, title="Talking Heads: A Survey")
    assert f"{NOT_STATED} (the paper is a survey)" in render(d, "md")


def test_no_statement_repeats_within_a_paper(tmp_path):
    # a model that answers every prompt with the same, well supported sentence
    same = "We propose FewSplat, a splatting model that shares a learned prior across scenes."
    _, p = _one(tmp_path, gen=FakeGenerator(lambda m: same))
    shown = [s.text for name in p.fields if name not in ("urls", "affiliation", "keywords")
             for s in p.field(name).shown]
    assert shown and not any(repeats(a, b) for i, a in enumerate(shown) for b in shown[:i])
    assert sum(same.rstrip(".") in t for t in shown) == 1


def test_a_transformation_is_checked_against_exactly_its_own_sentences(tmp_path):
    # every reply is the paper's result sentence: true of the paper, but only the results field rests on it
    result = "FewSplat reaches 21.4 dB PSNR on LLFF with three views."
    d, p = _one(tmp_path, gen=FakeGenerator(lambda m: result))
    # the summary rests on the contribution and the headline result: the reply is kept there
    assert [(s.action, s.kind, s.text) for s in p.field("summary").shown] == [("kept", "compressed", result)]
    # ... and the results field, whose reply is the same, shows its own sentence instead of a repeat
    assert [s.text for s in p.field("results").shown] == [
        "On LLFF with three views, FewSplat reaches 21.4 dB PSNR, 1.9 dB above the best prior method."]
    for name in ("background", "prior_methods", "method", "steps"):
        for s in p.field(name).shown:  # the reply failed against their sentences: their own sentence, quoted
            assert s.action == "replaced" and s.kind == "quote" and "21.4" not in s.text, name


def test_compressed_statements_and_copies_are_told_apart(tmp_path):
    def shorten(messages):  # drops the words before the first comma: shorter, still the sentence's facts
        text = re.search(r'<passage id="1">\s*(.*?)\s*</passage>', messages[-1]["content"], re.S).group(1)
        first = split_sentences(text)[0]
        return first.split(", ", 1)[-1][:1].upper() + first.split(", ", 1)[-1][1:]

    _, p = _one(tmp_path, gen=FakeGenerator(shorten))
    summary = p.field("summary").shown[0]
    assert summary.kind == "compressed" and summary.text.startswith("We propose FewSplat")
    steps = p.field("steps").shown
    assert any(s.kind == "compressed" for s in steps)  # "Specifically, we first ..." -> "We first ..."
    assert p.field("method").shown and not repeats(p.field("method").shown[0].text, summary.text)
    (tmp_path / "copy").mkdir()
    _, copied = _one(tmp_path / "copy")  # the default fake copies its passage's first sentence
    assert all(s.kind == "quote" for f in ("method", "steps") for s in copied.field(f).shown)
    assert copied.stats["copied"] > 0 and copied.stats["kept"] == 0


def test_bigger_models_answer_freely_through_the_same_check(tmp_path):
    big = FakeGenerator()
    big.name = "qwen2.5-7b-instruct-q4"
    assert resolve_mode("auto", big) == "free" and resolve_mode("auto", FakeGenerator()) == "transform"
    _, p = _one(tmp_path, gen=big)
    prompts = [m[-1]["content"] for m in big.calls]
    assert any(q.endswith("What did earlier methods do, and what did they lack?") for q in prompts)
    prior = next(q for q in prompts if q.endswith("what did they lack?"))
    assert "Existing radiance field methods" in prior and "we propose" not in prior.lower()  # its own sentences
    assert {s.kind for s in p.field("prior_methods").shown} == {"generated"}


def test_cache_keys_change_with_the_prompt_and_role_versions(tmp_path, monkeypatch):
    import kb.digest.day

    catalog = _catalog(tmp_path, ABSTRACT)
    row = catalog.list_papers(date=DAY)[0]
    row = catalog.get_paper_row(row["id"])
    key = paper_key(row, "m", "e")
    monkeypatch.setattr(kb.digest.day, "ROLE_VERSION", "next")
    assert paper_key(row, "m", "e") != key
    monkeypatch.undo()
    monkeypatch.setattr(kb.digest.day, "PROMPT_VERSION", "next")
    assert paper_key(row, "m", "e") != key
    monkeypatch.undo()
    assert paper_key(row, "m", "e", "free") != key
    catalog.close()


def test_every_format_carries_role_and_kind(tmp_path):
    d, p = _one(tmp_path)
    md = render(d, "md")
    assert "Statements (field: role, kind): Summary: contribution, quote; " in md
    assert "Past methods and their problem: gap, quote" in md
    html = render(d, "html")
    assert 'data-role="gap" data-kind="quote"' in html
    data = json.loads(render(d, "json"))
    st = data["papers"][0]["fields"]["prior_methods"]["statements"][0]
    assert st["role"] == "gap" and st["kind"] == "quote"
    page = tmp_path / "out.md"
    page.write_text(md, encoding="utf-8")
    back = parse_digest(page).papers
    assert [q.title for q in back] == [p.title] and back[0].abstract.startswith("Reconstructing a scene")


def test_a_bare_name_or_heading_is_no_statement(tmp_path):
    # "Depth Fusion Module" names a part but says nothing about it: each field falls back to its own sentence
    _, p = _one(tmp_path, gen=FakeGenerator(lambda m: "Depth Fusion Module"))
    shown = [s for f in GENERATED for s in p.field(f).shown]
    assert shown and all(s.kind == "quote" and "Depth Fusion Module" not in s.text for s in shown)
    assert p.stats["generated"] == 0 and p.stats["not_claims"] == p.stats["calls"]


def test_a_rewrite_that_credits_the_paper_with_earlier_work_is_not_shown(tmp_path):
    # the words are all in the gap sentence, but it is about earlier methods, not "the paper's"
    def misattribute(messages):
        if "earlier work" in messages[-1]["content"]:
            return "The paper's radiance field methods need dozens of views and overfit badly with three."
        return "Reconstructing a scene from a handful of photographs is central to mapping and robotics."

    _, p = _one(tmp_path, gen=FakeGenerator(misattribute))
    prior = p.field("prior_methods").shown
    assert [(s.kind, s.text) for s in prior] == [
        ("quote", "Existing radiance field methods need dozens of views and overfit badly when only three are given.")]
    assert prior[0].verdict["reason"] == "misattributed"
    assert p.field("background").shown[0].kind == "compressed"  # no self-reference added: kept


def test_innovation_reads_no_result_and_labels_before_a_rewrite_are_cut(tmp_path):
    # "adding new mirrors" is no novelty claim: a method sentence reaches innovation only when it sets itself apart
    texts = ["Mirrors are hard to render.", "We present MirrorSplat, a splatting method for mirror scenes.",
             "All Gaussians are optimised jointly with the mirror plane.",
             "It renders in real time and allows adding new mirrors and objects."]
    sentences = [RoledSentence(i, t, r, 0, "abstract") for i, (t, r) in
                 enumerate(zip(texts, ["background", "contribution", "method", "method"]))]
    assert "innovation" not in allocate(sentences).groups

    def labelled(messages):
        return "Reflection: " + quote_first(messages)

    _, p = _one(tmp_path, gen=FakeGenerator(labelled))
    assert all(not s.text.startswith("Reflection") for f in GENERATED for s in p.field(f).shown)


def test_our_of_everyone_is_not_the_paper_and_an_announcement_is_no_contribution():
    # "our visual world" is everyone's: the opening sentence is background, and so is the one after it
    texts = ["Shadows are cues that look very different in our visual world at night.",
             "And long shadows, when seen from above, hide small objects.",
             "To bridge these gaps, our paper presents three key contributions.",
             "Firstly, we propose NightSeg, a segmenter trained on moonlit aerial images.",
             "NightSeg reaches 61.2% mIoU on the MoonCity benchmark."]
    roles = sentence_roles([("abstract", texts)])[0]
    assert roles[:3] == ["background", "background", "other"]
    assert roles[3] == "contribution"
    assert classify("Our main contributions are summarized as follows:", "abstract", 0.3, "gap") == "other"
    assert classify("We propose NightSeg, which makes two contributions to segmentation.", "abstract", 0.3,
                    "gap") == "contribution"  # it says what they are
    # showing that something can be done is what the paper does; showing that it works well is a result
    assert classify("In this paper, we show that it is possible to segment moonlit scenes from one image.",
                    "abstract", 0.3, "background") == "contribution"
    assert classify("In this paper, we show that NightSeg outperforms daytime segmenters at night.",
                    "abstract", 0.6, "method") == "result"
    # the summary restates the first real contribution, not the announcement
    alloc = allocate(_roled(texts))
    assert alloc.sentences("summary")[0].text.startswith("Firstly, we propose NightSeg")
    assert all("key contributions" not in s.text for name in alloc.groups for s in alloc.sentences(name))
