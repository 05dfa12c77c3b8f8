"""build_digest with fakes (FakeGenerator, hashing embedder, in-memory store): the date rule, grouping, sections,
citations, the grounding of every statement, "not stated in the sources", the cache, resume after a crash."""
from __future__ import annotations

import re
import shutil

import pytest

from kb.store.catalog import Catalog
from kb.digest.day import NoPapersError, build_digest
from kb.digest.cache import DigestCache
from kb.digest.paper import GENERATED_FIELDS
from kb.digest.types import FIELD_LABELS
from kb.grounding.sentences import clean_passage
from kb.backends.embedders import HashEmbedder
from kb.grounding.sentences import split_sentences
from kb.backends.generators import FakeGenerator, quote_first_passage
from kb.ingest.pipeline import ingest
from kb.types import KbError
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS
from samples.pages import render_atom_feed, render_digest_page
from samples.pdfgen import render_pdf

DAY = "2024-05-22"
ON_DAY = {p["id"] for p in PAPERS if p["date"] == DAY}


@pytest.fixture(scope="module")
def built_catalog(tmp_path_factory, sample_corpus):
    folder = tmp_path_factory.mktemp("digest-kb")
    catalog = Catalog(folder / "catalog.sqlite")
    report = ingest([str(sample_corpus)], catalog, HashEmbedder(), MemoryStore())
    assert report.errors == []
    catalog.close()
    return folder / "catalog.sqlite"


@pytest.fixture
def catalog(built_catalog, tmp_path):
    """A private copy of the ingested sample corpus (full PDFs, digest pages, Atom records)."""
    path = tmp_path / "catalog.sqlite"
    shutil.copy(built_catalog, path)
    c = Catalog(path)
    yield c
    c.close()


def norm(text: str) -> str:
    return " ".join(text.split())


def assert_citations_resolve(catalog: Catalog, d) -> None:
    """Every shown statement's [n] is a listed source; every source is a chunk of that paper quoting it exactly."""
    for pid, p in d.papers.items():
        numbers = {s.n for s in p.sources}
        assert [s.n for s in p.sources] == list(range(1, len(p.sources) + 1))
        cited = set()
        for st in p.statements():
            if st.shown:
                assert set(st.citations) <= numbers, (pid, st)
                cited |= set(st.citations)
        assert cited == numbers, f"{pid}: sources cited by nothing: {numbers - cited}"
        first_seen = [n for name in FIELD_LABELS for st in p.field(name).shown for n in st.citations]
        assert list(dict.fromkeys(first_seen)) == sorted(numbers)  # numbered in reading order
        for src in p.sources:
            row = catalog.db.execute("SELECT paper_id, text FROM chunks WHERE id = ?", (src.chunk_id,)).fetchone()
            assert row is not None and row["paper_id"] == pid
            assert src.text == clean_passage(row["text"])  # the passage as the model saw it (no [n], no orders)
            for q in src.quotes:
                assert norm(q) in norm(src.text), (pid, q)
        for st in p.statements():
            if st.is_quote and st.shown:  # each quoted sentence is verbatim in a source it cites
                for sentence in split_sentences(st.text):
                    assert any(norm(sentence).rstrip(".") in norm(p.source(n).text) for n in st.citations), sentence


def test_the_days_papers_are_the_ones_kb_list_shows(catalog):
    d = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator())
    assert set(d.papers) == ON_DAY == {r["id"] for r in catalog.list_papers(date=DAY)}
    assert d.stats["papers"] == len(ON_DAY) and d.stats["cached"] == 0


def test_date_rule_digest_date_then_arxiv_date_then_pdf_date(tmp_path):
    listed, arxiv_only, pdf_only = (dict(PAPERS[i]) for i in range(3))
    arxiv_only.update(published="2024-05-10")  # announced 05-10, listed on no digest page
    pdf_only.update(id="local", date="2024-05-08")  # no arXiv id anywhere: the PDF's own date
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "page.md").write_text(render_digest_page([listed], DAY, "Video Understanding"), encoding="utf-8")
    (folder / "feed.atom").write_text(render_atom_feed([listed, arxiv_only]), encoding="utf-8")
    render_pdf(pdf_only, folder / "local-paper.pdf", repeat=1)
    catalog = Catalog(tmp_path / "c.sqlite")
    assert ingest([str(folder)], catalog, HashEmbedder(), MemoryStore()).errors == []
    gen = FakeGenerator()
    assert set(build_digest(DAY, catalog, HashEmbedder(), gen).papers) == {listed["id"]}  # not its arXiv 05-21
    assert set(build_digest("2024-05-10", catalog, HashEmbedder(), gen).papers) == {arxiv_only["id"]}
    only = build_digest("2024-05-08", catalog, HashEmbedder(), gen)
    assert [p.title for p in only.papers.values()] == [pdf_only["title"]]
    with pytest.raises(NoPapersError) as info:
        build_digest("2024-05-21", catalog, HashEmbedder(), gen)
    assert info.value.nearest == [("2024-05-22", 1), ("2024-05-10", 1), ("2024-05-08", 1)]


def test_no_papers_names_the_nearest_dates(catalog):
    with pytest.raises(NoPapersError) as info:
        build_digest("2024-05-25", catalog, HashEmbedder(), FakeGenerator())
    assert isinstance(info.value, KbError)
    msg = str(info.value)
    assert "no papers dated 2024-05-25" in msg
    assert "2024-05-22 (4 papers)" in msg and "2024-05-21 (2 papers)" in msg
    assert msg.index("2024-05-22") < msg.index("2024-05-21")  # nearest first
    with pytest.raises(KbError, match="not a date"):
        build_digest("22/05/2024", catalog, HashEmbedder(), FakeGenerator())


def test_grouped_by_topic_with_a_paper_in_two_topics(catalog):
    d = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator())
    groups = {g.name: g.paper_ids for g in d.groups}
    expected: dict[str, set] = {}
    for p in PAPERS:
        if p["date"] == DAY:
            for t in [p["topic"]] if isinstance(p["topic"], str) else p["topic"]:
                expected.setdefault(t, set()).add(p["id"])
    assert {k: set(v) for k, v in groups.items()} == expected
    assert d.entries == sum(len(v) for v in expected.values()) == len(ON_DAY) + 1
    assert sorted(d.papers["2405.90003"].topics) == ["Diffusion Models", "Talking Head Generation"]
    only = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(), topic="diffusion models")
    assert [g.name for g in only.groups] == ["Diffusion Models"] and set(only.papers) == set(expected["Diffusion Models"])
    with pytest.raises(KbError, match="unknown topic 'Robotics'"):
        build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(), topic="Robotics")
    assert len(build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(), limit=2).papers) == 2


def test_every_field_reads_the_sentences_of_its_role_cited_from_the_papers_own_text(catalog):
    gen = FakeGenerator()
    d = build_digest(DAY, catalog, HashEmbedder(), gen)
    wanted = {"background": {"background"}, "prior_methods": {"gap"}, "method": {"contribution", "method"},
              "steps": {"method"}, "results": {"result"}, "significance": {"significance"}}
    for pid, p in d.papers.items():
        spec = next(s for s in PAPERS if s["id"] == pid)
        assert p.title == spec["title"] and p.authors == spec["authors"] and p.full_text
        for name in GENERATED_FIELDS:
            assert name in p.fields
        assert len(p.field("summary").shown) == 1 and p.field("summary").shown[0].role != "background"
        for name, roles in wanted.items():
            assert {s.role for s in p.field(name).shown} <= roles, (pid, name)
        for name in ("summary", "method", "results"):
            assert p.field(name).shown, (pid, name)
        for st in p.statements():  # a link or code release is never a result, step or takeaway
            assert st.role != "resource" or st.kind == "extracted"
            assert "http" not in st.text or st.kind == "extracted"
        assert p.field("affiliation").shown[0].text == spec["affiliation"]
        assert f"https://arxiv.org/abs/{pid}" in [s.text for s in p.field("urls").shown]
    assert_citations_resolve(catalog, d)


def test_the_digest_pages_summaries_are_never_evidence(catalog):
    gen = FakeGenerator()
    build_digest(DAY, catalog, HashEmbedder(), gen)
    prompts = "\n".join(m["content"] for call in gen.calls for m in call)
    assert "In short," not in prompts  # the pages' machine-written summaries (samples.pages.digest_summary)
    assert "Problem:" not in prompts and "Result:" not in prompts  # ... and their takeaways


def hallucinate(messages) -> str:
    if "bullet" in messages[-1]["content"]:
        return ("- The model reaches 99.9% accuracy on ImageNet with 4000 GPUs [1].\n"
                "- Quantum annealing doubles the speed of protein folding [2].")
    return "Quantum annealing doubles the speed of protein folding on 4000 GPUs [1]. It wins every Kaggle prize [2]."


def test_hallucinated_statements_are_dropped_or_replaced_and_marked(catalog):
    d = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(hallucinate))
    for p in d.papers.values():
        statements = p.statements()
        generated = [s for s in statements if s.generated]
        assert generated and all(s.action in ("dropped", "replaced") for s in generated)
        for s in statements:
            if s.shown:
                assert not re.search(r"99\.9|Quantum|Kaggle|4000", s.text)
                assert s.action in ("replaced", "quoted", "extracted")  # quotes are marked as such
        assert all(s.verdict["status"] != "supported" for s in generated)
        assert p.stats["kept"] == 0 and p.stats["dropped"] + p.stats["replaced"] == p.stats["generated"]
    assert d.stats["grounding_pass_rate"] == 0.0
    assert_citations_resolve(catalog, d)
    assert any(f.not_stated for p in d.papers.values() for f in p.fields.values())


def test_abstract_only_paper_leaves_unsupported_fields_not_stated(tmp_path):
    spec = PAPERS[0]
    page = tmp_path / "page.md"
    page.write_text(render_digest_page([spec], DAY, "Video Understanding"), encoding="utf-8")
    catalog = Catalog(tmp_path / "c.sqlite")
    ingest([str(page)], catalog, HashEmbedder(), MemoryStore())
    p = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator()).papers[spec["id"]]
    assert not p.full_text
    # the page's notes name an affiliation, but they are machine-written: not evidence, so not stated
    assert p.field("affiliation").not_stated and p.field("keywords").not_stated
    assert {s.kind for s in p.sources} == {"abstract"}
    assert p.field("summary").shown and p.field("method").shown
    assert "https://example.org/sliceformer" in [s.text for s in p.field("urls").shown]  # from the comment


def test_second_run_comes_from_the_cache_and_refresh_regenerates(catalog, tmp_path):
    cache = DigestCache(tmp_path / "cache" / "digest.sqlite")
    first = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(), cache=cache)
    assert cache.count() == len(ON_DAY)

    def boom(messages):
        raise AssertionError("the generator must not be called on a cached day")

    again = build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(boom), cache=cache)
    assert again.stats["cached"] == len(ON_DAY) and all(p.cached for p in again.papers.values())
    assert {k: v.to_dict()["fields"] for k, v in again.papers.items()} == \
        {k: v.to_dict()["fields"] for k, v in first.papers.items()}
    gen = FakeGenerator()
    fresh = build_digest(DAY, catalog, HashEmbedder(), gen, cache=cache, refresh=True)
    assert fresh.stats["cached"] == 0 and len(gen.calls) == sum(p.stats["calls"] for p in first.papers.values())
    other = FakeGenerator()
    other.name = "another-model"  # another model: its own cache entries
    build_digest(DAY, catalog, HashEmbedder(), other, cache=cache)
    assert other.calls and cache.count() == 2 * len(ON_DAY)


def test_a_new_grounding_check_does_not_reuse_cached_verdicts(catalog, tmp_path, monkeypatch):
    import kb.digest.day

    cache = DigestCache(tmp_path / "digest.sqlite")
    build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(), cache=cache)
    monkeypatch.setattr(kb.digest.day, "GROUNDING_VERSION", "next")
    gen = FakeGenerator()
    again = build_digest(DAY, catalog, HashEmbedder(), gen, cache=cache)
    assert again.stats["cached"] == 0 and gen.calls  # verdicts of the old check are not served again


def test_an_interrupted_run_resumes_where_it_stopped(catalog, tmp_path):
    path = tmp_path / "digest.sqlite"
    order = [r["title"] for r in catalog.list_papers(date=DAY)]
    first_title = None

    current: dict = {}  # the paper being written, from the progress events (prompts no longer name the paper)

    def crash_on_second_paper(messages):
        nonlocal first_title
        first_title = first_title or current["title"]
        if current["title"] != first_title:
            raise RuntimeError("killed")
        return "Nothing to see [1]."

    with DigestCache(path) as cache, pytest.raises(RuntimeError):
        build_digest(DAY, catalog, HashEmbedder(), FakeGenerator(crash_on_second_paper), cache=cache,
                     progress=lambda event, **kw: current.update(kw))
    with DigestCache(path) as cache:
        assert cache.count() == 1
        events = []
        asked = set()

        def record(messages):
            asked.add(events[-1][1]["title"])
            return quote_first_passage(messages)

        gen = FakeGenerator(record)
        d = build_digest(DAY, catalog, HashEmbedder(), gen, cache=cache,
                         progress=lambda event, **kw: events.append((event, kw)))
    assert d.stats["cached"] == 1 and len(d.papers) == len(ON_DAY)
    assert first_title not in asked and asked == set(order) - {first_title}
    assert [kw["index"] for _, kw in events] == list(range(len(ON_DAY) + 1))
    assert {kw["total"] for _, kw in events} == {len(ON_DAY)} and all(e == "paper" for e, _ in events)
    assert sum(kw["cached"] for _, kw in events) == 1


def test_titles_headings_and_cut_off_sentences_are_no_claims(catalog):
    current: dict = {}

    def reply(messages):
        title = current["title"]
        endless = "The method reaches" + " a new state of the art on every benchmark" * 40  # cut at max_tokens
        return f"{title}\n\nKey Findings\n\n4.\n\n{endless}"

    gen = FakeGenerator(reply)
    p = build_digest(DAY, catalog, HashEmbedder(), gen, limit=1, progress=lambda event, **kw: current.update(kw))
    p = next(iter(p.papers.values()))
    generated = [s for s in p.statements() if s.generated]
    assert generated and all(s.kind == "quote" for s in generated if s.shown)
    # each one asked twice (the retry after no claim), never a claim
    assert p.stats["generated"] == 0 and p.stats["not_claims"] == len(generated) + p.stats["retries"]
    # each field falls back to its own assigned sentence, verbatim
    assert [s.kind for s in p.field("summary").shown] == ["quote"] and p.field("method").shown


def test_each_paper_starts_from_a_clean_model_state(catalog):
    class Spy(FakeGenerator):
        def __init__(self):
            super().__init__()
            self.reuse: list[bool] = []

        def generate(self, messages, *, max_tokens, on_token=None, stop=None, reuse_prefix=False):
            self.reuse.append(reuse_prefix)
            return super().generate(messages, max_tokens=max_tokens, on_token=on_token, stop=stop)

    gen = Spy()
    d = build_digest(DAY, catalog, HashEmbedder(), gen, limit=2)
    calls = [p.stats["calls"] for p in d.papers.values()]
    assert len(gen.reuse) == sum(calls) and all(calls)
    start = 0
    for n in calls:  # a paper's first call resets the model; the rest may reuse the shared system prompt
        assert gen.reuse[start] is False and all(gen.reuse[start + 1:start + n])
        start += n
