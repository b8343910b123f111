"""Credentials generated at set-up, kept in the state directory (mode 0600), never in the repository."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Secrets:
    postgres_superuser_password: str
    catalog_password: str

    def __repr__(self) -> str:  # never print a password by accident
        return "Secrets(****)"


def load_or_create(state: Path) -> Secrets:
    path = state / "secrets.json"
    if path.exists():
        return Secrets(**json.loads(path.read_text()))
    state.mkdir(parents=True, exist_ok=True)
    value = Secrets(
        postgres_superuser_password=secrets.token_urlsafe(24),
        catalog_password=secrets.token_urlsafe(24),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(value), fh)
    return value
