"""HTTP over a Unix socket (the Dagster webserver's, services/dagster_socket.py), with the standard library."""

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


def post_json(path: Path, url_path: str, payload: dict[str, Any], timeout: float = 10) -> Any:
    """POST JSON, return the decoded JSON answer (an error for a status other than 200)."""
    conn = _Connection(path, timeout)
    try:
        conn.request("POST", url_path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"HTTP {response.status} from {path}{url_path}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()
