"""Inter-process lock on a knowledge base folder.

Embedded Chroma and our write sequence are not safe with two writers, so writers take an exclusive lock and
readers a shared one (fcntl.flock on KB_HOME/kb.lock; released by the kernel when a process dies, so a killed
`kb ingest` never leaves a stale lock). A second writer waits up to `timeout` seconds, then refuses.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from kb.types import KbError


@contextmanager
def kb_lock(path: Path, exclusive: bool = True, timeout: float = 30.0,
            on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
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
                        f"another kb process{holder} is writing to {path.parent}; waited {timeout:.0f} s. "
                        "Try again when it has finished (or raise KB_LOCK_TIMEOUT).") from None
                if on_wait and not told:
                    on_wait(f"waiting for another kb process{holder} using {path.parent} ...")
                    told = True
                time.sleep(0.2)
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
        return f" (pid {pid})" if pid else ""
    except OSError:
        return ""
