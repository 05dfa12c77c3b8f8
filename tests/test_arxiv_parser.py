"""arXiv metadata: id normalisation, Atom feeds, OAI JSON lines, and fetching from a local fake arXiv API."""
from __future__ import annotations

import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.ingest.parsers.arxiv import fetch_arxiv, normalize_arxiv_id, parse_atom, parse_oai_jsonl
from kb.types import KbError, ParseError
from samples.corpus import PAPERS
from samples.pages import render_atom_feed, render_oai_jsonl, spec_categories, spec_published

FAKE_PDF = b"%PDF-1.7\n% kb test bytes\n%%EOF\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2405.12211", ("2405.12211", None)),
        ("2405.12211v2", ("2405.12211", 2)),
        ("arxiv:2405.12211", ("2405.12211", None)),
        ("arXiv:2405.12211v1", ("2405.12211", 1)),
        (" 2405.12211v3 ", ("2405.12211", 3)),
        ("http://arxiv.org/abs/2405.12875v1", ("2405.12875", 1)),
        ("https://arxiv.org/abs/2405.12211", ("2405.12211", None)),
        ("https://arxiv.org/pdf/2405.12211v1.pdf", ("2405.12211", 1)),
        ("https://export.arxiv.org/pdf/2405.12211v4", ("2405.12211", 4)),
        ("2405.12211v2.pdf", ("2405.12211", 2)),
        ("/data/papers/2405.12211v2.pdf", ("2405.12211", 2)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("arXiv:hep-th/9901001", ("hep-th/9901001", None)),
        ("2413.12211", None),  # month 13
        ("1412.12345", None),  # five digits before 2015
        ("2405.1221", None),  # four digits after 2014
        ("2405.12211v0", None),
        ("https://example.org/abs/2405.12211", None),
        ("paper.pdf", None),
        ("", None),
    ],
)
def test_normalize_arxiv_id(text, expected):
    assert normalize_arxiv_id(text) == expected


def test_atom_feed_gives_every_paper_with_metadata(tmp_path):
    path = tmp_path / "feed.atom"
    path.write_text(render_atom_feed(PAPERS), encoding="utf-8")
    result = parse_atom(path)
    assert result.errors == []
    assert len(result.papers) == len(PAPERS)
    for paper, spec in zip(result.papers, PAPERS):
        assert (paper.arxiv_id, paper.arxiv_version) == (spec["id"], spec["version"])
        assert paper.title == spec["title"]  # the feed wraps titles over lines; whitespace is collapsed
        assert paper.abstract == spec["abstract"]
        assert paper.authors == spec["authors"]
        assert paper.published == spec_published(spec).isoformat()
        assert paper.comment == spec["comment"]
        assert paper.pdf_url == f"http://arxiv.org/pdf/{spec['id']}v{spec['version']}"
        assert paper.extra["categories"] == spec_categories(spec)
        assert paper.extra["primary_category"] == spec_categories(spec)[0]
        assert paper.source_kind == "arxiv-atom" and paper.source_path == str(path)


def test_atom_bad_entries_and_bad_files(tmp_path):
    feed = render_atom_feed(PAPERS[:2]).replace(f"<id>http://arxiv.org/abs/{PAPERS[0]['id']}v1</id>", "<id>x</id>")
    path = tmp_path / "feed.atom"
    path.write_text(feed, encoding="utf-8")
    result = parse_atom(path)
    assert [p.arxiv_id for p in result.papers] == [PAPERS[1]["id"]]
    assert [e.cause for e in result.errors] == ["entry 1: no arXiv id in <id> (x)"]

    broken = tmp_path / "broken.atom"
    broken.write_text(render_atom_feed(PAPERS[:1])[:-30], encoding="utf-8")
    with pytest.raises(ParseError, match="not valid Atom XML"):
        parse_atom(broken)
    html = tmp_path / "page.atom"
    html.write_text("<html><body>hi</body></html>", encoding="utf-8")
    with pytest.raises(ParseError, match="not an Atom feed"):
        parse_atom(html)


def test_oai_jsonl_with_a_bad_line(tmp_path):
    lines = render_oai_jsonl(PAPERS).splitlines()
    lines.insert(2, "{not json")
    lines.insert(4, '{"id": "2405.90009", "title": "  "}')
    path = tmp_path / "snapshot.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    result = parse_oai_jsonl(path)
    assert [p.arxiv_id for p in result.papers] == [s["id"] for s in PAPERS]
    assert [e.cause.split(":")[0] for e in result.errors] == ["line 3", "line 5 (2405.90009)"]
    assert "not JSON" in result.errors[0].cause and "no title" in result.errors[1].cause
    for paper, spec in zip(result.papers, PAPERS):
        assert paper.title == spec["title"] and paper.abstract == spec["abstract"]
        assert paper.authors == spec["authors"]
        assert paper.arxiv_version == spec["version"]
        assert paper.published == spec_published(spec).isoformat()
        assert paper.extra["categories"] == spec_categories(spec)
        assert paper.comment == spec["comment"]
        assert paper.source_kind == "arxiv-jsonl"


def test_oai_jsonl_authors_fall_back_to_the_author_string(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"id": "hep-th/9901001", "title": "Old", "authors": "A. One, B. Two and C. Three"}\n',
                    encoding="utf-8")
    [paper] = parse_oai_jsonl(path).papers
    assert paper.arxiv_id == "hep-th/9901001"
    assert paper.authors == ["A. One", "B. Two", "C. Three"]
    assert paper.published is None


# ---------------------------------------------------------------------------------------------------- fetching


class _FakeArxiv(BaseHTTPRequestHandler):
    """Serves /api/query?id_list=ID (Atom) and /pdf/IDvN (PDF bytes) for the sample corpus."""

    queries: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        url = urllib.parse.urlparse(self.path)
        host, port = self.server.server_address[:2]
        if url.path == "/api/query":
            wanted = urllib.parse.parse_qs(url.query)["id_list"][0]
            self.queries.append(wanted)
            if wanted == "2405.99999":
                return self._send(500, b"boom", "text/plain")
            specs = [s for s in PAPERS if wanted in (s["id"], f"{s['id']}v{s['version']}")]
            body = render_atom_feed(specs, pdf_base_url=f"http://{host}:{port}/pdf").encode()
            return self._send(200, body, "application/atom+xml")
        if url.path == f"/pdf/{PAPERS[1]['id']}v{PAPERS[1]['version']}":
            return self._send(200, FAKE_PDF, "application/pdf")
        return self._send(200, b"<html>not a pdf</html>", "text/html")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def fake_arxiv():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeArxiv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeArxiv.queries = []
    yield f"http://127.0.0.1:{server.server_address[1]}/api/query"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_fetch_arxiv_gets_metadata_and_pdf(fake_arxiv):
    spec = PAPERS[1]
    paper, pdf = fetch_arxiv(f"https://arxiv.org/abs/{spec['id']}v{spec['version']}", api_url=fake_arxiv, timeout=5)
    assert _FakeArxiv.queries == [f"{spec['id']}v{spec['version']}"]
    assert (paper.arxiv_id, paper.arxiv_version, paper.title) == (spec["id"], spec["version"], spec["title"])
    assert paper.source_kind == "arxiv-api" and paper.published == spec_published(spec).isoformat()
    assert pdf == FAKE_PDF


@pytest.mark.slow
def test_fetch_arxiv_failures(fake_arxiv):
    with pytest.raises(KbError, match="arXiv has no paper 2405.12345"):
        fetch_arxiv("2405.12345", api_url=fake_arxiv, timeout=5)
    with pytest.raises(KbError, match="answered HTTP 500"):
        fetch_arxiv("2405.99999", api_url=fake_arxiv, timeout=5)
    with pytest.raises(KbError, match="did not return a PDF"):
        fetch_arxiv(PAPERS[0]["id"], api_url=fake_arxiv, timeout=5)
    with pytest.raises(KbError, match="not an arXiv id: 'nonsense'"):
        fetch_arxiv("nonsense", api_url=fake_arxiv)


def test_fetch_arxiv_offline_names_the_host():
    with socket.socket() as sock:  # find a port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KbError, match=rf"^cannot reach arXiv at 127\.0\.0\.1:{port}: .+ \(offline\?\)$"):
        fetch_arxiv("2405.12211", api_url=f"http://127.0.0.1:{port}/api/query", timeout=5)

