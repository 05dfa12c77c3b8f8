"""Render a paper spec (see `samples.corpus`) to a research-paper-like PDF with PyMuPDF.

The layout engine is deliberately small: it wraps words itself, places one line at a time with
`TextWriter`, and flows text down columns and across pages. Options add the furniture real papers carry
and a parser must strip: running headers, page numbers, review-copy line numbers, a rotated arXiv stamp,
and end-of-line hyphenation. Also builds broken inputs for parser tests (image-only, encrypted, truncated).
"""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

from kb.ingest.parsers.pdf import load_pymupdf

PAGE_W, PAGE_H = 612.0, 792.0
MARGIN_X, TOP, BOTTOM = 72.0, 72.0, 720.0
GUTTER = 18.0
BODY_SIZE, BODY_LEADING = 10.0, 12.0
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_FONTS: dict[str, Any] = {}


def _font(name: str) -> Any:
    """A cached base-14 `pymupdf.Font` ("tiro", "tibo", "tiit", "helv", "hebo")."""
    if name not in _FONTS:
        _FONTS[name] = load_pymupdf().Font(name)
    return _FONTS[name]


_WIDTHS: dict[str, dict[str, float]] = {}


def _text_len(text: str, font: str, size: float) -> float:
    """Width of `text` in points, from cached per-character advances (PyMuPDF's own call is slow per char)."""
    table = _WIDTHS.setdefault(font, {})
    total = 0.0
    for ch in text:
        width = table.get(ch)
        if width is None:
            width = table[ch] = _font(font).text_length(ch, fontsize=1.0)
        total += width
    return total * size


class _Layout:
    """Places lines of text on pages, flowing through columns and pages; draws per-page furniture."""

    def __init__(self, doc: Any, opts: dict[str, Any]):
        self.doc = doc
        self.opts = opts
        self.page: Any = None
        self.columns: list[tuple[float, float]] = [(MARGIN_X, PAGE_W - MARGIN_X)]
        self.col = 0
        self.col_top = TOP
        self.y = TOP
        self.line_no = 0
        self.hyphenated: list[str] = []  # words broken across lines, for tests to check the repair
        self.pending: list[tuple[tuple[float, float], str, str, float, tuple[float, float, float]]] = []
        self.new_page()

    def text(self, pos: tuple[float, float], text: str, font: str, size: float,
             color: tuple[float, float, float] = (0, 0, 0)) -> None:
        """Queue one line of text; queued lines are written to the page in one go by `flush`."""
        self.pending.append((pos, text, font, size, color))

    def flush(self) -> None:
        """Write the queued lines (in reverse order with `reverse_stream`, so stream order != reading order)."""
        writers: dict[tuple[float, float, float], Any] = {}
        lines = self.pending[::-1] if self.opts.get("reverse_stream") else self.pending
        for pos, text, font, size, color in lines:
            if color not in writers:
                writers[color] = load_pymupdf().TextWriter(self.page.rect)
            writers[color].append(pos, text, font=_font(font), fontsize=size)
        for color, writer in writers.items():
            writer.write_text(self.page, color=color)
        self.pending = []

    # -- pages and columns -------------------------------------------------------------------------------
    def new_page(self) -> None:
        """Start a page and draw its header, footer, line numbers and (page 1) the arXiv stamp."""
        if self.page is not None:
            self.flush()
        self.page = self.doc.new_page(width=PAGE_W, height=PAGE_H)
        number = self.doc.page_count
        header = self.opts.get("running_header")
        if header:
            x = (PAGE_W - _text_len(header, "tiit", 8)) / 2
            self.text((x, 44), header, "tiit", 8)
        if self.opts.get("page_numbers"):
            label = str(number)
            x = (PAGE_W - _text_len(label, "tiro", 9)) / 2
            self.text((x, 752), label, "tiro", 9)
        if self.opts.get("line_numbers"):
            self._draw_line_numbers()
        if number == 1 and self.opts.get("arxiv_stamp"):
            self.page.insert_text((34, 560), self.opts["stamp_text"], fontname="tiro", fontsize=20,
                                  rotate=90, color=(0.5, 0.5, 0.5))
        self.col = 0
        self.col_top = TOP
        self.y = TOP

    def _draw_line_numbers(self) -> None:
        """CVPR-style review numbers: a 3-digit counter on every body baseline, left margin then right margin."""
        baselines = []
        y = TOP + BODY_SIZE
        while y <= BOTTOM:
            baselines.append(y)
            y += BODY_LEADING
        sides = [44.0] + ([PAGE_W - 58.0] if self.opts.get("two_column") else [])
        for x in sides:
            for y in baselines:
                self.text((x, y), f"{self.line_no:03d}", "helv", 7, color=(0.3, 0.3, 0.8))
                self.line_no += 1

    def set_columns(self, count: int) -> None:
        """Switch to `count` columns starting at the current y (used after the full-width front matter)."""
        width = PAGE_W - 2 * MARGIN_X
        if count == 1:
            self.columns = [(MARGIN_X, PAGE_W - MARGIN_X)]
        else:
            cw = (width - GUTTER) / 2
            self.columns = [(MARGIN_X, MARGIN_X + cw), (MARGIN_X + cw + GUTTER, PAGE_W - MARGIN_X)]
        self.col = 0
        self.col_top = self.y

    def advance(self) -> None:
        """Move to the next column, or to a new page."""
        if self.col + 1 < len(self.columns):
            self.col += 1
            self.y = self.col_top
        else:
            self.new_page()

    def space(self, points: float) -> None:
        if self.y > self.col_top:
            self.y += points

    def ensure(self, points: float) -> None:
        """Keep the next `points` of content together (headings stay with their first lines)."""
        if self.y + points > BOTTOM:
            self.advance()

    # -- text ----------------------------------------------------------------------------------------------
    def paragraph(self, text: str, font: str = "tiro", size: float = BODY_SIZE, leading: float = BODY_LEADING,
                  align: str = "left", indent: float = 0.0) -> None:
        """Wrap `text` into the current column (narrowed by `indent` on both sides) and place it line by line."""
        words = text.split()
        while words:
            x0, x1 = self.columns[self.col]
            x0, x1 = x0 + indent, x1 - indent
            if self.y + leading > BOTTOM:
                self.advance()
                continue
            line, words = self._fill_line(words, font, size, x1 - x0)
            x = x0
            if align == "center":
                x = x0 + (x1 - x0 - _text_len(line, font, size)) / 2
            self.text((x, self.y + size), line, font, size)
            self.y += leading

    def _fill_line(self, words: list[str], font: str, size: float, width: float) -> tuple[str, list[str]]:
        """Take as many words as fit in `width`; maybe hyphenate the first word that does not fit."""
        line = ""
        for i, word in enumerate(words):
            candidate = f"{line} {word}" if line else word
            if _text_len(candidate, font, size) <= width:
                line = candidate
                continue
            if not line:  # a single word wider than the column: place it anyway
                return word, words[i + 1:]
            split = self._hyphen_split(line, word, font, size, width) if self.opts.get("hyphenate") else None
            if split:
                head, tail = split
                self.hyphenated.append(word)
                return f"{line} {head}", [tail] + words[i + 1:]
            return line, words[i:]
        return line, []

    @staticmethod
    def _hyphen_split(line: str, word: str, font: str, size: float, width: float) -> tuple[str, str] | None:
        """Break `word` so that `line + head-` fits: at an existing hyphen, or inside a long plain word."""
        if "-" in word.strip("-"):
            cut = word.index("-", 1) + 1
            head = word[:cut]
            if _text_len(f"{line} {head}", font, size) <= width:
                return head, word[cut:]
            return None
        core = re.match(r"^[A-Za-z]+", word)
        if not core or len(core.group()) < 7:
            return None
        for k in range(len(core.group()) - 3, 2, -1):
            head = word[:k] + "-"
            if _text_len(f"{line} {head}", font, size) <= width:
                return head, word[k:]
        return None


def _stamp_text(spec: dict, category: str) -> str:
    day = _dt.date.fromisoformat(spec["date"])
    return f"arXiv:{spec['id']}v{spec.get('version', 1)}  [{category}]  {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _strip_number(heading: str) -> str:
    return re.sub(r"^\s*(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-Z]\.?)\s+", "", heading)


def render_pdf(spec: dict, path: str | Path, *, two_column: bool = False, running_header: str | None = None,
               page_numbers: bool = True, line_numbers: bool = False, arxiv_stamp: bool = False,
               hyphenate: bool = False, numbered_headings: bool = True, repeat: int = 5,
               arxiv_category: str = "cs.CV", metadata: bool = True, reverse_stream: bool = False) -> Path:
    """Render `spec` to a PDF at `path` and return the path.

    `repeat` repeats every section's paragraphs that many times so papers run over several pages (the default
    makes the sample's body span at least three pages). An optional spec key "appendix" (same shape as
    "sections") is rendered after the references. `reverse_stream` writes each page's lines in reverse order,
    so a parser cannot rely on the content stream for reading order. The list of words broken by `hyphenate`
    is stored in the PDF's keywords metadata as `hyphenated=w1,w2,...` so tests can check the repair.
    """
    pymupdf = load_pymupdf()
    path = Path(path)
    opts = dict(two_column=two_column, running_header=running_header, page_numbers=page_numbers,
                line_numbers=line_numbers, arxiv_stamp=arxiv_stamp, hyphenate=hyphenate,
                reverse_stream=reverse_stream, stamp_text=_stamp_text(spec, arxiv_category))
    doc = pymupdf.open()
    lay = _Layout(doc, opts)
    lay.y = TOP + 8
    lay.paragraph(spec["title"], font="hebo", size=16, leading=20, align="center")
    lay.space(8)
    lay.paragraph(", ".join(spec.get("authors", [])), font="helv", size=11, leading=14, align="center")
    if spec.get("affiliation"):
        lay.paragraph(spec["affiliation"], font="tiit", size=10, leading=13, align="center")
    lay.space(14)
    lay.paragraph("Abstract", font="hebo", size=11, leading=15, align="center")
    lay.paragraph(spec.get("abstract", ""), indent=36)
    lay.space(14)
    lay.set_columns(2 if two_column else 1)

    def heading(title: str) -> None:
        lay.space(8)
        lay.ensure(15 + 3 * BODY_LEADING)
        lay.paragraph(title, font="hebo", size=11, leading=15)
        lay.space(2)

    def section(title: str, paragraphs: list[str], times: int) -> None:
        heading(title if numbered_headings else _strip_number(title))
        for _ in range(max(1, times)):
            for para in paragraphs:
                lay.paragraph(para)
                lay.space(5)

    for title, paragraphs in spec.get("sections", []):
        section(title, paragraphs, repeat)
    if spec.get("references"):
        heading("References")
        for ref in spec["references"]:
            lay.paragraph(ref, size=9, leading=11)
            lay.space(3)
    for title, paragraphs in spec.get("appendix", []):
        section(title, paragraphs, 1)
    lay.flush()
    if metadata:
        day = spec.get("date", "2024-01-01").replace("-", "")
        doc.set_metadata({"title": spec["title"], "author": ", ".join(spec.get("authors", [])),
                          "creationDate": f"D:{day}120000Z", "producer": "kb samples.pdfgen",
                          "keywords": "hyphenated=" + ",".join(lay.hyphenated)})
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path, garbage=3, deflate=True)
    doc.close()
    return path


def render_corpus(out_dir: str | Path, papers: list[dict] | None = None, **opts: Any) -> list[Path]:
    """Render every spec (default: `samples.corpus.PAPERS`) to `<out_dir>/<id>v<version>.pdf`."""
    from samples.corpus import PAPERS

    out = Path(out_dir)
    return [render_pdf(spec, out / f"{spec['id']}v{spec.get('version', 1)}.pdf", **opts)
            for spec in (papers if papers is not None else PAPERS)]


def make_image_only_pdf(path: str | Path) -> Path:
    """A one-page PDF holding only a raster image and vector drawings: no text layer (like a scan)."""
    pymupdf = load_pymupdf()
    path = Path(path)
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pix.set_rect(pix.irect, (200, 200, 200))
    pix.set_rect(pymupdf.IRect(8, 8, 56, 20), (20, 20, 20))  # dark bars standing in for scanned text lines
    pix.set_rect(pymupdf.IRect(8, 28, 50, 40), (20, 20, 20))
    page.insert_image(pymupdf.Rect(72, 72, 540, 540), pixmap=pix)
    page.draw_rect(pymupdf.Rect(72, 560, 540, 700), color=(0, 0, 0), width=1)
    page.draw_line((72, 600), (540, 600))
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    doc.close()
    return path


def make_encrypted_pdf(path: str | Path, password: str, spec: dict | None = None, **opts: Any) -> Path:
    """Render `spec` (default: the first sample paper) and save it AES-256 encrypted with a user password."""
    pymupdf = load_pymupdf()
    from samples.corpus import PAPERS

    path = Path(path)
    plain = path.with_name(path.stem + ".plain.pdf")
    render_pdf(spec or PAPERS[0], plain, **opts)
    doc = pymupdf.open(plain)
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "-owner",
             permissions=pymupdf.PDF_PERM_PRINT)
    doc.close()
    plain.unlink()
    return path


def make_truncated_pdf(path: str | Path, keep: float = 0.5, spec: dict | None = None, **opts: Any) -> Path:
    """Render a paper and keep only the first `keep` fraction of its bytes (a broken download)."""
    from samples.corpus import PAPERS

    path = Path(path)
    render_pdf(spec or PAPERS[0], path, **opts)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
