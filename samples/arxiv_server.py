"""A local stand-in for arXiv (127.0.0.1 only) for tests and benchmarks: the Atom listing feed
(/atom/cat+cat), the API (/api/query with search_query, id_list, start, max_results) and PDFs (/pdf/IDvN),
in the formats arXiv serves, written by us. It records every request (arrival time, path, User-Agent) and the
most connections it ever had open at once, and can be told to answer the next requests with an error
(429/503 + Retry-After) or an empty page with a positive total.

Query semantics, enough for kb's queries: AND and OR (AND binds first at each level), parentheses; terms are
ti:, abs:, au:, all:, cat: (word or "quoted phrase", case-insensitive substring) and
submittedDate:[YYYYMMDDhhmm TO YYYYMMDDhhmm].
"""
from __future__ import annotations

import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

ATOM_NS = 'xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"'


@dataclass
class FakePaper:
    id: str
    version: int
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]  # the first is the primary category
    submitted: str  # YYYY-MM-DD (v1)
    kind: str = "new"  # announce type in the listing: new | cross | replace | replace-cross


@dataclass
class FakeArxiv:
    """The server's state; tests change it between runs (e.g. `listing_day`, `listing`, `faults`)."""

    listing_day: str = "2024-05-24"
    listing: list[FakePaper] = field(default_factory=list)  # today's announcements
    catalog: list[FakePaper] = field(default_factory=list)  # every paper the API knows (the listing's too)
    faults: list[tuple[str, int, dict]] = field(default_factory=list)  # (path prefix, status, headers), FIFO
    empty_pages: int = 0  # answer this many API pages with no entries but the real total
    pdf_bytes: bytes = b""
    requests: list[dict] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0
    hook: object = None  # called with the request path before answering (tests look at the client's state)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def known(self) -> list[FakePaper]:
        by_id = {p.id: p for p in self.catalog}
        by_id.update({p.id: p for p in self.listing})
        return list(by_id.values())


def _match(paper: FakePaper, query: str) -> bool:
    if not query.strip():
        return True
    query = _unparen(query)
    parts = _split_top(query, " AND ")
    if len(parts) > 1:
        return all(_match(paper, p) for p in parts)
    parts = _split_top(query, " OR ")
    if len(parts) > 1:
        return any(_match(paper, p) for p in parts)
    return _term(paper, query)


def _unparen(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start, i, quoted = [], 0, 0, 0, False
    while i < len(text):
        ch = text[i]
        quoted ^= ch == '"'
        depth += (ch in "([") - (ch in ")]") if not quoted else 0
        if depth == 0 and not quoted and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _term(p: FakePaper, term: str) -> bool:
    term = _unparen(term)
    m = re.fullmatch(r"submittedDate:\[(\d{8})\d{4} TO (\d{8})\d{4}\]", term)
    if m:
        day = p.submitted.replace("-", "")
        return m.group(1) <= day <= m.group(2)
    m = re.fullmatch(r'(ti|abs|au|all|cat):(?:"([^"]*)"|(\S+))', term)
    if not m:
        raise ValueError(f"fake arXiv cannot read the term {term!r}")
    field_, value = m.group(1), (m.group(2) or m.group(3)).lower()
    if field_ == "cat":
        return value in (c.lower() for c in p.categories)
    texts = {"ti": [p.title], "abs": [p.abstract], "au": p.authors, "all": [p.title, p.abstract, *p.authors]}[field_]
    return any(value in t.lower() for t in texts)


def listing_feed(state: FakeArxiv, categories: list[str]) -> str:
    """The Atom listing (rss.arxiv.org/atom/...) of the papers announced on state.listing_day."""
    wanted = set(categories)
    entries = []
    for p in state.listing:
        if not wanted & set(p.categories):
            continue
        vid = f"{p.id}v{p.version}"
        entries.append("\n".join([
            "  <entry>",
            f"    <id>oai:arXiv.org:{vid}</id>",
            f"    <title>{escape(p.title)}</title>",
            f"    <updated>{state.listing_day}T00:00:00-04:00</updated>",
            f'    <link href="{state.base}/abs/{p.id}" rel="alternate" type="text/html"/>',
            f"    <summary>arXiv:{vid} Announce Type: {p.kind} \nAbstract: {escape(p.abstract)}</summary>",
            *[f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories],
            f"    <published>{state.listing_day}T00:00:00-04:00</published>",
            f"    <arxiv:announce_type>{p.kind}</arxiv:announce_type>",
            "    <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>",
            f"    <dc:creator>{escape(', '.join(p.authors))}</dc:creator>",
            "  </entry>"]))
    head = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed {ATOM_NS} xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"  <id>{state.base}/atom/{'+'.join(categories)}</id>",
        f"  <title>{escape('+'.join(categories))} updates on arXiv.org</title>",
        f"  <updated>{state.listing_day}T04:00:00.000Z</updated>",
        f'  <link href="{state.base}/atom/{"+".join(categories)}" rel="self" type="application/atom+xml"/>',
        f"  <subtitle>{escape('+'.join(categories))} updates on the arXiv.org e-print archive.</subtitle>",
    ]
    return "\n".join(head + entries + ["</feed>", ""])


def api_feed(state: FakeArxiv, papers: list[FakePaper], total: int, start: int) -> str:
    """An arXiv API Atom answer (opensearch totals, one <entry> per paper)."""
    entries = []
    for p in papers:
        vid = f"{p.id}v{p.version}"
        entries.append("\n".join([
            "  <entry>",
            f"    <id>http://arxiv.org/abs/{vid}</id>",
            f"    <updated>{p.submitted}T12:00:00Z</updated>",
            f"    <published>{p.submitted}T12:00:00Z</published>",
            f"    <title>{escape(p.title)}</title>",
            f"    <summary>  {escape(p.abstract)}\n</summary>",
            *[f"    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in p.authors],
            f'    <link href="{state.base}/abs/{vid}" rel="alternate" type="text/html"/>',
            f'    <link title="pdf" href={quoteattr(f"{state.base}/pdf/{vid}")} rel="related" type="application/pdf"/>',
            f'    <arxiv:primary_category term="{p.categories[0]}" scheme="http://arxiv.org/schemas/atom"/>',
            *[f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in p.categories],
            "  </entry>"]))
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed {ATOM_NS} xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">',
        f'  <link href="{state.base}/api/query" rel="self" type="application/atom+xml"/>',
        "  <title type=\"html\">ArXiv Query</title>",
        "  <id>http://arxiv.org/api/fake</id>",
        "  <updated>2024-05-24T00:00:00-04:00</updated>",
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>",
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>",
        f"  <opensearch:itemsPerPage>{len(papers)}</opensearch:itemsPerPage>",
    ]
    return "\n".join(head + entries + ["</feed>", ""])


def make_pdf(title: str, abstract: str) -> bytes:
    """A one-page PDF with a title, an abstract and a short body (PyMuPDF)."""
    from kb.ingest.parsers.pdf import load_pymupdf

    fitz = load_pymupdf()
    doc = fitz.open()
    page = doc.new_page()
    text = (f"{title}\n\nAbstract\n{abstract}\n\n1 Introduction\nThe full text says more than the abstract: "
            "we measured everything twice and report it here.\n")
    page.insert_textbox(fitz.Rect(72, 72, 540, 720), text, fontsize=11)
    data = doc.tobytes()
    doc.close()
    return data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeArxiv

    def do_GET(self):  # noqa: N802 - http.server API
        st = self.state
        with st.lock:
            st.open_now += 1
            st.open_max = max(st.open_max, st.open_now)
            st.requests.append({"t": time.time(), "path": self.path, "agent": self.headers.get("User-Agent", ""),
                                "range": self.headers.get("Range")})
            fault = next((f for f in st.faults if self.path.startswith(f[0])), None)
            if fault:
                st.faults.remove(fault)
        try:
            if st.hook is not None:
                st.hook(self.path)
            time.sleep(0.02)  # a little service time, so overlapping connections would show
            if fault:
                return self._send(fault[1], b"slow down", "text/plain", fault[2])
            url = urllib.parse.urlparse(self.path)
            if url.path.startswith("/atom/"):
                cats = urllib.parse.unquote(url.path[len("/atom/"):]).replace(" ", "+").split("+")
                return self._send(200, listing_feed(st, cats).encode(), "application/atom+xml")
            if url.path == "/api/query":
                return self._api(urllib.parse.parse_qs(url.query))
            if url.path.startswith("/pdf/"):
                body = st.pdf_bytes
                rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if rng and int(rng.group(1)) < len(body):
                    part = body[int(rng.group(1)):]
                    return self._send(206, part, "application/pdf",
                                      {"Content-Range": f"bytes {rng.group(1)}-{len(body) - 1}/{len(body)}"})
                return self._send(200, body, "application/pdf")
            return self._send(404, b"not found", "text/plain")
        finally:
            with st.lock:
                st.open_now -= 1

    def _api(self, q: dict) -> None:
        st = self.state
        ids = [i for i in (q.get("id_list", [""])[0]).split(",") if i]
        query = q.get("search_query", [""])[0]
        start, size = int(q.get("start", ["0"])[0]), int(q.get("max_results", ["10"])[0])
        pool = st.known()
        if ids:
            bare = {re.sub(r"v\d+$", "", i) for i in ids}
            pool = [p for p in pool if p.id in bare]
        try:
            hits = [p for p in pool if _match(p, query)]
        except ValueError as e:  # arXiv answers a malformed query with an Atom entry titled "Error"
            body = api_feed(st, [], 1, 0).replace("</feed>", (
                "  <entry>\n    <id>http://arxiv.org/api/errors#malformed_query</id>\n    <title>Error</title>\n"
                f"    <summary>{escape(str(e))}</summary>\n    <updated>2024-05-24T00:00:00-04:00</updated>\n"
                "  </entry>\n</feed>"))
            return self._send(200, body.encode(), "application/atom+xml")
        if q.get("sortBy", [""])[0] == "submittedDate":
            hits.sort(key=lambda p: (p.submitted, p.id), reverse=True)
        page = hits[start:start + size]
        with st.lock:
            if st.empty_pages and page:
                st.empty_pages -= 1
                page = []
        self._send(200, api_feed(st, page, len(hits), start).encode(), "application/atom+xml")

    def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


class ArxivServer:
    """Start with `with ArxivServer(state) as srv:`; srv.api_url / srv.feed_url point kb at it."""

    def __init__(self, state: FakeArxiv | None = None):
        self.state = state or FakeArxiv()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        host, port = self.httpd.server_address[:2]
        self.state.base = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return self.state.base + "/api/query"

    @property
    def feed_url(self) -> str:
        return self.state.base + "/atom"

    def __enter__(self) -> "ArxivServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
