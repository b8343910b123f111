"""Nexmark queries for `kappa bench`: a bounded read of the filled `nexmark` topic (earliest to the
latest offset at start) through one query into a blackhole or an Iceberg table; or, with
`"bounded": false`, an unbounded one (the freshness measurement).

`python -m flink_jobs.nexmark --spec bench.json`, where the spec holds bootstrap, topic, query, sink,
parallelism, checkpoint_interval_s, run id and (for the Iceberg sink) the catalog.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from flink_jobs.spec import catalog_spec, ident, kafka_java_security
from flink_jobs.sql import catalog_options, with_options

SOURCE = """
CREATE TEMPORARY TABLE nexmark (
  event_type INT,
  person ROW<id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING, state STRING,
             `dateTime` BIGINT, extra STRING>,
  auction ROW<id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT,
              `dateTime` BIGINT, expires BIGINT, seller BIGINT, category BIGINT, extra STRING>,
  bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, `dateTime` BIGINT, extra STRING>,
  ts AS TO_TIMESTAMP_LTZ(COALESCE(person.`dateTime`, auction.`dateTime`, bid.`dateTime`), 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ({options})"""

VIEWS = (
    "CREATE TEMPORARY VIEW bid AS SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, "
    "bid.channel AS channel, bid.extra AS extra, ts FROM nexmark WHERE event_type = 2",
    "CREATE TEMPORARY VIEW person AS SELECT person.id AS id, person.name AS name, person.city AS city, ts "
    "FROM nexmark WHERE event_type = 0",
    "CREATE TEMPORARY VIEW auction AS SELECT auction.id AS id, auction.seller AS seller, "
    "auction.category AS category, ts FROM nexmark WHERE event_type = 1",
)

# Nexmark's queries as in Flink's nexmark suite, on event time `ts`.
QUERIES: dict[str, tuple[str, str]] = {
    # passthrough
    "q0": ("auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, extra STRING, ts TIMESTAMP_LTZ(3)",
           "SELECT auction, bidder, price, channel, extra, ts FROM bid"),
    # the same with a Python scalar UDF, and its SQL twin
    "q1_udf": ("auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP_LTZ(3)",
               "SELECT auction, bidder, to_euro(price), ts FROM bid"),
    "q1_sql": ("auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP_LTZ(3)",
               "SELECT auction, bidder, CAST(price AS DOUBLE) * 0.908, ts FROM bid"),
    # hot items: hopping windows, the auctions with the most bids per window
    "q5": ("auction BIGINT, num BIGINT", """
        SELECT AuctionBids.auction, AuctionBids.num FROM (
          SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
          FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
          GROUP BY auction, window_start, window_end) AS AuctionBids
        JOIN (
          SELECT MAX(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (
            SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
            FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
            GROUP BY auction, window_start, window_end) AS CountBids
          GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
        ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
           AND AuctionBids.num >= MaxBids.maxn"""),
    # highest bid per tumbling window, joined back to the bids
    "q7": ("auction BIGINT, price BIGINT, bidder BIGINT, ts TIMESTAMP_LTZ(3)", """
        SELECT B.auction, B.price, B.bidder, B.ts FROM bid B
        JOIN (SELECT MAX(price) AS maxprice, window_end AS wend
              FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '10' SECOND))
              GROUP BY window_start, window_end) B1
        ON B.price = B1.maxprice
        WHERE B.ts BETWEEN B1.wend - INTERVAL '10' SECOND AND B1.wend"""),
    # new users who opened an auction in the same tumbling window
    "q8": ("id BIGINT, name STRING, starttime TIMESTAMP(3)", """
        SELECT P.id, P.name, P.starttime FROM (
          SELECT id, name, window_start AS starttime, window_end AS endtime
          FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(ts), INTERVAL '10' SECOND))
          GROUP BY id, name, window_start, window_end) P
        JOIN (
          SELECT seller, window_start AS starttime, window_end AS endtime
          FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(ts), INTERVAL '10' SECOND))
          GROUP BY seller, window_start, window_end) A
        ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"""),
    # bids per bidder session (10 s gap)
    "q11": ("bidder BIGINT, bid_count BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3)", """
        SELECT bidder, COUNT(*) AS bid_count, window_start, window_end
        FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '10' SECOND))
        GROUP BY bidder, window_start, window_end"""),
}


def build(t_env: Any, spec: dict[str, Any]) -> Any:
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    conf = t_env.get_config()
    if spec["query"] not in QUERIES or spec["sink"] not in ("iceberg", "blackhole"):
        raise ValueError(f"unknown query {spec['query']!r} or sink {spec['sink']!r}")
    conf.set("pipeline.name", f"kappa.bench.{spec['query']}.{spec['sink']}")
    conf.set("parallelism.default", str(spec["parallelism"]))
    conf.set("execution.checkpointing.interval", f"{spec['checkpoint_interval_s']}s")
    conf.set("table.local-time-zone", "UTC")
    options = {"connector": "kafka", "topic": spec["topic"], "properties.bootstrap.servers": spec["bootstrap"],
               **{f"properties.{k}": v for k, v in kafka_java_security(spec["username"], spec["password"]).items()},
               "properties.group.id": f"kappa-bench-{spec['run']}", "scan.startup.mode": "earliest-offset",
               "format": "json", "json.ignore-parse-errors": "true"}
    if spec.get("bounded", True):
        options["scan.bounded.mode"] = "latest-offset"
    t_env.execute_sql(SOURCE.format(options=with_options(options)))
    for view in VIEWS:
        t_env.execute_sql(view)
    t_env.create_temporary_function(
        "to_euro", udf(lambda price: price * 0.908, result_type=DataTypes.DOUBLE()))
    columns, query = QUERIES[spec["query"]]
    if spec.get("ingest_time"):  # stamped as each row passes, like the pipelines' tables (kappa bench)
        columns += ", ingest_time TIMESTAMP_LTZ(3)"
        query = f"SELECT *, CURRENT_TIMESTAMP AS ingest_time FROM ({query})"
    if spec["sink"] == "iceberg":
        # The Flink catalog's name is the Iceberg catalog's name in the JDBC tables: it must be the
        # platform's, or Trino and PyIceberg would not see the bench tables.
        catalog = catalog_spec(spec["catalog"])
        t_env.execute_sql(f"CREATE CATALOG {ident(catalog.name)} WITH ({with_options(catalog_options(catalog))})")
        database = ".".join(ident(x) for x in (catalog.name, spec.get("namespace", "bench")))
        t_env.execute_sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        sink = f"{database}.{ident(spec['table'])}"
        t_env.execute_sql(f"CREATE TABLE IF NOT EXISTS {sink} ({columns.replace('TIMESTAMP_LTZ(3)', 'TIMESTAMP(3)')})")
        if "TIMESTAMP_LTZ" in columns:  # Iceberg has no TIMESTAMP_LTZ: cast the event time
            cols = [c.split()[0] for c in columns.split(", ")]
            query = "SELECT " + ", ".join(f"CAST({c} AS TIMESTAMP(3))" if c in ("ts", "ingest_time") else c
                                          for c in cols) + f" FROM ({query})"
    else:
        sink = "bench_sink"
        t_env.execute_sql(f"CREATE TEMPORARY TABLE bench_sink ({columns}) WITH ('connector' = 'blackhole')")
    # One Iceberg writer, whatever the query's parallelism: this run is bounded, and Iceberg 1.11's
    # FlinkSink loses a writer's files when another reaches the end of its input later (jobs.py).
    hint = " /*+ OPTIONS('write-parallelism' = '1') */" if spec["sink"] == "iceberg" else ""
    return t_env.execute_sql(f"INSERT INTO {sink}{hint} {query}")


def main(argv: list[str] | None = None) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    parser = argparse.ArgumentParser(description="a Nexmark query over the filled topic (kappa bench)")
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)
    with open(args.spec) as fh:
        spec = json.load(fh)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    build(t_env, spec)


if __name__ == "__main__":
    main()
