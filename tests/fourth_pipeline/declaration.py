"""product_activity: the seed's product events (view_product, add_to_cart, purchase) counted per
product in tumbling windows, on the existing `user-events` topic."""

from __future__ import annotations

from pydantic import Field

from lakehouse.pipeline import (
    Between,
    Checks,
    ContractFields,
    Gate,
    NotNull,
    Pipeline,
    PipelineSettings,
    Unique,
    WindowLength,
    raw,
    windowed,
)
from lakehouse.pipelines.user_activity import TOPIC


class Settings(PipelineSettings):
    window_min: int = Field(10, ge=1)


KEYS = ("window_start", "window_end", "product_id")

PIPELINE = Pipeline(
    name="product_activity",
    description="user-events -> product views, carts, purchases and revenue per product and window",
    topic=TOPIC,
    module="tests.fourth_pipeline.job",
    settings=Settings,
    tables=(
        raw("product_events_raw", TOPIC, gate=Gate("event_time", ("amount",)),
            checks=Checks(("event_id",), (NotNull(("event_id", "event_time")), ContractFields()))),
        windowed("activity", "product_activity_10m",
                 (("product_id", "STRING"), ("product_views", "BIGINT"), ("carts", "BIGINT"), ("purchases", "BIGINT"),
                  ("revenue", "DECIMAL(18, 2)")),
                 "Views, carts, purchases and revenue per product in tumbling windows",
                 gate=Gate("window_end", ("product_views", "purchases", "revenue"), ("window_min",)),
                 checks=Checks(KEYS, (NotNull(KEYS), Unique(KEYS), Between("product_views", 0), Between("revenue", 0),
                                      WindowLength("window_min")))),
    ),
)
