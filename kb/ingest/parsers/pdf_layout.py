"""Layout analysis for PDF pages: text lines from PyMuPDF's "dict" output -> clean paragraphs in reading order.

Steps, each a function: `extract_lines` (horizontal lines, split at wide gaps; rotated text set aside),
`strip_furniture` (review line numbers, running headers/footers, page numbers), `order_lines` (one or two
columns, full-width lines kept in place), `build_paragraphs` (joins lines, repairs end-of-line hyphenation,
keeps headings as their own paragraphs). Works on plain data; `kb.ingest.parsers.pdf` drives it.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

_DIGITS = re.compile(r"^\d{1,4}$")
_PAGE_NO = re.compile(r"^(?:page\s*)?[-–—]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-–—]?(?:\s*(?:of|/)\s*\d{1,4})?$",
                      re.I)
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|\.b\b|-b$|medi", re.I)
_HYPHEN_END = re.compile(r"([A-Za-z]+)-$")
_WORD_START = re.compile(r"^([a-z]+)")
_WORDS = re.compile(r"[a-z]+(?:-[a-z]+)*")
_COMPOUND_PREFIXES = frozenset("cross self multi non semi co state end fine coarse zero few one two three top high low "
                               "long short large small real open well".split())
_SENTENCE_END = ".!?:"
_ITEM = re.compile(r"^(?:\[\d{1,3}\]|[•▪◦])\s")  # reference entries and bullets start a new paragraph


@dataclass(slots=True)
class Line:
    """One horizontal line of text on a page (or one segment of it, when it holds a wide gap)."""

    x0: float
    y0: float
    x1: float
    y1: float
    base: float  # baseline y of the first span
    text: str
    size: float  # font size of most of the characters
    bold: bool  # most characters are in a bold font
    group: int = 0  # reading-order group, set by order_lines (lines of one column band share a group)


@dataclass(slots=True)
class Para:
    """A paragraph of cleaned text; `heading` is set when it is a section heading line."""

    text: str
    heading: Any = None


_BOLD_FONTS: dict[str, bool] = {}


def _is_bold(span: dict) -> bool:
    if span["flags"] & 16:
        return True
    font = span["font"]
    if font not in _BOLD_FONTS:
        _BOLD_FONTS[font] = bool(_BOLD_NAME.search(font))
    return _BOLD_FONTS[font]


def _line_from_spans(spans: list[dict]) -> Line:
    first = spans[0]
    if len(spans) == 1:  # the common case, kept cheap
        x0, y0, x1, y1 = first["bbox"]
        return Line(x0, y0, x1, y1, first["origin"][1], " ".join(first["text"].split()),
                    round(first["size"] * 2) / 2, _is_bold(first))
    parts: list[str] = []
    sizes: dict[float, int] = {}
    bold_chars = total = 0
    last_x1 = None
    for s in spans:
        t = s["text"]
        x0, _y0, x1, _y1 = s["bbox"]
        if last_x1 is not None and x0 - last_x1 > 0.15 * s["size"] and parts[-1][-1:] != " " and t[:1] != " ":
            parts.append(" ")
        parts.append(t)
        n = len(t)
        size = round(s["size"] * 2) / 2
        sizes[size] = sizes.get(size, 0) + n
        total += n
        if _is_bold(s):
            bold_chars += n
        last_x1 = x1
    return Line(first["bbox"][0], min(s["bbox"][1] for s in spans), spans[-1]["bbox"][2],
                max(s["bbox"][3] for s in spans), first["origin"][1], " ".join("".join(parts).split()),
                max(sizes, key=sizes.__getitem__), bold_chars * 2 > total)


def extract_lines(page_dict: dict) -> tuple[list[Line], list[str]]:
    """Horizontal text lines of a page, split where spans are far apart; and the texts of rotated lines."""
    lines: list[Line] = []
    rotated: list[str] = []
    for block in page_dict["blocks"]:
        for line in block.get("lines", ()):
            spans = [s for s in line["spans"] if s["text"] and not s["text"].isspace()]
            if not spans:
                continue
            dx, dy = line["dir"]
            if abs(dy) > 0.05 or dx < 0:
                rotated.append("".join(s["text"] for s in spans))
                continue
            start = 0
            for i in range(1, len(spans)):
                gap = spans[i]["bbox"][0] - spans[i - 1]["bbox"][2]
                if gap > 1.2 * max(spans[i]["size"], spans[i - 1]["size"]):
                    lines.append(_line_from_spans(spans[start:i]))
                    start = i
            lines.append(_line_from_spans(spans[start:]))
    return [ln for ln in lines if ln.text], rotated


def body_font_size(pages: list[list[Line]]) -> float:
    """The font size carrying most characters in the document."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            sizes[ln.size] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _text_extent(lines: list[Line], width: float) -> tuple[float, float]:
    longs = [ln for ln in lines if len(ln.text) >= 20]
    if not longs:
        return 0.0, width
    return min(ln.x0 for ln in longs), max(ln.x1 for ln in longs)


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def strip_furniture(pages: list[list[Line]], sizes: list[tuple[float, float]], body: float) -> list[list[Line]]:
    """Drop margin line numbers, running headers/footers (repeated on most pages, digits may vary), page numbers.
    Header and footer candidates are the top/bottom lines near the page edge set no larger than `body` + 1
    (so a title repeated as running header is kept on page 1, where it is set large)."""
    kept: list[list[Line]] = []
    for lines, (width, _height) in zip(pages, sizes):
        left, right = _text_extent(lines, width)
        kept.append([ln for ln in lines
                     if not (_DIGITS.match(ln.text) and (ln.x1 <= left + 1 or ln.x0 >= right - 1))])
    candidates: list[list[Line]] = []
    counts: Counter[str] = Counter()
    for lines, (_width, height) in zip(kept, sizes):
        by_y = sorted(lines, key=lambda ln: ln.y0)
        cands = [ln for ln in by_y[:3] if ln.y1 < 0.12 * height and ln.size <= body + 1]
        cands += [ln for ln in by_y[-3:] if ln.y0 > 0.88 * height and ln.size <= body + 1 and ln not in cands]
        candidates.append(cands)
        counts.update({_furniture_key(ln.text) for ln in cands})
    need = max(2, (len(pages) + 1) // 2)
    out = []
    for lines, cands, (_width, height) in zip(kept, candidates, sizes):
        # repeated on most pages; or on 3+ pages right at the edge (chapter headers); or a page number
        drop = {id(ln) for ln in cands if counts[_furniture_key(ln.text)] >= need or _PAGE_NO.match(ln.text)
                or (counts[_furniture_key(ln.text)] >= 3 and (ln.y1 < 0.08 * height or ln.y0 > 0.92 * height))}
        out.append([ln for ln in lines if id(ln) not in drop])
    return out


def _merge_same_baseline(lines: list[Line]) -> list[Line]:
    lines.sort(key=lambda ln: (round(ln.base), ln.x0))
    merged: list[Line] = []
    for ln in lines:
        prev = merged[-1] if merged else None
        if prev and abs(ln.base - prev.base) < 0.35 * ln.size and ln.x0 >= prev.x1 - 1:
            prev.text = f"{prev.text} {ln.text}"
            prev.x1, prev.y0, prev.y1 = ln.x1, min(prev.y0, ln.y0), max(prev.y1, ln.y1)
        else:
            merged.append(ln)
    return merged


def order_lines(lines: list[Line], width: float) -> list[Line]:
    """Reading order: detect two columns; full-width lines split the page into bands read top to bottom,
    and inside each band the left column is read before the right one. Sets `Line.group`."""
    left, right = _text_extent(lines, width)
    mid = (left + right) / 2
    side = {id(ln): ("L" if ln.x1 <= mid + 1 else "R" if ln.x0 >= mid - 1 else "S") for ln in lines}
    right_bases = [ln.base for ln in lines if side[id(ln)] == "R"]
    above: Line | None = None
    for ln in sorted(lines, key=lambda ln: (ln.base, ln.x0)):
        # the short last line of a full-width paragraph sits left of the middle: keep it full-width
        if side[id(ln)] == "L" and above is not None and side[id(above)] == "S" and abs(ln.x0 - above.x0) < 2 \
                and 0 < ln.base - above.base <= 1.6 * ln.size \
                and not any(abs(b - ln.base) < 2 * ln.size for b in right_bases):
            side[id(ln)] = "S"
        above = ln
    n_left = sum(1 for v in side.values() if v == "L")
    n_right = sum(1 for v in side.values() if v == "R")
    if n_left < 3 or n_right < 3 or n_left + n_right < len(lines) - n_left - n_right:
        ordered = _merge_same_baseline(list(lines))
        for ln in ordered:
            ln.group = 0
        return ordered
    ordered: list[Line] = []
    band: dict[str, list[Line]] = {"L": [], "R": []}
    group = 0

    def flush() -> None:
        nonlocal group
        for key in ("L", "R"):
            if band[key]:
                group += 1
                for ln in _merge_same_baseline(band[key]):
                    ln.group = group
                    ordered.append(ln)
                band[key] = []

    last = ""
    for ln in sorted(lines, key=lambda ln: (ln.base, ln.x0)):
        kind = side[id(ln)]
        if kind == "S":
            flush()
            if last != "S":
                group += 1
            ln.group = group
            ordered.append(ln)
        else:
            band[kind].append(ln)
        last = kind
    flush()
    return ordered


def join_hyphenated(head: str, tail: str, vocab: set[str]) -> str:
    """Join `head` ending in "-" with `tail`: drop the hyphen of a broken word ("recog-" + "nition"), keep it
    for compounds ("frame-" + "based": seen hyphenated elsewhere, or both halves are words seen elsewhere, or a
    common compound prefix like "cross-") and before digits or capitals ("GPT-" + "4")."""
    m = _HYPHEN_END.search(head)
    w = _WORD_START.match(tail)
    if not m or not w:
        return head + tail
    left, right = m.group(1).lower(), w.group(1)
    joined, compound = left + right, f"{left}-{right}"
    if compound in vocab and joined not in vocab:
        return head + tail
    if joined not in vocab and (left in _COMPOUND_PREFIXES
                                or (len(left) >= 3 and len(right) >= 3 and left in vocab and right in vocab)):
        return head + tail
    return head[:-1] + tail


def _short_line(prev: Line, nxt: Line, right: float) -> bool:
    """True when the first word of `nxt` would have fitted at the end of `prev`: `prev` ended its paragraph."""
    word = nxt.text.split(" ", 1)[0]
    return prev.x1 + (len(word) + 1) * 0.5 * prev.size < right


def build_paragraphs(lines: list[Line], vocab: set[str], is_heading: Callable[[Line, Line | None], Any]) -> list[Para]:
    """Join ordered lines into paragraphs. A new paragraph starts at a heading, a larger-than-usual line gap, a
    font size change, a first-line indent, or a new column unless the previous line ran to the column edge
    mid-sentence."""
    if not lines:
        return []
    ratios = sorted((b.base - a.base) / a.size for a, b in zip(lines, lines[1:]) if a.group == b.group
                    and abs(a.size - b.size) < 0.6 and 0.8 * a.size < b.base - a.base < 2.5 * a.size)
    # baseline step as a multiple of the font size: the lower quartile, since paragraph gaps are the larger steps
    spacing = ratios[len(ratios) // 4] if ratios else 1.2
    edges: dict[int, tuple[float, float]] = {}
    for ln in lines:
        lo, hi = edges.get(ln.group, (ln.x0, ln.x1))
        edges[ln.group] = (min(lo, ln.x0), max(hi, ln.x1))
    paras: list[Para] = []
    cur: str | None = None
    prev: Line | None = None
    prev_heading = False
    for ln in lines:
        heading = is_heading(ln, prev)
        if heading is not None:
            if cur is not None:
                paras.append(Para(cur))
            paras.append(Para(ln.text, heading))
            cur, prev, prev_heading = None, ln, True
            continue
        new = cur is None or prev is None or prev_heading or abs(ln.size - prev.size) >= 0.6
        if not new and ln.group != prev.group:
            _lo, hi = edges[prev.group]
            new = _short_line(prev, ln, hi) or prev.text[-1] in _SENTENCE_END
        elif not new:
            step = ln.base - prev.base
            lo, hi = edges[ln.group]
            ended = prev.text[-1] in _SENTENCE_END or _short_line(prev, ln, hi)
            indented = 0.8 * ln.size < ln.x0 - lo < 4 * ln.size and prev.x0 - lo < 0.5 * ln.size and ended
            new = step > spacing * ln.size * 1.25 + 0.5 or step < 0 or indented or bool(_ITEM.match(ln.text))
        if new:
            if cur is not None:
                paras.append(Para(cur))
            cur = ln.text
        elif cur.endswith("-") and not cur.endswith(" -"):
            cur = join_hyphenated(cur, ln.text, vocab)
        elif cur[-1] in "—–/":
            cur += ln.text
        else:
            cur = f"{cur} {ln.text}"
        prev, prev_heading = ln, False
    if cur is not None:
        paras.append(Para(cur))
    return paras


def carry_hyphen_across_pages(pages: list[list[Para]], vocab: set[str]) -> None:
    """When a page ends in "recog-" and the next starts with "nition ...", move the tail back to the first page
    so the word is whole (page texts stay per page, so the word cannot be split between them)."""
    for cur, nxt in zip(pages, pages[1:]):
        if not cur or not nxt or cur[-1].heading is not None or nxt[0].heading is not None:
            continue
        last, first = cur[-1], nxt[0]
        m = re.match(r"^([a-z]+[,.;:)]?)(\s+|$)", first.text)
        if not _HYPHEN_END.search(last.text) or not m:
            continue
        last.text = join_hyphenated(last.text, m.group(1), vocab)
        first.text = first.text[m.end():]
        if not first.text:
            nxt.pop(0)


def vocabulary(pages: list[list[Line]]) -> set[str]:
    """Lower-cased words (plain and hyphenated) seen whole inside lines of the ordered pages; the fragments of
    words broken at line ends are left out. Used to decide how to join hyphenated line breaks."""
    words: set[str] = set()
    for lines in pages:
        broken = False
        for ln in lines:
            text = ln.text.lower()
            if broken:
                text = _WORD_START.sub("", text, count=1)
            broken = bool(_HYPHEN_END.search(text))
            if broken:
                text = _HYPHEN_END.sub("", text)
            words.update(_WORDS.findall(text))
    return words
