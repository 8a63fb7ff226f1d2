"""``python -m analysis rate RUNS``: the blind-rating web server (standard library only).

Routes, and nothing else (any other path, ``..`` or encoded, is a 404; nothing is ever read
from disk by URL):

- ``GET /`` the page, ``GET /app.js`` its script (:mod:`analysis.rating.page`);
- ``GET /api/next[?replaces=<token>]`` a new trial as JSON: an opaque token and its image
  URLs (``replaces``: the page's unanswered trial before a reload, forgotten);
- ``GET /img/<token>.png`` an image of a trial being shown (rendered from samples.npz);
- ``POST /api/answer`` the answer as JSON ``{trial, choice, response_ms, rater}``, appended
  to ratings.jsonl before the reply.

Safety: listens on 127.0.0.1 unless told otherwise, and then accepts only requests whose
``Host`` is this loopback address (no DNS rebinding); answers must be
``application/json`` of at most 4 KiB from the page's own origin; errors are a short
plain-text line with a 4xx status, never a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from analysis.rating.page import APP_JS, page_html
from analysis.rating.session import TOKEN, AnswerError, RatingSession

__all__ = ["make_server", "start_in_thread", "address", "MAX_BODY"]

MAX_BODY = 4096
_IMAGE = re.compile(rf"/img/({TOKEN.pattern})\.png")
_PAGE_POLICY = ("default-src 'none'; img-src 'self'; script-src 'self'; style-src 'unsafe-inline'; "
                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _Handler(BaseHTTPRequestHandler):
    server_version = "lgm-rate"
    sys_version = ""
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    # ---------------------------------------------------------------- replies

    def log_message(self, format, *args):  # noqa: A002 (the standard library's signature)
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, policy: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, message: str) -> None:
        self._send(status, (message + "\n").encode("utf-8"), "text/plain; charset=utf-8")

    def _json(self, obj) -> None:
        self._send(200, json.dumps(obj).encode("utf-8"), "application/json")

    # ---------------------------------------------------------------- checks

    def _host_allowed(self) -> bool:
        allowed = self.server.allowed_hosts
        return allowed is None or self.headers.get("Host", "") in allowed

    def _origin_allowed(self) -> bool:
        origin = self.headers.get("Origin")
        allowed = self.server.allowed_hosts
        return origin is None or allowed is None or origin in {f"http://{h}" for h in allowed}

    def _body(self):
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise AnswerError(415, "answers must be sent as application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise AnswerError(411, "Content-Length is required") from None
        if not 0 < length <= MAX_BODY:
            raise AnswerError(413 if length > MAX_BODY else 400,
                              f"an answer is 1 to {MAX_BODY} bytes of JSON")
        try:
            return json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AnswerError(400, "the answer is not valid JSON") from None

    # ---------------------------------------------------------------- routes

    def _route(self) -> None:
        session: RatingSession = self.server.session
        if not self._host_allowed():
            return self._text(400, "unexpected Host header")
        path = urlsplit(self.path).path
        if self.command == "POST":
            if path != "/api/answer":
                return self._text(404, "not found")
            if not self._origin_allowed():
                return self._text(403, "answers come from the rating page only")
            return self._json(session.answer(self._body()))
        if path == "/":
            return self._send(200, page_html(session.mode, rater=session.rater).encode("utf-8"),
                              "text/html; charset=utf-8", _PAGE_POLICY)
        if path == "/app.js":
            return self._send(200, APP_JS.encode("utf-8"), "text/javascript; charset=utf-8")
        if path == "/api/next":
            replaces = parse_qs(urlsplit(self.path).query).get("replaces", [None])[0]
            return self._json(session.next_trial(replaces=replaces))
        match = _IMAGE.fullmatch(path)
        png = session.image(match.group(1)) if match else None
        if png is None:
            return self._text(404, "not found")
        return self._send(200, png, "image/png")

    def _handle(self) -> None:
        try:
            self._route()
        except AnswerError as err:
            self._text(err.status, str(err))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception:  # a bug must not show a traceback to the page, nor stop the server
            traceback.print_exc(file=sys.stderr)
            self._text(500, "internal error (see the server's output)")

    do_GET = do_POST = do_HEAD = _handle


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def make_server(session: RatingSession, *, host: str = "127.0.0.1", port: int = 8765,
                verbose: bool = False) -> ThreadingHTTPServer:
    """A bound, not yet serving, server for ``session`` (``port`` 0: a free port)."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.session, server.verbose = session, verbose
    bound = server.server_address[1]
    server.allowed_hosts = ({f"127.0.0.1:{bound}", f"localhost:{bound}", f"[::1]:{bound}"}
                            if _loopback(host) else None)
    return server


def address(server: ThreadingHTTPServer) -> str:
    """The page's URL, e.g. ``http://127.0.0.1:8765/``."""
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def start_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve in a daemon thread (tests, notebooks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="lgm-rate", daemon=True)
    thread.start()
    return thread
