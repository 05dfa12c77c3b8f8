"""Section- and page-aware chunking.

A paper's text is cut into sentence units (each knows its page, character span and section); units of one
section are packed into chunks of at most `max_tokens` embedder word pieces, consecutive chunks sharing about
`overlap` tokens. A chunk's text is an exact slice of the page text (pages joined by a blank line when a chunk
crosses a page break), so a citation can quote it verbatim: `char_start` indexes the text of `page_start`,
`char_end` the text of `page_end`. Abstract-only papers are chunked from the abstract (pages are None).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from kb.types import Chunk, Paper

_PARA = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? followed by space and an upper-case letter, digit or bracket; common abbreviations
# are protected by the look-behind on a short lower-case word.
_SENT_END = re.compile(r"(?<=[.!?])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bet al\.)(?<!\bFig\.)(?<!\bEq\.)\s+(?=[A-Z0-9(\[])")


@dataclass
class _Unit:
    page: int | None
    start: int
    end: int
    section: str
    kind: str
    tokens: int


def _spans(text: str, pattern: re.Pattern, base: int = 0):
    """Yield (start, end) of the non-empty pieces of `text` between matches of `pattern`, stripped."""
    pos = 0
    for m in list(pattern.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        piece = text[pos:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            yield base + pos + lead, base + pos + trail
        if m:
            pos = m.end()


def _split_long(text: str, start: int, end: int, count: Callable[[str], int], max_tokens: int):
    """Cut an over-long span at word boundaries into spans of at most max_tokens."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    piece: list[tuple[int, int]] = []
    for w in words:
        piece.append(w)
        if count(text[piece[0][0] : piece[-1][1]]) > max_tokens and len(piece) > 1:
            piece.pop()
            yield piece[0][0], piece[-1][1]
            piece = [w]
    if piece:
        yield piece[0][0], piece[-1][1]


def _section_at(paper: Paper, page: int, offset: int) -> tuple[str, str]:
    current = ("Front matter", "front")
    for s in paper.sections:  # sections are in document order
        if (s.page, s.offset) <= (page, offset):
            current = (s.title, s.kind)
        else:
            break
    return current


def _units(paper: Paper, count: Callable[[str], int], max_tokens: int) -> tuple[list[_Unit], dict]:
    texts: dict = {}
    units: list[_Unit] = []
    if paper.pages:
        sources = [(p.number, p.text) for p in paper.pages]
    else:
        sources = [(None, paper.abstract or "")]
    for page, text in sources:
        texts[page] = text
        for ps, pe in _spans(text, _PARA):
            for ss, se in _spans(text[ps:pe], _SENT_END, base=ps):
                if page is None:
                    section, kind = "Abstract", "abstract"
                else:
                    section, kind = _section_at(paper, page, ss)
                n = count(text[ss:se])
                pieces = _split_long(text, ss, se, count, max_tokens) if n > max_tokens else [(ss, se)]
                for a, b in pieces:
                    units.append(_Unit(page, a, b, section, kind, n if (a, b) == (ss, se) else count(text[a:b])))
    return units, texts


def _text_of(units: list[_Unit], texts: dict) -> str:
    parts: list[str] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and units[j + 1].page == units[i].page:
            j += 1
        parts.append(texts[units[i].page][units[i].start : units[j].end])
        i = j + 1
    return "\n\n".join(parts)


def chunk_paper(paper_id: str, paper: Paper, count_tokens: Callable[[str], int], max_tokens: int = 200,
                overlap: int = 32) -> list[Chunk]:
    """Cut a paper into chunks that respect sections, fit `max_tokens`, and overlap by about `overlap` tokens."""
    units, texts = _units(paper, count_tokens, max_tokens)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        section = units[i].section
        j, total = i, 0
        while j < len(units) and units[j].section == section and (total + units[j].tokens <= max_tokens or j == i):
            total += units[j].tokens
            j += 1
        group = units[i:j]
        chunks.append(Chunk(
            paper_id=paper_id, index=len(chunks), text=_text_of(group, texts), section=section,
            kind=group[0].kind, page_start=group[0].page, page_end=group[-1].page,
            char_start=group[0].start, char_end=group[-1].end,
        ))
        if j >= len(units) or units[j].section != section:
            i = j
            continue
        # Start the next chunk a few units back so consecutive chunks share about `overlap` tokens.
        back, k = 0, j
        while k - 1 > i and back + units[k - 1].tokens <= overlap:
            k -= 1
            back += units[k].tokens
        i = k
    return chunks
