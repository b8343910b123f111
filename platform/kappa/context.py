"""What every part of the platform is handed: the settings, the installed components and the
secrets. Built once at the entry point (the CLI, the Dagster code location, the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kappa.artifacts.installs import Installs, installed
from kappa.runtime.secrets import Secrets, load_or_create
from kappa.settings import KappaSettings


@dataclass(frozen=True)
class Context:
    settings: KappaSettings
    installs: Installs
    secrets: Secrets

    def service_dir(self, name: str) -> Path:
        path = self.settings.state / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, name: str) -> Path:
        return self.settings.logs_dir / f"{name}.log"


def build_context(settings: KappaSettings) -> Context:
    return Context(settings=settings, installs=installed(settings.cache), secrets=load_or_create(settings.state))
