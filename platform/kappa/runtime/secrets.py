"""Credentials generated at set-up, kept in the state directory (mode 0600), never in the repository."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from kappa.errors import KappaError

TRINO_ROLES = ("admin", "pipeline", "analyst")


@dataclass(frozen=True)
class Secrets:
    postgres_superuser_password: str
    catalog_password: str
    trino_admin_password: str
    trino_pipeline_password: str
    trino_analyst_password: str
    trino_shared_secret: str
    dagster_storage_password: str
    kafka_secret: str
    ui_admin_password: str  # the gateway's user `admin` (the Flink and Dagster UIs)
    flink_keystore_password: str  # Flink's REST key and trust stores (services/flink_tls.py)
    registry_password: str  # the gateway's user `registry`: the schema registry's clients
    registry_storage_password: str  # the registry's database role
    cdc_owner_password: str  # the source database's owner (the application's role)
    cdc_capture_password: str  # Debezium's replication role
    connect_password: str  # Kafka Connect's REST API (user connect)
    zookeeper_password: str  # ZooKeeper's user flink (the JobManager's high availability)
    s3_access_key: str  # the object store's key (the cluster profile's warehouse): Flink, Trino, PyIceberg
    s3_secret_key: str

    def kafka_password(self, principal: str) -> str:
        """Each Kafka principal's password, derived from one stored secret: a principal a new pipeline
        brings has its password without the file changing."""
        digest = hmac.new(self.kafka_secret.encode(), f"kafka-principal:{principal}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def trino_password(self, user: str) -> str:
        if user not in TRINO_ROLES:
            raise KappaError(f"no Trino user {user!r}; users: {', '.join(TRINO_ROLES)}")
        return str(getattr(self, f"trino_{user}_password"))

    def __repr__(self) -> str:  # never print a password by accident
        return "Secrets(****)"

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        """Pretty printers (hypothesis's, IPython's) print dataclasses field by field otherwise."""
        printer.text(repr(self))


def load_or_create(state: Path) -> Secrets:
    """The stack's secrets; any that a newer version needs and the file lacks are generated once."""
    path = state / "secrets.json"
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [f.name for f in fields(Secrets) if f.name not in values]
    if not missing:
        return Secrets(**{f.name: values[f.name] for f in fields(Secrets)})
    for name in missing:
        values[name] = secrets.token_urlsafe(48 if name in ("trino_shared_secret", "kafka_secret") else 24)
    state.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    tmp.replace(path)
    return Secrets(**{f.name: values[f.name] for f in fields(Secrets)})


__all__ = ["TRINO_ROLES", "Secrets", "asdict", "load_or_create"]
