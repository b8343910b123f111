"""The Dagster code location: the composition root. Settings are loaded once, here, from the same
file and environment as the CLI (`kappa up` passes the effective settings in $KAPPA_CONFIG)."""

from __future__ import annotations

import dagster as dg

from kappa.settings import load_settings
from orchestration.assets.daily import daily_assets, platform_summary
from orchestration.assets.lineage import lineage_specs
from orchestration.backfill.jobs import backfill_jobs
from orchestration.checks.asset_checks import accounting_checks, quality_checks, source_equality_checks
from orchestration.health.sensors import sensors
from orchestration.maintenance.tables import maintenance_jobs, schedule_status
from orchestration.resources import Platform


def build(platform: Platform) -> dg.Definitions:
    checks = quality_checks(platform) + accounting_checks(platform) + source_equality_checks(platform)
    checks_job = dg.define_asset_job("quality_checks", selection=dg.AssetSelection.all_asset_checks())
    maintenance, maintenance_schedules = maintenance_jobs(platform)
    return dg.Definitions(
        assets=[*lineage_specs(platform.settings), *daily_assets(platform), platform_summary(platform)],
        asset_checks=checks,
        jobs=[checks_job, *backfill_jobs(platform), *maintenance],
        schedules=[dg.ScheduleDefinition(job=checks_job, cron_schedule="*/15 * * * *",
                                         default_status=schedule_status(platform.settings)),
                   *maintenance_schedules],
        sensors=sensors(platform),
    )


defs = build(Platform(load_settings()))
