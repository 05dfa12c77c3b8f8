"""Turn what the user typed (files, folders, globs, arXiv ids/URLs) into typed inputs, and parse one input."""
from __future__ import annotations

import errno
import glob
import os
import stat
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


def display_path(path: str | os.PathLike) -> str:
    """A path as it can be printed and stored: bytes that are not UTF-8 shown as backslash escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_regular_file(path: str) -> os.stat_result:
    """stat() a file that is about to be read; refuse anything but a regular file (a FIFO or a device would block
    or never end). Follows symbolic links, so a link to a regular file is fine."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ParseError(display_path(path), "symbolic link loop") from exc
        raise
    if not stat.S_ISREG(st.st_mode):
        raise ParseError(display_path(path), f"not a regular file ({_file_type(st.st_mode)}); only files are read")
    return st


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


def expand_inputs(items: list[str]) -> tuple[list[Input], list[ParseError]]:
    """Files, folders (recursively, known suffixes only), glob patterns and arXiv references, de-duplicated.

    Folder walks and `**` globs never follow symbolic links to folders (a link loop cannot make them endless);
    links to files are followed. Only regular files are accepted: FIFOs, devices and sockets are reported, as
    are link loops and file names that are not valid UTF-8 (they cannot be stored or printed); each such
    problem is one error naming the path, and the rest of the batch goes on.
    """
    inputs: list[Input] = []
    errors: list[ParseError] = []
    seen: set[str] = set()

    def add(path: Path, explicit: bool) -> None:
        kind = SUFFIX_KIND.get(path.suffix.lower())
        if kind is None:
            if explicit:
                suffix = display_path(path.suffix) or "(none)"
                errors.append(ParseError(display_path(path), f"unsupported file type '{suffix}' "
                                         f"(supported: {', '.join(sorted(SUFFIX_KIND))})"))
            return
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            errors.append(ParseError(display_path(path), "the path is not valid UTF-8; rename the file "
                                     "(or its folder) to ingest it"))
            return
        try:
            check_regular_file(str(path))
            ref = os.path.realpath(path)
        except ParseError as exc:
            errors.append(exc)
            return
        except OSError as exc:
            errors.append(ParseError(display_path(path), f"cannot read file: {exc.strerror or exc}"))
            return
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
        if item.lower().startswith("arxiv:"):
            errors.append(ParseError(item, "not a valid arXiv id (e.g. arxiv:2405.12211 or arxiv:2405.12211v2)"))
            continue
        item = os.path.expanduser(item)
        matches = _glob(item) if glob.has_magic(item) else [Path(item)]
        if not matches:
            errors.append(ParseError(display_path(item), "no file matches this pattern"))
        for p in matches:
            if p.is_dir():
                walk_errors: list[OSError] = []
                for root, dirs, files in os.walk(p, onerror=walk_errors.append):  # links to folders: not entered
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    for f in sorted(files):
                        add(Path(root) / f, explicit=False)
                errors += [ParseError(display_path(e.filename or p), f"cannot read folder: {e.strerror or e}")
                           for e in walk_errors]
            elif p.is_symlink() or p.exists():
                add(p, explicit=True)
            else:
                errors.append(ParseError(display_path(p), "no such file or folder"))
    return inputs, errors


def _glob(pattern: str) -> list[Path]:
    """Glob matches, sorted. pathlib's `**` does not follow links to folders (the glob module's does, and a
    link loop makes it run for ever); hidden names match only when the pattern names them."""
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = Path(*parts[:first]) if first else Path(".")
    rest = parts[first:]
    dotted = any(part.startswith(".") for part in rest)
    try:
        found = [m for m in base.glob(str(Path(*rest)))
                 if dotted or not any(name.startswith(".") for name in m.relative_to(base).parts)]
    except (OSError, ValueError):
        return []
    return sorted(found)


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
