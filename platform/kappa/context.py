"""What every part of the platform is handed: the settings, the installed components and the
secrets. Built once at the entry point (the CLI, the Dagster code location, the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kappa.artifacts.installs import Installs, installed
from kappa.kafka_clients import KafkaAccess
from kappa.runtime.secrets import Secrets, load_or_create
from kappa.settings import KappaSettings


@dataclass(frozen=True)
class Context:
    settings: KappaSettings
    installs: Installs
    secrets: Secrets
    kafka_principal: str = "admin"  # the entry point's: the CLI's is admin, the Dagster code location's dagster

    def service_dir(self, name: str) -> Path:
        path = self.settings.state / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def kafka(self, principal: str | None = None) -> KafkaAccess:
        """Kafka as one of the platform's principals (kafka_acl.py says who may do what); by default
        the entry point's."""
        who = principal or self.kafka_principal
        return KafkaAccess(self.settings.kafka_bootstrap, who, self.secrets.kafka_password(who))

    def log_path(self, name: str) -> Path:
        return self.settings.logs_dir / f"{name}.log"


def build_context(settings: KappaSettings, kafka_principal: str = "admin") -> Context:
    return Context(settings=settings, installs=installed(settings.cache), secrets=load_or_create(settings.state),
                   kafka_principal=kafka_principal)
