#!/usr/bin/env bash
# The main job on the bundled defaults: write the sample corpus (our own synthetic papers: PDFs, a digest page,
# an arXiv Atom feed), ingest it, write the day's digest, and answer a question with citations.
# Uses KB_HOME=./.kb/demo unless KB_HOME is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export KB_HOME=${KB_HOME:-$PWD/.kb/demo}
KB=.venv/bin/kb
samples="$KB_HOME/samples"
.venv/bin/python -m samples.build "$samples"
echo "== kb ingest $samples" >&2
$KB ingest "$samples"
echo "== kb list --date 2024-05-22" >&2
$KB list --date 2024-05-22
echo "== kb digest --date 2024-05-22" >&2
$KB digest --date 2024-05-22
echo "== kb ask 'which paper uses spatiotemporal slices'" >&2
$KB ask "which paper uses spatiotemporal slices"
