"""`python -m samples.build DIR`: write the bundled sample corpus (our own synthetic papers) into DIR."""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m samples.build DIR", file=sys.stderr)
        return 2
    from samples.pages import write_sample_corpus

    paths = write_sample_corpus(Path(argv[0]))
    print(f"wrote {len(paths)} sample files to {argv[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
