"""Inter-process lock on a knowledge base folder: one writer at a time; readers never wait for it.

Embedded Chroma and our write sequence are not safe with two writers, so writers (ingest, remove, reindex) take
an exclusive lock for their whole run (fcntl.flock on KB_HOME/kb.lock; released by the kernel when a process
dies, so a killed `kb ingest` never leaves a stale lock). A second writer waits up to `timeout` seconds, then
refuses, naming the holder's pid only while that process is alive.

Readers (search, ask, eval, digest, topics, status) hold no lock while they work. The catalog is SQLite in WAL
mode: a read transaction sees the last committed state while a writer goes on. Only the embedded vector store
needs the lock: a reader queries it under `try_shared`, a non-blocking shared lock held for the query alone, and
answers from the catalog's stored embeddings when a writer holds the lock (see kb.store.readview).
"""
from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from kb.types import KbError

READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class ReadOnlyHome(KbError):
    """KB_HOME cannot be written: writes refuse with this; reads go on."""

    def __init__(self, home: Path, what: str = ""):
        self.home = home
        super().__init__(f"KB_HOME {home} is read-only{f' ({what})' if what else ''}: this command writes to it. "
                         "Reading commands (search, ask, list, show, status, topics) still work; point KB_HOME "
                         "at a writable copy to change it.")


@contextmanager
def kb_lock(path: Path, exclusive: bool = True, timeout: float = 30.0,
            on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in READ_ONLY_ERRNOS:
            raise ReadOnlyHome(path.parent, f"cannot open {path.name}: {e.strerror}") from None
        raise
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise KbError(
                        f"another kb process{holder} is using {path.parent}; waited {timeout:.0f} s. "
                        "Try again when it has finished (or raise KB_LOCK_TIMEOUT).") from None
                if on_wait and not told:
                    on_wait(f"waiting for another kb process{holder} using {path.parent} ...")
                    told = True
                time.sleep(0.2)
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            if exclusive:  # the pid names the writer only while it holds the lock
                try:
                    os.ftruncate(fd, 0)
                except OSError:
                    pass
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def try_shared(path: Path) -> Iterator[bool]:
    """A shared lock if no writer holds the exclusive one: yields True while held, False (at once) when a writer
    is at work. Never creates anything in a read-only KB_HOME: the lock file is then opened read-only (flock works
    on it), and a home with no lock file at all has never had a writer."""
    try:
        fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno not in READ_ONLY_ERRNOS:
            raise
        try:
            fd = os.open(str(path), os.O_RDONLY)
        except FileNotFoundError:
            yield True
            return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def writer_pid(path: Path) -> int | None:
    """The pid of the live process holding the write lock, if one does (None when free or unknown)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody writes
        except BlockingIOError:
            return _live_pid(fd)
    finally:
        os.close(fd)


def _live_pid(fd: int) -> int | None:
    try:
        pid = int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # written by a writer that was killed; the lock is held by someone else now
    except PermissionError:
        pass  # alive, owned by another user
    return pid


def _holder(fd: int) -> str:
    pid = _live_pid(fd)
    return f" (pid {pid})" if pid else ""
