"""The same product on the cluster profile (tests/cluster/conftest.py: three Kafka nodes, tables in the
object store, the job at parallelism 2 over two TaskManagers, a Trino worker): a replay with a changed
threshold passes the gate and cuts over while analysts query, a rollback switches the views back, and a
backfill of a day publishes exactly the plain-Python windows. The integration tier's own cases, run
unchanged on this stack: what they assert (and their plain-Python expectations) is defined once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import test_backfill as backfill_tier
from tests.integration import test_replay as replay_tier
from tests.integration.test_backfill import day_events  # noqa: F401 (a fixture of this module)
from tests.integration.test_replay import produced  # noqa: F401 (a fixture of this module)


@pytest.mark.timeout(2400)
def test_a_replay_cuts_over_through_the_gate_and_rolls_back(ctx: Any, produced: dict) -> None:  # noqa: F811
    replay_tier.test_replay_with_a_new_threshold_cuts_over_while_analysts_query(ctx, produced)
    replay_tier.test_rollback_switches_the_view_back(ctx, produced)


@pytest.mark.timeout(1800)
def test_a_backfill_publishes_exactly_the_plain_python_windows(ctx: Any, day_events: dict) -> None:  # noqa: F811
    backfill_tier.test_backfill_produces_exactly_the_plain_python_windows(ctx, day_events)
