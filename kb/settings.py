"""One typed settings object. Precedence: explicit arguments > KB_* environment variables >
KB_HOME/config.toml > defaults. `kb config` shows and edits the file."""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kb.types import KbError

CONFIG_FILE = "config.toml"


def expand_home(value: str | os.PathLike) -> Path:
    """A KB_HOME as the user wrote it, made absolute once: "~" and $VARS expanded, relative to the current folder.
    An empty value is an error (never the current folder by accident)."""
    text = str(value).strip()
    if not text:
        raise KbError("KB_HOME is set but empty; unset it to use ~/.kb, or give a folder")
    return Path(os.path.expandvars(text)).expanduser().absolute()


def default_home() -> Path:
    value = os.environ.get("KB_HOME")
    return expand_home(value) if value is not None else Path.home() / ".kb"


def read_config(path: Path, repair: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(settings, dropped lines) of a config.toml. A malformed file is a KbError naming the file and line, unless
    `repair`: then every line that parses on its own is kept and the others are returned as dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as e:
        raise KbError(f"{path}: cannot read the settings file ({getattr(e, 'strerror', None) or e})") from None
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as e:
        if not repair:
            m = re.search(r"\(at line (\d+), column \d+\)|\(at end of document\)", str(e))
            line = m.group(1) if m and m.group(1) else str(text.count("\n") + 1)
            msg = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", str(e))
            raise KbError(f"{path}:{line}: not valid TOML ({msg}); fix that line, or `kb config set KEY VALUE` "
                          "rewrites the file keeping its valid lines") from None
    data: dict[str, Any] = {}
    dropped = []
    for line in text.splitlines():
        try:
            data.update(tomllib.loads(line))
        except tomllib.TOMLDecodeError:
            if line.strip():
                dropped.append(line)
    return data, dropped


class _TomlSource(PydanticBaseSettingsSource):
    """Reads KB_HOME/config.toml (flat keys, same names as the fields)."""

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC, unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data, _ = read_config(default_home() / CONFIG_FILE)
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
    verifier: str | None = Field(None, description="Optional verifier run after the grounding check on what it kept: "
                                 "none (default) | an NLI cross-encoder folder or hub id | openai:URL of an "
                                 "OpenAI-compatible server")
    verifier_model: str = Field("default", description="Model name sent to an OpenAI-compatible verifier server")
    verifier_api_key: str | None = Field(None, description="API key for an OpenAI-compatible verifier, if it needs one")
    verifier_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Entailment probability a sentence needs "
                                      "from the verifier to be kept")
    lock_timeout: float = Field(30.0, description="Seconds a writer waits for another kb process before giving up")

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value):
        return expand_home(value)

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


def load_settings(**overrides) -> Settings:
    """Settings from arguments, KB_* variables and config.toml; a bad value is a KbError naming the setting and
    where it came from (never a traceback)."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise KbError(_explain(e)) from None


def _explain(e: ValidationError) -> str:
    bad = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']} (got {x.get('input')!r})" for x in e.errors())
    return f"invalid setting: {bad}"


def write_config_value(key: str, value: str) -> tuple[Path, list[str]]:
    """Set one key in KB_HOME/config.toml (validated against the Settings fields). Returns the file and the lines
    dropped from a malformed file (the old file is kept as config.toml.bak then)."""
    if key not in Settings.model_fields:
        raise KbError(f"unknown setting '{key}'; known: {', '.join(sorted(Settings.model_fields))}")
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE
    data, dropped = read_config(path, repair=True)
    data[key] = value
    from pydantic import TypeAdapter

    try:  # each value on its own type (building Settings would read the very file being repaired)
        for k, v in data.items():
            if k in Settings.model_fields:
                typed = TypeAdapter(Settings.model_fields[k].annotation).validate_python(v)
                if k == key and isinstance(typed, (bool, int, float)):
                    data[k] = typed  # written as a TOML number/boolean, not a string
    except ValidationError as e:
        raise KbError(f"bad value for {k}: {e.errors()[0]['msg']} (got {str(v)[:60]!r})") from None
    if dropped:
        path.with_name(CONFIG_FILE + ".bak").write_bytes(path.read_bytes())
    lines = [f"{k} = {_toml_value(v)}" for k, v in sorted(data.items())]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path, dropped


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
