"""A local HTTP server that answers the Grafana HTTP API calls the publisher makes, and rejects a
request whose shape Grafana's documentation would reject (missing fields, bad references)."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

TOKEN = "glsa_test_token"


class FakeGrafana:
    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.contact_points: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.policy: dict[str, Any] | None = None
        self.requests: list[tuple[str, str]] = []
        self.problems: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = orjson.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._answer(401, {"message": "Unauthorized"})
                    return
                status, answer = fake.route(method, self.path, body, dict(self.headers))
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGrafana:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    def _bad(self, reason: str) -> tuple[int, Any]:
        self.problems.append(reason)
        return 400, {"message": reason}

    def route(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        provisioning = path.startswith("/api/v1/provisioning/")
        if provisioning and method != "GET" and headers.get("X-Disable-Provenance") != "true":
            return self._bad(f"{path}: X-Disable-Provenance missing")
        if method == "GET" and path == "/api/health":
            return 200, {"database": "ok", "version": "11.6.0", "commit": "test"}
        if match := re.fullmatch(r"/api/folders/([\w-]+)", path):
            folder = self.folders.get(match[1])
            return (200, folder) if folder else (404, {"message": "folder not found"})
        if method == "POST" and path == "/api/folders":
            if not body.get("title") or not body.get("uid"):
                return self._bad("folder: title and uid are required")
            self.folders[body["uid"]] = body
            return 200, body
        if match := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
            if method == "GET":
                found = self.datasources.get(match[1])
                return (200, found) if found else (404, {"message": "Data source not found"})
            return self._datasource(body, match[1])
        if method == "POST" and path == "/api/datasources":
            if body.get("uid") in self.datasources:
                return 409, {"message": "data source with the same uid already exists"}
            return self._datasource(body, body.get("uid"))
        if method == "POST" and path == "/api/dashboards/db":
            dashboard = body.get("dashboard") or {}
            if not dashboard.get("uid") or not dashboard.get("title") or not isinstance(dashboard.get("panels"), list):
                return self._bad("dashboard: uid, title and panels are required")
            if body.get("folderUid") not in self.folders:
                return self._bad("dashboard: folderUid does not exist")
            if dashboard["uid"] in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch"}
            self.dashboards[dashboard["uid"]] = dashboard
            return 200, {"uid": dashboard["uid"], "status": "success", "version": 1}
        if path == "/api/v1/provisioning/contact-points":
            if method == "GET":
                return 200, list(self.contact_points.values())
            return self._contact_point(body)
        if match := re.fullmatch(r"/api/v1/provisioning/contact-points/([\w-]+)", path):
            return self._contact_point(body)
        if match := re.fullmatch(r"/api/v1/provisioning/alert-rules/([\w-]+)", path):
            if method == "GET":
                rule = self.rules.get(match[1])
                return (200, rule) if rule else (404, {"message": "rule not found"})
            return self._rule(body)
        if method == "POST" and path == "/api/v1/provisioning/alert-rules":
            return self._rule(body)
        if method == "PUT" and path == "/api/v1/provisioning/policies":
            names = {point["name"] for point in self.contact_points.values()}
            if body.get("receiver") not in names:
                return self._bad("policy: receiver is not a contact point")
            self.policy = body
            return 202, {"message": "policies updated"}
        return self._bad(f"unexpected {method} {path}")

    def _datasource(self, body: dict[str, Any], uid: Any) -> tuple[int, Any]:
        missing = [key for key in ("name", "type", "access", "uid", "jsonData") if not body.get(key)]
        if missing or uid != body.get("uid"):
            return self._bad(f"datasource: missing {missing}")
        if not {"host", "port", "protocol"} <= set(body["jsonData"]):
            return self._bad("datasource: jsonData needs host, port and protocol")
        self.datasources[uid] = body
        return 200, {"datasource": body, "message": "Datasource added"}

    def _contact_point(self, body: dict[str, Any]) -> tuple[int, Any]:
        if not body.get("name") or body.get("type") != "webhook" or not body.get("settings", {}).get("url"):
            return self._bad("contact point: name, type webhook and settings.url are required")
        self.contact_points[body["uid"]] = body
        return 202, body

    def _rule(self, body: dict[str, Any]) -> tuple[int, Any]:
        required = ("uid", "title", "condition", "data", "folderUID", "ruleGroup", "noDataState", "execErrState", "for")
        missing = [key for key in required if key not in body]
        if missing:
            return self._bad(f"alert rule: missing {missing}")
        refs = {item["refId"] for item in body["data"]}
        if body["condition"] not in refs:
            return self._bad("alert rule: condition names no query")
        for item in body["data"]:
            if item["datasourceUid"] != "__expr__" and item["datasourceUid"] not in self.datasources:
                return self._bad("alert rule: unknown datasource uid")
            if item["datasourceUid"] != "__expr__" and item["relativeTimeRange"]["from"] <= 0:
                return self._bad("alert rule: relative time range must not be zero")
        if body["folderUID"] not in self.folders:
            return self._bad("alert rule: unknown folder")
        self.rules[body["uid"]] = body
        return 201, body
