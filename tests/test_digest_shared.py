"""The real digest pages of 2024-05-22 (../shared; skipped when absent): ingested with fakes, digested again."""
from __future__ import annotations

import json

from kb.store.catalog import Catalog
from kb.digest.day import build_digest
from kb.digest.paper import GENERATED_FIELDS
from kb.digest.render import render
from kb.backends.embedders import HashEmbedder
from kb.backends.generators import FakeGenerator
from kb.ingest.pipeline import ingest
from kb.store.vectors import MemoryStore
from tests.conftest import shared_digests
from tests.test_digest import assert_citations_resolve

TOPICS = {"3DGS": 13, "Diffusion Models": 8, "NeRF": 7, "元宇宙/虚拟人": 4, "Talking Head Generation": 2}


def test_the_shared_day_gives_30_papers_under_5_topics_with_every_section(tmp_path):
    day = shared_digests() / "2024-05-22"
    catalog = Catalog(tmp_path / "c.sqlite")
    report = ingest([str(day)], catalog, HashEmbedder(), MemoryStore())
    assert report.errors == [] and report.papers_new == 30
    gen = FakeGenerator()
    d = build_digest("2024-05-22", catalog, HashEmbedder(), gen)
    assert len(d.papers) == 30 and d.entries == 34
    assert {g.name: len(g.paper_ids) for g in d.groups} == TOPICS
    assert sum(len(p.topics) == 2 for p in d.papers.values()) == 4
    assert len(gen.calls) == sum(p.stats["calls"] for p in d.papers.values())
    for p in d.papers.values():
        assert p.title and p.authors and p.abstract and p.link.startswith("http://arxiv.org/abs/")
        for name in GENERATED_FIELDS:
            assert name in p.fields
        assert p.field("summary").shown and p.field("summary").shown[0].role in ("contribution", "method")
        assert not p.full_text and {s.kind for s in p.sources} == {"abstract"}
        # the pages' notes name affiliations, but they are machine-written: never evidence
        assert p.field("affiliation").not_stated
    assert_citations_resolve(catalog, d)
    md = render(d, "md")
    for label in ("**Summary**", "**Key Takeaways**", "<p>Affiliation: not stated in the sources</p>",
                  "<p>Summary:</p>", "<p>Methods:</p>", "<p>Conclusion:</p>", "<summary>Sources</summary>"):
        assert md.count(label) == 34, label
    data = json.loads(render(d, "json"))
    assert [len(t["papers"]) for t in data["topics"]] == [TOPICS[t["name"]] for t in data["topics"]]
    page = render(d, "html")
    assert page.count('<article class="paper" id="') == 30 and page.count('class="paper also"') == 4
    catalog.close()
