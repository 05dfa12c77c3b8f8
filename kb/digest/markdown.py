"""Digest output: Markdown in the daily digest pages' format. (Dispatch and JSON: kb.digest.render; HTML: kb.digest.html.)

The Markdown page follows the third-party pages kb ingests (Hexo front matter; a "# DATE 更新" heading; per paper
"## Title", "**Authors:...**", the abstract, "[PDF](link) comment", **Summary**, **Key Takeaways**, and the
structured notes as an HTML <ol>), so `kb ingest` of a generated page parses back to the same papers, with the
generated text landing in the digest annotation, never in the abstract. Differences from the model pages:
- every statement ends with citation markers [n]; each paper's "Sources" (in a <details> block after the notes,
  which the parser skips) lists [n] page, section and the quoted sentences;
- each statement is marked with the check it passed: ✓ the deterministic check (words, numbers and bindings),
  ✓✓ that and the verifier (KB_VERIFIER), † a verbatim quote shown instead of an unsupported statement or added
  to fill a list; a legend in the page's preface and in each paper's Sources block says so;
- a field the sources do not support reads "not stated in the sources";
- third-party text (titles, authors, abstracts, comments, quotes, section names) and generated text are made inert:
  HTML tags and entities are escaped and link brackets are written as entities (`md_text`), so a planted
  `<script>`, `<img onerror=...>` or `[x](javascript:...)` shows as text on the published page; links are http(s)
  only. The page parser unescapes them, so the round trip still gives the same papers;
- one page may hold several topics: a "# Topic" heading before each topic's papers (a paper listed under two
  topics appears under both, as on the model pages). The front matter's title is the topic when there is one,
  else "Daily digest DATE" (which `kb ingest` then records as the papers' topic).
"""
from __future__ import annotations

import html
import json
import re

from kb.digest.types import (NOT_STATED, QUOTE_MARK, STATEMENT_CHECKS, Digest, Field, PaperDigest, Statement,
                             check_notes, safe_url)
from kb.grounding.types import CHECK_MARKS, CHECK_QUOTE, CHECK_VERIFIER, CHECK_WORDS

NOTES_LINK = "**[ChatPaper-style notes, written locally by kb](#)**"
# why a quote is shown: the sentence a statement rests on, where the model's rewrite of it was not supported
# (by the check or the verifier) or only copied it
_QUOTE_WHY = (" (the sentence a statement rests on, shown where the model's rewrite of it was not supported or only "
              "copied it)")


# ------------------------------------------------------------------------------------------------ statements


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # terminal escapes (ESC ...) never reach the page


def md_text(text: str) -> str:
    """Text made inert in Markdown and HTML: one line, `&`, `<`, `>` escaped, `[` `]` as entities (no link syntax)."""
    text = html.escape(" ".join(_CONTROLS.sub("", text).split()), quote=False)
    return text.replace("[", "&#91;").replace("]", "&#93;")


def _plain(text: str) -> str:
    return " ".join(text.split())


def statement_text(s: Statement, esc=_plain) -> str:
    """One statement with its markers and the mark of its check: "Text [1][2]✓." or, for a quote,
    "“Quoted text” [3]†". `esc` is applied to the statement's own text (md_text in the Markdown page), never to
    the markers or the mark."""
    body = esc(s.text)
    marks = "".join(f"[{n}]" for n in s.citations)
    if s.is_quote:
        body = body[:-1] if body.endswith(".") else body
        return f"“{body}” {marks}{QUOTE_MARK}".strip()
    end = ""
    if body and body[-1] in ".!?":
        body, end = body[:-1].rstrip(), body[-1]
    if not marks:
        return body + s.mark + end
    return f"{body} {marks}{s.mark}{end or '.'}"


def field_text(f: Field, sep: str = " ", esc=_plain) -> str:
    """A field's shown statements joined, or NOT_STATED (with the reason when known: "the paper is a survey")."""
    if f.shown:
        return sep.join(statement_text(s, esc) for s in f.shown)
    return f.empty_text


def date_line(d: Digest) -> str:
    return f"{d.date} {d.generated_at[11:19] or '00:00:00'}"


def _yaml(value: str) -> str:
    """A front-matter scalar: plain when safe, else double-quoted (JSON strings are valid YAML)."""
    value = html.escape(" ".join(value.split()), quote=False)
    if value and not re.search(r"[:#'\"\[\]{},&*!|>%@`]", value) and not value[0] in "-?":
        return value
    return json.dumps(value, ensure_ascii=False)


def page_title(d: Digest) -> str:
    if d.topic:
        return d.groups[0].name if d.groups else d.topic
    if len(d.groups) == 1:
        return d.groups[0].name
    return f"Daily digest {d.date}"


# ------------------------------------------------------------------------------------------------ markdown


def render_markdown(d: Digest) -> str:
    first = next((d.papers[g.paper_ids[0]].title for g in d.groups if g.paper_ids), "")
    tags = [g.name for g in d.groups]
    lines = [
        "---",
        f"title: {_yaml(page_title(d))}",
        f"date: {date_line(d)}",
        "author: kb",
        "categories: Paper",
        "tags:",
        *[f"    - {_yaml(t)}" for t in tags],
        "description: " + _yaml(f"{len(d.papers)} papers of {d.date} in {len(d.groups)} topics, written locally by "
                                f"{d.model}, every statement cited. First: {first}"),
        f"keywords: {_yaml(', '.join(tags))}",
        "mathjax: true",
        "---",
        "",
        f">Written on this machine by kb with {d.model} (prompts {d.prompt_version}). Every generated statement "
        "was checked against the paper's own text and ends with its sources [n], listed under each paper.",
        f">{legend(d.verifier)}; \"{NOT_STATED}\" marks what the papers do not say. The digest pages' own "
        "summaries were not used as evidence.",
        "",
        f"# {d.date} 更新",
        "",
    ]
    for group in d.groups:
        if len(d.groups) > 1 or group.name != page_title(d):
            lines += [f"# {group.name}", ""]
        for pid in group.paper_ids:
            lines += paper_markdown(d.papers[pid])
        lines += also_markdown(group.also)
    return "\n".join(lines).rstrip() + "\n"


def paper_link(p: PaperDigest) -> str:
    """The [PDF](...) target: the paper's http(s) link, else its arXiv page; never a javascript:/data: link."""
    link = safe_url(p.link) or safe_url(p.pdf_url)
    if link is None and p.arxiv_id:
        link = f"https://arxiv.org/abs/{p.arxiv_id}" + (f"v{p.arxiv_version}" if p.arxiv_version else "")
    return re.sub(r"[()<>\s\\]", lambda m: "%{:02X}".format(ord(m.group(0))), link or "")


def paper_markdown(p: PaperDigest) -> list[str]:
    abstract = "\n\n".join(md_text(para) for para in p.abstract.split("\n\n") if para.strip())
    lines = [
        "",
        f"## {md_text(p.title)}",
        "",
        f"**Authors:{md_text(', '.join(p.authors))}**",
        "",
        abstract or NOT_STATED,
        "",
        f"[PDF]({paper_link(p)}) {md_text(p.comment or '')}".rstrip(),
        "",
        "**Summary**",
        field_text(p.field("summary"), esc=md_text),
        "",
        "**Key Takeaways**",
        *[f"- {statement_text(s, md_text)}" for s in p.field("takeaways").shown],
    ]
    if p.field("takeaways").not_stated:
        lines.append(f"- {p.field('takeaways').empty_text}")
    lines += ["", NOTES_LINK, "", notes_html(p), "", *sources_markdown(p), ""]
    if p.close_to:  # after the Sources block, where the page parser does not look
        lines += [f"*Close to your library: {md_text(p.close_to)} (relevance {p.relevance:.2f})*", ""]
    return lines + [""]


def also_markdown(also: list[dict]) -> list[str]:
    """A topic's papers below its min_relevance: title and link only."""
    if not also:
        return []
    lines = ["**Also announced** (less related to your library; not digested)", ""]
    for a in also:
        title, link = md_text(a["title"]), safe_url(a.get("link"))
        lines.append(f"- [{title}]({link})" if link else f"- {title}")
    return lines + ["", ""]


_esc = md_text  # the notes are an HTML block; a blank line would end it, so md_text's one line matters too


def notes_html(p: PaperDigest) -> str:
    """The structured notes as the <ol> fragment the model pages use (English labels)."""

    def item(label: str, body: str) -> str:  # body: already inert (md_text), markers [n] left readable
        return f"<li>\n<p>{label}: {body}</p>\n</li>"

    def points(label: str, parts: list[tuple[str, str]]) -> str:
        paras = "\n".join(f"<p>({i}): {_esc(sub)}: {text}</p>" if sub else f"<p>({i}): {text}</p>"
                          for i, (sub, text) in enumerate(parts, start=1))
        return f"<li>\n<p>{label}:</p>\n{paras}\n</li>"

    def text(name: str, sep: str = " ") -> str:
        return field_text(p.field(name), sep, md_text)

    steps = p.field("steps").shown
    # the results are shown once, under Summary (4); Conclusion adds innovation and workload, each on its own line
    items = [
        item("Title", _esc(p.title)),
        item("Authors", _esc(", ".join(p.authors)) or NOT_STATED),
        item("Affiliation", text("affiliation", "; ")),
        item("Keywords", text("keywords", "; ")),
        item("Urls", _esc(", ".join(s.text for s in p.field("urls").shown)) or NOT_STATED),
        points("Summary", [("Research background", text("background")),
                           ("Past methods and their problem", text("prior_methods")),
                           ("Proposed method", text("method")),
                           ("Task and performance", text("results"))]),
        points("Methods", [("", statement_text(s, md_text)) for s in steps] or [("", text("steps"))]),
        points("Conclusion", [("Significance", text("significance")), ("Innovation", text("innovation")),
                              ("Workload", text("workload"))]),
    ]
    return "<ol>\n" + "\n".join(items) + "\n</ol>"


def statement_roles(p: PaperDigest) -> list[str]:
    """Each shown generated-field statement's role and kind, in page order: "Summary: contribution, compressed"."""
    out = []
    for name, f in p.fields.items():
        shown = [s for s in f.shown if s.kind != "extracted" and (s.role or s.kind)]
        for i, s in enumerate(shown, start=1):
            label = f.label + (f" {i}" if len(shown) > 1 else "")
            out.append(f"{label}: {s.role or 'unknown'}, {s.kind or 'unknown'}")
    return out


def sources_markdown(p: PaperDigest) -> list[str]:
    """The paper's sources and the marks' legend, inside a <details> block (skipped by the page parser)."""
    lines = ["<details open>", "  <summary>Sources</summary>", ""]
    for s in p.sources:
        quotes = " … ".join(f"“{q}”" for q in (s.quotes or [s.quote]))
        lines.append(f"- [{s.n}] {md_text(s.where)}: {md_text(quotes)}")
    if not p.sources:
        lines.append("- no passage of this paper is cited")
    roles = statement_roles(p)
    if roles:
        lines += ["", "Statements (field: role, kind): " + "; ".join(roles) + "."]
    notes = []
    present = {CHECK_QUOTE if st.is_quote else st.check for st in p.statements() if st.shown}
    marks = [f"{CHECK_MARKS[c]} {STATEMENT_CHECKS[c]}" + (_QUOTE_WHY if c == CHECK_QUOTE else "")
             for c in (CHECK_WORDS, CHECK_VERIFIER, CHECK_QUOTE) if c in present]
    if marks:
        notes.append("Marks: " + "; ".join(marks) + ".")
    notes += [n + "." for n in check_notes(p)]
    scope = "the full text (PDF)" if p.full_text else "the abstract only (no PDF ingested)"
    notes.append(f"Evidence: {scope}.")
    lines += ["", " ".join(notes), "", "</details>"]
    return lines


def legend(verifier: str = "") -> str:
    """The marks' legend: what check a marked statement passed (never more than it earned)."""
    words = ("its words, numbers and what they are bound to were found together in the cited passages; an automatic "
             "check, not proof")
    if verifier:
        checked = (f"{CHECK_MARKS[CHECK_VERIFIER]} {STATEMENT_CHECKS[CHECK_WORDS]} ({words}), and judged entailed by "
                   f"the cited passages by the verifier {verifier}")
    else:
        checked = f"{CHECK_MARKS[CHECK_WORDS]} {STATEMENT_CHECKS[CHECK_WORDS]} ({words})"
    quote = (f"{QUOTE_MARK} {STATEMENT_CHECKS[CHECK_QUOTE]}{_QUOTE_WHY}; affiliation, keywords and URLs are "
             "copied from the paper")
    return f"Marks after the sources: {checked}; {quote}"
