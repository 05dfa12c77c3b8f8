"""`kb search`, `kb ask`, `kb eval`: thin commands over kb.answer.retrieval, kb.answer.ask and kb.answer.evaluate.

Readers never wait for a writer: they read one committed snapshot of the catalog and query the vector store
only when no writer holds it (else the catalog's stored embeddings; see kb.store.readview). Results go to stdout, notes and the
streamed (unchecked) draft of an answer to stderr; `--json` prints machine-readable results.
"""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from kb_cli.common import clean, errors_to_exit, fail, info, out, print_json, resolve_ref, session, state

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
DATE = typer.Option(None, "--date", help="Only papers of this date (YYYY-MM-DD, today, yesterday).")
SINCE = typer.Option(None, "--since", help="Only papers on or after this date.")
UNTIL = typer.Option(None, "--until", help="Only papers on or before this date.")
TOPIC = typer.Option(None, "--topic", help="Only papers of this topic.")
PAPER = typer.Option(None, "--paper", help="Only this paper (id, arXiv id or unique prefix); repeatable.")
MODE = typer.Option("hybrid", "--mode", help="Retrieval signals: hybrid (BM25 + dense, fused), bm25 or dense.")


def _filters(catalog, date, since, until, topic, papers):
    from kb.answer.retrieval import Filters

    ids = None
    if papers:
        ids = []
        for ref in papers:
            ids.append(resolve_ref(catalog, ref))
    return Filters(date=date, since=since, until=until, topic=topic, papers=ids)


def _check_mode(mode: str) -> None:
    from kb.answer.retrieval import MODES

    if mode not in MODES:
        raise fail(f"--mode must be one of: {', '.join(MODES)}")


def _generator(settings):
    from kb.backends.generators import get_generator

    return get_generator(settings.model, settings.llm_url, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                         seed=settings.seed, api_key=settings.llm_api_key)


def _short(text: str, n: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + " …"


def _cite(title: str, arxiv_id: str | None, pid: str) -> str:
    return f"{title} (arXiv:{arxiv_id})" if arxiv_id else f"{title} ({pid})"


def _where(page, section) -> str:
    parts = ([f"p. {page}"] if page else []) + ([section] if section else [])
    return ", ".join(parts)


def render_search(result) -> None:
    if not result.papers:
        info("no papers match")
        return
    for i, p in enumerate(result.papers, 1):
        out(f"{i}. {_cite(p.title, p.arxiv_id, p.paper_id)}  [{p.date or 'no date'}]")
        out(f"   score {p.score:.4f}  similarity {p.best_similarity:.3f}  bm25 rank {p.bm25_rank}  "
              f"dense rank {p.dense_rank}")
        for s in p.passages:
            out(f"   - {_where(s.page, s.section) or s.kind}: {_short(s.text)}")
    info(f"{len(result.papers)} paper(s) in {result.timings.get('total', 0):.0f} ms ({result.mode})")


def render_answer(ans) -> None:
    if ans.abstained:
        out(ans.text)
        if ans.nearest:
            out("\nNearest papers (not close enough to answer):")
            for p in ans.nearest:
                out(f"  - {_cite(p.title, p.arxiv_id, p.paper_id)}  similarity {p.best_similarity:.2f}")
        info(f"abstained: {ans.note} (similarity {ans.signals['best_similarity']:.2f}, "
             f"coverage {ans.signals['coverage']:.2f})")
        return
    out(ans.header)
    out()
    out(marked_answer(ans))
    out("\nSources:")
    for s in ans.sources:
        where = _where(s.page, s.section)
        out(f"  [{s.n}] {_cite(s.title, s.arxiv_id, s.paper_id)}{', ' + where if where else ''}")
        for quote in s.quotes or [s.quote]:
            out(f"      “{quote}”")
    legend = check_legend(ans.checks, ans.verifier)
    if legend:
        out(f"\nChecks: {legend}")
    if ans.note:
        out(f"\nNote: {ans.note}")


def _mark(text: str, mark: str) -> str:
    """`text` with `mark` after its citation markers, before its full stop: "It works [1]✓."."""
    if not mark:
        return text
    text = text.rstrip()
    if text[-1:] in ".!?" and not text.endswith("...") and text[-2:-1] not in ".!?":
        return f"{text[:-1]}{mark}{text[-1]}"
    return text + mark


def marked_answer(ans) -> str:
    """The shown sentences, each marked with the check it passed (see `check_legend`)."""
    from kb.grounding.types import CHECK_MARKS

    checks = ans.checks if len(ans.checks) == len(ans.shown) else [""] * len(ans.shown)
    return " ".join(_mark(text, CHECK_MARKS.get(c, "")) for text, c in zip(ans.shown, checks))


def check_legend(checks: list[str], verifier: str = "") -> str:
    """"✓ checked: words, numbers and bindings · † quote: verbatim from the source" for the checks present."""
    from kb.grounding.types import CHECK_LABELS, CHECK_MARKS, CHECK_QUOTE, CHECK_VERIFIER, CHECK_WORDS

    present = [c for c in (CHECK_WORDS, CHECK_VERIFIER, CHECK_QUOTE) if c in checks]
    return " · ".join(f"{CHECK_MARKS[c]} {CHECK_LABELS[c]}" + (f" {verifier}" if c == CHECK_VERIFIER and verifier else "")
                      for c in present)


def render_eval(report) -> None:
    sm = report.summary()

    def row(name: str, t: dict) -> str:
        return (f"{name:<10} R@1 {t['recall@1']:.3f}  R@5 {t['recall@5']:.3f}  R@10 {t['recall@10']:.3f}  "
                f"MRR {t['mrr']:.3f}  (n={t['n']})") if t.get("n") else f"{name:<10} (no answerable questions)"

    out(f"questions: {sm['questions']} ({sm['answerable']} answerable, {sm['expect_none']} must abstain); "
          f"mode {sm['mode']}; {sm['seconds']:.1f} s")
    out(row("retrieval", sm["retrieval"]))
    if sm["generated"]:
        out(row("answer", sm["answer"]))
        out(f"grounding  {_pct(sm['grounding_pass_rate'])} of {sm['generated_sentences']} generated sentences "
              f"supported; citations resolving to stored passages {_pct(sm['citation_resolution'])}; "
              f"fallback answers {sm['fallback_answers']}; invented papers {sm['invented_papers']}")
    a = sm["abstention"]
    out(f"abstention precision {_pct(a['precision'])}  recall {_pct(a['recall'])}  "
          f"({a['abstained']} abstained, {a['wrongly_abstained']} wrongly)")
    if sm["unknown_ids"]:
        out(f"unknown ids (not in the knowledge base): {', '.join(map(str, sm['unknown_ids']))}")
    for it in report.items:
        miss = (not it["expect_none"] and it["expected"] and it["retrieval_rank"] != 1) or \
            (it["expect_none"] != it["abstained"])
        if miss:
            out(f"  miss: rank {it['retrieval_rank']} abstained {it['abstained']}: {it['question']}")


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def register(app: typer.Typer) -> None:
    """Add `search`, `ask` and `eval` to the kb app."""

    @app.command()
    def search(
        query: str = typer.Argument(..., help="What to look for (words, a phrase or a question)."),
        date: Optional[str] = DATE, since: Optional[str] = SINCE, until: Optional[str] = UNTIL,
        topic: Optional[str] = TOPIC, paper: Optional[List[str]] = PAPER,
        k: int = typer.Option(5, "-k", min=1, max=1000, help="How many papers to list."),
        mode: str = MODE, as_json: bool = JSON,
    ) -> None:
        """Find papers: hybrid BM25 + dense retrieval, grouped by paper, with their best passages."""
        from kb.answer.retrieval import search as run_search

        _check_mode(mode)
        with session() as s, errors_to_exit(), s.catalog.snapshot():
            result = run_search(query, s.catalog, s.embedder, s.read_store, k=k, mode=mode,
                                filters=_filters(s.catalog, date, since, until, topic, paper), with_similarity=True)
        if as_json:
            print_json(result.to_dict())
        else:
            render_search(result)

    @app.command()
    def ask(
        question: str = typer.Argument(..., help="A question about the papers in the knowledge base."),
        date: Optional[str] = DATE, since: Optional[str] = SINCE, until: Optional[str] = UNTIL,
        topic: Optional[str] = TOPIC, paper: Optional[List[str]] = PAPER,
        k: int = typer.Option(5, "-k", min=1, max=1000, help="Papers retrieved as candidates."),
        mode: str = MODE,
        model: Optional[str] = typer.Option(None, "--model", help="Generation model: registered name or GGUF path."),
        llm_url: Optional[str] = typer.Option(None, "--llm-url", help="OpenAI-compatible server URL instead."),
        no_stream: bool = typer.Option(False, "--no-stream", help="Do not stream the draft to stderr."),
        bibtex: bool = typer.Option(False, "--bibtex", help="Append the BibTeX entries of the cited papers."),
        as_json: bool = JSON,
    ) -> None:
        """Answer a question from the papers, with citations checked against the passages they quote."""
        from kb.answer.ask import answer

        _check_mode(mode)
        stream = not (no_stream or as_json or state["quiet"])
        started = [False]

        def on_token(piece: str) -> None:
            if not started[0]:
                sys.stderr.write("draft (unchecked): ")
                started[0] = True
            sys.stderr.write(clean(piece))
            sys.stderr.flush()

        with session(model=model, llm_url=llm_url) as s, errors_to_exit(), s.catalog.snapshot():
            ans = answer(question, s.catalog, s.embedder, s.read_store, _generator(s.settings), k=k, mode=mode,
                         filters=_filters(s.catalog, date, since, until, topic, paper),
                         max_tokens=s.settings.max_answer_tokens, on_token=on_token if stream else None,
                         verifier=s.verifier)
            if bibtex:
                from kb.library.export import citations_for, render

                entries = render(citations_for(s.catalog, [] if ans.abstained else ans.cited_papers()), "bibtex")
        if started[0]:
            sys.stderr.write("\n\n")
        if as_json:
            print_json({**ans.to_dict(), "bibtex": entries} if bibtex else ans.to_dict())
        else:
            render_answer(ans)
            if bibtex and entries:
                print("\nBibTeX:\n")
                print(entries.rstrip())

    @app.command("eval")
    def eval_cmd(
        file: str = typer.Argument(..., help="Question file (JSON lines: {question, id} or {question, expect: none})."),
        no_generate: bool = typer.Option(False, "--no-generate", help="Retrieval and abstention only (fast)."),
        k: int = typer.Option(10, "-k", min=1, max=1000, help="Papers retrieved per question."),
        mode: str = MODE,
        model: Optional[str] = typer.Option(None, "--model", help="Generation model: registered name or GGUF path."),
        llm_url: Optional[str] = typer.Option(None, "--llm-url", help="OpenAI-compatible server URL instead."),
        as_json: bool = JSON,
    ) -> None:
        """Score retrieval (Recall@1/5/10, MRR), answer citations, grounding and abstention on a question set."""
        from kb.answer.evaluate import evaluate, load_questions

        _check_mode(mode)
        tty = sys.stderr.isatty() and not state["quiet"]

        def progress(event: str, index: int, total: int, **_) -> None:
            if tty:
                sys.stderr.write(f"\r{index}/{total} questions" + ("\n" if index == total else ""))
                sys.stderr.flush()

        with session(model=model, llm_url=llm_url) as s, errors_to_exit(), s.catalog.snapshot():
            questions = load_questions(file)
            gen = None if no_generate else _generator(s.settings)
            report = evaluate(questions, s.catalog, s.embedder, s.read_store, gen, mode=mode, k=k,
                              max_tokens=s.settings.max_answer_tokens, progress=progress,
                              verifier=None if no_generate else s.verifier)
        if as_json:
            print_json(report.to_dict())
        else:
            render_eval(report)
