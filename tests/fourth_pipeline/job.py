"""user-events -> product_events_raw, product_activity_10m: product events per product and window."""

from __future__ import annotations

from flink_jobs.runner import run
from flink_jobs.spec import JobSpec
from flink_jobs.sql import Output, configure, create_catalog, output, prepare_source, statement_set, window_bound


def outputs(t_env, spec: JobSpec) -> list[Output]:  # type: ignore[no-untyped-def]
    size = int(spec.params["window_min"])
    result = prepare_source(t_env, spec, "product_events")
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW product_activity AS
        SELECT window_start, window_end, product_id,
               COUNT(*) FILTER (WHERE action = 'view_product') AS product_views,
               COUNT(*) FILTER (WHERE action = 'add_to_cart') AS carts,
               COUNT(*) FILTER (WHERE action = 'purchase') AS purchases,
               CAST(COALESCE(SUM(amount) FILTER (WHERE action = 'purchase'), 0) AS DECIMAL(18, 2)) AS revenue
        FROM TABLE(TUMBLE(
            (SELECT *, JSON_VALUE(properties, '$.product_id') AS product_id FROM product_events_ontime
             WHERE action IN ('view_product', 'add_to_cart', 'purchase')),
            DESCRIPTOR(event_time), INTERVAL '{size}' MINUTE))
        WHERE product_id IS NOT NULL
        GROUP BY window_start, window_end, product_id
    """)
    result.append(output(spec, "activity", f"""
        SELECT {window_bound('window_start')} AS window_start, {window_bound('window_end')} AS window_end,
               product_id, product_views, carts, purchases, revenue
        FROM product_activity"""))
    return result


def build(t_env, spec: JobSpec):  # type: ignore[no-untyped-def]
    configure(t_env, spec)
    create_catalog(t_env, spec)
    return statement_set(t_env, outputs(t_env, spec))


if __name__ == "__main__":
    run(build, __doc__ or "")
