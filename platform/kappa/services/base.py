"""What every service provides to the stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kappa.artifacts.installs import Installs
from kappa.runtime.process import ProcessSpec
from kappa.runtime.secrets import Secrets
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


class Service(Protocol):
    name: str
    depends_on: tuple[str, ...]

    @property
    def version(self) -> str: ...

    def ports(self) -> list[int]: ...

    def prepare(self) -> None:
        """Render configuration and initialise data folders; idempotent."""

    def spec(self) -> ProcessSpec: ...

    def healthy(self) -> bool: ...

    def after_start(self) -> None:
        """Create what the platform needs inside the service (databases, topics); idempotent."""

    def url(self) -> str | None: ...
