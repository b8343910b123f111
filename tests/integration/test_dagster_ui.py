"""The Dagster UI, driven by headless Chromium through the gateway (HTTPS, the admin password): the
asset graph is there, and a materialization launched from the UI succeeds (run by the daemon, through
Trino)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from kappa.context import Context
from kappa.services.gateway import UI_USER
from kappa.serving import apply_views

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".pytest-artifacts"
LATEST = """{ assetOrError(assetKey: {path: ["analytics", "platform_summary"]}) { ... on Asset {
  assetMaterializations(limit: 1) { runId timestamp } } } }"""


def _when_visible(page, locator, timeout_s: float = 90):  # type: ignore[no-untyped-def]
    """The locator once it shows. Dagster greets a new browser with a community dialog (its "nux")
    unless the instance turns it off, as the platform's does: it must never show."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert not page.get_by_role("button", name="Skip").count(), "Dagster's community dialog showed"
        if locator.count() and locator.first.is_visible():
            return locator.first
        time.sleep(0.5)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dagster-ui-failure.png"))
    pytest.fail(f"{locator} did not show within {timeout_s}s; screenshot in {SCREENSHOTS}")


def _latest_materialization(ctx: Context) -> dict | None:
    answer = requests.post(f"{ctx.settings.dagster_url}/graphql", json={"query": LATEST}, timeout=10,
                           auth=(UI_USER, ctx.secrets.ui_admin_password), verify=str(ctx.settings.gateway_ca_file))
    data = answer.json()["data"]["assetOrError"]
    found = data.get("assetMaterializations") or []
    return found[0] if found else None


def test_asset_graph_and_a_materialization_from_the_ui(ctx: Context) -> None:
    from playwright.sync_api import sync_playwright

    apply_views(ctx)
    url = ctx.settings.dagster_url
    before = _latest_materialization(ctx)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # the gateway's certificate is the platform's own, which Chromium's store does not hold
        page = browser.new_context(http_credentials={"username": UI_USER, "password": ctx.secrets.ui_admin_password},
                                   ignore_https_errors=True).new_page()
        # the asset graph around one streaming table: Kafka topic -> table -> analytics view
        page.goto(f"{url}/assets/streaming/transactions_5m?view=lineage", wait_until="networkidle", timeout=120_000)
        for group in ("kafka", "streaming", "analytics"):
            _when_visible(page, page.get_by_text(group, exact=True))
        assert page.get_by_text("transactions_5m").count() >= 2  # the table and its view
        _when_visible(page, page.get_by_text("Flink"))

        page.goto(f"{url}/assets/analytics/platform_summary", wait_until="networkidle", timeout=120_000)
        # the button's accessible name includes its icon's label: match the visible text
        materialize = page.locator("button").filter(has_text=re.compile(r"^\s*Materialize\s*$"))
        _when_visible(page, materialize).click()
        deadline = time.monotonic() + 300
        latest = None
        while time.monotonic() < deadline:
            latest = _latest_materialization(ctx)
            if latest and latest != before:
                break
            time.sleep(2)
        else:
            pytest.fail("the materialization launched from the UI did not succeed within 300s")
        page.goto(f"{url}/runs/{latest['runId']}", wait_until="networkidle", timeout=120_000)
        _when_visible(page, page.get_by_text("Success"))
        browser.close()
