"""The gateway: nginx (Debian's package) in front of the Flink Web UI, the Dagster UI and the schema
registry's API.

Each gets its own HTTPS port on loopback with a certificate generated at set-up, a password (the UIs:
user `admin`, `ui_admin_password` in the secrets file; the registry: user `registry`,
`registry_password`), and refuses a request whose `Host` is not the platform's address (DNS
rebinding) or whose `Origin` is another site (a page in the user's browser). Dagster and the registry
serve on sockets in the private state directory, so the gateway is the only way in; Flink's REST
port stays on loopback for the platform's own clients.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

import bcrypt
import requests

from kappa.artifacts.debian import ensure_nginx, nginx_version
from kappa.context import Context
from kappa.runtime.process import ProcessSpec
from kappa.services.flink_tls import rest_tls_files
from kappa.services.trino_security import write_certificate

UI_USER = "admin"
REGISTRY_USER = "registry"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def upstreams(ctx: Context) -> dict[int, str]:
    """Gateway port -> how it reaches what it fronts: Flink's REST API with the platform's client
    certificate (mutual TLS, services/flink_tls.py), Dagster on its socket."""
    s = ctx.settings
    pem, ca = rest_tls_files(ctx)
    out = {s.flink.ui_port: f"""proxy_pass https://{s.host}:{s.flink.rest_port};
            proxy_ssl_certificate {pem};
            proxy_ssl_certificate_key {pem};
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_verify on;
            proxy_ssl_name localhost;"""}
    if s.dagster.enabled:
        out[s.dagster.port] = f"proxy_pass http://unix:{s.dagster_socket}:;"
    # The registry's Confluent-compatible API at the root, as Confluent's clients expect it.
    out[s.registry.port] = f"proxy_pass http://unix:{s.registry_socket}:/apis/ccompat/v7/;"
    return out


def htpasswd(password: str, user: str = UI_USER) -> str:
    """nginx checks passwords with crypt(3); Debian's libxcrypt takes bcrypt."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return f"{user}:$2y${hashed[4:]}\n"


def password_files(ctx: Context, directory: Path) -> dict[int, Path]:
    """Gateway port -> the file of the users it lets in."""
    ui, registry = directory / "htpasswd", directory / "htpasswd-registry"
    return {port: registry if port == ctx.settings.registry.port else ui for port in upstreams(ctx)}


def _server(ctx: Context, port: int, upstream: str, passwords: Path) -> str:
    host = ctx.settings.host
    origins = "|".join(re.escape(f"https://{h}:{port}") for h in dict.fromkeys((host, "localhost", "127.0.0.1")))
    return f"""
    server {{  # any other Host: a DNS-rebinding page, say
        listen {host}:{port} ssl default_server;
        server_name _;
        return 421;
    }}
    server {{
        listen {host}:{port} ssl;
        server_name {host} localhost 127.0.0.1;
        location = /healthz {{
            default_type text/plain;
            return 200 "ok\\n";
        }}
        location / {{
            auth_basic "kappa";
            auth_basic_user_file {passwords};
            if ($http_origin !~ "^({origins})?$") {{
                return 403;
            }}
            {upstream}
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Authorization "";
            proxy_read_timeout 1h;
            proxy_buffering off;
        }}
    }}
"""


def render_config(ctx: Context, directory: Path, server_pem: Path) -> str:
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""  # workers as the platform's user
    temp = "".join(f"    {name}_temp_path {directory / 'tmp' / name};\n" for name in TEMP_DIRS)
    passwords = password_files(ctx, directory)
    servers = "".join(_server(ctx, port, upstream, passwords[port]) for port, upstream in upstreams(ctx).items())
    return f"""{user}worker_processes 1;
pid {directory / 'nginx.pid'};
error_log stderr warn;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
    server_tokens off;
{temp}    ssl_certificate {server_pem};
    ssl_certificate_key {server_pem};
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 16m;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
{servers}}}
"""


class Gateway:
    name = "gateway"
    depends_on: tuple[str, ...] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.dir = ctx.settings.state / "gateway"

    @property
    def version(self) -> str:
        return nginx_version(self.ctx.settings.cache)

    def ports(self) -> list[int]:
        return list(upstreams(self.ctx))

    def url(self) -> str | None:
        return self.ctx.settings.flink_ui_url

    def prepare(self) -> None:
        for name in TEMP_DIRS:
            (self.dir / "tmp" / name).mkdir(parents=True, exist_ok=True)
        server_pem, _ = write_certificate(self.ctx.settings.gateway_ca_file.parent, self.ctx.settings.host,
                                          name="gateway")
        users = {self.dir / "htpasswd": htpasswd(self.ctx.secrets.ui_admin_password),
                 self.dir / "htpasswd-registry": htpasswd(self.ctx.secrets.registry_password, REGISTRY_USER)}
        for path, text in users.items():
            path.write_text(text)
            path.chmod(0o600)
        (self.dir / "nginx.conf").write_text(render_config(self.ctx, self.dir, server_pem))

    def spec(self) -> ProcessSpec:
        nginx = ensure_nginx(self.ctx.settings.cache, lambda _m: None)
        return ProcessSpec(
            name=self.name,
            argv=[str(nginx), "-p", str(self.dir), "-e", "stderr", "-c", str(self.dir / "nginx.conf"),
                  "-g", "daemon off;"],
            log_path=self.ctx.log_path(self.name), ports=self.ports(),
        )

    def healthy(self) -> bool:
        r = requests.get(f"{self.ctx.settings.flink_ui_url}/healthz", timeout=3,
                         verify=str(self.ctx.settings.gateway_ca_file))
        return r.status_code == 200

    def after_start(self) -> None:
        return None
