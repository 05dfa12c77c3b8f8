"""`kb ingest arxiv:ID` against a local fixture server standing in for arXiv (never the internet)."""
from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from kb_cli.app import app
from samples.corpus import PAPERS
from samples.pages import render_atom_feed

runner = CliRunner()
SPEC = PAPERS[0]


@pytest.fixture
def arxiv_server(tmp_path):
    from samples.pdfgen import render_pdf

    pdf = render_pdf(SPEC, tmp_path / "served.pdf").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlparse(self.path)
            host, port = self.server.server_address[:2]
            if url.path == "/api/query":
                wanted = urllib.parse.parse_qs(url.query)["id_list"][0]
                specs = [s for s in PAPERS if wanted.split("v")[0] == s["id"]]
                body, ctype = render_atom_feed(specs, pdf_base_url=f"http://{host}:{port}/pdf").encode(), "application/atom+xml"
            else:
                body, ctype = pdf, "application/pdf"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/query"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_ingest_arxiv_id_fetches_metadata_and_pdf(kb_env, arxiv_server, monkeypatch):
    monkeypatch.setenv("KB_ARXIV_API_URL", arxiv_server)
    result = runner.invoke(app, ["-q", "ingest", f"arxiv:{SPEC['id']}", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["show", SPEC["id"], "--json"]).stdout)
    assert shown["title"] == SPEC["title"]
    kinds = {s["kind"] for s in shown["sources"]}
    assert kinds == {"arxiv-api", "pdf"}  # one record: the API metadata and the downloaded PDF's full text
    assert shown["full_text_pages"] >= 2
    assert (kb_env / "papers" / f"{SPEC['id']}v{SPEC['version']}.pdf").is_file()
    # an arXiv URL names the same paper: still one record
    again = runner.invoke(app, ["-q", "ingest", f"https://arxiv.org/abs/{SPEC['id']}", "--json"])
    assert again.exit_code == 0
    assert len(json.loads(runner.invoke(app, ["list", "--json"]).stdout)) == 1


def test_ingest_arxiv_offline_is_one_clear_line(kb_env, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("KB_ARXIV_API_URL", f"http://127.0.0.1:{port}/api/query")
    result = runner.invoke(app, ["-q", "ingest", "arxiv:2405.12211"])
    assert result.exit_code == 1
    assert "cannot reach arXiv" in result.stderr and "offline" in result.stderr
    assert "Traceback" not in result.output
