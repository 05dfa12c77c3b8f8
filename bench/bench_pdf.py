"""Benchmark: pages per second of `kb.ingest.parsers.pdf.parse_pdf` against plain `page.get_text()` on the same files.

Run: `python bench/bench_pdf.py [--files 40] [--repeat 14] [--rounds 3]`. Generates multi-page sample PDFs
(mixed layouts: one/two columns, line numbers, arXiv stamp, hyphenation, running headers) in a temp folder,
then times both readers over all files in the same process; the best of `--rounds` is reported for each.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.ingest.parsers.pdf import load_pymupdf, parse_pdf  # noqa: E402
from samples.corpus import PAPERS  # noqa: E402
from samples.pdfgen import render_pdf  # noqa: E402


def make_corpus(folder: Path, files: int, repeat: int) -> list[Path]:
    """Render `files` PDFs cycling through layout options; returns their paths."""
    combos = itertools.cycle(itertools.product([False, True], repeat=4))
    paths = []
    for i in range(files):
        two_col, numbers, stamp, hyphen = next(combos)
        spec = dict(PAPERS[i % len(PAPERS)])
        paths.append(render_pdf(spec, folder / f"paper{i:03d}.pdf", two_column=two_col, line_numbers=numbers,
                                arxiv_stamp=stamp, hyphenate=hyphen, repeat=repeat,
                                running_header="Preprint. Under review." if i % 2 else None))
    return paths


def plain_pass(paths: list[Path]) -> int:
    """Open every file and call `page.get_text()` on every page; returns the page count."""
    pymupdf = load_pymupdf()
    pages = 0
    for path in paths:
        with pymupdf.open(path) as doc:
            for page in doc:
                page.get_text()
                pages += 1
    return pages


def parser_pass(paths: list[Path]) -> int:
    """Run `parse_pdf` on every file; returns the page count (fails loudly on a parse error)."""
    pages = 0
    for path in paths:
        result = parse_pdf(path)
        if result.errors:
            raise SystemExit(f"parse failed: {result.errors[0]}")
        pages += len(result.papers[0].pages)
    return pages


def best_rate(fn, paths: list[Path], rounds: int) -> tuple[float, float, int]:  # noqa: ANN001
    """Best pages/s over `rounds` runs of `fn(paths)`, by wall clock and by this process's CPU time
    (the CPU figure is steadier when other work shares the machine)."""
    best_wall = best_cpu = 0.0
    pages = 0
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        pages = fn(paths)
        best_wall = max(best_wall, pages / (time.perf_counter() - wall))
        best_cpu = max(best_cpu, pages / max(time.process_time() - cpu, 1e-9))
    return best_wall, best_cpu, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=18, help="paragraph repeats per section (paper length)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-bench-pdf-") as tmp:
        start = time.perf_counter()
        paths = make_corpus(Path(tmp), args.files, args.repeat)
        print(f"generated {len(paths)} PDFs in {time.perf_counter() - start:.1f} s")
        plain_pass(paths)  # warm the page cache and PyMuPDF
        plain, plain_cpu, pages = best_rate(plain_pass, paths, args.rounds)
        parsed, parsed_cpu, _ = best_rate(parser_pass, paths, args.rounds)
    print(f"pages: {pages} in {len(paths)} files")
    print(f"{'':24}{'wall':>12}{'cpu':>12}")
    print(f"{'plain page.get_text()':24}{plain:8.1f} p/s{plain_cpu:8.1f} p/s")
    print(f"{'parse_pdf':24}{parsed:8.1f} p/s{parsed_cpu:8.1f} p/s")
    print(f"{'ratio parse_pdf/plain':24}{parsed / plain:12.2f}{parsed_cpu / plain_cpu:12.2f}")


if __name__ == "__main__":
    main()
