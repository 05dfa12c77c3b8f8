from kb.ingest.chunker import chunk_paper
from kb.types import Page, Paper, Section


def words(text: str) -> int:
    return len(text.split())


def make_paper() -> Paper:
    intro = " ".join(f"Intro sentence number {i} talks about slices." for i in range(30))
    method = "We cut clips into slices. The encoder maps each slice to tokens.\n\nA fusion module mixes tokens."
    p1 = "Abstract\n\nShort abstract here. It has two sentences.\n\n1 Introduction\n\n" + intro
    p2 = "3 Method\n\n" + method + "\n\nReferences\n\n[1] Someone. A paper. 2020."
    return Paper(
        title="T",
        pages=[Page(1, p1), Page(2, p2)],
        sections=[
            Section("Abstract", "abstract", 1, 0),
            Section("1 Introduction", "introduction", 1, p1.index("1 Introduction")),
            Section("3 Method", "method", 2, 0),
            Section("References", "references", 2, p2.index("References")),
        ],
    )


def test_chunks_are_exact_slices_of_page_text_and_fit_the_window():
    paper = make_paper()
    chunks = chunk_paper("p1", paper, words, max_tokens=40, overlap=8)
    pages = {p.number: p.text for p in paper.pages}
    assert len(chunks) > 3
    for c in chunks:
        assert words(c.text) <= 40
        if c.page_start == c.page_end:
            assert pages[c.page_start][c.char_start:c.char_end] == c.text
        else:
            assert c.text.startswith(pages[c.page_start][c.char_start:])
            assert c.text.endswith(pages[c.page_end][:c.char_end])
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_chunks_follow_sections_and_overlap_within_a_section():
    chunks = chunk_paper("p1", make_paper(), words, max_tokens=40, overlap=8)
    kinds = [c.kind for c in chunks]
    assert kinds[0] == "abstract"
    assert "references" in kinds and "method" in kinds
    # no chunk mixes two sections
    for c in chunks:
        assert not ("Method" in c.section and "References" in c.text)
    intro = [c for c in chunks if c.kind == "introduction"]
    assert len(intro) >= 2
    # consecutive chunks of one section share text (the overlap)
    assert intro[1].char_start < intro[0].char_end


def test_abstract_only_paper_is_chunked_from_the_abstract():
    paper = Paper(title="T", abstract="One sentence here. Another one follows.")
    chunks = chunk_paper("x", paper, words, max_tokens=40, overlap=0)
    assert len(chunks) == 1
    assert chunks[0].page_start is None and chunks[0].kind == "abstract"
    assert chunks[0].text == paper.abstract


def test_overlong_sentence_is_split_at_words():
    paper = Paper(title="T", abstract=" ".join(["word"] * 100))
    chunks = chunk_paper("x", paper, words, max_tokens=30, overlap=0)
    assert len(chunks) == 4 and all(words(c.text) <= 30 for c in chunks)


def test_chunk_ids_depend_on_content():
    a = chunk_paper("x", Paper(title="T", abstract="Alpha beta."), words)[0]
    b = chunk_paper("x", Paper(title="T", abstract="Alpha gamma."), words)[0]
    assert a.id != b.id and a.id == chunk_paper("x", Paper(title="T", abstract="Alpha beta."), words)[0].id
