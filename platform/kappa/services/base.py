"""What every service provides to the stack."""

from __future__ import annotations

from typing import Protocol

from kappa.runtime.process import ProcessSpec


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
