"""Polite HTTP to arXiv, as its API terms ask: one request at a time from one KB_HOME, across processes, at least
`delay` seconds apart; a User-Agent naming kb and a contact address; Retry-After / exponential backoff on 429 and
503; every response body kept on disk so the same URL is not requested twice in a day (unless `refresh`).

Cross-process spacing: an exclusive flock on KB_HOME/cache/arxiv/requests.lock is held for the whole exchange
(wait, request, response, retries), and the file holds the time the last response ended. The next request starts
no earlier than that time + delay, so the server sees requests at least `delay` apart and never two at once.

Only the standard library is used (urllib): arXiv needs one connection at a time, so a pooled client buys nothing.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date as Date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable, Iterator

from kb.types import KbError

log = logging.getLogger(__name__)

RETRY_STATUS = (429, 503)
MAX_TRIES = 5
MAX_RETRY_WAIT = 300.0  # never wait longer than this for one Retry-After


class OfflineError(KbError):
    """arXiv (or the configured server) cannot be reached at all."""


@dataclass
class Stats:
    sent: int = 0  # HTTP requests that reached the wire (retries included)
    cached: int = 0  # answered from the on-disk cache
    waited: float = 0.0  # seconds spent waiting for the politeness delay or a Retry-After


class PoliteClient:
    """GET with politeness and a per-day response cache. `state_dir` is KB_HOME/cache/arxiv."""

    def __init__(self, state_dir: Path, delay: float = 3.0, contact: str = "", refresh: bool = False,
                 timeout: float = 30.0, on_wait: Callable[[float, str], None] | None = None,
                 today: Callable[[], str] | None = None):
        self.state_dir = Path(state_dir)
        self.delay = max(0.0, float(delay))
        self.refresh = refresh
        self.timeout = timeout
        self.on_wait = on_wait or (lambda seconds, why: None)
        self.today = today or (lambda: Date.today().isoformat())
        if contact and "@" in contact and "://" not in contact:
            who = f"mailto:{contact}"
        else:
            who = contact or "no contact set"
        self.user_agent = f"kb/0.1 (local research knowledge base; {who})"
        self.stats = Stats()
        self.refreshed: set[str] = set()  # URLs already re-sent in this run (refresh sends each once)

    # ------------------------------------------------------------------------------------------------ cache
    def cache_path(self, url: str) -> Path:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        return self.state_dir / "responses" / self.today() / f"{key}.body"

    def cached(self, url: str, max_age: float | None = None) -> bytes | None:
        path = self.cache_path(url)
        if path.is_file() and not (self.refresh and url not in self.refreshed):
            if max_age is None or time.time() - path.stat().st_mtime <= max_age:
                return path.read_bytes()
        return None

    def forget(self, url: str) -> None:
        """Drop a cached answer (e.g. an API page that came back empty), so the next get() asks again."""
        self.cache_path(url).unlink(missing_ok=True)

    def get(self, url: str, max_age: float | None = None) -> bytes:
        """The body of `url`: from today's cache when there (and at most `max_age` seconds old), else from the
        server (politely), then cached."""
        body = self.cached(url, max_age)
        if body is not None:
            self.stats.cached += 1
            return body
        status, body, _ = self._exchange(url)
        path = self.cache_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.replace(path)
        meta = {"url": url, "status": status, "bytes": len(body), "at": time.time()}
        path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
        self.refreshed.add(url)
        return body

    # ------------------------------------------------------------------------------------------------ download
    def download(self, url: str, target: Path, max_bytes: int, magic: bytes = b"%PDF") -> Path:
        """Stream `url` into `target` (via target.part, resumed with a Range request when a part exists), refusing
        more than `max_bytes` and a body that does not start with `magic`. Returns `target`."""
        target = Path(target)
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        _, _, size = self._exchange(url, headers=headers, sink=(part, have, max_bytes))
        with open(part, "rb") as f:
            head = f.read(len(magic))
        if head != magic:
            part.unlink(missing_ok=True)
            raise KbError(f"{url} is not a PDF (it starts with {head[:16]!r}); nothing kept")
        part.replace(target)
        log.info("downloaded %s (%d bytes) to %s", url, size, target)
        return target

    # ------------------------------------------------------------------------------------------------ the wire
    @contextmanager
    def _turn(self) -> Iterator[None]:
        """Hold the KB_HOME-wide request lock; on entry wait until `delay` after the last response ended."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = self.state_dir / "requests.lock"
        with open(lock, "a+") as f:
            t0 = time.monotonic()
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            waited_lock = time.monotonic() - t0
            try:
                f.seek(0)
                text = f.read().strip()
                last = float(text) if text else 0.0
                pause = last + self.delay - time.time()
                if pause > 0:
                    self.on_wait(pause, "politeness delay")
                    time.sleep(pause)
                self.stats.waited += waited_lock + max(pause, 0.0)
                yield
            finally:
                f.seek(0)
                f.truncate()
                f.write(f"{time.time():.6f}")
                f.flush()
                os.fsync(f.fileno())
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _exchange(self, url: str, headers: dict | None = None, sink: tuple | None = None) -> tuple[int, bytes, int]:
        host = urllib.parse.urlparse(url).netloc or url
        for attempt in range(1, MAX_TRIES + 1):
            with self._turn():
                self.stats.sent += 1
                log.debug("GET %s (try %d)", url, attempt)
                try:
                    return self._send(url, headers or {}, sink)
                except urllib.error.HTTPError as exc:
                    if exc.code not in RETRY_STATUS or attempt == MAX_TRIES:
                        raise KbError(f"arXiv at {host} answered HTTP {exc.code} ({exc.reason}) for {url}"
                                      + (f" after {attempt} tries; try again later" if attempt > 1 else "")) from exc
                    code = exc.code
                    wait = _retry_after(exc.headers.get("Retry-After"), default=self.delay * 2 ** attempt)
                except urllib.error.URLError as exc:
                    raise OfflineError(f"cannot reach arXiv at {host}: {exc.reason} (offline?)") from exc
                except (socket.timeout, TimeoutError, ConnectionError) as exc:
                    raise OfflineError(f"cannot reach arXiv at {host}: {exc or type(exc).__name__} (offline?)") from exc
            log.warning("arXiv answered HTTP %d; waiting %.1f s before trying again", code, wait)
            self.on_wait(wait, f"HTTP {code}")
            self.stats.waited += wait
            time.sleep(wait)  # outside the lock: the next turn adds the politeness delay on top
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, url: str, headers: dict, sink: tuple | None) -> tuple[int, bytes, int]:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **headers})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if sink is None:
                return response.status, response.read(), 0
            part, have, max_bytes = sink
            resumed = response.status == 206 and have > 0
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) + (have if resumed else 0) > max_bytes:
                raise KbError(f"{url} is {int(declared) + (have if resumed else 0)} bytes, over the "
                              f"{max_bytes}-byte limit; not downloaded")
            size = have if resumed else 0
            with open(part, "ab" if resumed else "wb") as out:
                while block := response.read(1 << 16):
                    size += len(block)
                    if size > max_bytes:
                        out.close()
                        part.unlink(missing_ok=True)
                        raise KbError(f"{url} is over the {max_bytes}-byte limit; not downloaded")
                    out.write(block)
            return response.status, b"", size


def _retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), else `default`; capped."""
    wait = default
    if value:
        value = value.strip()
        if value.isdigit():
            wait = float(value)
        else:
            try:
                wait = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    return min(max(wait, 0.0), MAX_RETRY_WAIT)
