"""One typed settings object. Precedence: explicit arguments > KB_* environment variables >
KB_HOME/config.toml > defaults. `kb config` shows and edits the file."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_FILE = "config.toml"


def default_home() -> Path:
    return Path(os.environ.get("KB_HOME") or Path.home() / ".kb").expanduser()


class _TomlSource(PydanticBaseSettingsSource):
    """Reads KB_HOME/config.toml (flat keys, same names as the fields)."""

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC, unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = default_home() / CONFIG_FILE
        if not path.is_file():
            return {}
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return {k: v for k, v in data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Folder holding the catalog, index and outputs")
    embedder: str = Field("all-MiniLM-L6-v2", description="Embedding model: registered name, local path or hub id")
    embed_batch_size: int = Field(64, description="Texts per embedding batch")
    vector_store: str = Field("chroma", description="Vector store backend: chroma | memory")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:port); embedded when unset")
    chunk_tokens: int = Field(200, description="Target chunk size in embedder word pieces (window is 256)")
    chunk_overlap: int = Field(32, description="Word pieces shared by consecutive chunks of one section")
    model: str = Field("smollm2-135m-instruct", description="Generation model: registered name or GGUF path")
    llm_url: str | None = Field(None, description="OpenAI-compatible server URL (llama-server, vLLM) instead of a GGUF")
    llm_api_key: str | None = Field(None, description="API key for llm_url, if it needs one")
    n_ctx: int = Field(2048, description="Context window for the local model (tokens)")
    n_threads: int | None = Field(None, description="Generation threads; default: available cores")
    seed: int = Field(0, description="Sampling seed (generation is deterministic for a given seed)")
    max_answer_tokens: int = Field(200, description="Tokens generated per answer")
    arxiv_api_url: str = Field("http://export.arxiv.org/api/query", description="arXiv API endpoint (`kb ingest arxiv:ID`, `kb fetch`)")
    arxiv_feed_url: str = Field("https://rss.arxiv.org/atom", description="arXiv Atom listing feed base; kb appends /cat+cat")
    arxiv_delay: float = Field(3.0, ge=0, description="Seconds between any two requests to arXiv from this KB_HOME")
    contact: str = Field("", description="Your e-mail, sent in the User-Agent of requests to arXiv (arXiv asks for one)")
    lock_timeout: float = Field(30.0, description="Seconds a writer waits for another kb process before giving up")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # Derived paths -------------------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def digests_dir(self) -> Path:
        return self.home / "digests"

    @property
    def lock_path(self) -> Path:
        return self.home / "kb.lock"


def write_config_value(key: str, value: str) -> Path:
    """Set one key in KB_HOME/config.toml (validated against the Settings fields)."""
    if key not in Settings.model_fields:
        from kb.types import KbError

        raise KbError(f"unknown setting '{key}'; known: {', '.join(sorted(Settings.model_fields))}")
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        with open(path, "rb") as f:
            data = tomllib.load(f)
    data[key] = value
    Settings.model_validate({**data})  # raises on a bad value before anything is written
    lines = [f"{k} = {_toml_value(v)}" for k, v in sorted(data.items())]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
