"""HTTP over a Unix socket (the Dagster webserver's, the schema registry's), with the standard library."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.path))
        self.sock = sock


def request(path: Path, method: str, url_path: str, payload: Any = None, timeout: float = 10,
            content_type: str = "application/json") -> tuple[int, Any]:
    """One request; the status and the decoded JSON answer (None for an empty or non-JSON body)."""
    conn = _Connection(path, timeout)
    try:
        body = None if payload is None else json.dumps(payload)
        conn.request(method, url_path, body=body, headers={"Content-Type": content_type} if body else {})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, None
    finally:
        conn.close()


def post_json(path: Path, url_path: str, payload: dict[str, Any], timeout: float = 10) -> Any:
    """POST JSON, return the decoded JSON answer (an error for a status other than 200)."""
    status, answer = request(path, "POST", url_path, payload, timeout)
    if status != 200:
        raise OSError(f"HTTP {status} from {path}{url_path}: {str(answer)[:200]!r}")
    return answer
