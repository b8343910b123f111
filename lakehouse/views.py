"""The serving layer as code: one view in `analytics` per published table, always pointing at the
job version that is live. What analysts query never depends on which version produced it."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.tables import PUBLISHED_ROLES, job_table_specs


@dataclass(frozen=True)
class View:
    name: str  # analytics.<name>
    source_table: str  # streaming.<table of the live version>

    def create_sql(self, catalog: str, views_ns: str, tables_ns: str) -> str:
        # SECURITY DEFINER: analysts read the view without any privilege on the table below it.
        return (f'CREATE OR REPLACE VIEW "{catalog}"."{views_ns}"."{self.name}" SECURITY DEFINER AS '
                f'SELECT * FROM "{catalog}"."{tables_ns}"."{self.source_table}"')


def job_views(job: str, version: int) -> list[View]:
    base = job_table_specs(job, 1)
    live = job_table_specs(job, version)
    return [View(base[role].name, live[role].name) for role in PUBLISHED_ROLES[job]]
