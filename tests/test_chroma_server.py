"""The VectorStore contract against ChromaStore(url=...) talking to a real `chroma run` server on 127.0.0.1."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from kb.store.vectors import ChromaStore, check_compatible
from tests.vectorstore_contract import CONTRACT, Q, _fill

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 60.0


def _chroma_cli() -> str | None:
    beside = Path(sys.executable).parent / "chroma"
    if beside.is_file():
        return str(beside)
    return shutil.which("chroma")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(url: str) -> bool:
    for path in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
        try:
            with urllib.request.urlopen(url + path, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the `chroma` CLI (installed with chromadb) is not available")
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data / "server.log", "wb")
    proc = subprocess.Popen(
        [cli, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _alive(url):
            if proc.poll() is not None:
                pytest.fail(f"chroma server exited with {proc.returncode}: {(data / 'server.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"chroma server did not answer its heartbeat within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
def test_contract_over_http(chroma_url: str, check, request: pytest.FixtureRequest) -> None:
    # each check gets its own, empty collection on the shared server
    name = "kb_" + request.node.callspec.id.replace("check_", "")
    check(ChromaStore(url=chroma_url, collection=name))


def test_reconnect_sees_data_and_info(chroma_url: str) -> None:
    store = ChromaStore(url=chroma_url, collection="kb_reconnect")
    _fill(store)
    store.set_info({"embedder": "fake-hash", "dim": 3})
    again = ChromaStore(url=chroma_url.replace("http://", ""), collection="kb_reconnect")  # scheme is optional
    assert again.count() == 4
    assert again.get_info() == {"embedder": "fake-hash", "dim": 3}
    assert again.query(Q, 1)[0][0] == "p1#0"
    check_compatible(again, {"embedder": "fake-hash", "dim": 3})


def test_cli_ingest_into_a_chroma_server(chroma_url, kb_env, sample_corpus, monkeypatch):
    """`kb ingest --chroma-url` writes vectors to the server; the catalog stays local under KB_HOME."""
    import json

    from typer.testing import CliRunner

    from kb_cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["-q", "ingest", str(sample_corpus / "pdf"), "--chroma-url", chroma_url, "--json"])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("KB_CHROMA_URL", chroma_url)
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert status["vector_store_location"] == chroma_url
    server = ChromaStore(url=chroma_url)
    assert server.count() == status["chunks"] > 0
    assert not (kb_env / "chroma").exists()  # nothing went to the embedded store
