"""The Dagster UI, driven by headless Chromium: the asset graph is there, and a materialization
launched from the UI succeeds (run by the daemon, through Trino)."""

from __future__ import annotations

import contextlib
import shutil
import time

import pytest
import requests

from kappa.services.base import Context
from kappa.serving import apply_views

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

LATEST = """{ assetOrError(assetKey: {path: ["analytics", "platform_summary"]}) { ... on Asset {
  assetMaterializations(limit: 1) { runId timestamp } } } }"""


def _dismiss_welcome(page) -> None:  # type: ignore[no-untyped-def]
    """Dagster greets a new browser with a community dialog; it would cover the buttons."""
    with contextlib.suppress(Exception):  # no dialog this time
        page.get_by_role("button", name="Skip").click(timeout=8000)


def _latest_materialization(url: str) -> dict | None:
    data = requests.post(f"{url}/graphql", json={"query": LATEST}, timeout=10).json()["data"]["assetOrError"]
    found = data.get("assetMaterializations") or []
    return found[0] if found else None


def test_asset_graph_and_a_materialization_from_the_ui(ctx: Context) -> None:
    from playwright.sync_api import sync_playwright

    apply_views(ctx)
    url = ctx.settings.dagster_url
    before = _latest_materialization(url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        # the asset graph around one streaming table: Kafka topic -> table -> analytics view
        page.goto(f"{url}/assets/streaming/transactions_5m?view=lineage", wait_until="networkidle", timeout=120_000)
        _dismiss_welcome(page)
        for group in ("kafka", "streaming", "analytics"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        assert page.get_by_text("transactions_5m").count() >= 2  # the table and its view
        page.get_by_text("Flink").first.wait_for(timeout=30_000)

        page.goto(f"{url}/assets/analytics/platform_summary", wait_until="networkidle", timeout=120_000)
        _dismiss_welcome(page)
        page.get_by_role("button", name="Materialize", exact=True).first.click()
        deadline = time.monotonic() + 300
        latest = None
        while time.monotonic() < deadline:
            latest = _latest_materialization(url)
            if latest and latest != before:
                break
            time.sleep(2)
        else:
            pytest.fail("the materialization launched from the UI did not succeed within 300s")
        page.goto(f"{url}/runs/{latest['runId']}", wait_until="networkidle", timeout=120_000)
        page.get_by_text("Success").first.wait_for(timeout=60_000)
        browser.close()
