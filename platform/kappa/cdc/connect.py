"""The Debezium connector in Kafka Connect, managed as code: its config is rendered from the settings
and the declarations and PUT on every `kappa up` (idempotent), its state read and restarted by
`kappa cdc status|restart`. The REST API listens on loopback with HTTP basic auth (user `connect`).

The database password never enters the connector's config (which Kafka Connect stores in a topic and
shows over REST): the config names it through Kafka's FileConfigProvider, from a file in the private
state directory (services/kafka_connect.py writes it)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import requests

from kappa.context import Context
from kappa.errors import KappaError
from kappa.settings import KappaSettings

USER = "connect"
CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
SOURCE_SECRETS_FILE = "source-credentials.properties"  # in the worker's private folder


def worker_dir(settings: KappaSettings) -> Any:
    return settings.state / "kafka-connect"


def connector_config(ctx: Context) -> dict[str, str]:
    s = ctx.settings
    captured = sorted(f"{p.source.schema}.{p.source.name}" for p in s.pipelines.live if p.source is not None)
    secrets_file = worker_dir(s) / SOURCE_SECRETS_FILE
    return {
        "connector.class": CONNECTOR_CLASS,
        "tasks.max": "1",
        "exactly.once.support": "required",  # the worker refuses to run it otherwise
        "transaction.boundary": "poll",  # each batch Debezium hands over is one transaction
        "database.hostname": s.host,
        "database.port": str(s.postgres.port),
        "database.user": s.cdc.capture_user,
        "database.password": f"${{file:{secrets_file}:password}}",
        "database.dbname": s.cdc_database,
        "topic.prefix": s.cdc_database,  # topics <database>.<schema>.<table> (lakehouse.cdc.topic_name)
        "plugin.name": "pgoutput",
        "slot.name": s.cdc.slot,
        "publication.name": s.cdc.publication,
        "publication.autocreate.mode": "disabled",  # kappa up keeps it (cdc/source.py)
        "table.include.list": ",".join(captured),
        "snapshot.mode": "initial",
        "decimal.handling.mode": "string",  # exact: the job casts to the declared DECIMAL
        "tombstones.on.delete": "false",  # a delete event carries its key; the topics are not compacted
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    }


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    state: str  # RUNNING | PAUSED | FAILED | UNASSIGNED | RESTARTING | MISSING
    tasks: list[tuple[int, str, str]]  # (id, state, the first line of a failure's trace)
    worker: str = ""


class Connect:
    """Kafka Connect's REST API (basic auth; the environment's proxies and CA bundle are ignored)."""

    def __init__(self, settings: KappaSettings, password: str, timeout_s: float = 10) -> None:
        self.base = settings.connect_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = (USER, password)
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.base + path, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise KappaError(f"Kafka Connect at {self.base} is not answering ({type(exc).__name__}); "
                             "is the stack up (`kappa status`)?") from exc

    def _ok(self, response: requests.Response, what: str) -> Any:
        if response.status_code >= 300:
            detail = response.text[:300]
            with contextlib.suppress(ValueError):
                detail = response.json().get("message", detail)
            raise KappaError(f"Kafka Connect refused to {what} (HTTP {response.status_code}): {detail}")
        return response.json() if response.content else None

    def healthy(self) -> bool:
        return self._call("GET", "/health").status_code == 200

    def connectors(self) -> list[str]:
        return list(self._ok(self._call("GET", "/connectors"), "list connectors"))

    def put_config(self, name: str, config: dict[str, str]) -> None:
        self._ok(self._call("PUT", f"/connectors/{name}/config", json=config), f"configure connector {name}")

    def config(self, name: str) -> dict[str, str] | None:
        response = self._call("GET", f"/connectors/{name}/config")
        return None if response.status_code == 404 else self._ok(response, f"read connector {name}")

    def status(self, name: str) -> ConnectorStatus:
        response = self._call("GET", f"/connectors/{name}/status")
        if response.status_code == 404:
            return ConnectorStatus(name, "MISSING", [])
        body = self._ok(response, f"read connector {name}'s status")
        tasks = [(int(t["id"]), t["state"], (t.get("trace") or "").split("\n", 1)[0]) for t in body.get("tasks", [])]
        return ConnectorStatus(name, body["connector"]["state"], tasks, body["connector"].get("worker_id", ""))

    def restart(self, name: str) -> None:
        self._ok(self._call("POST", f"/connectors/{name}/restart", params={"includeTasks": "true"}),
                 f"restart connector {name}")


def client(ctx: Context) -> Connect:
    return Connect(ctx.settings, ctx.secrets.connect_password)


def apply(ctx: Context) -> bool:
    """Create or update the connector to the rendered config, or restart it when it failed; True when
    it did either."""
    name = ctx.settings.cdc.connector
    if not ctx.settings.pipelines.captured:
        return False
    api = client(ctx)
    wanted = connector_config(ctx)
    if api.config(name) != {**wanted, "name": name}:
        api.put_config(name, wanted)
        return True
    st = api.status(name)
    if st.state == "FAILED" or any(state == "FAILED" for _i, state, _t in st.tasks):
        api.restart(name)  # `kappa up` heals a connector that failed (an outage outlasted its retries)
        return True
    return False


def running(status: ConnectorStatus) -> bool:
    return status.state == "RUNNING" and bool(status.tasks) and all(s == "RUNNING" for _i, s, _t in status.tasks)
