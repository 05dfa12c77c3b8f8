"""A read-only KB_HOME (issue 9, red-team item 9): reads work, writes say "KB_HOME ... is read-only".

Tests run as root, where chmod does not stop writes, so a read-only folder is made two ways:
- for real: the CLI runs in a private mount namespace (`unshare -m`) in which the test's KB_HOME is bind-mounted
  read-only, so every write fails with EROFS exactly as on a read-only disk; skipped where mounts are not allowed;
- simulated, everywhere: os.open of kb.lock raises EROFS and os.access reports the folder unwritable
  (monkeypatched), which is what kb consults; SQLite itself could still write here, so this only checks kb's
  own decisions.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb_cli.app import app

runner = CliRunner()
QUESTION = "How are phonemes turned into mouth shapes?"
READS = {
    "search": ["search", "phoneme viseme talking head", "--json"],
    "dense": ["search", "phoneme viseme talking head", "--mode", "dense", "--json"],
    "ask": ["ask", QUESTION, "--json"],
    "list": ["list", "--json"],
    "topics": ["topics", "--json"],
}
WRITES = {
    "ingest": ["ingest", "{corpus}"],
    "remove": ["remove", "2405.90001"],
    "reindex": ["reindex"],
    "config": ["config", "set", "seed", "3"],
}


@pytest.fixture
def built(kb_env, sample_corpus, monkeypatch):
    monkeypatch.setenv("KB_MODEL", "fake")
    out = runner.invoke(app, ["-q", "ingest", str(sample_corpus / "pdf"), "--json"])
    assert out.exit_code == 0, out.output
    return kb_env


def _essence(name: str, stdout: str):
    data = json.loads(stdout)
    if name in ("search", "dense"):
        return [(p["id"], [s["chunk_id"] for s in p["passages"]]) for p in data["papers"]]
    if name == "ask":
        return data["abstained"], data["answer"]
    if name == "list":
        return sorted(p["id"] for p in data)
    return data["topics"]


def _tree(home: Path) -> dict:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file()}


def _mounts_allowed() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind / /mnt 2>/dev/null || exit 1"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def _run_read_only(home: Path, args: list[str]) -> subprocess.CompletedProcess:
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    cmd = ["unshare", "-m", "sh", "-c", script, str(home), sys.executable, "-c",
           "from kb_cli.app import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ))


@pytest.mark.slow
@pytest.mark.skipif(not _mounts_allowed(), reason="needs root and unshare -m with bind mounts")
def test_read_only_mount_reads_work_and_writes_say_so(built, sample_corpus):
    expected = {}
    for name, args in READS.items():
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
        expected[name] = _essence(name, out.stdout)
    before = _tree(built)

    for name, args in READS.items():  # were: PermissionError / "unable to open database file"
        out = _run_read_only(built, args)
        assert out.returncode == 0, f"{name}: {out.stderr}"
        assert _essence(name, out.stdout) == expected[name], name
    status = _run_read_only(built, ["status", "--json"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["read_only"] is True
    digest = _run_read_only(built, ["digest", "--date", "2024-05-22", "--out", "-", "-q"])
    assert digest.returncode == 0 and digest.stdout.startswith("---\ntitle: "), digest.stderr

    for name, args in WRITES.items():  # were tracebacks (config set: OSError on config.tmp)
        out = _run_read_only(built, [a.format(corpus=sample_corpus / "pdf") for a in args])
        assert out.returncode == 1, f"{name}: {out.stdout} {out.stderr}"
        assert "read-only" in out.stderr and f"KB_HOME {built}" in out.stderr, f"{name}: {out.stderr}"
        assert "Traceback" not in out.stderr
    assert _tree(built) == before  # nothing written, nothing damaged


def test_simulated_read_only_home(built, sample_corpus, monkeypatch):
    expected = {name: _essence(name, runner.invoke(app, args).stdout) for name, args in READS.items()}
    home = str(built)
    real_open, real_access = os.open, os.access

    def ro_open(path, flags, *a, **k):
        if str(path).startswith(home) and flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    def ro_access(path, mode, *a, **k):
        if str(path).startswith(home) and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **k)

    monkeypatch.setattr(os, "open", ro_open)  # Python-level only: SQLite and Chroma open files in C
    monkeypatch.setattr(os, "access", ro_access)
    opened = []
    monkeypatch.setattr("kb.store.vectors.ChromaStore.__init__", lambda self, *a, **k: opened.append(a))

    for name, args in READS.items():  # were: PermissionError on kb.lock
        out = runner.invoke(app, args)
        assert out.exit_code == 0, f"{name}: {out.output}"
        assert _essence(name, out.stdout) == expected[name], name
    assert opened == []  # embedded Chroma cannot open read-only; the catalog's embeddings answered
    for name in ("ingest", "remove", "reindex"):
        out = runner.invoke(app, [a.format(corpus=sample_corpus / "pdf") for a in WRITES[name]])
        assert out.exit_code == 1 and f"KB_HOME {built} is read-only" in out.stderr, f"{name}: {out.output}"
