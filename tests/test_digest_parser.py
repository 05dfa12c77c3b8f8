"""Digest page parser: synthetic pages in both format variants, broken inputs, and (when present) the real pages."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kb.ingest.parsers.digest import looks_like_digest, parse_digest, parse_structured_notes
from kb.types import ParseError
from samples.corpus import PAPERS
from samples.pages import digest_summary, digest_takeaways, render_digest_page, spec_topics

REAL_DIGESTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "digests"


def _write(tmp_path: Path, text: str, name: str = "Diffusion Models.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("variant", ["2024-05", "2024-01"])
def test_every_paper_and_its_annotation_are_parsed(tmp_path, variant):
    path = _write(tmp_path, render_digest_page(PAPERS, "2024-05-22", "Diffusion Models", variant=variant))
    result = parse_digest(path)
    assert result.errors == []
    assert [p.arxiv_id for p in result.papers] == [s["id"] for s in PAPERS]
    for paper, spec in zip(result.papers, PAPERS):
        assert paper.title == spec["title"]
        assert paper.authors == spec["authors"]
        assert paper.abstract == spec["abstract"]
        assert paper.arxiv_version == spec["version"]
        assert paper.comment == spec["comment"]
        assert paper.pdf_url == f"http://arxiv.org/pdf/{spec['id']}v{spec['version']}"
        assert (paper.digest_date, paper.topics, paper.source_kind) == ("2024-05-22", ["Diffusion Models"], "digest")
        assert paper.source_path == str(path) and paper.pages == []
        [ann] = paper.annotations
        assert ann.kind == "digest-summary" and ann.source == str(path)
        assert ann.data["summary"] == digest_summary(spec)
        assert ann.data["takeaways"] == digest_takeaways(spec)
        # machine-written text stays out of the paper's own text
        assert ann.data["summary"] not in paper.abstract
        assert not any(t in paper.abstract for t in ann.data["takeaways"])
        notes = ann.data["notes"]
        assert notes["title"] == spec["title"]
        assert all(name in notes["authors"] for name in spec["authors"])
        assert notes["affiliation"] == spec["affiliation"]
        assert spec_topics(spec)[0] in notes["keywords"]
        assert notes["urls"] == [f"https://arxiv.org/abs/{spec['id']}"]
        assert len(notes["summary"]) == 4
        method = dict(spec["sections"])["3 Method"]
        assert len(notes["methods"]) == len(method)
        assert method[0].startswith(notes["methods"][0]) and notes["methods"][0].endswith(".")
        assert dict(spec["sections"])["5 Conclusion"][0][:60] in notes["conclusion"]
        assert "Title" in notes["raw"] or "题目" in notes["raw"]


def test_title_spaces_are_collapsed_and_crlf_is_tolerated(tmp_path):
    spec = copy.deepcopy(PAPERS[1])
    spec["title"] = "FrostSplat:   Codebook   Compression of  Scenes"
    text = render_digest_page([spec], "2024-05-22", "3DGS").replace("\n", "\r\n")
    [paper] = parse_digest(_write(tmp_path, text, "3DGS.md")).papers
    assert paper.title == "FrostSplat: Codebook Compression of Scenes"
    assert paper.abstract == spec["abstract"]
    assert paper.topics == ["3DGS"]


def test_broken_papers_become_errors_while_the_others_parse(tmp_path):
    text = render_digest_page(PAPERS[:4], "2024-05-22", "Diffusion Models")
    blocks = text.split("\n## ")
    # paper 2 loses its authors line, paper 3 its PDF link, paper 4 its abstract
    blocks[2] = "\n".join(l for l in blocks[2].split("\n") if not l.startswith("**Authors:"))
    blocks[3] = "\n".join(l for l in blocks[3].split("\n") if not l.startswith("[PDF]("))
    blocks[4] = blocks[4].replace(PAPERS[3]["abstract"], "")
    path = _write(tmp_path, "\n## ".join(blocks))
    result = parse_digest(path)
    assert [p.arxiv_id for p in result.papers] == [PAPERS[0]["id"]]
    messages = [str(e) for e in result.errors]
    assert messages == [
        f"{path}: paper '{PAPERS[1]['title']}': no authors line (**Authors:...**)",
        f"{path}: paper '{PAPERS[2]['title']}': no [PDF](...) link",
        f"{path}: paper '{PAPERS[3]['title']}': no abstract between the authors line and the PDF link",
    ]
    assert all(e.path == str(path) for e in result.errors)


def test_pdf_link_without_arxiv_id_is_an_error(tmp_path):
    text = render_digest_page(PAPERS[:1], "2024-05-22", "Video Understanding")
    text = text.replace(f"http://arxiv.org/abs/{PAPERS[0]['id']}v1", "https://example.org/paper.pdf")
    result = parse_digest(_write(tmp_path, text))
    assert result.papers == []
    assert "has no arXiv id (https://example.org/paper.pdf)" in result.errors[0].cause


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "gbk.md"
    path.write_bytes(render_digest_page(PAPERS[:1], "2024-05-22", "NeRF").encode("gb18030"))
    with pytest.raises(ParseError, match="not UTF-8 text") as info:
        parse_digest(path)
    assert info.value.path == str(path)


def test_markdown_that_is_not_a_digest_is_refused(tmp_path):
    readme = _write(tmp_path, "# kb\n\nA local knowledge base.\n\n## Install\n\npip install .\n", "README.md")
    with pytest.raises(ParseError, match="no front matter"):
        parse_digest(readme)
    empty = _write(tmp_path, "---\ntitle: NeRF\ndate: 2024-05-22 10:00:00\n---\n\n# 2024-05-22 更新\n", "NeRF.md")
    day = parse_digest(empty)  # a day with no papers is a valid page (issue 9): no papers, a note
    assert day.papers == [] and day.errors == [] and "2024-05-22" in day.notes[0]
    blog = _write(tmp_path, "---\ntitle: NeRF\ndate: 2024-05-22 10:00:00\n---\n\nJust a post.\n", "blog.md")
    with pytest.raises(ParseError, match="no papers"):
        parse_digest(blog)
    assert not looks_like_digest(readme.read_text(encoding="utf-8"))
    assert not looks_like_digest(empty.read_text(encoding="utf-8"))
    assert looks_like_digest(render_digest_page(PAPERS[:1], "2024-05-22", "NeRF"))


def test_topic_and_date_fall_back_to_tags_and_heading(tmp_path):
    text = render_digest_page(PAPERS[4:5], "2024-05-21", "NeRF", variant="2024-01")
    text = text.replace("title: NeRF\n", "").replace("date: 2024-05-21 12:21:50\n", "")
    [paper] = parse_digest(_write(tmp_path, text, "NeRF.md")).papers
    assert paper.topics == ["NeRF"]
    assert paper.digest_date == "2024-05-21"


def test_structured_notes_with_points_after_the_list_and_error_lines():
    fragment = """<ol>
<li>
<p>标题：一种示例方法</p>
</li>
<li>
<p>作者：Ann Lee, Bo Wu</p>
</li>
<li>
<p>隶属机构：示例大学</p>
</li>
<li>
<p>关键词：扩散模型；变化描述</p>
</li>
<li>
<p>论文链接：https://arxiv.org/abs/2405.90004, Github：None</p>
</li>
<li>
<p>摘要：</p>
</li>
</ol>
<p>（1）：背景 (a) 与 (b)。</p>
<p>（2）：过去的方法 &amp; 问题。</p>
<p>（3）：本文方法。</p>
<p>（4）：实验结果。</p>
<p>Some Error for method(no Methods section)</p>
<ol>
<li>结论：</li>
</ol>
<p>（1）：意义。</p>
<p>性能：很好。</p>"""
    notes = parse_structured_notes(fragment)
    assert notes["title"] == "一种示例方法"
    assert notes["authors"] == "Ann Lee, Bo Wu"
    assert notes["affiliation"] == "示例大学"
    assert notes["keywords"] == ["扩散模型", "变化描述"]
    assert notes["urls"] == ["https://arxiv.org/abs/2405.90004"]
    assert notes["summary"] == ["背景 (a) 与 (b)。", "过去的方法 & 问题。", "本文方法。", "实验结果。"]
    assert "methods" not in notes
    assert notes["conclusion"] == "（1）：意义。\n性能：很好。"
    assert parse_structured_notes("") == {}


@pytest.mark.skipif(not REAL_DIGESTS.is_dir(), reason=f"real digest pages not present at {REAL_DIGESTS}")
def test_real_digest_pages_parse_completely():
    def check(day: str) -> tuple[int, set[str], int]:
        files = sorted((REAL_DIGESTS / day).glob("*.md"))
        entries, ids = 0, set()
        for path in files:
            result = parse_digest(path)
            assert result.errors == [], result.errors
            for paper in result.papers:
                assert paper.title and paper.authors and paper.abstract and paper.arxiv_id, paper.title
                assert paper.digest_date == day and paper.topics
                [ann] = paper.annotations
                assert ann.kind == "digest-summary" and ann.data["summary"], paper.title
                assert ann.data["takeaways"] and ann.data["notes"].get("summary"), paper.title
                assert ann.data["summary"] not in paper.abstract
            entries += len(result.papers)
            ids |= {p.arxiv_id for p in result.papers}
        return entries, ids, len(files)

    entries, ids, files = check("2024-05-22")
    assert (entries, len(ids), files) == (34, 30, 5)
    entries, ids, files = check("2024-01-24")
    assert (entries, len(ids)) == (16, 16)
