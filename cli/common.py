"""Shared CLI plumbing: logging setup, error mapping, JSON output, progress bars, session opening."""
from __future__ import annotations

import errno
import json
import logging
import re
import sqlite3
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import typer
import typer.core

state = {"verbose": 0, "quiet": False}

_GLOBAL_FLAGS = re.compile(r"-q|--quiet|-v+|--verbose")


class GlobalOptionsGroup(typer.core.TyperGroup):
    """The kb group: `-q`/`-v` are accepted after the command too (`kb ingest -q PATHS`, `kb search -v ...`), by
    moving them before it; a `--` ends the options as usual."""

    def parse_args(self, ctx, args):
        args = list(args)
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if _GLOBAL_FLAGS.fullmatch(a)]
        if flags:
            args = flags + [a for a in args[:end] if not _GLOBAL_FLAGS.fullmatch(a)] + args[end:]
        return super().parse_args(ctx, args)


def configure_logging(verbose: int, quiet: bool) -> None:
    state["verbose"], state["quiet"] = verbose, quiet
    level = logging.WARNING if not verbose else (logging.INFO if verbose == 1 else logging.DEBUG)
    if quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# Terminal escapes and control characters: OSC (clipboard writes, hyperlinks) with its payload, CSI (colours,
# cursor moves), other ESC sequences, their 8-bit C1 forms, remaining C0/C1 controls but newline and tab, and the
# bidirectional overrides that reorder what a line shows.
_TERMINAL_CONTROLS = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[@-Z\\-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)


def clean(text) -> str:
    """Text safe to show on a terminal: third-party titles, passages, file names and model output can carry
    escapes (OSC 52 writes the clipboard, OSC 8 plants links, CSI recolours or hides text); they are removed."""
    return _TERMINAL_CONTROLS.sub("", str(text))


def out(text="") -> None:
    """One line of results on stdout, terminal-safe."""
    print(clean(text))


def err(msg: str) -> None:
    typer.echo(clean(msg), err=True)


def info(msg: str) -> None:
    """A diagnostic line for people (stderr), silenced by -q."""
    if not state["quiet"]:
        typer.echo(clean(msg), err=True)


def fail(msg: str, code: int = 1) -> typer.Exit:
    err(f"error: {msg}")
    return typer.Exit(code)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Expected failures (KbError, a full disk, a file that cannot be written) become one line on stderr and
    exit code 1; Ctrl-C exits 130."""
    from kb.types import KbError

    try:
        yield
    except KbError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        err("interrupted; rerun the same command to continue where it stopped")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as e:  # a full disk anywhere (catalog, vector store, a file kb writes) is one line too
        from kb.diskfull import disk_full_message

        if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and e.filename:
            raise fail(_cannot_write(e)) from None  # a read-only KB_HOME or output folder

        message = disk_full_message(e, "writing")
        if message is None:
            raise
        raise fail(message) from None


def _cannot_write(e: OSError) -> str:
    from pathlib import Path

    from kb.settings import default_home

    home = default_home()
    where = Path(e.filename).expanduser().absolute()
    inside = where == home or home in where.parents
    why = "read-only file system" if e.errno == errno.EROFS else "permission denied"
    return f"cannot write {where}: {why}" + (f" (KB_HOME {home} is read-only)" if inside else "")


def resolve_ref(catalog, ref: str) -> str:
    """The paper id a user's reference names (KbError when none or several); a prefix match is said on stderr."""
    pid, by_prefix = catalog.resolve_paper(ref)
    if by_prefix:
        info(f"'{ref}' is the start of paper id {pid} (the only one)")
    return pid


def print_json(data: Any) -> None:
    """JSON on stdout. json.dumps escapes C0 controls; C1 controls and bidi overrides are escaped here too, so the
    JSON is unchanged as data but never drives a terminal."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    typer.echo(re.sub(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]", lambda m: f"\\u{ord(m.group(0)):04x}", text))


@contextmanager
def session(create: bool = False, **overrides) -> Iterator:
    """Open the knowledge base named by settings (KB_HOME, env, config.toml). Only commands that write
    (`create=True`: ingest, fetch, daily, topics --init) make a missing KB_HOME; the others say "no knowledge
    base at X"."""
    from kb.settings import load_settings
    from kb.wiring import open_session

    with errors_to_exit():
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
        s = open_session(settings, create=create)
        try:
            yield s
        except sqlite3.DatabaseError as e:
            raise _database_error(s, e) from None
        finally:
            s.close()


def _database_error(s, e: sqlite3.DatabaseError) -> Exception:
    """A damaged page met by any command becomes one line naming the damaged file (no traceback)."""
    from kb.store.dbfile import CatalogDamaged, is_corruption
    from kb.types import KbError

    if "readonly" in str(e):
        from kb.store.lock import ReadOnlyHome

        return ReadOnlyHome(s.settings.home, str(e))
    if not is_corruption(e):
        return e
    if s.catalog.integrity_problem():
        return CatalogDamaged(s.catalog.path, str(e))
    return KbError(f"a database under {s.settings.home} is damaged ({e}); the catalog itself checks out, so "
                   f"delete {s.settings.home / 'cache'} if the digest cache is the one, or run `kb reindex`")


class ProgressBars:
    """Turns the library's progress callbacks into rich progress bars on stderr (nothing when quiet)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and not state["quiet"]
        self.bars: dict[str, int] = {}
        self.progress = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                     console=Console(stderr=True), transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, event: str, **kw) -> None:
        if self.progress is None:
            return
        if event == "file":
            self._update("files", kw["index"], kw["total"], note=_short(kw.get("path", "")))
        elif event == "embed":
            self._update("chunks", kw["done"], kw["total"])
        elif event == "claim":
            self._update("claims", kw["done"], kw["total"])
        elif event == "paper":
            self._update("papers", kw["index"], kw["total"], note=_short(kw.get("title", "")))

    def _update(self, name: str, done: int, total: int, note: str = "") -> None:
        if name not in self.bars:
            self.bars[name] = self.progress.add_task(name, total=total, note="")
        from rich.markup import escape

        # file names and titles are third-party: no terminal escapes, no rich markup ("[link=...]")
        self.progress.update(self.bars[name], completed=done, total=total, note=escape(clean(note)))


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else "…" + s[-(n - 1):]
