"""Any OpenAI-compatible chat-completions server: ``--llm openai:MODEL --base-url URL``.

Works with vLLM's `vllm serve`, llama.cpp's server, Ollama, OpenAI and the like. Standard
library only (urllib): requests go out `concurrency` at a time from a thread pool, each with
a timeout, retried with exponential backoff (honouring Retry-After) on 429, 5xx, timeouts
and dropped connections. The key comes from an environment variable (OPENAI_API_KEY or
``--api-key-env NAME``) and never appears in a message or log: it is redacted from any
server text that is shown. An item whose request still fails is not stored, so the next
run asks it again.

Each request asks for ``logprobs`` with the top 5 alternatives of each token; where the
server returns them, the annotator's P(positive) (`parsing.positive_probability`) is stored
as the answer's score, which `umlsgraph audit` uses. Servers that ignore the parameter still
work (no score); a server that rejects it (HTTP 400 naming logprobs) is asked again without
it, and no later request of the run asks for it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from umlsgraph.annotate.backends.base import (
    Annotator,
    AnnotatorOptions,
    Failure,
    Prompt,
    Reply,
    redact,
)
from umlsgraph.annotate.parsing import TokenLogprobs, positive_probability
from umlsgraph.errors import AnnotationError
from umlsgraph.query import Query

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TOP_LOGPROBS = 5
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _Retry(Exception):
    """A failure worth retrying; `wait` is the server's Retry-After, if it sent one."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class OpenAIAnnotator(Annotator):
    """Chat completions over HTTP, `concurrency` requests in flight."""

    backend = "openai"
    default_batch_size = 32

    def __init__(self, model: str, options: AnnotatorOptions | None = None) -> None:
        super().__init__(model, options)
        self.base_url = (self.options.base_url or os.environ.get("OPENAI_BASE_URL")
                         or DEFAULT_BASE_URL).rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self._key = self._read_key()
        proxies: dict[str, str] | None = {} if urlsplit(self.url).hostname in LOOPBACK else None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
        self.logprobs = True  # switched off for the run when the server rejects them

    def _read_key(self) -> str | None:
        env = self.options.api_key_env
        key = os.environ.get(env)
        if not key and env != "OPENAI_API_KEY":
            raise AnnotationError(f"--api-key-env {env}: that environment variable is not set; "
                                  f"export {env}=... first")
        return key or None

    def secrets(self) -> tuple[str, ...]:
        return (self._key,) if self._key else ()

    def setup(self, query: Query) -> None:
        super().setup(query)
        check_reachable(self.base_url, min(self.options.timeout, 10.0))

    def answer(self, prompts: Sequence[Prompt]) -> list[Reply | Failure]:
        workers = max(1, min(self.options.concurrency, len(prompts)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self._one, prompts))

    def request_body(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON body of the chat-completions request for one prompt (with logprobs asked
        for while the server accepts them: the annotator's own confidence)."""
        body: dict[str, Any] = {"model": self.model, "messages": list(prompt.messages),
                                "temperature": 0, "max_tokens": self.options.max_new_tokens}
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        return body

    def preview(self, prompt: Prompt) -> dict[str, Any]:
        """The exact request: POST `url` with `body` (the key is never shown)."""
        return {"url": self.url, "body": self.request_body(prompt)}

    def _one(self, prompt: Prompt) -> Reply | Failure:
        """One chat completion, retried with backoff; a Failure when it never succeeds."""
        body = self.request_body(prompt)
        reason = "no attempt"
        for attempt in range(self.options.max_retries + 1):
            try:
                return self._reply(self._post(body))
            except _Retry as exc:
                reason = str(exc)
                if attempt < self.options.max_retries:
                    time.sleep(self._delay(attempt, exc.wait))
            except AnnotationError as exc:
                if "logprobs" in body and "logprob" in str(exc).lower():
                    self.logprobs = False  # the server rejects them: ask without
                    return self._one(prompt)
                return Failure(str(exc))
        return Failure(f"{reason}, after {self.options.max_retries + 1} attempts")

    def _reply(self, data: Any) -> Reply:
        """The answer text, and P(positive) when the response carries logprobs."""
        text = _content(data, self.url)
        tokens = _logprobs(data)
        if not tokens or self.query is None:
            return Reply(text)
        score = positive_probability(tokens, self.query.labels, self.query.positive)
        return Reply(text, score)

    def _delay(self, attempt: int, wait: float | None) -> float:
        if wait is not None:
            return min(wait, 60.0)
        return self.options.backoff * (2 ** attempt) * (0.5 + random.random() / 2)

    def _post(self, body: dict[str, Any]) -> Any:
        """POST one request; the response JSON, or _Retry / AnnotationError."""
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers,
                                         method="POST")
        try:
            with self._opener.open(request, timeout=self.options.timeout) as response:
                data = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise _Retry(f"{self.base_url}: {_reason(exc)}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _Retry(f"{self.url}: the response is not JSON") from None
        return data

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        text = self._redact(exc.read().decode("utf-8", "replace").strip().replace("\n", " "))
        reason = f"HTTP {exc.code} from {self.url}: {text[:200]}"
        if exc.code in RETRY_STATUS:
            return _Retry(reason, _retry_after(exc.headers.get("Retry-After")))
        if exc.code in (401, 403):
            return AnnotationError(f"HTTP {exc.code} from {self.url}: the server rejected the "
                                   f"API key; set {self.options.api_key_env} (never on the "
                                   "command line)")
        return AnnotationError(reason)

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets())


def check_reachable(base_url: str, timeout: float) -> None:
    """Fail in one line, at once, when nothing listens at the server's host and port."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnnotationError(f"--base-url {base_url}: not an http(s) URL, e.g. "
                              "http://127.0.0.1:8000/v1")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise AnnotationError(f"cannot reach {base_url} ({_reason(exc)}); is the server "
                              "running? set --base-url") from None


def _content(data: Any, url: str) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Retry(f"{url}: the response has no choices[0].message.content") from None
    return (content or "").strip()


def _logprobs(data: Any) -> list[TokenLogprobs]:
    """The chat format's ``choices[0].logprobs.content`` as (token, logprob, alternatives);
    empty when the server sent none (or something else)."""
    try:
        content = data["choices"][0]["logprobs"]["content"]
        return [(str(t["token"]), float(t["logprob"]),
                 [(str(a["token"]), float(a["logprob"])) for a in t.get("top_logprobs") or []])
                for t in content]
    except (KeyError, IndexError, TypeError, ValueError):
        return []


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner if inner is not None else exc) or type(exc).__name__
