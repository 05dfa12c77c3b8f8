"""Render the sample corpus (samples.corpus.PAPERS specs) into the source formats kb ingests.

- `render_digest_page`: a daily digest page in the format of the third-party pages in ../shared (Hexo front matter,
  warning blockquote, "# DATE 更新", one "## Title" block per paper with summary, takeaways and ChatPaperFree-style
  structured notes). All text is ours, derived from the specs. Variant "2024-01" reproduces the older format drifts.
- `render_atom_feed`: an arXiv API Atom feed.
- `render_oai_jsonl`: arXiv OAI metadata snapshot JSON lines.
- `write_sample_corpus`: writes all of the above, plus one PDF per paper (via samples.pdfgen), into a folder.
"""
from __future__ import annotations

import json
import re
import textwrap
from datetime import date as Date
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

VARIANTS = ("2024-05", "2024-01")
_CATEGORIES = {
    "Diffusion Models": ["cs.CV", "cs.LG"],
    "3DGS": ["cs.CV", "cs.GR"],
    "NeRF": ["cs.CV", "cs.GR"],
    "Talking Head Generation": ["cs.CV", "cs.SD"],
    "Video Understanding": ["cs.CV"],
}


# ---------------------------------------------------------------------------------------------------- spec helpers


def spec_topics(spec: dict) -> list[str]:
    """A spec's topics as a list ("topic" may be a str or a list of str)."""
    topic = spec["topic"]
    return [topic] if isinstance(topic, str) else list(topic)


def spec_published(spec: dict) -> Date:
    """Submission date of v1: spec["published"] if given, else the day before the digest date."""
    if spec.get("published"):
        return Date.fromisoformat(spec["published"])
    return Date.fromisoformat(spec["date"]) - timedelta(days=1)


def spec_categories(spec: dict) -> list[str]:
    """arXiv categories: spec["categories"] if given, else derived from the topics (primary first)."""
    if spec.get("categories"):
        return list(spec["categories"])
    cats: list[str] = []
    for topic in spec_topics(spec):
        for cat in _CATEGORIES.get(topic, ["cs.CV"]):
            if cat not in cats:
                cats.append(cat)
    return cats


def topic_file_name(topic: str) -> str:
    """File name of a topic's digest page ("/" is not allowed in names: "元宇宙/虚拟人" -> "元宇宙_虚拟人.md")."""
    return topic.replace("/", "_") + ".md"


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text.strip())
    return m.group(1) if m else text.strip()


def _section(spec: dict, word: str) -> list[str]:
    for heading, paragraphs in spec["sections"]:
        if word.lower() in heading.lower():
            return list(paragraphs)
    return []


def _short_name(spec: dict) -> str:
    return spec["title"].split(":")[0].strip()


def digest_summary(spec: dict) -> str:
    """The one-line machine-style summary a digest page shows for a spec (never equal to abstract text)."""
    conclusion = _section(spec, "conclusion") or [spec["abstract"]]
    return f"In short, {_short_name(spec)}: {_first_sentence(conclusion[0])}"


def digest_takeaways(spec: dict) -> list[str]:
    """The "Key Takeaways" bullets a digest page shows for a spec."""
    items = [("Problem", "introduction"), ("Method", "method"), ("Result", "experiments")]
    out = []
    for label, word in items:
        paragraphs = _section(spec, word)
        if paragraphs:
            out.append(f"{label}: {_first_sentence(paragraphs[0])}")
    return out


# ---------------------------------------------------------------------------------------------------- digest page


def render_digest_page(specs: list[dict], date: str, topic: str, variant: str = "2024-05") -> str:
    """A digest page for `topic` on `date` listing `specs` (all of them, in order), in the real page format."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown digest page variant {variant!r}; known: {', '.join(VARIANTS)}")
    first = " ".join(specs[0]["title"].replace(":", " ").split()) if specs else ""
    front = [
        "",
        "---",
        f"title: {topic}",
        f"date: {date} 12:21:50",
        "author: kb-samples",
        "cover:",
        "categories: Paper",
        "tags:",
        f"    - {topic}",
        f"description: {topic} 方向最新论文已更新，请持续关注 Update in {date}  {first}  ",
        f"keywords: {topic}",
        "toc:",
        "toc_number: false",
        "toc_style_simple: true",
        "copyright:",
        "mathjax: true",
        "katex:",
        "aside:",
    ]
    if variant == "2024-01":
        front.append("abcjs:")
    front += [
        "---",
        "",
        ">⚠️ Sample page written for kb's tests: the summaries below are synthetic, derived from fictional papers.",
        ">🔴 Do not cite anything on this page; the papers do not exist.",
        ">💗 The layout mirrors a public daily digest series so that the parser can be tested offline.",
        "",
        f"# {date} 更新",
        "",
    ]
    blocks = [_paper_block(spec, variant, i) for i, spec in enumerate(specs)]
    return "\n".join(front) + "\n" + "".join(blocks)


def _paper_block(spec: dict, variant: str, index: int) -> str:
    title = spec["title"]
    authors = ", ".join(spec["authors"])
    pdf = f"[PDF](http://arxiv.org/abs/{spec['id']}v{spec['version']}) {spec.get('comment') or ''}".rstrip() + " "
    summary, takeaways = digest_summary(spec), digest_takeaways(spec)
    lines: list[str]
    if variant == "2024-05":
        lines = ["", f"## {title}", "", f"**Authors:{authors}**", "", spec["abstract"] + " ", "", pdf, "",
                 "**Summary**", summary, "", "**Key Takeaways**", *[f"- {t}" for t in takeaways]]
    else:
        chinese = index % 2 == 1  # every other paper uses the Chinese labels and "*" bullets seen on old pages
        lines = ["", f"## {title}", f"**Authors:{authors}**", "", spec["abstract"] + " ", "", pdf, ""]
        if chinese:
            lines += ["**摘要**", summary, "", "**要点**", "", *[f"* {t}" for t in takeaways]]
        else:
            lines += ["**Summary:**", "", summary, "", "**Key Takeaways:**", "", *[f"- {t}" for t in takeaways]]
    lines += ["", "**[ChatPaperFree](https://huggingface.co/spaces/Kedreamix/ChatPaperFree)**", "",
              _notes_html(spec, variant), "", "", "<details>", "  <summary>点此查看论文截图</summary>", "</details>"]
    if variant == "2024-01":
        lines.append("\u200b    ")
    return "\n".join(lines) + "\n\n\n"


def _notes_html(spec: dict, variant: str) -> str:
    """The ChatPaperFree structured-notes block: an <ol> of labelled items, as HTML fragments."""
    intro, related = _section(spec, "introduction"), _section(spec, "related")
    method, experiments = _section(spec, "method"), _section(spec, "experiments")
    conclusion = _section(spec, "conclusion")
    points = [
        _first_sentence(intro[0]) if intro else "",
        _first_sentence(related[0]) if related else "",
        _first_sentence(method[0]) if method else "",
        _first_sentence(experiments[0]) if experiments else "",
    ]
    keywords = ", ".join(spec_topics(spec) + [_short_name(spec)])
    url = f"https://arxiv.org/abs/{spec['id']}"
    if variant == "2024-05":
        def item(label: str, body: list[str] | str) -> str:
            if isinstance(body, str):
                return f"<li>\n<p>{label}: {escape(body)}</p>\n</li>"
            paras = "\n".join(f"<p>({i}): {escape(p)}</p>" for i, p in enumerate(body, start=1))
            return f"<li>\n<p>{label}:</p>\n{paras}\n</li>"

        items = [item("Title", spec["title"]), item("Authors", ", ".join(spec["authors"])),
                 item("Affiliation", spec.get("affiliation", "")), item("Keywords", keywords),
                 item("Urls", f"{url} , Github:None"), item("Summary", points),
                 item("Methods", [_first_sentence(p) for p in method]),
                 item("Conclusion", [_first_sentence(p) for p in conclusion])]
        return "<ol>\n" + "\n".join(items) + "\n</ol>"
    # 2024-01: Chinese labels, compact <li><p>, numbered points on continuation lines, a stray <ol start="8">.
    summary = "\n".join(f"({i})：{escape(p)}" for i, p in enumerate(points, start=1))
    methods = "\n".join(f"({i}) {escape(_first_sentence(p))}" for i, p in enumerate(method, start=1))
    concl = "\n".join(f"（{i}）：{escape(_first_sentence(p))}" for i, p in enumerate(conclusion, start=1))
    return "\n".join([
        "<ol>",
        f"<li><p>题目：{escape(spec['title'])}</p>\n</li>",
        f"<li><p>作者：{escape('、'.join(spec['authors']))}</p>\n</li>",
        f"<li><p>第一作者单位：{escape(spec.get('affiliation', ''))}</p>\n</li>",
        f"<li><p>关键词：{escape('、'.join(spec_topics(spec) + [_short_name(spec)]))}</p>\n</li>",
        f"<li><p>论文链接：{url}\nGithub 代码链接：None</p>\n</li>",
        f"<li><p>摘要：\n{summary}</p>\n</li>",
        f"<li><p>方法：\n{methods}</p>\n</li>",
        "</ol>",
        '<ol start="8">',
        f"<li>结论：\n{concl}</li>",
        "</ol>",
    ])


# ---------------------------------------------------------------------------------------------------- arXiv metadata


def _wrap(text: str, width: int) -> list[str]:
    """Wrap at spaces only, as arXiv does (so joining the lines with single spaces gives the text back)."""
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


def _versions(spec: dict) -> list[tuple[str, datetime]]:
    """(vN, creation time) for v1..version: v1 on the published day, later versions on the digest day."""
    v1 = datetime.combine(spec_published(spec), datetime.min.time(), tzinfo=timezone.utc).replace(hour=17, minute=59,
                                                                                                     second=59)
    later = datetime.fromisoformat(spec["date"]).replace(hour=9, tzinfo=timezone.utc)
    return [(f"v{n}", v1 if n == 1 else later + timedelta(minutes=n)) for n in range(1, spec["version"] + 1)]


def render_atom_feed(specs: list[dict], pdf_base_url: str = "http://arxiv.org/pdf") -> str:
    """An arXiv API Atom feed with one <entry> per spec. `pdf_base_url` lets a test server serve the PDF links."""
    ns_arxiv = "http://arxiv.org/schemas/atom"
    entries = []
    for spec in specs:
        vid = f"{spec['id']}v{spec['version']}"
        versions = _versions(spec)
        published = versions[0][1].strftime("%Y-%m-%dT%H:%M:%SZ")
        updated = versions[-1][1].strftime("%Y-%m-%dT%H:%M:%SZ")
        title = "\n  ".join(_wrap(spec["title"], 70))
        summary = "\n".join(_wrap(spec["abstract"], 78))
        cats = spec_categories(spec)
        parts = [
            "  <entry>",
            f"    <id>http://arxiv.org/abs/{vid}</id>",
            f"    <updated>{updated}</updated>",
            f"    <published>{published}</published>",
            f"    <title>{escape(title)}</title>",
            f"    <summary>  {escape(summary)}\n</summary>",
            *[f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in spec["authors"]],
        ]
        if spec.get("comment"):
            parts.append(f'    <arxiv:comment xmlns:arxiv="{ns_arxiv}">{escape(spec["comment"])}</arxiv:comment>')
        parts += [
            f'    <link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>',
            f'    <link title="pdf" href={quoteattr(pdf_base_url.rstrip("/") + "/" + vid)} rel="related" '
            'type="application/pdf"/>',
            f'    <arxiv:primary_category xmlns:arxiv="{ns_arxiv}" term="{cats[0]}" scheme="{ns_arxiv}"/>',
            *[f'    <category term="{c}" scheme="{ns_arxiv}"/>' for c in cats],
            "  </entry>",
        ]
        entries.append("\n".join(parts))
    ids = ",".join(s["id"] for s in specs)
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f'  <link href="http://arxiv.org/api/query?id_list={ids}" rel="self" type="application/atom+xml"/>',
        f'  <title type="html">ArXiv Query: id_list={ids}</title>',
        "  <id>http://arxiv.org/api/kb-samples</id>",
        "  <updated>2024-05-22T00:00:00-04:00</updated>",
        f'  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(specs)}'
        "</opensearch:totalResults>",
    ]
    return "\n".join(head + entries + ["</feed>", ""])


def render_oai_jsonl(specs: list[dict]) -> str:
    """arXiv OAI metadata snapshot records, one JSON object per line."""
    lines = []
    for spec in specs:
        versions = _versions(spec)
        record = {
            "id": spec["id"],
            "submitter": spec["authors"][0],
            "authors": ", ".join(spec["authors"][:-1]) + (" and " if len(spec["authors"]) > 1 else "")
            + spec["authors"][-1],
            "title": spec["title"],
            "comments": spec.get("comment"),
            "journal-ref": None,
            "doi": None,
            "report-no": None,
            "categories": " ".join(spec_categories(spec)),
            "license": None,
            "abstract": "  " + "\n".join(_wrap(spec["abstract"], 78)) + "\n",
            "versions": [{"version": v, "created": format_datetime(t, usegmt=True)} for v, t in versions],
            "update_date": versions[-1][1].date().isoformat(),
            "authors_parsed": [[a.split()[-1], " ".join(a.split()[:-1]), ""] for a in spec["authors"]],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- whole corpus


def write_sample_corpus(dir: str | Path, specs: list[dict] | None = None) -> list[Path]:
    """Write the sample corpus under `dir` and return the files written:

    dir/digests/<date>/<topic>.md (one page per date and topic; 2024-05-21 pages use the older "2024-01" variant so
    both formats are exercised), dir/arxiv/sample.atom, and dir/pdf/<id>v<version>.pdf for every paper.
    """
    from samples.corpus import PAPERS
    from samples.pdfgen import render_pdf  # imported lazily: it needs PyMuPDF

    specs = PAPERS if specs is None else specs
    root = Path(dir)
    written: list[Path] = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for spec in specs:
        for topic in spec_topics(spec):
            groups.setdefault((spec["date"], topic), []).append(spec)
    for (day, topic), group in sorted(groups.items()):
        variant = "2024-01" if day == "2024-05-21" else "2024-05"
        path = root / "digests" / day / topic_file_name(topic)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_digest_page(group, day, topic, variant=variant), encoding="utf-8")
        written.append(path)
    atom = root / "arxiv" / "sample.atom"
    atom.parent.mkdir(parents=True, exist_ok=True)
    atom.write_text(render_atom_feed(specs), encoding="utf-8")
    written.append(atom)
    for spec in specs:
        pdf = root / "pdf" / f"{spec['id']}v{spec['version']}.pdf"
        pdf.parent.mkdir(parents=True, exist_ok=True)
        written.append(Path(render_pdf(spec, pdf)))
    return written
