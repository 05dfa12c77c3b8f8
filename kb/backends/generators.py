"""Text generators: the only module that talks to a language model.

One interface, `Generator.generate(messages, max_tokens=..., on_token=..., stop=...) -> Generation`, three backends:
a local GGUF through llama-cpp-python (default), an OpenAI-compatible HTTP server (llama-server, vLLM), and a fake
with canned replies for tests. `get_generator` picks one from settings values; backends are registered by name.
Nothing heavy is imported at module import time.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kb.types import KbError

log = logging.getLogger(__name__)

Messages = list[dict]
TokenCallback = Callable[[str], None]

# Tokens kept free for the chat template's role markers on top of the message contents.
_PER_MESSAGE_OVERHEAD = 6
_TEMPLATE_OVERHEAD = 8


@dataclass
class Generation:
    """What one generate() call produced, with its timings (seconds since the call started)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    first_token_seconds: float | None

    @property
    def tokens_per_second(self) -> float:
        gen_time = self.seconds - (self.first_token_seconds or 0.0)
        return self.completion_tokens / gen_time if gen_time > 0 else 0.0


class Generator(ABC):
    """A chat model. Subclasses implement `generate`; the rest has usable defaults."""

    name: str = "generator"
    n_ctx: int = 2048

    @abstractmethod
    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        on_token: TokenCallback | None = None,
        stop: list[str] | None = None,
        reuse_prefix: bool = False,
    ) -> Generation:
        """Complete the chat `messages` greedily; call `on_token` with each piece of text as it arrives.

        `reuse_prefix`: the caller accepts that the part of the prompt shared with the previous call is not
        evaluated again (llama.cpp keeps it in its KV cache). Off by default, so the same prompt always starts
        from the same state; callers that send several prompts with a common prefix in a fixed order turn it on
        after their first call. Backends without such a cache ignore it."""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` (approximate by default: about four characters per token)."""
        return len(text) // 4 + 1

    def count_messages(self, messages: Messages) -> int:
        """Tokens the rendered chat prompt takes (contents plus a margin for role markers)."""
        return sum(self.count_tokens(m.get("content", "")) + _PER_MESSAGE_OVERHEAD for m in messages) + _TEMPLATE_OVERHEAD

    def prompt_budget(self, max_tokens: int) -> int:
        """Tokens a whole prompt may take so that `max_tokens` still fit in the context window."""
        return max(0, self.n_ctx - max_tokens - _TEMPLATE_OVERHEAD)

    def budget(self, messages: Messages, max_tokens: int) -> int:
        """Tokens the prompt may still grow by (negative: it must shrink) so `max_tokens` fit in the context."""
        return self.n_ctx - max_tokens - self.count_messages(messages)


# ---------------------------------------------------------------------------------------------------------------
# llama-cpp-python


class LlamaCppGenerator(Generator):
    """A local GGUF model run by llama-cpp-python, loaded on first use, once per instance.

    The prompt is rendered with the model's own chat template (or a plain template for base models) and passed
    as token ids, so counts are exact. Greedy decoding (temperature 0) with a fixed seed and, unless a caller asks
    for `reuse_prefix`, no reused KV cache, so the same prompt gives the same text. Prompts that do not fit the context window are shortened (the longest
    message loses its middle) instead of raising.
    """

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
        chat: bool | None = None,
        repeat_penalty: float = 1.1,
    ):
        self.model_path = Path(model_path)
        self.name = self.model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or len(os.sched_getaffinity(0))
        self.seed = seed
        self.repeat_penalty = repeat_penalty  # tiny models loop without it; still deterministic
        self._chat = chat  # None: use the model's chat template when it has one
        self._llm: Any = None
        self._formatter: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    # Loading ---------------------------------------------------------------------------------------------------
    def _model(self) -> Any:
        with self._lock:
            return self._llm if self._llm is not None else self._load()

    def _load(self) -> Any:
        if self._llm is None:
            if not self.model_path.is_file():
                raise KbError(f"generation model file not found: {self.model_path}")
            prefer_passive_openmp()
            try:
                import llama_cpp
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise KbError(f"llama-cpp-python is not installed ({exc}); pip install llama-cpp-python") from exc
            start = time.perf_counter()
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise KbError(f"{self.model_path}: cannot load model ({exc})") from exc
            self.load_seconds = time.perf_counter() - start
            if self._chat is None:
                self._chat = bool(self._llm.metadata.get("tokenizer.chat_template"))
            log.info("loaded %s in %.2fs (n_ctx=%d, threads=%d, chat=%s)", self.name, self.load_seconds,
                     self.n_ctx, self.n_threads, self._chat)
        return self._llm

    @property
    def uses_chat_template(self) -> bool:
        self._model()
        return bool(self._chat)

    # Prompt rendering and token counting ----------------------------------------------------------------------
    def _render(self, messages: Messages) -> tuple[str, list[str]]:
        """The prompt text for `messages` (the model's own chat template, or a plain template) and its stops."""
        llm = self._model()
        if not self._chat:
            return _plain_prompt(messages), ["\nUser:", "\nInstructions:"]
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            def text(tok: int) -> str:
                return llm.detokenize([tok], special=True).decode("utf-8", "ignore") if tok >= 0 else ""

            self._formatter = Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"], eos_token=text(llm.token_eos()),
                bos_token=text(llm.token_bos()), stop_token_ids=[llm.token_eos()],
            )
        result = self._formatter(messages=messages)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return result.prompt, [s for s in stops if s]

    def _prompt_tokens(self, messages: Messages) -> tuple[list[int], list[str]]:
        """Token ids of the rendered prompt: template markers are special tokens, BOS as the model wants it."""
        llm = self._model()
        prompt, stops = self._render(messages)
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        bos = llm.token_bos()
        if len(tokens) > 1 and tokens[0] == tokens[1] == bos:
            tokens = tokens[1:]
        return tokens, stops

    def _tokenize(self, text: str) -> list[int]:
        return self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def count_messages(self, messages: Messages) -> int:
        return len(self._prompt_tokens(messages)[0])

    def prompt_budget(self, max_tokens: int) -> int:
        return max(0, self.n_ctx - max_tokens)

    # Fitting ---------------------------------------------------------------------------------------------------
    def _fit(self, messages: Messages, max_tokens: int) -> tuple[list[int], list[str], int]:
        """Prompt tokens that fit, stop strings, and how many tokens may be generated (at least 1).

        The prompt may take n_ctx - min(max_tokens, n_ctx // 2) tokens; beyond that the longest message loses its
        middle (instructions at its start and the question at its end survive).
        """
        tokens, stops = self._prompt_tokens(messages)
        room = min(max_tokens, self.n_ctx // 2)
        over = len(tokens) + room - self.n_ctx
        if over > 0:
            llm = self._model()
            messages = [dict(m) for m in messages]
            longest = max(range(len(messages)), key=lambda i: len(messages[i].get("content", "")))
            content = self._tokenize(messages[longest].get("content", ""))
            keep = max(0, len(content) - over - 8)  # 8: the "[...]" marker and token merges at the cut
            n_head = keep * 2 // 3
            head, tail = content[:n_head], content[len(content) - (keep - n_head):] if keep > n_head else []
            messages[longest]["content"] = (llm.detokenize(head).decode("utf-8", "ignore") + "\n[...]\n"
                                            + llm.detokenize(tail).decode("utf-8", "ignore"))
            log.warning("prompt was %d tokens over the %d-token context; shortened the longest message", over,
                        self.n_ctx)
            tokens, stops = self._prompt_tokens(messages)
            if len(tokens) + room > self.n_ctx:  # the other messages alone are too long: keep the prompt's end
                tokens = tokens[len(tokens) + room - self.n_ctx:]
        return tokens, stops, max(1, min(max_tokens, self.n_ctx - len(tokens)))

    # Generation ------------------------------------------------------------------------------------------------
    def generate(self, messages, *, max_tokens, on_token=None, stop=None, reuse_prefix=False) -> Generation:
        llm = self._model()
        tokens, stops, max_tokens = self._fit(messages, max_tokens)
        if not reuse_prefix:
            llm.reset()  # no cached prefix: the same prompt always starts from the same state
        # else llama-cpp-python evaluates only the tokens after the longest prefix shared with its KV cache
        start = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        stream = llm.create_completion(
            prompt=tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, seed=self.seed,
            repeat_penalty=self.repeat_penalty,
            stop=list(dict.fromkeys((stop or []) + stops)), stream=True,
        )
        try:
            for chunk in stream:
                piece = chunk["choices"][0].get("text") or ""
                if not piece:
                    continue
                if first is None:
                    first = time.perf_counter() - start
                pieces.append(piece)
                if on_token:
                    on_token(piece)
        except ValueError as exc:  # llama_cpp reports context problems as ValueError
            raise KbError(f"{self.name}: generation failed ({exc})") from exc
        text = "".join(pieces)
        return Generation(
            text=text,
            prompt_tokens=len(tokens),
            completion_tokens=self.count_tokens(text) if text else 0,
            seconds=time.perf_counter() - start,
            first_token_seconds=first,
        )


def prefer_passive_openmp() -> None:
    """Ask OpenMP threads to sleep, not spin, while they wait (unless the user chose otherwise).

    llama.cpp's OpenMP threads spin-wait; on a busy 2-core machine that made 2 threads 5-10x slower than 1. It only
    takes effect if it runs before llama_cpp (and so libgomp) is first imported in this process.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _plain_prompt(messages: Messages) -> str:
    """A simple role-prefixed template for models without a chat template."""
    names = {"system": "Instructions", "user": "User", "assistant": "Assistant"}
    parts = [f"{names.get(m['role'], m['role'].title())}: {m['content'].strip()}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


# ---------------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP server


class OpenAICompatGenerator(Generator):
    """A model served over the OpenAI chat-completions API (llama-server, vLLM, ...), streamed with SSE."""

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None, n_ctx: int = 4096,
                 seed: int = 0, timeout: float = 120.0):
        base = base_url.rstrip("/")
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.url = f"{self.base_url}/v1/chat/completions"
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self.api_key = api_key
        self.n_ctx = n_ctx
        self.seed = seed
        self.timeout = timeout

    def _request(self, body: dict) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")

    def generate(self, messages, *, max_tokens, on_token=None, stop=None, reuse_prefix=False) -> Generation:
        body: dict[str, Any] = {
            "model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "seed": self.seed, "stream": True, "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = stop
        start = time.perf_counter()
        try:
            pieces, usage, first = self._stream(body, on_token, start)
        except KbError as exc:  # servers that do not know stream_options refuse it: ask once more without
            if "stream_options" not in str(exc):
                raise
            del body["stream_options"]
            pieces, usage, first = self._stream(body, on_token, start)
        text = "".join(pieces)
        return Generation(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_messages(messages)),
            completion_tokens=int(usage.get("completion_tokens") or (self.count_tokens(text) if text else 0)),
            seconds=time.perf_counter() - start,
            first_token_seconds=first,
        )

    def _stream(self, body: dict, on_token: TokenCallback | None, start: float) -> tuple[list[str], dict, float | None]:
        """POST the request and read the SSE stream: (text pieces, usage if sent, first-token time)."""
        pieces: list[str] = []
        usage: dict = {}
        first: float | None = None
        try:
            with urllib.request.urlopen(self._request(body), timeout=self.timeout) as resp:
                for event in _sse_events(resp):
                    if event == "[DONE]":
                        break
                    try:
                        data = json.loads(event)
                    except json.JSONDecodeError as exc:
                        raise KbError(f"LLM server at {self.url} sent invalid JSON: {event[:80]!r}") from exc
                    if data.get("error"):
                        raise KbError(f"LLM server at {self.url} reported an error: {data['error']}")
                    usage = data.get("usage") or usage
                    for choice in data.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                        if piece:
                            first = first if first is not None else time.perf_counter() - start
                            pieces.append(piece)
                            if on_token:
                                on_token(piece)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            raise KbError(f"LLM server at {self.url} answered HTTP {exc.code}: {detail or exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise KbError(f"cannot reach LLM server at {self.url}: {exc.reason}") from exc
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise KbError(f"LLM server at {self.url} failed: {exc}") from exc
        return pieces, usage, first


def _sse_events(resp) -> Any:
    """Yield the data payload of each server-sent event (multi-line data fields joined by newlines)."""
    data: list[str] = []
    for raw in resp:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


# ---------------------------------------------------------------------------------------------------------------
# Fake


class FakeGenerator(Generator):
    """Canned replies for tests: a list (used in order, the last one repeated) or a function of the messages.

    Every call is recorded in `calls`. Replies are streamed word by word to `on_token`.
    """

    name = "fake"

    def __init__(self, replies: list[str] | Callable[[Messages], str] | None = None, n_ctx: int = 2048):
        self.replies = replies if replies is not None else quote_first_passage
        self.n_ctx = n_ctx
        self.calls: list[Messages] = []

    def generate(self, messages, *, max_tokens, on_token=None, stop=None, reuse_prefix=False) -> Generation:
        start = time.perf_counter()
        self.calls.append(messages)
        if callable(self.replies):
            text = self.replies(messages)
        else:
            if not self.replies:
                raise KbError("FakeGenerator has no replies")
            text = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        for s in stop or []:
            if s and s in text:
                text = text[: text.index(s)]
        pieces = re.findall(r"\S+\s*|\s+", text)[:max_tokens]
        text = "".join(pieces)
        for piece in pieces:
            if on_token:
                on_token(piece)
        return Generation(text=text, prompt_tokens=self.count_messages(messages), completion_tokens=len(pieces),
                          seconds=time.perf_counter() - start, first_token_seconds=0.0 if pieces else None)


_PASSAGE_RE = re.compile(r'<passage id="(\d+)"[^>]*>\s*(.*?)\s*</passage>', re.S)


def quote_first_passage(messages: Messages) -> str:
    """The default fake reply: the first sentence of the first passage in the prompt, cited as [n]."""
    found = _PASSAGE_RE.search(messages[-1].get("content", "")) if messages else None
    if not found:
        return "The sources do not answer this question."
    n, text = found.group(1), " ".join(found.group(2).split())
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    return f"{sentence} [{n}]."


# ---------------------------------------------------------------------------------------------------------------
# Registry

GeneratorFactory = Callable[..., Generator]
_FACTORIES: dict[str, GeneratorFactory] = {}


def register_generator(name: str, factory: GeneratorFactory) -> None:
    """Make `name` usable as a model setting; `factory(n_ctx=..., n_threads=..., seed=...)` builds it."""
    _FACTORIES[name] = factory


register_generator("fake", lambda n_ctx=2048, n_threads=None, seed=0: FakeGenerator(n_ctx=n_ctx))


def get_generator(model: str, llm_url: str | None = None, n_ctx: int = 2048, n_threads: int | None = None,
                  seed: int = 0, api_key: str | None = None) -> Generator:
    """Build the generator the settings ask for.

    `llm_url` wins: the server is used and `model` is sent as its model name (a kb-registered local model name
    is sent as "default", which llama-server accepts). Otherwise a registered backend name ("fake"), then a
    registered model name or a GGUF path resolved by kb_models.
    """
    from kb_models import MODELS, resolve_model

    if llm_url:
        served = "default" if model in MODELS or model in _FACTORIES or model.endswith(".gguf") else model
        return OpenAICompatGenerator(llm_url, model=served, api_key=api_key, n_ctx=n_ctx, seed=seed)
    if model in _FACTORIES:
        return _FACTORIES[model](n_ctx=n_ctx, n_threads=n_threads, seed=seed)
    prefer_passive_openmp()  # before resolve_model: a model package may import llama_cpp when located
    path = resolve_model(model, kind="generation")
    spec = MODELS.get(model)
    chat = None if spec is None or spec.chat else False
    return LlamaCppGenerator(path, n_ctx=n_ctx, n_threads=n_threads, seed=seed, chat=chat)
