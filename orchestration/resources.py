"""The platform handle every op, sensor and check uses: the same Context the CLI builds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from kappa.context import Context, build_context
from kappa.kafka_acl import DAGSTER
from kappa.settings import KappaSettings


@dataclass(frozen=True)
class Platform:
    settings: KappaSettings

    @cached_property
    def ctx(self) -> Context:
        return build_context(self.settings, kafka_principal=DAGSTER)
