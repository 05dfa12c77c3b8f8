"""The digest as one self-contained HTML page: inline CSS, no scripts, fonts or images from elsewhere.

Layout: a header with the day's numbers, a topic index, then one section per topic with a card per paper
(summary, key takeaways, the structured notes, the abstract folded away, and the numbered sources). Every
citation marker [n] links to the quote it rests on (#<paper>-s<n>); each statement carries the mark of the check it
passed (✓ words, numbers and bindings; ✓✓ and the verifier; a tooltip says which, the header's legend explains);
verbatim quotes shown in place of unsupported statements are set apart and labelled; "not stated in the sources"
is greyed. A paper listed under a second
topic gets a short card pointing to its full card.
"""
from __future__ import annotations

import html
import re

from kb.digest.types import (NOT_STATED, QUOTE_MARK, STATEMENT_CHECKS, Digest, Field, PaperDigest, Statement,
                             check_notes, safe_url)
from kb.grounding.types import CHECK_MARKS, CHECK_VERIFIER, CHECK_WORDS

_CSS = """
:root { --bg: #f6f5f1; --card: #ffffff; --ink: #1d232b; --muted: #5d6773; --line: #e3e0d8; --accent: #2f5d8a;
  --accent-soft: #e8eff6; --quote: #8a5a00; --quote-soft: #fbf3e2; --missing: #8b929a; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #16191d; --card: #1f2328; --ink: #e6e6e3; --muted: #a2abb5; --line: #32373e; --accent: #8db7e3;
    --accent-soft: #23303d; --quote: #e2b45f; --quote-soft: #332a1a; --missing: #7d858e; } }
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.6; font-size: 17px;
  font-family: Charter, "Bitstream Charter", "Iowan Old Style", Georgia, Cambria, "Noto Serif", "Songti SC",
  "Noto Serif CJK SC", serif; }
.sans, header, nav, h1, h2, h3, h4, .meta, .chip, .cite, .label, .sources, footer, .badge, details > summary {
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "DejaVu Sans", Arial, "PingFang SC",
  "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
main, header, nav, footer { max-width: 860px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 44px; padding-bottom: 8px; }
header .kicker { text-transform: uppercase; letter-spacing: .12em; font-size: 13px; color: var(--accent);
  font-weight: 600; }
h1 { font-size: 34px; line-height: 1.2; margin: 6px 0 10px; letter-spacing: -.01em; }
header p { color: var(--muted); margin: 4px 0; font-size: 15px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 22px; font-size: 13.5px; color: var(--muted); margin-top: 14px;
  padding: 10px 14px; border: 1px solid var(--line); border-radius: 10px; background: var(--card); }
nav { margin: 18px auto 8px; display: flex; flex-wrap: wrap; gap: 8px; }
nav a { text-decoration: none; color: var(--accent); background: var(--accent-soft); border-radius: 999px;
  padding: 4px 12px; font-size: 14px; font-weight: 500; }
nav a span { color: var(--muted); margin-left: 6px; font-weight: 400; }
section.topic { margin-top: 34px; }
h2 { font-size: 22px; margin: 0 0 14px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h2 .count { color: var(--muted); font-weight: 400; font-size: 16px; margin-left: 8px; }
article.paper { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 22px 26px 16px;
  margin: 0 0 22px; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
article.paper:target { outline: 3px solid var(--accent-soft); }
h3 { font-size: 21px; line-height: 1.3; margin: 0 0 6px; }
h3 a { color: var(--ink); text-decoration: none; }
h3 a:hover { color: var(--accent); }
.authors { color: var(--muted); font-size: 15px; margin: 0 0 8px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 14px; }
.chip { font-size: 12.5px; border: 1px solid var(--line); border-radius: 6px; padding: 1px 8px; color: var(--muted); }
.chip.full { color: #2e7d4f; border-color: #b9dcc7; }
.chip.abs { color: var(--quote); border-color: #ecd6a8; }
.summary { font-size: 18.5px; line-height: 1.55; border-left: 4px solid var(--accent); padding: 2px 0 2px 14px;
  margin: 6px 0 16px; }
.label { font-size: 12.5px; text-transform: uppercase; letter-spacing: .1em; color: var(--muted); font-weight: 600;
  margin: 18px 0 6px; }
ul.takeaways { margin: 0; padding-left: 22px; }
ul.takeaways li { margin: 4px 0; }
dl.notes { display: grid; grid-template-columns: 150px 1fr; gap: 6px 16px; margin: 0; font-size: 16px; }
dl.notes dt { color: var(--muted); font-size: 12px; padding-top: 4px; text-transform: uppercase; letter-spacing: .08em;
  font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif; }
.sans.sub { font-size: 14px; color: var(--muted); }
dl.notes dd { margin: 0; }
dl.notes ol { margin: 0; padding-left: 20px; }
.point { margin: 0 0 6px; }
.point b { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif;
  font-size: 14px; color: var(--muted); font-weight: 600; margin-right: 4px; }
a.cite { font-size: 12px; font-weight: 600; text-decoration: none; color: var(--accent); background: var(--accent-soft);
  border-radius: 4px; padding: 0 4px; margin-left: 2px; vertical-align: 2px; }
a.cite:hover { background: var(--accent); color: var(--card); }
.quoted { background: var(--quote-soft); border-radius: 4px; padding: 0 3px; font-style: italic; }
.badge { font-size: 11px; font-style: normal; color: var(--quote); border: 1px solid currentColor; border-radius: 4px;
  padding: 0 4px; margin-left: 4px; vertical-align: 2px; white-space: nowrap; }
.missing { color: var(--missing); font-style: italic; }
.check { font-size: 11px; color: var(--muted); margin-left: 2px; vertical-align: 2px; cursor: help; }
details.abstract { margin: 16px 0 0; }
details > summary { cursor: pointer; color: var(--accent); font-size: 14px; font-weight: 500; }
details.abstract p { font-size: 16px; color: var(--ink); margin: 8px 0 0; }
details.bibtex pre { font-size: 13px; white-space: pre-wrap; background: var(--accent-soft); padding: 8px 10px;
  border-radius: 6px; user-select: all; }
.chip.close { color: var(--accent); border-color: var(--accent-soft); }
ol.sources { list-style: none; padding: 0; margin: 0; font-size: 14.5px; }
ol.sources li { padding: 3px 8px; border-radius: 6px; margin: 0; display: grid;
  grid-template-columns: 34px 1fr; gap: 0 8px; }
ol.sources li:target { background: var(--accent-soft); }
ol.sources .n { color: var(--accent); font-weight: 700; }
ol.sources .where { color: var(--muted); font-size: 13px; }
ol.sources blockquote { margin: 0 0 2px; grid-column: 2; font-family: Charter, Georgia, "Noto Serif", serif;
  font-size: 14.5px; line-height: 1.45; }
.foot { font-size: 13px; color: var(--muted); margin-top: 12px; border-top: 1px dashed var(--line);
  padding-top: 8px; }
article.also { padding: 14px 22px; }
article.also p { margin: 0; font-size: 15px; color: var(--muted); }
footer { color: var(--muted); font-size: 13px; padding-top: 10px; padding-bottom: 40px; }
a { color: var(--accent); }
@media (max-width: 640px) { dl.notes { grid-template-columns: 1fr; } dl.notes dt { padding-top: 8px; }
  article.paper { padding: 18px 16px 12px; } h1 { font-size: 28px; } }
@media print { body { background: #fff; } article.paper { break-inside: avoid; box-shadow: none; } }
"""


def _e(text: str) -> str:
    return html.escape(text or "", quote=True)


def anchor(pid: str) -> str:
    return "p-" + re.sub(r"[^A-Za-z0-9_-]", "-", pid)


def _statement(s: Statement, pid: str) -> str:
    inner = _statement_body(s, pid)
    if not (s.role or s.kind):
        return inner
    what = f"{s.role or 'unknown'} sentence, {s.kind or 'unknown'}"
    return (f'<span class="st" data-role="{_e(s.role)}" data-kind="{_e(s.kind)}" title="{_e(what)}">'
            f"{inner}</span>")


def _statement_body(s: Statement, pid: str) -> str:
    cites = "".join(f'<a class="cite" href="#{anchor(pid)}-s{n}" title="source {n}">{n}</a>' for n in s.citations)
    body = " ".join(s.text.split())
    if s.is_quote:
        body = body[:-1] if body.endswith(".") else body
        why = ("the model's statement was not supported by the sources; this is the sentence it rests on"
               if s.action == "replaced" else "the sentence this statement rests on, quoted from the paper")
        return f'<q class="quoted" title="{_e(why)}">{_e(body)}</q>{cites}<span class="badge" title="{_e(why)}">' \
               f'{QUOTE_MARK} quote</span>'
    mark = s.mark
    if not mark:
        return f"{_e(body)}{cites}"
    label = STATEMENT_CHECKS.get(s.check, s.check)
    return f'{_e(body)}{cites}<span class="check" title="{_e(label)}">{_e(mark)}</span>'


def _field(f: Field, pid: str, sep: str = " ") -> str:
    if f.not_stated:
        return f'<span class="missing">{_e(f.empty_text)}</span>'
    return sep.join(_statement(s, pid) for s in f.shown)


def _notes(p: PaperDigest) -> str:
    pid = p.paper_id
    urls = p.field("urls").shown
    links = ", ".join(f'<a href="{_e(safe_url(u.text))}">{_e(u.text)}</a>' if safe_url(u.text) else _e(u.text)
                      for u in urls) or \
        f'<span class="missing">{NOT_STATED}</span>'
    summary = "".join(
        f'<p class="point"><b>({i}) {label}</b> {_field(p.field(name), pid)}</p>'
        for i, (label, name) in enumerate([("Background", "background"), ("Past methods", "prior_methods"),
                                           ("Method", "method"), ("Task &amp; performance", "results")], start=1))
    steps = p.field("steps")
    methods = ("<ol>" + "".join(f"<li>{_statement(s, pid)}</li>" for s in steps.shown) + "</ol>"
               if steps.shown else _field(steps, pid))
    conclusion = (
        f'<p class="point"><b>(1) Significance</b> {_field(p.field("significance"), pid)}</p>'
        f'<p class="point"><b>(2) Innovation</b> {_field(p.field("innovation"), pid)}</p>'
        f'<p class="point"><b>(3) Workload</b> {_field(p.field("workload"), pid)}</p>'
    )
    rows = [("Affiliation", _field(p.field("affiliation"), pid, "; ")),
            ("Keywords", _field(p.field("keywords"), pid, "; ")), ("Urls", links),
            ("Summary", summary), ("Methods", methods), ("Conclusion", conclusion)]
    return '<dl class="notes">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _sources(p: PaperDigest) -> str:
    if not p.sources:
        return '<p class="missing">No passage of this paper is cited.</p>'
    items = []
    for s in p.sources:
        quotes = "".join(f"<blockquote>“{_e(q)}”</blockquote>" for q in (s.quotes or [s.quote]))
        items.append(f'<li id="{anchor(p.paper_id)}-s{s.n}"><span class="n">[{s.n}]</span>'
                     f'<span class="where">{_e(s.where)}</span>{quotes}</li>')
    return '<ol class="sources">' + "".join(items) + "</ol>"


def _foot(p: PaperDigest) -> str:
    parts = list(check_notes(p))
    parts.append("evidence: full text" if p.full_text else "evidence: abstract only (no PDF ingested)")
    if p.cached:
        parts.append("from cache")
    return '<p class="foot sans">' + " · ".join(parts) + "</p>"


def _card(p: PaperDigest, topic_of: dict[str, str]) -> str:
    pid = p.paper_id
    chips = []
    if p.arxiv_id:
        chips.append(f'<span class="chip">arXiv {_e(p.arxiv_id)}{f"v{p.arxiv_version}" if p.arxiv_version else ""}</span>')
    if p.date:
        chips.append(f'<span class="chip">{_e(p.date)}</span>')
    chips.append('<span class="chip full">full text</span>' if p.full_text else
                 '<span class="chip abs">abstract only</span>')
    if p.close_to:
        chips.append(f'<span class="chip close">close to: {_e(p.close_to)} ({p.relevance:.2f})</span>')
    others = [t for t in p.topics if t != topic_of.get(pid)]
    if others:
        chips.append(f'<span class="chip">also in {_e(", ".join(others))}</span>')
    comment = f'<span class="chip">{_e(p.comment)}</span>' if p.comment else ""
    title = _e(" ".join(p.title.split()))
    heading = f'<a href="{_e(safe_url(p.link))}">{title}</a>' if safe_url(p.link) else title
    takeaways = p.field("takeaways")
    items = "".join(f"<li>{_statement(s, pid)}</li>" for s in takeaways.shown) or \
        f'<li class="missing">{_e(takeaways.empty_text)}</li>'
    abstract = "".join(f"<p>{_e(' '.join(x.split()))}</p>" for x in p.abstract.split("\n\n") if x.strip())
    return (
        f'<article class="paper" id="{anchor(pid)}">'
        f"<h3>{heading}</h3>"
        f'<p class="authors sans">{_e(", ".join(p.authors)) or "authors unknown"}</p>'
        f'<div class="meta">{"".join(chips)}{comment}</div>'
        f'<p class="summary">{_field(p.field("summary"), pid)}</p>'
        f'<div class="label">Key takeaways</div><ul class="takeaways">{items}</ul>'
        f'<div class="label">Notes</div>{_notes(p)}'
        f'<details class="abstract"><summary>Abstract</summary>{abstract or NOT_STATED}</details>'
        f'<div class="label">Sources</div>{_sources(p)}'
        + (f'<details class="abstract bibtex"><summary>BibTeX</summary><pre>{_e(p.bibtex)}</pre></details>'
           if p.bibtex else "")
        + f"{_foot(p)}</article>"
    )


def render_html(d: Digest) -> str:
    topic_of: dict[str, str] = {}
    for g in d.groups:
        for pid in g.paper_ids:
            topic_of.setdefault(pid, g.name)
    nav = "".join(f'<a href="#topic-{i}">{_e(g.name)}<span>{len(g.paper_ids)}</span></a>'
                  for i, g in enumerate(d.groups, start=1))
    sections = []
    for i, g in enumerate(d.groups, start=1):
        cards = []
        for pid in g.paper_ids:
            p = d.papers[pid]
            if topic_of[pid] == g.name:
                cards.append(_card(p, topic_of))
            else:
                cards.append(f'<article class="paper also"><p>Also in this topic: <a href="#{anchor(pid)}">'
                             f'{_e(p.title)}</a> (full card under {_e(topic_of[pid])})</p></article>')
        if g.also:
            links = "".join(f'<li><a href="{_e(safe_url(a.get("link")))}">{_e(a["title"])}</a></li>'
                            if safe_url(a.get("link"))
                            else f'<li>{_e(a["title"])}</li>' for a in g.also)
            cards.append(f'<article class="paper also"><p>Also announced (less related to your library; not '
                         f'digested):</p><ul>{links}</ul></article>')
        desc = f'<p class="sans sub">{_e(g.description)}</p>' if g.description else ""
        sections.append(f'<section class="topic" id="topic-{i}"><h2>{_e(g.name)}<span class="count">'
                        f'{len(g.paper_ids)} paper{"s" if len(g.paper_ids) != 1 else ""}</span></h2>{desc}'
                        + "".join(cards) + "</section>")
    s = d.stats
    rate = s.get("grounding_pass_rate")
    checked = (f"{s.get('statements_kept', 0)} of {s.get('statements_generated', 0)} generated statements passed the "
               + ("check and the verifier" if d.verifier else "check")
               + (f" ({rate:.0%})" if rate is not None else ""))
    title = f"{d.topic} · {d.date}" if d.topic else f"Papers of {d.date}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)} — kb digest</title><style>{_CSS}</style></head><body>"
        f'<header><div class="kicker">kb daily digest</div><h1>{_e(title)}</h1>'
        f"<p>{len(d.papers)} paper{'s' if len(d.papers) != 1 else ''} in {len(d.groups)} "
        f"topic{'s' if len(d.groups) != 1 else ''}, written on this machine by {_e(d.model)}. "
        f"Every statement links to the passage it rests on; {checked}.</p>"
        '<div class="legend"><span><a class="cite" href="#">1</a> source of a statement</span>'
        f'<span><span class="check">{CHECK_MARKS[CHECK_WORDS]}</span> {_e(STATEMENT_CHECKS[CHECK_WORDS])}: found '
        "together in the cited passages (an automatic check, not proof)</span>"
        + (f'<span><span class="check">{CHECK_MARKS[CHECK_VERIFIER]}</span> also judged entailed by the verifier '
           f"{_e(d.verifier)}</span>" if d.verifier else "")
        + f'<span><q class="quoted">quote</q><span class="badge">{QUOTE_MARK} quote</span> verbatim from the paper, '
        "the sentence a statement rests on, shown where the model's rewrite of it was not supported or only "
        "copied it</span>"
        f'<span><span class="missing">{NOT_STATED}</span></span></div></header>'
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        f"<footer>Generated {_e(d.generated_at)} UTC · model {_e(d.model)} · prompts {_e(d.prompt_version)} · "
        f"embedder {_e(d.embedder)}" + (f" · verifier {_e(d.verifier)}" if d.verifier else "")
        + ". The digest pages' own summaries were not used as evidence.</footer>"
        "</body></html>\n"
    )
