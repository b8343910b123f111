"""A fourth pipeline, added the way a user adds one: a declaration (`declaration.py`, which would be
lakehouse/pipelines/product_activity.py) and its SQL module (`job.py`, flink_jobs/product_activity.py).
tests/unit/test_pipeline_registry.py shows everything else follows; tests/flink runs its SQL."""
