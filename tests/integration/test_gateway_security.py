"""The Flink and Dagster UIs and the schema registry's API open only through the gateway (nginx: TLS,
a password, Host and Origin checks), and Dagster and the registry listen on no TCP port at all."""

from __future__ import annotations

import stat
from collections.abc import Callable

import psutil
import pytest
import requests

from kappa.context import Context
from kappa.runtime.stack import Stack
from kappa.services.gateway import REGISTRY_USER, UI_USER

pytestmark = pytest.mark.security

# the URL, a path, and the user the gateway lets in with its password
UIS: dict[str, Callable[[Context], tuple[str, str, tuple[str, str]]]] = {
    "flink": lambda ctx: (ctx.settings.flink_ui_url, "/overview", (UI_USER, ctx.secrets.ui_admin_password)),
    "dagster": lambda ctx: (ctx.settings.dagster_url, "/server_info", (UI_USER, ctx.secrets.ui_admin_password)),
    "registry": lambda ctx: (ctx.settings.registry_url, "/subjects", (REGISTRY_USER, ctx.secrets.registry_password)),
}


@pytest.mark.parametrize("ui", sorted(UIS))
def test_a_ui_answers_only_with_the_password_the_platforms_host_and_its_own_origin(ctx: Context, ui: str) -> None:
    base, path, good = UIS[ui](ctx)
    ca = str(ctx.settings.gateway_ca_file)
    user, password = good

    def status(auth: tuple[str, str] | None = good, **headers: str) -> int:
        return requests.get(base + path, auth=auth, headers=headers, verify=ca, timeout=10).status_code

    assert status() == 200
    assert status(Origin=base) == 200  # the UI's own pages
    assert status(auth=None) == 401
    assert status(auth=(user, "guess")) == 401
    assert status(auth=("mallory", password)) == 401
    ui, registry = (UI_USER, ctx.secrets.ui_admin_password), (REGISTRY_USER, ctx.secrets.registry_password)
    other = registry if user == UI_USER else ui
    assert status(auth=other) == 401  # the registry's clients cannot open the UIs, nor the reverse
    assert status(Host="rebound.example") == 421  # a DNS-rebinding page: its name, our address
    assert status(Origin="https://evil.example") == 403  # a page elsewhere, with the browser's saved password
    assert status(Origin="null") == 403
    assert requests.get(f"{base}/healthz", verify=ca, timeout=10).status_code == 200  # for probes, no secret
    with pytest.raises(requests.exceptions.SSLError):  # TLS with the platform's certificate, nothing else
        requests.get(base + path, auth=good, timeout=10, verify=True)


@pytest.mark.parametrize("service", ["dagster-webserver", "schema-registry"])
def test_dagster_and_the_registry_listen_on_no_tcp_port_and_their_sockets_are_private(
        ctx: Context, service: str) -> None:
    running = Stack(ctx).table.get(service)
    assert running is not None
    proc = psutil.Process(running.pid)
    listening = [c for p in [proc, *proc.children(recursive=True)] for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert not listening, listening
    socket = ctx.settings.dagster_socket if service == "dagster-webserver" else ctx.settings.registry_socket
    assert stat.S_ISSOCK(socket.stat().st_mode)
    if service == "dagster-webserver":
        assert stat.S_IMODE(socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(socket.parent.stat().st_mode) == 0o700  # only the platform's user reaches the socket
