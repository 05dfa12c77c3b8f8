"""A full disk (or exhausted quota) is an expected failure, not a bug: recognise it wherever the write happened
(SQLite, the vector store, a file copy) and say in one line what failed, that nothing was lost, and what to free.

Every write kb makes is safe to interrupt (the catalog commits one file per transaction, the vector store is
re-synced from the catalog, downloads land under a temporary name first), so rerunning the same command after
freeing space finishes the work.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from kb.types import KbError

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL: "database or disk is full"
_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")


class DiskFullError(KbError):
    """A write failed because the disk (or the user's quota) is full."""


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The exception in `exc`'s chain (itself, its cause or context) that says the disk is full, else None.

    Recognises OSError ENOSPC/EDQUOT, SQLite's SQLITE_FULL and libraries that wrap either one (Chroma reports
    its SQLite and index-file errors in its own exception types, keeping the message)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return exc
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
            return exc
        if any(m in str(exc).lower() for m in _MESSAGES):
            return exc
        exc = exc.__cause__ if exc.__cause__ is not None else (
            None if exc.__suppress_context__ else exc.__context__)
    return None


def disk_full_message(exc: BaseException, what: str, home: Path | None = None) -> str | None:
    """One line for a disk-full `exc` while doing `what` ("storing x.pdf in the catalog"), or None when `exc`
    is about something else. `home` is the folder whose disk needs room (KB_HOME)."""
    cause = disk_full_cause(exc)
    if cause is None:
        return None
    where = Path(home) if home else (Path(cause.filename).parent if getattr(cause, "filename", None) else None)
    room = ""
    if where is not None:
        try:
            room = f" ({shutil.disk_usage(_existing(where)).free / 2**20:.0f} MiB free now)"
        except OSError:
            pass
    disk = f"the disk that holds {where}{room}" if where is not None else "the disk kb writes to"
    return (f"disk full while {what}. Nothing was lost: unfinished writes were rolled back. "
            f"Free space on {disk}, then rerun the same command to finish.")


def raise_if_disk_full(exc: BaseException, what: str, home: Path | None = None) -> None:
    """Raise DiskFullError (from `exc`) when `exc` says the disk is full; otherwise return."""
    message = disk_full_message(exc, what, home)
    if message is not None:
        raise DiskFullError(message) from exc


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
