"""Verifiers: an optional second opinion on the sentences the deterministic grounding check kept.

One small interface, `Verifier.verify(pairs) -> list[float]`: for each (premise, claim) pair, the probability that
the premise entails the claim. `accepts(score)` compares it with the verifier's threshold. Backends:
- `CrossEncoderVerifier`: an NLI cross-encoder (sentence-transformers `CrossEncoder`) from a local folder, or a hub
  id when online; loaded lazily on the first `verify` call, so importing this module never imports torch. The
  entailment probability is the softmax column the model's config labels "entailment" (a one-label model's
  sigmoid score is taken as is).
- `OpenAIVerifier`: an OpenAI-compatible chat server asked a yes/no entailment question (prompt in kb.prompts);
  "yes" is 1.0, "no" 0.0, anything else 0.0 (an answer we cannot read never vouches for a claim).
- `FakeVerifier`: a deterministic stand-in for tests (share of the claim's words found in the premise, or any
  function), registered as "fake" through the same hook (`register_verifier`) the real backends use.

`get_verifier(setting)` builds one from the `verifier` setting (KB_VERIFIER): unset / "none" / "off": no verifier;
a registered name; "openai:" + URL or an http(s) URL: an OpenAI-compatible server; anything else: a cross-encoder
folder or hub id.
"""
from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Sequence

from kb.backends.hfenv import prepare_hf_env
from kb.types import KbError

log = logging.getLogger(__name__)

Pair = tuple[str, str]  # (premise, claim)
DEFAULT_THRESHOLD = 0.5
OFF = ("", "none", "off", "false", "0")


class Verifier(ABC):
    """Scores whether premises entail claims. `name` is shown in labels and keys cached digests."""

    name: str = "verifier"
    threshold: float = DEFAULT_THRESHOLD

    @abstractmethod
    def verify(self, pairs: Sequence[Pair]) -> list[float]:
        """For each (premise, claim), the probability in [0, 1] that the premise entails the claim."""

    def accepts(self, score: float) -> bool:
        return score >= self.threshold

    @property
    def key(self) -> str:
        """What decides this verifier's verdicts (cached digests are keyed on it)."""
        return f"{self.name}@{self.threshold:g}"


# ---------------------------------------------------------------------------------------------------------------
# NLI cross-encoder


class CrossEncoderVerifier(Verifier):
    """An NLI cross-encoder from a local folder (offline) or a hub id (needs network), loaded on first use."""

    def __init__(self, model_path_or_name: str, threshold: float = DEFAULT_THRESHOLD, device: str = "cpu",
                 batch_size: int = 16):
        self.model_path_or_name = str(model_path_or_name)
        self.name = self.model_path_or_name
        self.threshold = threshold
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._column: int | None = None  # the entailment column of a multi-label model
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            prepare_hf_env(local=Path(self.model_path_or_name).expanduser().is_dir())
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as exc:
                raise KbError(f"verifier {self.name}: sentence-transformers is not installed ({exc})") from exc
            log.info("loading verifier %s on %s", self.model_path_or_name, self.device)
            try:
                model = CrossEncoder(self.model_path_or_name, device=self.device)
            except (OSError, ValueError) as exc:  # missing/invalid folder, unknown hub id, offline
                raise KbError(f"verifier {self.name}: cannot load cross-encoder {self.model_path_or_name} "
                              f"({exc})") from exc
            if int(model.num_labels) > 1:
                self._column = entailment_column(getattr(model.config, "id2label", None) or {}, self.name)
            self._model = model
            return model

    def verify(self, pairs: Sequence[Pair]) -> list[float]:
        if not pairs:
            return []
        model = self._load()
        inputs = [(premise, claim) for premise, claim in pairs]
        if self._column is None:  # one output: the model's own activation (sigmoid) gives the probability
            scores = model.predict(inputs, batch_size=self.batch_size, show_progress_bar=False)
            return [float(s) for s in scores]
        probs = model.predict(inputs, batch_size=self.batch_size, show_progress_bar=False, apply_softmax=True)
        return [float(row[self._column]) for row in probs]


def entailment_column(id2label: dict, name: str = "verifier") -> int:
    """The output index a model's config labels "entailment" (or "entails", "ENTAILMENT", ...)."""
    for idx, label in id2label.items():
        if str(label).strip().lower().startswith("entail"):
            return int(idx)
    raise KbError(f"verifier {name}: the model's labels {sorted(map(str, id2label.values()))} name no "
                  "'entailment' class; use an NLI cross-encoder")


# ---------------------------------------------------------------------------------------------------------------
# OpenAI-compatible server

_YES_NO = re.compile(r"\b(yes|no)\b", re.I)


class OpenAIVerifier(Verifier):
    """Asks an OpenAI-compatible chat server whether the premise supports the claim; parses yes / no."""

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD, timeout: float = 60.0):
        from kb.backends.generators import OpenAICompatGenerator

        self.generator = OpenAICompatGenerator(base_url, model=model, api_key=api_key, timeout=timeout)
        self.name = self.generator.name
        self.threshold = threshold

    @property
    def key(self) -> str:
        from kb.prompts import VERIFY_PROMPT_VERSION

        return f"{self.name}@{self.threshold:g}/{VERIFY_PROMPT_VERSION}"

    def verify(self, pairs: Sequence[Pair]) -> list[float]:
        from kb.prompts import verify_messages

        out = []
        for premise, claim in pairs:
            reply = self.generator.generate(verify_messages(premise, claim), max_tokens=4).text
            out.append(parse_yes_no(reply))
        return out


def parse_yes_no(reply: str) -> float:
    """1.0 when the reply's first yes/no word is "yes", else 0.0 (no, or nothing readable)."""
    m = _YES_NO.search(reply or "")
    return 1.0 if m and m.group(1).lower() == "yes" else 0.0


# ---------------------------------------------------------------------------------------------------------------
# Fake

_WORD = re.compile(r"\w+")


def word_containment(premise: str, claim: str) -> float:
    """Share of the claim's (lower-cased) words that occur in the premise."""
    words = set(_WORD.findall(claim.lower()))
    have = set(_WORD.findall(premise.lower()))
    return len(words & have) / len(words) if words else 0.0


class FakeVerifier(Verifier):
    """Deterministic verifier for tests: `score(premise, claim)` (default: word containment). Records its calls."""

    def __init__(self, score: Callable[[str, str], float] | None = None, threshold: float = DEFAULT_THRESHOLD,
                 name: str = "fake"):
        self.score = score or word_containment
        self.threshold = threshold
        self.name = name
        self.calls: list[Pair] = []

    def verify(self, pairs: Sequence[Pair]) -> list[float]:
        self.calls.extend(pairs)
        return [float(self.score(p, c)) for p, c in pairs]


# ---------------------------------------------------------------------------------------------------------------
# Registry

VerifierFactory = Callable[..., Verifier]
_FACTORIES: dict[str, VerifierFactory] = {}


def register_verifier(name: str, factory: VerifierFactory) -> None:
    """Make `name` usable as the verifier setting; `factory(threshold=..., model=..., api_key=...)` builds it."""
    _FACTORIES[name] = factory


def registered_verifiers() -> list[str]:
    return sorted(_FACTORIES)


def get_verifier(setting: str | None, *, model: str = "default", api_key: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> Verifier | None:
    """The verifier the `verifier` setting names, or None when it is off (see the module docstring)."""
    spec = (setting or "").strip()
    if spec.lower() in OFF:
        return None
    if not 0.0 <= threshold <= 1.0:
        raise KbError(f"verifier threshold must lie in [0, 1], got {threshold}")
    if spec in _FACTORIES:
        return _FACTORIES[spec](threshold=threshold, model=model, api_key=api_key)
    if spec.lower().startswith("openai:"):
        url = spec[len("openai:"):].strip()
        if not url:
            raise KbError("verifier 'openai:' needs a server URL, e.g. openai:http://127.0.0.1:8080")
        return OpenAIVerifier(url, model=model, api_key=api_key, threshold=threshold)
    if re.match(r"https?://", spec, re.I):
        return OpenAIVerifier(spec, model=model, api_key=api_key, threshold=threshold)
    return CrossEncoderVerifier(spec, threshold=threshold)


register_verifier("fake", lambda threshold=DEFAULT_THRESHOLD, **_: FakeVerifier(threshold=threshold))
