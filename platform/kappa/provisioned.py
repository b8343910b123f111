"""What Terraform provisioned for the local stack (its saved outputs), as the engines read it:
Trino's and the Flink jobs' catalog, PyIceberg, Dagster's and the schema registry's storage.
Written by `kappa.infra`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kappa.errors import KappaError
from kappa.settings import KappaSettings

LOCAL_ENV_NAME = "local"


@dataclass(frozen=True)
class Provisioned:
    """The local resources as Terraform created them (its outputs)."""

    topics: dict[str, dict[str, Any]]
    catalog_role: str
    catalog_database: str
    catalog_jdbc_url: str
    dagster_database: str
    dagster_role: str
    registry_database: str
    registry_role: str
    cdc_database: str
    cdc_owner_role: str
    cdc_capture_role: str
    warehouse_uri: str

    @property
    def warehouse(self) -> Path:
        """The local warehouse folder (the local profile's)."""
        return Path(self.warehouse_uri.removeprefix("file://"))

    @property
    def in_object_store(self) -> bool:
        return self.warehouse_uri.startswith("s3://")

    @classmethod
    def from_outputs(cls, raw: dict[str, Any]) -> Provisioned:
        return cls(**{k: raw[k]["value"] for k in cls.__dataclass_fields__})


def terraform_dir(settings: KappaSettings, env_name: str = LOCAL_ENV_NAME) -> Path:
    """Where an environment's state, variables and outputs live."""
    return settings.state / "terraform" / env_name


def outputs_file(settings: KappaSettings, env_name: str = LOCAL_ENV_NAME) -> Path:
    return terraform_dir(settings, env_name) / "outputs.json"


def outputs(settings: KappaSettings) -> Provisioned:
    """The provisioned resources, as the last `apply` reported them."""
    path = outputs_file(settings)
    if not path.exists():
        raise KappaError("the local resources are not provisioned yet; run `kappa up` (or `kappa infra apply`)")
    return Provisioned.from_outputs(json.loads(path.read_text()))
