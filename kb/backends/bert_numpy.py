"""A NumPy forward pass for small BERT sentence encoders (all-MiniLM-L6-v2 and its kind).

Why: importing torch + sentence-transformers costs about 7 s on 2 cores, and `kb ask` / `kb search` only
embed one short query. This module reads the same `model.safetensors` and `tokenizer.json` the
sentence-transformers folder holds and computes the same vectors (mean pooling, L2 normalisation) with NumPy:
no torch import, a few milliseconds per query. Ingest keeps using sentence-transformers for large batches.

Only plain BERT encoders with absolute positions, GELU and mean pooling are supported; `load_numpy_bert`
returns None for anything else so callers fall back to sentence-transformers.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, 0.5 x (1 + erf(x / sqrt 2)), with erf by Abramowitz & Stegun 7.1.26 (absolute error below
    1.5e-7). Computed in place on a few float32 buffers: the naive expression made ten temporaries the size of
    the feed-forward layer and took longer than the layer's matrix product (9.0 ms vs 5.1 ms for 480 tokens)."""
    a = np.abs(x)
    a *= np.float32(1.0 / math.sqrt(2.0))
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # 1 - erf(|x| / sqrt 2)
    p *= np.float32(0.5)
    p *= x  # q = x (1 - erf|z|) / 2: the GELU where x < 0, and x - q where x >= 0
    np.subtract(x, p, out=p, where=x >= 0)
    return p


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@dataclass
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden), transposed for x @ w
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class NumpyBert:
    """BERT encoder + mean pooling + L2 normalisation, equal to the sentence-transformers pipeline."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], tokenizer: Any, max_tokens: int):
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        w = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self.layers.append(_Layer(
                qkv_w=np.concatenate([w[att + n + ".weight"] for n in ("query", "key", "value")]).T.copy(),
                qkv_b=np.concatenate([w[att + n + ".bias"] for n in ("query", "key", "value")]),
                out_w=w[p + "attention.output.dense.weight"].T.copy(),
                out_b=w[p + "attention.output.dense.bias"],
                ln1_w=w[p + "attention.output.LayerNorm.weight"],
                ln1_b=w[p + "attention.output.LayerNorm.bias"],
                up_w=w[p + "intermediate.dense.weight"].T.copy(),
                up_b=w[p + "intermediate.dense.bias"],
                down_w=w[p + "output.dense.weight"].T.copy(),
                down_b=w[p + "output.dense.bias"],
                ln2_w=w[p + "output.LayerNorm.weight"],
                ln2_b=w[p + "output.LayerNorm.bias"],
            ))

    def _ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text with [CLS]/[SEP], truncated to `max_tokens` like sentence-transformers does."""
        rows = []
        for enc in self.tokenizer.encode_batch(list(texts)):
            ids = list(enc.ids)
            if len(ids) > self.max_tokens:  # keep [SEP] at the end, as the HF tokenizer's truncation does
                ids = ids[: self.max_tokens - 1] + ids[-1:]
            rows.append(ids)
        return rows

    def embed(self, texts: list[str], batch_tokens: int = 512) -> np.ndarray:
        """Unit vectors for `texts`; texts of similar length are batched together so little padding is computed."""
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        with _one_blas_thread():
            return self._embed(texts, batch_tokens)

    def _embed(self, texts: list[str], batch_tokens: int) -> np.ndarray:
        rows = self._ids(texts)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = np.zeros((len(rows), self.hidden), dtype=np.float32)
        start = 0
        while start < len(order):
            longest = len(rows[order[start]])
            end = start + 1
            while end < len(order) and (end - start + 1) * len(rows[order[end]]) <= batch_tokens:
                end += 1
            group = order[start:end]
            out[group] = self._forward([rows[i] for i in group])
            start = end
        return out

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        batch, seq = len(rows), max(len(r) for r in rows)
        ids = np.zeros((batch, seq), dtype=np.int64)
        mask = np.zeros((batch, seq), dtype=np.float32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = (self.word[ids] + self.pos[:seq][None, :, :] + self.type0).reshape(batch * seq, self.hidden)
        x = _layer_norm(x, *self.emb_ln, self.eps)
        head_dim = self.hidden // self.heads
        scale = 1.0 / math.sqrt(head_dim)
        bias = ((1.0 - mask) * -1e30).astype(np.float32)[:, None, None, :]
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(batch, seq, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0] * scale, qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2) + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, self.hidden)
            x = _layer_norm(ctx @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self.eps)
            h = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(h @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self.eps)
        x = x.reshape(batch, seq, self.hidden)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (pooled / norms).astype(np.float32)


_CONTROLLER: Any = None


def _one_blas_thread() -> Any:
    """Run BLAS on one thread: OpenBLAS threads spin while waiting, and on a busy 2-core machine two of them made
    a grounding batch 13x slower (6.6 s vs 0.5 s measured with llama.cpp and another job running); one thread is
    within ~30% of two on a quiet one."""
    global _CONTROLLER
    if _CONTROLLER is False:
        return contextlib.nullcontext()
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception as exc:  # noqa: BLE001 - threadpoolctl missing or unable to inspect the BLAS: run as is
        log.debug("cannot limit BLAS threads (%s)", exc)
        _CONTROLLER = False
        return contextlib.nullcontext()


def load_numpy_bert(folder: Path, max_tokens: int) -> NumpyBert | None:
    """A `NumpyBert` for a sentence-transformers folder, or None when the folder is not a plain mean-pooled BERT."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
            return None
        normalised = "Normalize" in kinds
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")
        ):
            return None
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            return None
        if config.get("position_embedding_type", "absolute") != "absolute":
            return None
        if not normalised:
            return None  # our vectors are always unit-length; un-normalised models take the torch path
        weights_file = folder / "model.safetensors"
        tok_file = folder / "tokenizer.json"
        if not weights_file.is_file() or not tok_file.is_file():
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tok_file))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return NumpyBert(load_file(str(weights_file)), config, tokenizer, max_tokens)
    except (OSError, ValueError, KeyError, IndexError, TypeError, ImportError) as exc:
        log.debug("numpy encoder unavailable for %s (%s)", folder, exc)
        return None
