"""Flink's SQL gateway, for `kappa sql --streaming`: sessions that run a user's queries as jobs on the
platform's cluster and stream their results back.

The PyFlink wheel ships no gateway jar, so `kappa setup` fetches `flink-sql-gateway` from Maven
Central; `bin/sql-gateway.sh start-foreground` finds it in FLINK_OPT_DIR (installs.sql_gateway_opt).
The gateway reads the cluster's configuration (services/flink.py), so its REST endpoint answers only
a client presenting the platform's certificate, as the JobManager's does (services/flink_tls.py), on
loopback. It is started on first use and stops with `kappa down`; `kappa up` does not start it.
"""

from __future__ import annotations

import requests

from kappa.context import Context
from kappa.runtime.process import ProcessSpec
from kappa.services.flink import FlinkJobManager, flink_env
from kappa.services.flink_tls import rest_tls_files


class SqlGateway(FlinkJobManager):
    name = "flink-sql-gateway"
    script = "sql-gateway.sh"
    depends_on: tuple[str, ...] = ("flink-jobmanager",)

    def ports(self) -> list[int]:
        return [self.ctx.settings.flink.sql_gateway_port]

    def prepare(self) -> None:
        return None  # the JobManager rendered the configuration the gateway reads

    def env(self) -> dict[str, str]:
        s = self.ctx.settings
        return {**flink_env(self.ctx, self._java()),
                "FLINK_OPT_DIR": str(self.ctx.installs.sql_gateway_opt),
                "FLINK_ENV_JAVA_OPTS_SQL_GATEWAY": f"-Xmx{s.flink.sql_gateway_memory_mb}m"}

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        endpoint = "-Dsql-gateway.endpoint.rest"
        return ProcessSpec(
            name=self.name,
            argv=[str(self.ctx.installs.flink_home / "bin" / self.script), "start-foreground",
                  f"{endpoint}.address={s.host}", f"{endpoint}.bind-address={s.host}",
                  f"{endpoint}.port={s.flink.sql_gateway_port}"],
            log_path=self.ctx.log_path(self.name),
            ports=self.ports(),
            env=self.env(),
            cwd=s.state / "flink",
        )

    def url(self) -> str | None:
        return self.ctx.settings.sql_gateway_url

    def healthy(self) -> bool:
        return gateway_session(self.ctx).get(f"{self.ctx.settings.sql_gateway_url}/v3/info", timeout=2).ok


def gateway_session(ctx: Context) -> requests.Session:
    """An HTTP session presenting the platform's client certificate and trusting only its CA."""
    pem, ca = rest_tls_files(ctx)
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides `verify` (psf/requests#3829)
    session.cert = str(pem)
    session.verify = str(ca)
    return session
