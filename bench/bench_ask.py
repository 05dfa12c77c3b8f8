"""Benchmark: `kb ask` overhead vs raw llama-cpp generation, and cold `kb ask` time to the first answer token.

1. Warm, in one process (bundled models, sample corpus): for each question, `kb.answer.ask.answer` end to end (retrieval,
   prompt fitting, generation, grounding, sources), then the raw llama-cpp completion of the very same prompt
   tokens and the same number of generated tokens. Prints the ratio of medians. Target <= 1.15.
2. Cold: `kb ask` in a new process (python start, imports, model loads, retrieval, prompt evaluation) until the
   first streamed token appears on stderr. Target <= 10 s on 2 cores.

    .venv/bin/python bench/bench_ask.py [--repeat 3] [--threads N]

The knowledge base (sample corpus, real MiniLM) is built once under bench/out/ask-kb (git-ignored).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "which paper uses spatiotemporal slices",
    "How can Gaussian splatting scenes be made small enough to render on a phone?",
    "What lip-sync score does the phoneme-conditioned talking face model get on HDTF?",
]


def ensure_kb(home: Path) -> None:
    from kb.settings import Settings
    from kb.wiring import open_session

    s = open_session(Settings(home=home))
    try:
        if s.catalog.counts()["papers"] == 0:
            from kb.ingest.pipeline import ingest
            from samples.pages import write_sample_corpus

            corpus = home / "corpus"
            write_sample_corpus(corpus)
            report = ingest([str(corpus)], s.catalog, s.embedder, s.store, s.ingest_options())
            print(f"built the sample knowledge base in {report.seconds:.0f} s")
    finally:
        s.close()


def warm(home: Path, repeat: int, threads: int | None) -> None:
    from kb.answer.ask import Relevance, answer, fit_prompt, select_passages
    from kb.backends.generators import get_generator
    from kb.settings import Settings
    from kb.wiring import open_session

    s = open_session(Settings(home=home))
    gen = get_generator("smollm2-135m-instruct", n_ctx=2048, n_threads=threads, seed=0)
    llm = gen._model()
    answer(QUESTIONS[0], s.catalog, s.embedder, s.store, gen, max_tokens=128)  # warm up every model
    ratios = []
    for q in QUESTIONS:
        ours, raw, parts = [], [], None
        # interleaved (ours, raw, ours, raw ...) so drift in machine speed hits both sides alike
        for _ in range(repeat):
            t0 = time.perf_counter()
            ans = answer(q, s.catalog, s.embedder, s.store, gen, max_tokens=128)
            ours.append(time.perf_counter() - t0)
            parts = ans.timings
            if ans.abstained:
                break
            passages = select_passages(ans.retrieval, Relevance.for_embedder(s.embedder.name))  # the answer's prompt
            _, messages = fit_prompt(q, passages, gen, 128)
            tokens, stops = gen._prompt_tokens(messages)
            n = max(1, parts["completion_tokens"])
            llm.reset()
            t0 = time.perf_counter()
            out = llm.create_completion(prompt=tokens, max_tokens=n, temperature=0.0, top_k=1, seed=0, stop=stops,
                                        repeat_penalty=gen.repeat_penalty)  # the same sampling as kb's generator
            raw.append(time.perf_counter() - t0)
        if ans.abstained:
            print(f"  abstained (no generation): {q}")
            continue
        ratio = statistics.median(ours) / statistics.median(raw)
        ratios.append(ratio)
        print(f"  {q[:60]:<60} answer {statistics.median(ours):6.2f} s  raw {statistics.median(raw):6.2f} s  "
              f"ratio {ratio:.3f}  (prompt {len(tokens)} tok, {out['usage']['completion_tokens']}/{n} tok; "
              f"retrieval {parts['retrieval_ms']:.0f} ms, grounding {parts.get('grounding_ms', 0):.0f} ms)")
    if ratios:
        print(f"answer / raw generation: median ratio {statistics.median(ratios):.3f} (target <= 1.15)")
    s.close()


def cold(home: Path) -> None:
    env = dict(os.environ, KB_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    kb = str(Path(sys.executable).with_name("kb"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([kb, "ask", QUESTIONS[0]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    buf = b""
    while True:
        ch = proc.stderr.read(1)
        if not ch:
            break
        buf += ch
        if first is None and b"draft (unchecked): " in buf:
            first = time.perf_counter() - t0  # the label is written together with the first token
    proc.wait()
    total = time.perf_counter() - t0
    ok = proc.returncode == 0
    print(f"cold `kb ask` (new process): first answer token {first if first is None else round(first, 2)} s, "
          f"done {total:.2f} s, exit {proc.returncode}{'' if ok else ' ' + buf.decode()[-300:]}")
    if first is not None:
        print(f"target first token <= 10 s: {'met' if first <= 10 else 'NOT met'} (cores: {os.cpu_count()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: available cores)")
    args = ap.parse_args()
    home = ROOT / "bench" / "out" / "ask-kb"
    ensure_kb(home)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    warm(home, args.repeat, args.threads)
    cold(home)


if __name__ == "__main__":
    main()
