"""Daily digest pages: Hexo markdown listing arXiv papers with machine-written summaries.

Page shape (tolerant of the drifts seen between 2024-01 and 2024-05 pages):

    ---  front matter (title: TOPIC, date: YYYY-MM-DD hh:mm:ss, tags: [- TOPIC], keywords: TOPIC, ...)  ---
    # YYYY-MM-DD 更新
    ## Paper title
    **Authors:A, B, C**
    abstract paragraph(s)
    [PDF](http://arxiv.org/abs/IDvN) optional comment
    **Summary** / **Summary:** / **摘要**            one-line summary
    **Key Takeaways** / **Key Takeaways:** / **要点**   "-" or "*" bullets
    **[ChatPaperFree](...)**  then an HTML <ol>/<p> block of labelled notes (题目/Title, 作者/Authors, ...)

Text is HTML-unescaped (kb's own pages write third-party text with `&lt;`, `&#91;` so it stays inert when published).
The paper's own metadata (title, authors, abstract, id, comment) goes into `Paper`; everything machine-written
(summary, takeaways, structured notes) goes into one `Annotation(kind="digest-summary")`, never into the text.
"""
from __future__ import annotations

import html
import logging
import re
from pathlib import Path

from kb.dates import valid_day
from kb.ids import normalize_arxiv_id
from kb.types import Annotation, Paper, ParseError, ParseResult

log = logging.getLogger(__name__)

_FRONT = re.compile(r"\A\s*---[ \t]*\n(?P<body>.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_HEADING = re.compile(r"^##[ \t]+(?P<title>\S.*?)\s*$")
_DATE_HEADING = re.compile(r"^#[ \t]+(\d{4}-\d{2}-\d{2})\b")
_TOPIC_HEADING = re.compile(r"^#[ \t]+(?P<topic>\S.*?)\s*$")  # "# 3DGS" above a topic's papers (not a date)
_AUTHORS = re.compile(r"^\*\*\s*Authors?\s*(?:\*\*\s*)?[:：]\s*(?P<names>.*?)\s*(?:\*\*)?\s*$", re.I)
_PDF = re.compile(r"^\[PDF\]\((?P<url>[^)\s]+)\)\s*(?P<comment>.*?)\s*$")
_LABEL = re.compile(r"^\*\*\s*(?P<label>[^*]+?)\s*[:：]?\s*\*\*\s*[:：]?\s*(?P<rest>.*)$")
_CHATPAPER = re.compile(r"^\*\*\[ChatPaper", re.I)
_BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+(?P<text>.*)$")
_SUMMARY_LABELS = {"summary", "摘要", "总结", "概要", "简介"}
_TAKEAWAY_LABELS = {"key takeaways", "key takeaway", "takeaways", "要点", "主要要点", "关键要点", "关键点", "重点"}

# Structured-notes labels (Chinese and English) -> field name. Longer Chinese labels first so 第一作者单位 wins over 作者.
_NOTE_FIELDS = [
    ("title", ("论文标题", "题目", "标题", "title")),
    ("affiliation", ("第一作者单位", "第一作者机构", "隶属单位", "隶属机构", "所属机构", "作者单位", "单位", "机构",
                     "affiliations", "affiliation")),
    ("authors", ("作者", "authors", "author")),
    ("keywords", ("关键词", "关键字", "keywords", "keyword")),
    ("urls", ("论文链接", "链接", "urls", "url", "links", "link")),
    ("summary", ("摘要", "summary")),
    ("methods", ("方法", "methods", "method")),
    ("conclusion", ("结论", "conclusions", "conclusion")),
]
_NOTE_LABEL = re.compile(
    r"^(?:\d+\s*[.、]\s*)?<?(?P<label>" + "|".join(l for _, ls in _NOTE_FIELDS for l in ls) + r")>?\s*[:：]\s*(?P<rest>.*)$",
    re.I,
)
_POINT = re.compile(r"[（(]\s*\d\s*[)）]\s*[:：]?\s*")
_LINE_POINT = re.compile(r"^[（(]\s*\d\s*[)）]\s*[:：]?\s*", re.M)


def looks_like_digest(text: str) -> bool:
    """True when `text` has Hexo front matter and at least one paper block (a '## ' heading and a [PDF](...) line)."""
    m = _FRONT.match(text.lstrip("\ufeff"))
    if not m:
        return False
    body = text[m.end():]
    return bool(re.search(r"^##[ \t]+\S", body, re.M) and re.search(r"^\[PDF\]\(", body, re.M))


def parse_digest(path: str | Path) -> ParseResult:
    """Parse one digest page into papers (source_kind "digest"), one per '## ' block, in page order.

    A page with its "# DATE" heading but no papers (the real series has such days) is valid: no papers and a note.
    Raises ParseError when the file is unreadable, not UTF-8, or not a digest page. A paper block that lacks its
    authors line, PDF link or abstract becomes a ParseError in the result's `errors`; the other papers still parse.
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(source, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise ParseError(source, f"not UTF-8 text (invalid byte at offset {exc.start}); digest pages are UTF-8") from exc
    m = _FRONT.match(text)
    if not m:
        raise ParseError(source, "not a digest page: no front matter ('---' block with title and date) at the top")
    meta = _front_matter(m.group("body"))
    lines = text[m.end():].split("\n")
    bad: list[str] = []
    day = _page_date(meta, lines, bad)
    notes = [f"'{d}' is not a calendar day; ignored as the page's date" for d in bad]
    topic = _page_topic(meta)
    blocks = _paper_blocks(lines)
    if not blocks and any(_DATE_HEADING.match(line) for line in lines):
        # a real page of a day with no papers: front matter, the notice, "# 2024-05-06 更新", then nothing
        return ParseResult(papers=[], notes=notes + [f"digest page of {day or 'an undated day'} lists no papers"])
    if not blocks:
        raise ParseError(source, "not a digest page: no papers (no '## Title' blocks) after the front matter")
    if day is None:
        log.warning("%s: no date in front matter or '# DATE' heading", source)
    result = ParseResult(papers=[], notes=notes)
    for title, block, heading in blocks:
        try:
            result.papers.append(_parse_paper(title, block, source, day, heading or topic))
        except ParseError as exc:
            result.errors.append(exc)
    return result


# ---------------------------------------------------------------------------------------------------- page level


def _front_matter(body: str) -> dict[str, str | list[str]]:
    """Flat YAML subset used by Hexo: `key: value` lines and `key:` followed by `  - item` lines."""
    meta: dict[str, str | list[str]] = {}
    key = None
    for line in body.split("\n"):
        item = re.match(r"^\s+-\s*(.*?)\s*$", line)
        if item and key is not None:
            current = meta.get(key)
            meta[key] = (current if isinstance(current, list) else []) + [_unquote(item.group(1))]
            continue
        kv = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$", line)
        if kv:
            key = kv.group(1)
            meta[key] = _unquote(kv.group(2))
    return meta


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return html.unescape(value)


def _page_date(meta: dict, lines: list[str], bad: list[str] | None = None) -> str | None:
    """The page's day: the front matter's date, else the "# DATE" heading's; only a real calendar day (a
    "2024-13-45" is never stored: it goes to `bad`)."""
    found = []
    value = meta.get("date")
    if isinstance(value, str):
        m = re.match(r"\d{4}-\d{2}-\d{2}", value)
        if m:
            found.append(m.group(0))
    for line in lines:
        m = _DATE_HEADING.match(line)
        if m:
            found.append(m.group(1))
            break
    for day in found:
        if valid_day(day):
            return day
        if bad is not None and day not in bad:
            bad.append(day)
    return None


def _page_topic(meta: dict) -> str | None:
    for key in ("title", "tags", "keywords"):
        value = meta.get(key)
        if isinstance(value, list):
            value = value[0] if value else ""
        if value and value.strip():
            return " ".join(value.split())
    return None


def _paper_blocks(lines: list[str]) -> list[tuple[str, list[str], str | None]]:
    """(title, lines, topic heading) per '## ' block. A '# Topic' heading (not the '# DATE' one) sets the topic of
    the blocks below it: pages that hold several topics (kb's own all-topics digests) say so that way."""
    blocks: list[tuple[str, list[str], str | None]] = []
    heading: str | None = None
    in_code = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = _HEADING.match(line)
        if m and not in_code:
            blocks.append((" ".join(html.unescape(m.group("title")).split()), [], heading))
            continue
        t = None if in_code or _DATE_HEADING.match(line) else _TOPIC_HEADING.match(line)
        if t:
            heading = " ".join(html.unescape(t.group("topic")).split())
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


# ---------------------------------------------------------------------------------------------------- paper level


def _parse_paper(title: str, block: list[str], source: str, day: str | None, topic: str | None) -> Paper:
    stripped = [line.strip().replace("\u200b", "") for line in block]
    authors_at = next((i for i, line in enumerate(stripped) if _AUTHORS.match(line)), None)
    pdf_at = next((i for i, line in enumerate(stripped) if _PDF.match(line)), None)
    causes = []
    if authors_at is None:
        causes.append("no authors line (**Authors:...**)")
    if pdf_at is None:
        causes.append("no [PDF](...) link")
    if causes:
        raise ParseError(source, f"paper '{title}': " + "; ".join(causes))
    assert authors_at is not None and pdf_at is not None
    pdf = _PDF.match(stripped[pdf_at])
    assert pdf is not None
    link = pdf.group("url")
    ident = normalize_arxiv_id(link)
    if ident is None:
        raise ParseError(source, f"paper '{title}': the PDF link has no arXiv id ({link})")
    abstract = html.unescape(_paragraphs(stripped[authors_at + 1:pdf_at])) if authors_at < pdf_at else ""
    if not abstract:
        raise ParseError(source, f"paper '{title}': no abstract between the authors line and the PDF link")
    names = _AUTHORS.match(stripped[authors_at]).group("names")  # type: ignore[union-attr]
    authors = [" ".join(html.unescape(a).split()) for a in re.split(r",\s*|\s+and\s+", names) if a.strip()]
    pdf_url = link.replace("/abs/", "/pdf/", 1) if "/abs/" in link else link
    comment = " ".join(html.unescape(pdf.group("comment")).split()) or None
    annotation = Annotation(
        kind="digest-summary",
        source=source,
        data={"digest_date": day, "topic": topic, "link": link, **_digest_notes(block[pdf_at + 1:])},
    )
    return Paper(
        title=title,
        authors=authors,
        abstract=abstract,
        arxiv_id=ident[0],
        arxiv_version=ident[1],
        digest_date=day,
        topics=[topic] if topic else [],
        pdf_url=pdf_url,
        comment=comment,
        source_kind="digest",
        source_path=source,
        annotations=[annotation],
        extra={"digest_link": link},
    )


def _paragraphs(lines: list[str]) -> str:
    """Join lines into paragraphs (blank line = break), collapsing whitespace; paragraphs joined by a blank line."""
    paras, current = [], []
    for line in lines + [""]:
        if line:
            current.append(line)
        elif current:
            paras.append(" ".join(" ".join(current).split()))
            current = []
    return "\n\n".join(paras)


def _digest_notes(lines: list[str]) -> dict:
    """Summary, takeaways and structured notes from the lines after the PDF link."""
    chat_at = next((i for i, line in enumerate(lines) if _CHATPAPER.match(line.strip())), len(lines))
    summary: list[str] = []
    takeaways: list[str] = []
    mode = None
    for raw in lines[:chat_at]:
        line = raw.strip().replace("\u200b", "")
        if line.startswith("<details") or line.startswith("<img"):
            break
        label = _LABEL.match(line)
        name = label.group("label").strip().lower() if label else ""
        if name in _SUMMARY_LABELS or name in _TAKEAWAY_LABELS:
            mode = "summary" if name in _SUMMARY_LABELS else "takeaways"
            line = label.group("rest").strip()  # type: ignore[union-attr]
        if not line or mode is None:
            continue
        if mode == "summary":
            summary.append(line.strip("*").strip())
        else:
            bullet = _BULLET.match(line)
            if bullet:
                takeaways.append(bullet.group("text").strip())
            elif takeaways:
                takeaways[-1] += " " + line
            else:
                takeaways.append(line)
    notes_html = []
    for raw in lines[chat_at + 1:]:
        if raw.strip().startswith("<details"):
            break
        notes_html.append(raw)
    return {
        "summary": " ".join(html.unescape(" ".join(summary)).split()),
        "takeaways": [html.unescape(t) for t in takeaways],
        "notes": parse_structured_notes("\n".join(notes_html)),
    }


def parse_structured_notes(fragment: str) -> dict:
    """Fields of a ChatPaperFree notes block (HTML <ol>/<p> fragments, Chinese or English labels).

    Returns {} for an empty block, else "raw" (tag-free text) plus whichever of title, authors, affiliation,
    keywords (list), urls (list), summary (list of numbered points), methods (list), conclusion (str) were found.
    """
    text = re.sub(r"<br\s*/?>|</?(?:p|li|ol|ul|pre|code|div|h\d)\b[^>]*>", "\n", fragment, flags=re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line and not re.fullmatch(r"[.。…]+", line)]
    if not lines:
        return {}
    fields: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.startswith("Some Error for method"):  # generator's own error note, not content
            continue
        m = _NOTE_LABEL.match(line)
        field = _note_field(m.group("label")) if m else None
        if field and field not in fields:
            current = field
            fields[field] = [m.group("rest")] if m.group("rest") else []  # type: ignore[union-attr]
        elif current:
            fields[current].append(line)
    notes: dict = {"raw": "\n".join(lines)}
    for name in ("title", "authors", "affiliation"):
        if fields.get(name):
            notes[name] = " ".join(fields[name])
    if fields.get("keywords"):
        notes["keywords"] = [k.strip() for k in re.split(r"[,，、;；]", " ".join(fields["keywords"])) if k.strip()]
    if "urls" in fields:
        notes["urls"] = re.findall(r"https?://[^\s,，、）)]+", " ".join(fields["urls"]))
    for name in ("summary", "methods"):
        if fields.get(name):
            notes[name] = _points("\n".join(fields[name]))
    if fields.get("conclusion"):
        notes["conclusion"] = "\n".join(fields["conclusion"])
    return notes


def _note_field(label: str) -> str | None:
    low = label.lower()
    for name, labels in _NOTE_FIELDS:
        if low in labels:
            return name
    return None


def _points(text: str) -> list[str]:
    """Split '(1)：a (2)：b' into ['a', 'b']; unnumbered text gives one item.

    When at least two markers start a line, only line-start markers split, so an inline "(1) ... (2) ..." list inside
    one point stays in that point.
    """
    marker = _LINE_POINT if len(_LINE_POINT.findall(text)) >= 2 else _POINT
    parts = [" ".join(part.split()) for part in marker.split(text)]
    if len(parts) < 2:
        return [" ".join(text.split())]
    return [p for p in parts if p]
