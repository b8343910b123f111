"""Live schema evolution (`kappa schema apply TOPIC`): a topic's new contract version in the
repository becomes the registry's latest version, the tables gain its columns, the running jobs read
it, and the views expose it, without stopping the stream.

Everything is checked before anything changes: the registry's compatibility level (the rule named
when it refuses), and that the tables differ from their declarations only by added columns. Then, in
the order that keeps every record's fields:

1. the tables gain the new columns (Iceberg schema evolution: metadata only, no file rewritten), and
   at once the analytics views are replaced to expose them (Trino refuses a `SELECT *` view whose
   table gained a column until it is replaced);
2. each running job reading the topic stops with a savepoint and restarts from it with the new
   contract (its Kafka offsets and uncommitted files are in the savepoint: nothing is read twice
   or skipped). Records written with an older version read NULL in the new fields;
3. only then the version is registered, so no producer can write it before a job reads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyiceberg.exceptions import NoSuchTableError

from flink_jobs.spec import pipeline_name
from kappa import schemas
from kappa.catalog import catalog, ensure_job_tables
from kappa.context import Context
from kappa.errors import KappaError
from kappa.flink_rest import FlinkRest
from kappa.jobs import JobStore, start_job, stop_job
from kappa.serving import apply_job_views
from lakehouse.contracts import contract, latest_version
from lakehouse.pipeline import Pipeline
from lakehouse.tables import Evolution, evolution, evolved, version_specs


@dataclass
class Plan:
    topic: str
    contract_version: int  # the repository's newest
    register: list[int]  # repository versions the registry does not hold yet
    pipelines: list[tuple[Pipeline, int]]  # live pipelines reading the topic, at their live version
    tables: list[Evolution] = field(default_factory=list)  # tables that gain columns
    restart: list[str] = field(default_factory=list)  # running jobs whose contract is older

    @property
    def empty(self) -> bool:
        return not (self.register or self.tables or self.restart)

    def lines(self) -> list[str]:
        out = []
        for change in self.tables:
            for column, kind, after in change.added:
                out.append(f"table {change.table}: add column {column} {kind} "
                           f"({'first' if after is None else f'after {after}'}; existing rows read NULL)")
        if self.tables:
            out.append("views: " + ", ".join(sorted({p.name for p, _v in self.pipelines})) + "'s analytics views "
                       "replaced to expose the new columns")
        out += [f"job {job}: stop with a savepoint, restart from it reading contract v{self.contract_version}"
                for job in self.restart]
        name = schemas.subject(self.topic)
        out.append(f"{name}: register version(s) {', '.join(map(str, self.register))} of the repository"
                   if self.register else f"{name}: the repository's versions are all registered")
        return out


def plan(ctx: Context, topic: str) -> Plan:
    """What applying the topic's newest contract changes; raises KappaError, having changed nothing,
    when the registry's compatibility level or a table refuses it."""
    settings = ctx.settings
    registry = schemas.Registry(settings.registry_socket)
    checked = schemas.apply_declared(settings, registry, topics=[topic], dry_run=True)
    if not checked:
        raise KappaError(f"topic {topic} has no contract in the contracts directory")
    store = JobStore(settings.state)
    pipelines = [(p, store.get(p.name).version) for p in settings.pipelines.live if p.topic.name == topic]
    result = Plan(topic, latest_version(topic), checked[0].registered, pipelines)
    tables = catalog(ctx)
    problems: list[str] = []
    for p, version in pipelines:
        for spec in version_specs(p, version).values():
            try:
                current = tables.load_table((settings.jobs.namespace, spec.name)).schema()
            except NoSuchTableError:
                continue  # created when the job starts
            change = evolution(current, spec)
            problems += change.problems
            if change.added:
                result.tables.append(change)
    if problems:
        raise KappaError(f"{'; '.join(problems)}; nothing was changed")
    wanted = json.loads(json.dumps(contract(topic)))
    rest = FlinkRest(ctx)
    for p, version in pipelines:
        behind = store.spec(p.name, version).get("contract") != wanted
        if behind and rest.running_by_name(pipeline_name(p.name, version)):
            result.restart.append(p.name)
    return result


def apply(ctx: Context, topic: str, progress: Callable[[str], None] = lambda _m: None,
          timeout_s: float = 180) -> Plan:
    """Apply the topic's newest contract (see the module's docstring); returns what was done."""
    todo = plan(ctx, topic)
    if todo.empty:
        return todo
    for p, version in todo.pipelines:
        progress(f"evolving {p.name}'s tables")
        if evolved(ensure_job_tables(ctx, p, version)):
            apply_job_views(ctx, p, version)  # at once: Trino refuses a `SELECT *` view whose table gained a column
    for job in todo.restart:
        progress(f"restarting {job} from a savepoint")
        stop_job(ctx, job, savepoint=True, keep_desired=True)
        wait_running(ctx, start_job(ctx, job), timeout_s)
    if todo.register:
        progress("registering")
        schemas.apply_declared(ctx.settings, topics=[topic])
    return todo


def wait_running(ctx: Context, job_id: str, timeout_s: float) -> None:
    """Until every task of the job runs; names the job's state when it does not in time."""
    rest = FlinkRest(ctx)
    deadline = time.monotonic() + timeout_s
    state = "unknown"
    while time.monotonic() < deadline:
        state, every_task = rest.state(job_id)
        if every_task:
            return
        if state in ("FAILED", "CANCELED", "FINISHED"):
            break
        time.sleep(1)
    raise KappaError(f"Flink job {job_id} is {state}, not running, after the restart; see `kappa jobs list` and "
                     f"the Flink logs in {ctx.settings.logs_dir}")
