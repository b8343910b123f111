"""The serving layer as code: one view in `analytics` per published table, always pointing at the
pipeline version that is live. What analysts query never depends on which version produced it."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.pipeline import Pipeline
from lakehouse.sql import qualified


@dataclass(frozen=True)
class View:
    name: str  # analytics.<name>
    source_table: str  # streaming.<table of the live version>

    def create_sql(self, catalog: str, views_ns: str, tables_ns: str) -> str:
        # SECURITY DEFINER: analysts read the view without any privilege on the table below it.
        return (f"CREATE OR REPLACE VIEW {qualified(catalog, views_ns, self.name)} SECURITY DEFINER AS "
                f"SELECT * FROM {qualified(catalog, tables_ns, self.source_table)}")


def pipeline_views(pipeline: Pipeline, version: int) -> list[View]:
    live = pipeline.table_names(version)
    return [View(t.name, live[t.role]) for t in pipeline.published]
