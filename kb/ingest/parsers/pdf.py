"""PDF parser: one PDF file -> one `Paper` with cleaned per-page text, sections and front-matter metadata.

Layout work (reading order, furniture removal, paragraphs, hyphenation) lives in `kb.ingest.parsers.pdf_layout`;
this module opens the file, maps failures to `ParseError`, finds headings and reads the title, authors,
abstract, arXiv id/version and date. One `get_text("dict")` call per page.
"""
from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from kb.ingest.parsers.pdf_layout import (Line, Para, body_font_size, build_paragraphs, carry_hyphen_across_pages,
                                   extract_lines, order_lines, strip_furniture, vocabulary)
from kb.ids import parse_version
from kb.types import Page, Paper, ParseError, ParseResult, Section

log = logging.getLogger(__name__)

_NUMBERING = re.compile(r"^(?:(?P<arabic>\d{1,2}(?:\.\d{1,2}){0,3})\.?|(?P<roman>[IVX]{1,5})\.|"
                        r"(?P<letter>[A-H](?:\.\d{1,2}){0,2})[.:]?)\s+(?P<rest>\S.*)$")
_KEYWORDS = (
    ("abstract", r"abstract$"),
    ("introduction", r"introduction\b"),
    ("related", r"(related\s+works?|prior\s+work|previous\s+work|background|literature\s+review)\b"),
    ("method", r"(methods?|methodology|approach|proposed\s+(method|approach)|our\s+(method|approach))\b"),
    ("experiments", r"(experiments?|experimental|results|evaluation|empirical)\b"),
    ("conclusion", r"(conclusions?|concluding|discussion|summary|limitations|future\s+work)\b"),
    ("references", r"(references|bibliography|literature\s+cited|works\s+cited)$"),
    ("appendix", r"(appendix|appendices|supplementary|supplemental)\b"),
)
_AFFILIATION = re.compile(r"universit|institut|college|school|department|dept\.|laborator|\blabs?\b|research|"
                          r"\binc\b|\bltd\b|corporation|center|centre|academy|faculty|hospital|@|\.edu\b|\.com\b",
                          re.I)
_NAME_TOKEN = re.compile(r"^(?:[A-ZÀ-ÞŁŚŽ][\w'’.\-]*|van|von|de|der|den|da|di|du|del|la|le|bin|al)$")
_ARXIV_NEW = re.compile(r"arXiv:\s*(\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})(?:v(\d+))?", re.I)
_ARXIV_OLD = re.compile(r"arXiv:\s*([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?", re.I)
_ARXIV_FILE = re.compile(r"(?<![\d.])(\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})(?:v(\d+))?(?![\d])")
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_STAMP_DATE = re.compile(r"(\d{1,2})\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+(\d{4})")
_INLINE_ABSTRACT = re.compile(r"^(abstract)\s*[—–\-:.]\s*", re.I)


def load_pymupdf() -> ModuleType:
    """Import PyMuPDF without its optional ONNX layout add-on (`pymupdf.layout`, ~1 s to import, unused here).

    When `pymupdf` is already imported, that module is returned as it is."""
    if "pymupdf" not in sys.modules and "pymupdf.layout" not in sys.modules:
        sys.modules["pymupdf.layout"] = None  # type: ignore[assignment]  # makes pymupdf's optional import fail
        try:
            import pymupdf
        finally:
            del sys.modules["pymupdf.layout"]
    import pymupdf

    return pymupdf


def parse_pdf(path: str | Path, password: str | None = None) -> ParseResult:
    """Parse one PDF into a `ParseResult` holding one Paper (source_kind "pdf"), or one ParseError."""
    try:
        return ParseResult(papers=[read_pdf(path, password)])
    except ParseError as err:
        log.info("%s", err)
        return ParseResult(papers=[], errors=[err])


def read_pdf(path: str | Path, password: str | None = None) -> Paper:
    """Parse one PDF into a Paper; raise ParseError (naming the file and the cause) when it cannot be read."""
    pymupdf = load_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    name = str(path)
    _check_file(Path(path), name)
    pymupdf.TOOLS.reset_mupdf_warnings()
    doc = _open(pymupdf, name, password)
    try:
        raw: list[list[Line]] = []
        rotated: list[str] = []
        sizes: list[tuple[float, float]] = []
        for number, page in enumerate(doc, start=1):
            try:
                data = page.get_text("dict", flags=pymupdf.TEXT_MEDIABOX_CLIP)
            except Exception as exc:  # MuPDF raises several error types for damaged content streams
                raise ParseError(name, f"not a readable PDF: {_short(exc)}", page=number) from exc
            lines, rot = extract_lines(data)
            raw.append(lines)
            if number == 1:
                rotated = rot
            sizes.append((page.rect.width, page.rect.height))
        metadata = dict(doc.metadata or {})
        page_count = doc.page_count
    finally:
        doc.close()
    if not any(raw):
        raise ParseError(name, "no extractable text (scanned?)")
    paper = _assemble(name, raw, rotated, sizes, metadata, page_count)
    warnings = pymupdf.TOOLS.mupdf_warnings()
    if "repair" in warnings or "cannot load" in warnings:
        paper.extra["repaired"] = True
        log.warning("%s: damaged PDF repaired by MuPDF; text may be incomplete (%s)", name,
                    warnings.splitlines()[0])
    return paper


def _check_file(path: Path, name: str) -> None:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(1024)
            fh.seek(max(0, size - 4096))
            tail = fh.read()
    except OSError as exc:
        raise ParseError(name, f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise ParseError(name, "empty file")
    if b"%PDF-" not in head:
        raise ParseError(name, "not a readable PDF: no PDF header")
    if b"%%EOF" not in tail:
        raise ParseError(name, "not a readable PDF: truncated (no %%EOF marker)")


def _open(pymupdf, name: str, password: str | None):  # noqa: ANN001, ANN202 - pymupdf is imported lazily
    try:
        doc = pymupdf.open(name, filetype="pdf")
    except Exception as exc:  # FileDataError, RuntimeError, ValueError depending on the damage
        log.debug("pymupdf.open(%s) failed: %s", name, exc)
        raise ParseError(name, "not a readable PDF: damaged file structure") from exc
    if doc.needs_pass:
        if password is None:
            doc.close()
            raise ParseError(name, "encrypted PDF: pass --password")
        if not doc.authenticate(password):
            doc.close()
            raise ParseError(name, "encrypted PDF: wrong password")
    if doc.page_count == 0:
        doc.close()
        raise ParseError(name, "not a readable PDF: no pages")
    return doc


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]


@dataclass
class _Heading:
    kind: str
    level: int


class _HeadingFinder:
    """Decides whether a line is a section heading and which kind it is, remembering the enclosing section."""

    def __init__(self, body_size: float, skip: set[int]):
        self.body = body_size
        self.skip = skip  # ids of title lines
        self.top: str | None = None
        self.top_size = 0.0
        self.refs_seen = False

    def __call__(self, ln: Line, prev: Line | None) -> _Heading | None:
        text = ln.text.strip()
        if id(ln) in self.skip or len(text) > 90 or len(text.split()) > 12 or text.endswith((".", ",", ";")):
            return None
        m = _NUMBERING.match(text)
        rest = m.group("rest") if m else text
        if not rest[:1].isupper() or rest.lower().startswith(("figure", "table", "algorithm", "fig.")):
            return None
        keyword = _keyword_kind(rest) if len(rest.split()) <= 8 else None
        styled = ln.bold or ln.size >= self.body + 0.9
        if not styled:
            after_break = prev is None or prev.text[-1] in ".!?:" or prev.group != ln.group
            if not (keyword and after_break and (m or rest.istitle() or rest.isupper())):
                return None
        elif not (keyword or m or (self.top is not None and ":" not in rest and 3 <= len(rest) and len(rest.split()) <= 8)):
            return None  # bold front matter (names, emails) before the first heading; bold "Note: ..." lines
        if m and m.group("arabic"):
            level = m.group("arabic").count(".") + 1
        elif m and m.group("letter"):
            level = 1 if (self.refs_seen or self.top == "appendix" or keyword) else 2
        elif m:
            level = 1
        else:
            level = 1 if keyword or ln.size >= self.top_size - 0.3 else 2
        if level >= 2 and self.top not in (None, "body"):
            kind = self.top
        elif keyword:
            kind = keyword
        elif self.refs_seen or self.top == "appendix":
            kind = "appendix"
        elif level >= 2:
            kind = self.top or "body"
        else:
            kind = "body"
        if level == 1:
            self.top, self.top_size = kind, ln.size
        self.refs_seen = self.refs_seen or kind == "references"
        return _Heading(kind, level)


def _keyword_kind(rest: str) -> str | None:
    low = " ".join(rest.lower().rstrip(":").split())
    for kind, pattern in _KEYWORDS:
        if re.match(pattern, low):
            return kind
    return None


def _title_lines(lines: list[Line], height: float, body: float) -> list[Line]:
    """The run of largest-font lines in the top half of page 1, when that font is clearly larger than the body."""
    top = [ln for ln in lines if ln.base < 0.5 * height and len(ln.text) > 1]
    if not top:
        return []
    biggest = max(ln.size for ln in top)
    if biggest < body + 1.5:
        return []
    run: list[Line] = []
    for ln in lines:
        if ln.size >= biggest - 0.5 and ln.base < 0.5 * height:
            run.append(ln)
        elif run:
            break
    return run


def _names(text: str) -> list[str]:
    text = re.sub(r"[*†‡§¶∗⋆]|(?<=[a-z])\d+(?:,\d+)*", "", text)
    names = []
    for part in re.split(r"\s*(?:,|;|&|\band\b|\s{3,})\s*", text):
        tokens = part.split()
        if not tokens:
            continue
        if not (2 <= len(tokens) <= 5 and len(part) <= 50 and all(_NAME_TOKEN.match(t) for t in tokens)):
            return []
        names.append(" ".join(tokens))
    return names


def _authors(ordered: list[Line], title: list[Line], metadata: dict) -> list[str]:
    found: list[str] = []
    if title:
        start = ordered.index(title[-1]) + 1
        for ln in ordered[start:start + 4]:
            if _AFFILIATION.search(ln.text) or _keyword_kind(ln.text) or ln.size >= title[0].size - 0.5:
                break
            names = _names(ln.text)
            if not names:
                break
            found.extend(names)
    if not found and metadata.get("author"):
        found = _names(metadata["author"])
    return found


def _arxiv(rotated: list[str], first_page: str, name: str) -> dict:
    out: dict = {}
    for text, source in [(t, "stamp") for t in rotated] + [(first_page[:4000], "text"), (Path(name).stem, "file")]:
        m = (_ARXIV_NEW.search(text) or _ARXIV_OLD.search(text)) if source != "file" else _ARXIV_FILE.search(text)
        if not m:
            continue
        version = parse_version(m.group(2))
        if m.group(2) and version is None:  # "v0" or "v99999999999999999999": not an arXiv id
            continue
        out["id"], out["version"] = m.group(1), version
        if source == "stamp":
            cat = re.search(r"\[([a-z\-]+(?:\.[A-Za-z\-]+)?)\]", text)
            date = _STAMP_DATE.search(text)
            if cat:
                out["category"] = cat.group(1)
            if date:
                out["date"] = f"{date.group(3)}-{_MONTHS[date.group(2).lower()]:02d}-{int(date.group(1)):02d}"
        break
    return out


def _pdf_date(value: str | None) -> str | None:
    m = re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", value or "")
    if not m or not (1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31):
        return None
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"


def _sensible_meta_title(value: str | None) -> str | None:
    title = " ".join((value or "").split())
    if len(title) < 8 or re.search(r"untitled|microsoft word|\.(dvi|tex|pdf|docx?)$|^arxiv:", title, re.I):
        return None
    return title


def _abstract(pages: list[Page], sections: list[Section]) -> str:
    for i, sec in enumerate(sections):
        if sec.kind != "abstract":
            continue
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        parts = []
        for page in pages[sec.page - 1:sec.page + 1]:
            start = sec.offset + len(sec.title) if page.number == sec.page else 0
            end = nxt.offset if nxt and nxt.page == page.number else len(page.text)
            parts.append(page.text[start:end])
            if nxt and nxt.page == page.number:
                break
        return " ".join(" ".join(parts).split()).lstrip("—–-:. ")
    return ""


def _assemble(name: str, raw: list[list[Line]], rotated: list[str], sizes: list[tuple[float, float]],
              metadata: dict, page_count: int) -> Paper:
    body = body_font_size(raw)
    cleaned = strip_furniture(raw, sizes, body)
    ordered = [order_lines(lines, width) for lines, (width, _h) in zip(cleaned, sizes)]
    vocab = vocabulary(ordered)
    title_lines = _title_lines(ordered[0], sizes[0][1], body)
    finder = _HeadingFinder(body, {id(ln) for ln in title_lines})
    paras: list[list[Para]] = [build_paragraphs(lines, vocab, finder) for lines in ordered]
    carry_hyphen_across_pages(paras, vocab)
    pages: list[Page] = []
    sections: list[Section] = []
    for number, page_paras in enumerate(paras, start=1):
        offset = 0
        for para in page_paras:
            if para.heading is not None:
                sections.append(Section(para.text, para.heading.kind, number, offset))
            elif number <= 2 and not any(s.kind == "abstract" for s in sections):
                m = _INLINE_ABSTRACT.match(para.text)
                if m:
                    sections.append(Section(m.group(1), "abstract", number, offset))
            offset += len(para.text) + 2
        pages.append(Page(number, "\n\n".join(p.text for p in page_paras)))
    if not sections or (sections[0].page, sections[0].offset) != (1, 0):
        sections.insert(0, Section("Front matter", "front", 1, 0))
    title = " ".join(ln.text for ln in title_lines) or _sensible_meta_title(metadata.get("title")) or next(
        (ln.text for ln in ordered[0] if len(ln.text) > 3), Path(name).stem)
    arxiv = _arxiv(rotated, pages[0].text, name)
    published = arxiv.get("date") or _pdf_date(metadata.get("creationDate"))
    extra = {"arxiv_category": arxiv["category"]} if arxiv.get("category") else {}
    if published:
        extra["year"] = int(published[:4])
    return Paper(title=title, authors=_authors(ordered[0], title_lines, metadata),
                 abstract=_abstract(pages, sections), arxiv_id=arxiv.get("id"), arxiv_version=arxiv.get("version"),
                 published=published, source_kind="pdf", source_path=name, pages=pages, sections=sections,
                 page_count=page_count, extra=extra)
