"""PDF parser tests on PDFs rendered by samples.pdfgen: reading order, furniture removal, hyphenation repair,
sections, front-matter metadata, and the error cases (scanned, encrypted, truncated, not a PDF, empty)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.ingest.parsers.pdf import parse_pdf
from kb.types import SECTION_KINDS, Paper
from samples.corpus import PAPERS
from samples.pdfgen import make_encrypted_pdf, make_image_only_pdf, make_truncated_pdf, render_pdf

SPEC = PAPERS[0]
HEADER = "Preprint. Under review."
BODY_KINDS = ["front", "abstract", "introduction", "related", "method", "experiments", "conclusion", "references"]
FULL = dict(two_column=True, running_header=HEADER, page_numbers=True, line_numbers=True, arxiv_stamp=True,
            hyphenate=True, reverse_stream=True)


def _parse(path: Path, password: str | None = None) -> Paper:
    result = parse_pdf(path, password)
    assert result.errors == []
    assert len(result.papers) == 1
    return result.papers[0]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _known_paragraphs(spec: dict) -> set[str]:
    known = {spec["title"], ", ".join(spec["authors"]), spec["affiliation"], "Abstract", spec["abstract"], "References"}
    known.update(spec["references"])
    for heading, paragraphs in spec["sections"]:
        known.update([heading, heading.split(" ", 1)[1]])  # numbered and unnumbered
        known.update(paragraphs)
    return known


@pytest.fixture(scope="module")
def full_pdf(tmp_path_factory) -> Path:
    """Two columns with every kind of furniture, hyphenation, and lines written bottom-up in the content stream."""
    return render_pdf(SPEC, tmp_path_factory.mktemp("pdf") / "paper.pdf", **FULL)


@pytest.fixture(scope="module")
def full_paper(full_pdf) -> Paper:
    return _parse(full_pdf)


def test_two_column_reading_order_keeps_every_paragraph_whole_and_in_order(full_paper):
    known = _known_paragraphs(SPEC)
    for page in full_paper.pages:
        paragraphs = page.text.split("\n\n")
        for i, para in enumerate(paragraphs):
            if 0 < i < len(paragraphs) - 1:  # first/last may continue from/onto another page
                assert para in known, f"page {page.number}: paragraph not in the spec: {para[:80]!r}"
            else:
                assert any(para in k for k in known), f"page {page.number}: garbled text: {para[:80]!r}"
    text = "\n\n".join(p.text for p in full_paper.pages)
    # column 1 of page 1 (the introduction) is read before column 2, and sections come in document order
    positions = [text.index(heading) for heading, _ in SPEC["sections"]]
    assert positions == sorted(positions)
    first_intro = SPEC["sections"][0][1][0]
    assert text.index(first_intro) < text.index(SPEC["sections"][1][0])


def test_two_column_page_really_has_two_columns(full_pdf):
    import pymupdf

    with pymupdf.open(full_pdf) as doc:
        words = doc[1].get_text("words")
    lefts = {round(w[0]) for w in words}
    assert any(x < 200 for x in lefts) and any(x > 310 for x in lefts)  # the test input is what it claims


def test_furniture_is_removed(full_paper):
    spec_numbers = set(re.findall(r"\b\d{3}\b", str(SPEC)))
    for page in full_paper.pages:
        assert HEADER not in page.text
        assert "arXiv" not in page.text and "[cs.CV]" not in page.text
        assert not re.search(rf"(^|\n){page.number}($|\n)", page.text)  # page number
        # review line numbers are 3-digit tokens; only the paper's own 3-digit numbers may remain
        assert set(re.findall(r"\b\d{3}\b", page.text)) <= spec_numbers


def test_end_of_line_hyphenation_is_repaired(full_pdf, full_paper):
    import pymupdf

    with pymupdf.open(full_pdf) as doc:
        broken = doc.metadata["keywords"].removeprefix("hyphenated=").split(",")
        raw = "".join(page.get_text() for page in doc)
    broken = [w for w in broken if w]
    assert broken, "the generator should have hyphenated some words"
    assert re.search(r"[a-z]-\n[a-z]", raw), "raw text should contain broken words"
    text = " ".join(p.text for p in full_paper.pages)
    for word in broken:
        core = re.match(r"[A-Za-z-]+", word).group()
        assert core in text
        if "-" not in core:
            assert not re.search(rf"\b{core[:3]}\w*-\s", text), f"{core} left broken"
    assert "recognition" in text and "recog-" not in text
    assert "cross-attention" in text and "crossattention" not in text  # real hyphens stay
    assert "frame-based" in text


def test_sections_have_kinds_pages_and_offsets(full_paper):
    kinds = [s.kind for s in full_paper.sections]
    assert kinds == BODY_KINDS
    assert set(kinds) <= set(SECTION_KINDS)
    for section in full_paper.sections:
        page_text = full_paper.pages[section.page - 1].text
        if section.kind != "front":
            assert page_text[section.offset:].startswith(section.title)
    refs = next(s for s in full_paper.sections if s.kind == "references")
    assert refs.page == len(full_paper.pages)
    assert full_paper.sections[1].page == 1  # abstract on page 1


def test_metadata_from_the_layout_and_the_stamp(full_pdf, full_paper):
    assert full_paper.title == SPEC["title"]
    assert full_paper.authors == SPEC["authors"]
    assert _norm(full_paper.abstract) == _norm(SPEC["abstract"])
    assert (full_paper.arxiv_id, full_paper.arxiv_version) == ("2405.90001", 1)
    assert full_paper.published == "2024-05-22"
    assert full_paper.extra["arxiv_category"] == "cs.CV"
    assert full_paper.source_kind == "pdf" and full_paper.source_path == str(full_pdf)
    assert full_paper.page_count == len(full_paper.pages) >= 3


def test_single_column_unnumbered_headings_and_arxiv_id_from_file_name(tmp_path):
    spec = dict(PAPERS[1], version=2)
    path = render_pdf(spec, tmp_path / f"{spec['id']}v2.pdf", numbered_headings=False, page_numbers=True)
    paper = _parse(path)
    assert [s.kind for s in paper.sections] == BODY_KINDS
    assert [s.title for s in paper.sections][2] == "Introduction"
    assert (paper.arxiv_id, paper.arxiv_version) == (spec["id"], 2)
    assert paper.published == spec["date"]  # from the PDF's creation date
    assert paper.title == spec["title"] and paper.authors == spec["authors"]
    body = [p.text.split("\n\n") for p in paper.pages]
    assert sum(len(b) for b in body) > 10 and all(s in _known_paragraphs(spec) for s in body[1][1:-1])


def test_roman_numbered_headings_and_lettered_appendix(tmp_path):
    spec = dict(SPEC, sections=[(f"{num}. {title.split(' ', 1)[1].upper()}", paras)
                                for num, (title, paras) in zip(["I", "II", "III", "IV", "V"], SPEC["sections"])],
                appendix=[("A Implementation Details", ["We train for 30 epochs with AdamW."]),
                          ("B Additional Results", ["Longer clips help a little."])])
    paper = _parse(render_pdf(spec, tmp_path / "ieee.pdf", repeat=1))
    assert [s.kind for s in paper.sections] == BODY_KINDS + ["appendix", "appendix"]
    assert paper.sections[2].title == "I. INTRODUCTION"


@pytest.mark.parametrize("case, cause", [
    ("image", "no extractable text (scanned?)"),
    ("encrypted", "encrypted PDF: pass --password"),
    ("wrong-password", "encrypted PDF: wrong password"),
    ("truncated", "not a readable PDF"),
    ("text", "not a readable PDF"),
    ("garbage", "not a readable PDF"),
    ("empty", "empty file"),
])
def test_unreadable_files_give_one_parse_error(tmp_path, capfd, case, cause):
    path = tmp_path / f"{case}.pdf"
    password = None
    if case == "image":
        make_image_only_pdf(path)
    elif case in ("encrypted", "wrong-password"):
        make_encrypted_pdf(path, "s3cret", repeat=1)
        password = "nope" if case == "wrong-password" else None
    elif case == "truncated":
        make_truncated_pdf(path, keep=0.6, repeat=1)
    elif case == "text":
        path.write_text("This is a plain text file that only pretends to be a PDF.\n" * 20)
    elif case == "garbage":
        path.write_bytes(b"%PDF-1.7\n1 0 obj << /Broken \x00\xff\n%%EOF\n")
    else:
        path.write_bytes(b"")
    capfd.readouterr()
    result = parse_pdf(path, password)
    assert result.papers == []
    assert len(result.errors) == 1
    err = result.errors[0]
    assert err.cause.startswith(cause)
    assert str(err).startswith(str(path))  # the message names the file
    assert capfd.readouterr().err == ""  # MuPDF's own error chatter is silenced


def test_encrypted_pdf_opens_with_the_right_password(tmp_path):
    paper = _parse(make_encrypted_pdf(tmp_path / "locked.pdf", "s3cret", repeat=1), password="s3cret")
    assert paper.title == SPEC["title"]
    assert "SliceFormer" in paper.pages[0].text
