"""Citations out: keys, BibTeX entry types and fields (read back with bibtexparser), RIS, CSL-JSON, selection."""
from __future__ import annotations

import json

import bibtexparser
import pytest

from kb.library.export import assign_keys, base_key, bibtex_entry, csl_item, render, ris_entry, split_name
from kb.types import Paper


def arxiv_paper(**kw) -> Paper:
    base = dict(title="Diffusion Models Beat GANs & Friends", authors=["María Alonso", "Jan van der Berg"],
                arxiv_id="2405.12345", published="2024-05-21", abstract="We show things.",
                extra={"primary_category": "cs.CV", "categories": ["cs.CV", "cs.LG"]})
    base.update(kw)
    return Paper(**base)


def test_keys_are_readable_stable_and_unique():
    p = arxiv_paper()
    assert base_key(p) == "alonso2024diffusion"
    assert base_key(arxiv_paper(title="On the Edge of Graphs", authors=["Li Chen"], published=None,
                                arxiv_id="2311.00001")) == "chen2023edge"
    assert base_key(arxiv_paper(extra={"bibtex_key": "mine2024"})) == "mine2024"  # the user's own key wins
    twins = [("b", arxiv_paper(arxiv_id="2405.2")), ("a", arxiv_paper(arxiv_id="2405.1"))]
    keys = {c.paper_id: c.key for c in assign_keys(twins)}
    assert keys == {"a": "alonso2024diffusiona", "b": "alonso2024diffusionb"}
    assert {c.paper_id: c.key for c in assign_keys(list(reversed(twins)))} == keys  # order does not matter
    assert split_name("Jan van der Berg") == ("van der Berg", "Jan")


def parse(entry: str):
    lib = bibtexparser.parse_string(entry)
    assert not lib.failed_blocks
    (e,) = lib.entries
    return e


def test_arxiv_paper_is_misc_with_eprint_fields():
    (c,) = assign_keys([("2405.12345", arxiv_paper())])
    e = parse(bibtex_entry(c))
    assert e.entry_type == "misc" and e.key == "alonso2024diffusion"
    assert e["eprint"] == "2405.12345" and e["archivePrefix"] == "arXiv" and e["primaryClass"] == "cs.CV"
    assert e["author"] == "Alonso, María and van der Berg, Jan" and e["year"] == "2024"
    assert e["title"] == r"Diffusion Models Beat {GANs} \& Friends"


def test_paper_with_a_venue_is_an_article_or_inproceedings():
    (c,) = assign_keys([("x", arxiv_paper(extra={"venue": "Journal of Tests", "doi": "10.1/x", "volume": "3"}))])
    e = parse(bibtex_entry(c))
    assert e.entry_type == "article" and e["journal"] == "Journal of Tests" and e["doi"] == "10.1/x"
    assert e["eprint"] == "2405.12345"
    (c,) = assign_keys([("y", arxiv_paper(arxiv_id=None, extra={"venue": "Proc. Tests", "item_type": "conferencePaper"}))])
    e = parse(bibtex_entry(c))
    assert e.entry_type == "inproceedings" and e["booktitle"] == "Proc. Tests" and "eprint" not in e


def test_ris_and_csl_json():
    (c,) = assign_keys([("2405.12345", arxiv_paper())])
    c.tags = ["to-read"]
    ris = ris_entry(c)
    lines = ris.splitlines()
    assert lines[0] == "TY  - UNPB" and lines[-1] == "ER  - "
    assert "AU  - Alonso, María" in lines and "AU  - van der Berg, Jan" in lines and "KW  - to-read" in lines
    assert "DA  - 2024/05/21" in lines and "UR  - https://arxiv.org/abs/2405.12345" in lines
    item = json.loads(render([c], "csl-json"))[0]
    assert item == csl_item(c)
    assert item["id"] == "alonso2024diffusion" and item["type"] == "article"
    assert item["author"][0] == {"family": "Alonso", "given": "María"}
    assert item["issued"] == {"date-parts": [[2024, 5, 21]]} and item["number"] == "arXiv:2405.12345"


def test_unknown_format_is_refused():
    from kb.types import KbError

    with pytest.raises(KbError, match="unknown export format"):
        render([], "endnote")
