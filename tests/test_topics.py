"""Digest topics: defaults from ingested digest pages, topics.toml, assignment by page, keyword and embedding."""
from __future__ import annotations

import pytest

from kb.store.catalog import Catalog
from kb.backends.embedders import HashEmbedder
from kb.ingest.pipeline import ingest
from kb.digest.topics import OTHER, Topic, assign_topics, default_topics, load_topics, resolve_topics, save_topics
from kb.types import KbError
from kb.store.vectors import MemoryStore
from samples.corpus import PAPERS
from samples.pages import spec_topics


def paper(pid, title, abstract="", topics=()):
    return {"id": pid, "title": title, "abstract": abstract, "topics": list(topics)}


def test_default_topics_are_the_digest_pages_topics_with_title_keywords(tmp_path, sample_corpus):
    catalog = Catalog(tmp_path / "c.sqlite")
    ingest([str(sample_corpus / "digests")], catalog, HashEmbedder(), MemoryStore())
    topics = default_topics(catalog)
    expected = sorted({t for p in PAPERS for t in spec_topics(p)}, key=str.casefold)
    assert [t.name for t in topics] == expected
    by_name = {t.name: t for t in topics}
    assert by_name["Diffusion Models"].papers == sum("Diffusion Models" in spec_topics(p) for p in PAPERS)
    assert "diffusion" in by_name["Diffusion Models"].keywords
    assert "sliceformer" in by_name["Video Understanding"].keywords  # a title word specific to that topic
    assert all(not t.configured for t in topics)
    assert resolve_topics(tmp_path, catalog) == topics  # no topics.toml: the defaults


def test_page_topic_keeps_papers_where_the_pages_listed_them():
    topics = [Topic("3DGS", keywords=["gaussian"], source="digest pages"), Topic("Diffusion Models", source="digest pages")]
    papers = [paper("a", "Gaussian diffusion for splats", topics=["Diffusion Models"]),
              paper("b", "Both", topics=["diffusion models", "3dgs"])]
    got = assign_topics(papers, topics, HashEmbedder())
    assert got == {"a": ["Diffusion Models"], "b": ["3DGS", "Diffusion Models"]}  # derived keywords do not move it


def test_configured_keywords_add_topics_as_whole_words():
    topics = [Topic("Remote Sensing", keywords=["satellite images", "remote sensing"]),
              Topic("Diffusion Models", keywords=["diffusion"])]
    papers = [paper("a", "Describing changes in bi-temporal satellite   images", topics=["Diffusion Models"]),
              paper("b", "Remote-sensing captions", "We caption remote sensing scenes."),
              paper("c", "Diffusional kinetics", "No match here: diffusional is another word.")]
    got = assign_topics(papers, topics, HashEmbedder(), min_similarity=0.99)
    assert got["a"] == ["Remote Sensing", "Diffusion Models"]  # page topic + keyword: two topics
    assert got["b"] == ["Remote Sensing"]
    assert got["c"] == [OTHER]


def test_embedding_similarity_places_papers_without_a_topic():
    topics = [Topic("Gaussian Splatting", "compression of gaussian splatting scenes for mobile rendering"),
              Topic("Talking Heads", "audio driven talking head video generation with lip sync")]
    papers = [paper("a", "Codebook compression of Gaussian splatting scenes", "Mobile rendering of splatting scenes."),
              paper("b", "Lip sync for audio driven talking head video", "We generate talking head video."),
              paper("c", "Soil moisture in alpine meadows", "Field measurements of soil moisture.")]
    emb = HashEmbedder(dim=256)
    got = assign_topics(papers, topics, emb, min_similarity=0.3)
    assert got == {"a": ["Gaussian Splatting"], "b": ["Talking Heads"], "c": [OTHER]}
    assert assign_topics(papers[:1], topics, emb, min_similarity=0.0, tie=2.0)["a"] == ["Gaussian Splatting",
                                                                                         "Talking Heads"]


def test_topics_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "topics.toml"
    assert load_topics(path) is None
    topics = [Topic("元宇宙/虚拟人", "avatars \"and\" virtual humans", ["avatar", "digital human"]), Topic("NeRF")]
    save_topics(path, topics)
    assert load_topics(path) == topics
    path.write_text('[[topic]]\ndescription = "x"\n', encoding="utf-8")
    with pytest.raises(KbError, match=r"topics.toml: topic #1 has no name"):
        load_topics(path)
    path.write_text('[[topic]]\nname = "A"\nkeywords = "a"\n', encoding="utf-8")
    with pytest.raises(KbError, match="keywords must be a list"):
        load_topics(path)
    path.write_text('[[topic]\nname = ', encoding="utf-8")
    with pytest.raises(KbError, match="cannot read topics"):
        load_topics(path)
