"""A local HTTP server that speaks the OpenAI chat-completions and Anthropic messages wire formats.

Tests queue what the next requests get (an answer, an HTTP error, a hang, malformed JSON, an
empty answer) and read back what the clients sent. No network, no key. Header names are case-insensitive
in HTTP and SDKs change their case between releases, so recorded headers are keyed in lower case.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    kind: str = "answer"  # answer, status, hang, malformed, empty
    text: str = ""
    status: int = 200
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0


def answer(text: str) -> Reply:
    return Reply("answer", text)


def status(code: int, headers: dict | None = None) -> Reply:
    return Reply("status", status=code, headers=headers or {})


def hang(seconds: float) -> Reply:
    return Reply("hang", seconds=seconds)


def malformed() -> Reply:
    return Reply("malformed")


def empty() -> Reply:
    return Reply("empty")


class FakeLLMServer:
    """``responder(body) -> Reply``, when given, answers every request (after ``delay`` seconds)
    instead of the queue, so a request's answer depends only on what it asks."""

    def __init__(self, responder=None, delay: float = 0.0, port: int = 0) -> None:
        """``port``: 0 picks a free one; a given port lets a test start the server where a client already calls."""
        self.responder, self.delay = responder, delay
        self.replies: deque[Reply] = deque()
        self.requests: list[dict] = []
        self.report_usage = True
        """False: answers carry no usage (as some OpenAI-compatible servers send them)."""
        self.usage_from_text = False
        """True: usage counts the request's and the answer's characters (4 per token), as a real server
        counts tokens, instead of fixed numbers."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                if server.responder is not None:
                    time.sleep(server.delay)
                    reply = server.responder(body)
                else:
                    reply = server.replies.popleft() if server.replies else answer("(no reply queued)")
                anthropic = self.path.rstrip("/").endswith("/messages")
                if reply.kind == "hang":
                    time.sleep(reply.seconds)
                    reply = answer("too late")
                if reply.kind == "status":
                    payload = (json.dumps({"type": "error", "error": {"type": "rate_limit_error" if reply.status == 429
                                                                      else "api_error", "message": f"HTTP {reply.status}"}})
                               if anthropic else
                               json.dumps({"error": {"message": f"HTTP {reply.status}", "type": "error", "code": None}}))
                    return self._send(reply.status, payload.encode(), reply.headers)
                if reply.kind == "malformed":
                    return self._send(200, b'{"id": "broken", "choices": [', {})
                text = "" if reply.kind == "empty" else reply.text
                model = body.get("model", "model")
                if anthropic:
                    payload = {"id": "msg_test", "type": "message", "role": "assistant", "model": model,
                               "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                               "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 7}}
                else:
                    payload = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                               "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                            "message": {"role": "assistant", "content": text}}],
                               "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
                if server.usage_from_text:
                    sent, got = len(json.dumps(body.get("messages", [])) + str(body.get("system", ""))) // 4, len(text) // 4
                    payload["usage"] = ({"input_tokens": sent, "output_tokens": got} if anthropic else
                                        {"prompt_tokens": sent, "completion_tokens": got, "total_tokens": sent + got})
                if not server.report_usage:
                    payload.pop("usage")
                self._send(200, json.dumps(payload).encode(), {})

            def _send(self, code: int, data: bytes, headers: dict) -> None:
                try:
                    self.send_response(code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
