"""A tiny threaded HTTP server on 127.0.0.1 for the stand-ins (real sockets, real HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def q(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow server)
    hang: bool = False  # accept and never answer (until the server stops)
    trickle: float = 0.0  # seconds between two bytes of the body (a server answering 1 byte a second)


Handler = Callable[[Request], Response]


class LoopbackServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._stopping = threading.Event()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in separate writes: with Nagle on, delayed ACKs add ~40 ms a request.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                resp = outer.handler(req)
                if resp.hang:
                    outer._stopping.wait(60)
                    self.close_connection = True
                    return
                if resp.delay:
                    outer._stopping.wait(resp.delay)
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if self.command != "HEAD" and resp.trickle:
                    for i in range(len(resp.body)):
                        if outer._stopping.wait(resp.trickle):
                            break
                        try:
                            self.wfile.write(resp.body[i : i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up (its timeout): that is the point
                            break
                elif self.command != "HEAD":
                    self.wfile.write(resp.body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hangs up mid-request (timeouts, kill -9) is part of the tests

        self.httpd = _Server(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
