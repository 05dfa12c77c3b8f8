#!/usr/bin/env bash
# Run the whole test suite (unit tests with fakes + end-to-end tests with the real bundled models).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
