"""Turn what the user typed (files, folders, globs, arXiv ids/URLs) into typed inputs, and parse one input."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from kb.types import ParseError, ParseResult

SUFFIX_KIND = {
    ".pdf": "pdf",
    ".md": "digest",
    ".markdown": "digest",
    ".xml": "arxiv-atom",
    ".atom": "arxiv-atom",
    ".jsonl": "arxiv-jsonl",
    ".json": "arxiv-jsonl",
}
# Files larger than this are refused with a clear message instead of exhausting memory.
MAX_BYTES = {"pdf": 300 * 2**20, "digest": 20 * 2**20, "arxiv-atom": 200 * 2**20, "arxiv-jsonl": 8 * 2**30}


@dataclass(frozen=True)
class Input:
    ref: str  # absolute path, or "arxiv:ID" for remote papers
    kind: str  # a SUFFIX_KIND value or "arxiv-remote"


def _is_remote(item: str) -> str | None:
    from kb.ids import normalize_arxiv_id

    low = item.lower()
    if low.startswith("arxiv:") or "arxiv.org/" in low:
        parsed = normalize_arxiv_id(item)
        if parsed:
            return parsed[0] + (f"v{parsed[1]}" if parsed[1] else "")
    return None


def expand_inputs(items: list[str]) -> tuple[list[Input], list[ParseError]]:
    """Files, folders (recursively, known suffixes only), glob patterns and arXiv references, de-duplicated."""
    inputs: list[Input] = []
    errors: list[ParseError] = []
    seen: set[str] = set()

    def add(path: Path, explicit: bool) -> None:
        kind = SUFFIX_KIND.get(path.suffix.lower())
        if kind is None:
            if explicit:
                errors.append(ParseError(str(path), f"unsupported file type '{path.suffix or '(none)'}' "
                                         f"(supported: {', '.join(sorted(SUFFIX_KIND))})"))
            return
        ref = str(path.resolve())
        if ref not in seen:
            seen.add(ref)
            inputs.append(Input(ref, kind))

    for item in items:
        remote = _is_remote(item)
        if remote:
            if ("arxiv:" + remote) not in seen:
                seen.add("arxiv:" + remote)
                inputs.append(Input("arxiv:" + remote, "arxiv-remote"))
            continue
        matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
        if not matches:
            errors.append(ParseError(item, "no file matches this pattern"))
        for m in matches:
            p = Path(m).expanduser()
            if p.is_dir():
                for root, dirs, files in os.walk(p):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for f in sorted(files):
                        add(Path(root) / f, explicit=False)
            elif p.exists():
                add(p, explicit=True)
            else:
                errors.append(ParseError(str(p), "no such file or folder"))
    return inputs, errors


def parse_input(inp: Input, password: str | None = None) -> ParseResult:
    """Parse a local file into papers. Remote inputs are fetched by the ingest pipeline, not here."""
    path = inp.ref
    size = os.path.getsize(path)
    limit = MAX_BYTES.get(inp.kind)
    if limit and size > limit:
        raise ParseError(path, f"file too large ({size / 2**20:.0f} MiB > {limit / 2**20:.0f} MiB limit for {inp.kind})")
    if inp.kind == "pdf":
        from kb.ingest.parsers.pdf import parse_pdf

        return parse_pdf(path, password=password)
    if inp.kind == "digest":
        from kb.ingest.parsers.digest import parse_digest

        return parse_digest(path)
    if inp.kind == "arxiv-atom":
        from kb.ingest.parsers.arxiv import parse_atom

        return parse_atom(path)
    if inp.kind == "arxiv-jsonl":
        from kb.ingest.parsers.arxiv import parse_oai_jsonl

        return parse_oai_jsonl(path)
    raise ParseError(path, f"no parser for {inp.kind}")
