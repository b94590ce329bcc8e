"""A real local HTTP server that answers like the forecast services (their documented formats, from
``fixtures/``), with faults on demand. Every request is recorded (path, query, headers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeServices:
    """``fault`` for the next requests: None (answer), "500", "429", "400", "not-json", "wrong-shape",
    or "hang" (hold the request until the client gives up)."""

    fault: str | None = None
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, req: Request) -> tuple[int, bytes]:
        if self.fault == "hang":
            self.release.wait(5)
            return 503, b"{}"
        if self.fault == "500":
            return 500, b"<html>Internal Server Error</html>"
        if self.fault == "not-json":
            return 200, b"<html>maintenance</html>"
        if self.fault == "wrong-shape":
            return 200, b'{"hourly": {"time": ["2026-06-01T00:00"]}, "result": {}, "forecasts": 3}'
        if req.path.startswith("/v1/forecast"):
            if self.fault == "400":
                return 400, json.dumps({"error": True, "reason": "Parameter 'tilt' must be 0-90"}).encode()
            if self.fault == "429":
                return 429, json.dumps(
                    {"error": True, "reason": "Minutely API request limit exceeded"}
                ).encode()
            return 200, (FIXTURES / "open_meteo_forecast.json").read_bytes()
        if "/estimate/" in req.path:
            if self.fault == "429":
                return 429, (FIXTURES / "forecast_solar_ratelimit.json").read_bytes()
            if self.fault == "400":
                return 400, json.dumps(
                    {"result": None, "message": {"code": 400, "text": "bad plane"}}
                ).encode()
            return 200, (FIXTURES / "forecast_solar_estimate.json").read_bytes()
        if req.path.startswith("/rooftop_sites/"):
            if req.headers.get("authorization", "") != "Bearer solcast-key-123":
                return 401, json.dumps(
                    {"response_status": {"error_code": "InvalidApiKey", "message": "Invalid API key"}}
                ).encode()
            return 200, (FIXTURES / "solcast_forecasts.json").read_bytes()
        return 404, b'{"error": true, "reason": "not found"}'


def serve() -> Iterator[FakeServices]:
    services = FakeServices()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            req = Request(
                parts.path,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
            )
            services.requests.append(req)
            status, body = services.answer(req)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    services.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield services
    finally:
        services.release.set()
        server.shutdown()
        server.server_close()
