"""A real OpenAI-compatible chat-completions HTTP server for tests, on 127.0.0.1.

Standard library only (threaded `http.server`): ``POST /v1/chat/completions`` answers with
whatever `respond(messages, max_tokens)` returns (the tests back it with real SmolLM2
inference through transformers, or with a fixed answer), ``GET /v1/models`` lists the model.
Tests can queue HTTP status codes in `faults` (429 comes with ``Retry-After: retry_after``,
"0" unless set) to exercise retries, and read back every request body, Authorization header
and arrival time it received.
When a request asks for ``logprobs`` and the server has a `logprobs(messages, text)`
function, the response carries ``choices[0].logprobs.content`` in OpenAI's chat format (a
list of {token, logprob, top_logprobs}); with `reject_logprobs` such requests get HTTP 400,
as from servers that do not support them.

Why not llama.cpp's server: `pip install 'llama-cpp-python[server]'` compiles llama.cpp
from source; on the 2-core CI machine it had not finished after 12 minutes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Respond = Callable[[list[dict[str, str]], int], str]
Logprobs = Callable[[list[dict[str, str]], str], list[dict[str, Any]]]


class ChatServer:
    """Start with `start()` (returns the base URL, ending in /v1), stop with `stop()`."""

    def __init__(self, respond: Respond, model: str = "test-model",
                 logprobs: Logprobs | None = None, reject_logprobs: bool = False) -> None:
        self.respond = respond
        self.logprobs = logprobs
        self.reject_logprobs = reject_logprobs
        self.model = model
        self.faults: list[int | None] = []
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.times: list[float] = []  # monotonic arrival time of each chat request
        self.retry_after = "0"  # the Retry-After header sent with an injected 429
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self.url = ""

    def start(self) -> str:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def next_fault(self) -> int | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def record(self, body: dict[str, Any], auth: str | None) -> None:
        with self._lock:
            self.requests.append(body)
            self.auth.append(auth)
            self.times.append(time.monotonic())


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": server.model,
                                                              "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            server.record(body, self.headers.get("Authorization"))
            fault = server.next_fault()
            if fault is not None:
                extra = {"Retry-After": server.retry_after} if fault == 429 else {}
                self._send(fault, {"error": {"message": f"injected {fault}"}}, extra)
                return
            if body.get("logprobs") and server.reject_logprobs:
                self._send(400, {"error": {"message": "logprobs is not supported"}})
                return
            text = server.respond(body["messages"], int(body.get("max_tokens") or 16))
            choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}
            if body.get("logprobs") and server.logprobs is not None:
                choice["logprobs"] = {"content": server.logprobs(body["messages"], text)}
            self._send(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                "choices": [choice],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

    return Handler
