"""Generators: the fake, the OpenAI-compatible client against a local SSE server, and the registry."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.backends.embedders import HashEmbedder
from kb.backends.generators import (
    FakeGenerator,
    Generation,
    Generator,
    LlamaCppGenerator,
    OpenAICompatGenerator,
    get_generator,
    register_generator,
)
from kb.grounding.check import ground
from kb.grounding.types import Passage
from kb.prompts import NO_ANSWER, answer_messages
from kb.types import KbError

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]


# Fake -------------------------------------------------------------------------------------------------------------


def test_fake_replies_in_order_then_repeats_last_and_streams():
    gen = FakeGenerator(["Hello there world.", "Second."])
    pieces: list[str] = []
    first = gen.generate(MSGS, max_tokens=50, on_token=pieces.append)
    assert first.text == "Hello there world." and "".join(pieces) == first.text and len(pieces) == 3
    assert first.completion_tokens == 3 and first.prompt_tokens > 0
    assert [gen.generate(MSGS, max_tokens=50).text for _ in range(2)] == ["Second.", "Second."]
    assert gen.calls == [MSGS, MSGS, MSGS]


def test_fake_respects_max_tokens_stop_and_callables():
    assert FakeGenerator(["a b c d e"]).generate(MSGS, max_tokens=2).text == "a b "
    assert FakeGenerator(["one. END two"]).generate(MSGS, max_tokens=9, stop=["END"]).text == "one. "
    gen = FakeGenerator(lambda m: m[-1]["content"].upper())
    assert gen.generate(MSGS, max_tokens=9).text == "SAY HELLO."


def test_default_fake_quotes_the_first_passage_so_its_answer_grounds():
    ps = [Passage(1, "c", "p", "T", "SliceFormer reaches 81.2% top-1 accuracy. It is fast.", 2)]
    gen = get_generator("fake")
    assert isinstance(gen, FakeGenerator)
    text = gen.generate(answer_messages("How accurate?", ps), max_tokens=100).text
    assert text == "SliceFormer reaches 81.2% top-1 accuracy [1]."
    assert ground(text, ps, HashEmbedder()).kept == 1
    assert gen.generate([{"role": "user", "content": "no passages"}], max_tokens=20).text == NO_ANSWER


def test_registry_and_model_resolution_errors():
    register_generator("canned-test", lambda n_ctx=2048, n_threads=None, seed=0: FakeGenerator(["ok"], n_ctx=n_ctx))
    gen = get_generator("canned-test", n_ctx=512)
    assert gen.generate(MSGS, max_tokens=5).text == "ok" and gen.n_ctx == 512
    with pytest.raises(KbError, match="no-such-model"):
        get_generator("no-such-model")
    server = get_generator("smollm2-135m-instruct", llm_url="http://127.0.0.1:9/v1", api_key="k")
    assert isinstance(server, OpenAICompatGenerator)
    assert server.url == "http://127.0.0.1:9/v1/chat/completions" and server.model == "default"
    assert get_generator("qwen2.5-7b", llm_url="http://h:1").model == "qwen2.5-7b"


def test_budget_and_generation_helpers():
    gen = FakeGenerator(["x"], n_ctx=1000)
    assert gen.budget(MSGS, 200) == 1000 - 200 - gen.count_messages(MSGS)
    assert gen.prompt_budget(200) < 800
    g = Generation("abc", 10, 20, seconds=3.0, first_token_seconds=1.0)
    assert g.tokens_per_second == 10.0
    assert issubclass(FakeGenerator, Generator)


def test_llama_generator_reports_a_missing_file(tmp_path):
    gen = LlamaCppGenerator(tmp_path / "absent.gguf", n_ctx=256)
    assert gen.n_threads >= 1  # default: the cores this process may use
    with pytest.raises(KbError, match="absent.gguf"):
        gen.generate(MSGS, max_tokens=5)


# OpenAI-compatible server -----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []
    mode = "ok"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        refuse = _Handler.mode == "old-server" and "stream_options" in body
        if _Handler.mode == "error" or refuse:
            payload = (b'{"error": "unknown field stream_options"}' if refuse
                       else b'{"error": {"message": "model does not exist"}}')
            self.send_response(400 if refuse else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        events = [{"choices": [{"delta": {"role": "assistant"}}]}]
        events += [{"choices": [{"delta": {"content": piece}}]} for piece in ["Hel", "lo ", "world", "."]]
        if _Handler.mode == "ok":
            events.append({"choices": [], "usage": {"prompt_tokens": 17, "completion_tokens": 4}})
        self.wfile.write(b": keep-alive\n\n")
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def sse_server():
    _Handler.requests = []
    _Handler.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_compat_streams_and_sends_a_proper_request(sse_server):
    gen = OpenAICompatGenerator(sse_server + "/v1/", model="m1", api_key="secret", seed=7)
    pieces: list[str] = []
    out = gen.generate(MSGS, max_tokens=33, on_token=pieces.append, stop=["\n\n"])
    assert out.text == "Hello world." and pieces == ["Hel", "lo ", "world", "."]
    assert (out.prompt_tokens, out.completion_tokens) == (17, 4)
    assert out.first_token_seconds is not None and out.seconds >= out.first_token_seconds
    req = _Handler.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer secret"
    body = req["body"]
    assert body["messages"] == MSGS and body["model"] == "m1" and body["stream"] is True
    assert body["max_tokens"] == 33 and body["temperature"] == 0 and body["seed"] == 7 and body["stop"] == ["\n\n"]


def test_openai_compat_estimates_usage_when_the_server_omits_it(sse_server):
    _Handler.mode = "no-usage"
    out = OpenAICompatGenerator(sse_server).generate(MSGS, max_tokens=5)
    assert out.text == "Hello world." and out.completion_tokens == len("Hello world.") // 4 + 1
    assert _Handler.requests[0]["auth"] is None


def test_openai_compat_retries_without_stream_options_on_an_older_server(sse_server):
    _Handler.mode = "old-server"
    out = OpenAICompatGenerator(sse_server).generate(MSGS, max_tokens=5)
    assert out.text == "Hello world."
    assert ["stream_options" in r["body"] for r in _Handler.requests] == [True, False]


def test_openai_compat_reports_http_errors(sse_server):
    _Handler.mode = "error"
    with pytest.raises(KbError, match=r"HTTP 404.*model does not exist"):
        OpenAICompatGenerator(sse_server).generate(MSGS, max_tokens=5)


def test_openai_compat_unreachable_server_names_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(KbError, match=f"cannot reach LLM server at {url}/v1/chat/completions"):
        OpenAICompatGenerator(url, timeout=5).generate(MSGS, max_tokens=5)
