"""A local HTTP endpoint that records what webhooks it receives (for the notifier tests)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self._fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver._fail_first > 0:
                    receiver._fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(
                    {
                        "path": self.path,
                        "alert": self.headers.get("X-Tongfang-Alert-Id"),
                        "notice": self.headers.get("X-Tongfang-Notice-Id"),
                        "body": orjson.loads(body),
                    }
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    def for_alert(self, alert_id: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["alert"] and r["alert"].startswith(alert_id)]

    def notices(self, kind: str) -> list[dict[str, Any]]:
        """Desk notices (督办, 未报送) received, of one kind."""
        return [r for r in self.received if r["notice"] and r["notice"].endswith(f"/{kind}")]
