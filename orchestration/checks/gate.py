"""The quality suites as a blocking gate for publishing (backfills, replay cut-over)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from kappa.jobs import get_definition
from kappa.services.base import Context
from orchestration.checks.suites import SUITES, validate


def arrow_check(ctx: Context, job: str) -> Callable[[str, pa.Table], tuple[bool, str]]:
    params = get_definition(ctx, job).params

    def check(table: str, rows: pa.Table) -> tuple[bool, str]:
        suite = SUITES.get(table)
        if suite is None or rows.num_rows == 0:
            return True, f"{table}: no suite or no rows"
        result = validate(rows.to_pandas(), suite, params)
        return result.success, result.summary()

    return check
