"""`python -m kappa.services.dagster_socket SOCKET [dagster-webserver options]`: Dagster's webserver,
serving on a Unix socket instead of a TCP port.

A TCP port on loopback is open to every local user and to a browser's pages; the socket lives in the
private state directory (700), so only the gateway (services/gateway.py: TLS, a password, Host and
Origin checks) and the platform's own user reach the UI and its GraphQL API. Dagster's command line
has no socket option: this runs it with uvicorn told to bind the socket (uvicorn's `uds`).
"""

from __future__ import annotations

import os
import socket as sockets
import sys
from pathlib import Path
from typing import Any

import uvicorn
from dagster_webserver import cli


def main() -> None:
    socket, args = Path(sys.argv[1]), sys.argv[2:]
    # uvicorn gives a new socket mode 666 but keeps the mode of the one it replaces: leave one of mode 600
    if not socket.exists():
        with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as placeholder:
            placeholder.bind(str(socket))
    os.chmod(socket, 0o600)
    serve = uvicorn.run

    def on_socket(app: Any, host: str | None = None, port: int | None = None, **options: Any) -> None:
        serve(app, uds=str(socket), **options)

    cli.uvicorn.run = on_socket  # type: ignore[attr-defined]
    sys.argv = ["dagster-webserver", *args]
    cli.main()


if __name__ == "__main__":
    main()
