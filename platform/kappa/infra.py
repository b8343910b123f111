"""Terraform for the local stack's resources (infra/envs/local): topics, the catalog and Dagster
databases and their role, the warehouse directory.

The values come from the settings, rendered into a variables file; the two passwords come from the
secret store through TF_VAR_ variables (write-only: never in the state or the plan). After `apply`
the outputs are saved, and the engines are configured from them (`outputs`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg2 import sql as pgsql

from kappa import kafka_clients
from kappa.artifacts.terraform import ensure_cli_config, ensure_providers, ensure_terraform
from kappa.context import Context
from kappa.errors import KappaError
from kappa.kafka_acl import TERRAFORM
from kappa.provisioned import Provisioned, outputs_file, terraform_dir
from kappa.services.postgres import SUPERUSER, Postgres
from kappa.settings import KappaSettings
from lakehouse.catalog import CATALOG_PASSWORD_REF, trino_catalog_properties

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
LOCAL_ENV = INFRA / "envs" / "local"
Progress = Callable[[str], None]
TRANSIENT = "kafka: broker not connected"
# One operation at a time: the plan is a handful of resources, and the Kafka provider's client is
# less fragile without concurrent requests.
PARALLELISM = "-parallelism=1"


# What the Kubernetes environment adds to the catalog properties itself (its own module outputs and variables).
KUBERNETES_CATALOG_KEYS = ("iceberg.jdbc-catalog.connection-url", "iceberg.jdbc-catalog.connection-user",
                           "iceberg.jdbc-catalog.default-warehouse-dir")


def kubernetes_vars(settings: KappaSettings) -> dict[str, Any]:
    """The variables of infra/envs/kubernetes that come from the platform's settings and code (the
    cluster profile's are what would be deployed): the checkpoint interval, the topics with their
    replication, the Trino workers, and Trino's catalog (rendered as for the local stack, the
    password read from the Kubernetes secret)."""
    catalog = trino_catalog_properties(settings.catalog.name, jdbc_url="", user="",
                                       password=CATALOG_PASSWORD_REF, warehouse="", storage="s3")
    # the cluster profile's Trino workers (the local profile has none: the environment's default applies)
    workers = {"trino_workers": settings.trino.workers} if settings.trino.workers else {}
    return {
        "checkpoint_interval_s": settings.flink.checkpoint_interval_s,
        "topics": {name: t.model_dump() for name, t in settings.kafka.topics.items()},
        "trino_catalog_properties": {k: v for k, v in catalog.items() if k not in KUBERNETES_CATALOG_KEYS},
        **workers,
    }


def tf_vars(ctx: Context) -> dict[str, Any]:
    """The local environment's variables, all from the settings (each fact defined once)."""
    s = ctx.settings
    return {
        "kafka_bootstrap_servers": s.kafka_brokers,
        "kafka_sasl_username": TERRAFORM,
        "topics": {name: t.model_dump() for name, t in s.kafka.topics.items()},
        "postgres_host": s.host,
        "postgres_port": s.postgres.port,
        "postgres_superuser": SUPERUSER,
        "catalog_role": s.postgres.user,
        "catalog_database": s.postgres.database,
        "dagster_database": s.postgres.dagster_database,
        "dagster_role": s.postgres.dagster_user,
        "registry_database": s.postgres.registry_database,
        "registry_role": s.postgres.registry_user,
        "cdc_database": s.cdc_database,
        "cdc_owner_role": s.cdc.owner,
        "cdc_capture_role": s.cdc.capture_user,
        "warehouse_path": str(s.warehouse),
        "object_store_warehouse": s.warehouse_uri if s.objectstore.enabled else "",
    }


class Terraform:
    """One environment directory, with its state, data and variables under the platform's state."""

    def __init__(self, ctx: Context, env_dir: Path = LOCAL_ENV, progress: Progress = lambda _m: None) -> None:
        self.ctx = ctx
        self.env_dir = env_dir
        self.progress = progress
        self.work = terraform_dir(ctx.settings, env_dir.name)
        self.log = ctx.settings.logs_dir / f"terraform-{env_dir.name}.log"

    @property
    def state_file(self) -> Path:
        return self.work / "terraform.tfstate"

    @property
    def vars_file(self) -> Path:
        return self.work / "terraform.tfvars.json"

    @property
    def outputs_file(self) -> Path:
        return outputs_file(self.ctx.settings, self.env_dir.name)

    def _env(self) -> dict[str, str]:
        cache = self.ctx.settings.cache
        env = dict(os.environ)
        env.update({
            "TF_CLI_CONFIG_FILE": str(ensure_cli_config(cache)),
            "TF_DATA_DIR": str(self.work / ".terraform"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_VAR_postgres_superuser_password": self.ctx.secrets.postgres_superuser_password,
            "TF_VAR_catalog_role_password": self.ctx.secrets.catalog_password,
            "TF_VAR_dagster_role_password": self.ctx.secrets.dagster_storage_password,
            "TF_VAR_registry_role_password": self.ctx.secrets.registry_storage_password,
            "TF_VAR_cdc_owner_role_password": self.ctx.secrets.cdc_owner_password,
            "TF_VAR_cdc_capture_role_password": self.ctx.secrets.cdc_capture_password,
            "TF_VAR_kafka_sasl_password": self.ctx.secrets.kafka_password(TERRAFORM),
        })
        return env

    def run(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        binary = ensure_terraform(self.ctx.settings.cache, self.progress)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        for attempt in (1, 2):
            done = subprocess.run([str(binary), f"-chdir={self.env_dir}", *args], capture_output=True, text=True,
                                  env=self._env(), timeout=900)
            with self.log.open("a") as log:
                log.write(f"$ terraform {' '.join(args)}\n{done.stdout}{done.stderr}\n")
            # The Kafka provider's client (sarama) now and then finds a fresh broker connection not yet
            # open; the operation is safe to repeat.
            if done.returncode in ok_codes or TRANSIENT not in done.stderr or attempt == 2:
                break
            self.progress("Kafka connection not ready for the Terraform provider; retrying once")
        if done.returncode not in ok_codes:
            detail = " ".join((done.stderr or done.stdout).split())[-500:]
            raise KappaError(f"terraform {args[0]} failed in {self.env_dir.relative_to(REPO_ROOT)}: {detail} "
                             f"(log: {self.log})")
        return done

    def init(self) -> None:
        ensure_providers(self.ctx.settings.cache, self.progress)
        self.work.mkdir(parents=True, exist_ok=True)
        # The dependency lock file is written next to the configuration; it records the hashes of
        # providers built on this machine, so it is git-ignored.
        self.run("init", "-input=false", "-no-color", f"-backend-config=path={self.state_file}")

    def _var_args(self) -> list[str]:
        self.vars_file.write_text(json.dumps(tf_vars(self.ctx), indent=1))
        return [f"-var-file={self.vars_file}"]

    def managed(self) -> set[str]:
        if not self.state_file.exists():
            return set()
        return set(self.run("state", "list", "-no-color").stdout.split())

    def adopt_existing(self) -> list[str]:
        """Resources of the local environment that exist but are not in the state (a stack from
        before Terraform managed it, or a lost state file) are imported, not re-created."""
        s = self.ctx.settings
        existing = existing_resources(self.ctx)
        wanted = {f'module.topics.kafka_topic.this["{t}"]': t for t in s.kafka.topics if t in existing["topics"]}
        if s.postgres.user in existing["roles"]:
            wanted["module.catalog.postgresql_role.owner"] = s.postgres.user
        if s.postgres.database in existing["databases"]:
            wanted["module.catalog.postgresql_database.this"] = s.postgres.database
        if s.postgres.dagster_user in existing["roles"]:
            wanted["module.dagster_storage.postgresql_role.owner"] = s.postgres.dagster_user
        if s.postgres.dagster_database in existing["databases"]:
            wanted["module.dagster_storage.postgresql_database.this"] = s.postgres.dagster_database
        if s.postgres.registry_user in existing["roles"]:
            wanted["module.registry_storage.postgresql_role.owner"] = s.postgres.registry_user
        if s.postgres.registry_database in existing["databases"]:
            wanted["module.registry_storage.postgresql_database.this"] = s.postgres.registry_database
        if s.cdc.owner in existing["roles"]:
            wanted["module.cdc_source.postgresql_role.owner"] = s.cdc.owner
        if s.cdc_database in existing["databases"]:
            wanted["module.cdc_source.postgresql_database.this"] = s.cdc_database
        if s.cdc.capture_user in existing["roles"]:
            wanted["postgresql_role.cdc_capture"] = s.cdc.capture_user
        adopted = []
        managed = self.managed()
        # Before each database had a role of its own, one module held both (a stack from then).
        moves = {"module.catalog.postgresql_database.catalog": "module.catalog.postgresql_database.this",
                 f'module.catalog.postgresql_database.extra["{s.postgres.dagster_database}"]':
                     "module.dagster_storage.postgresql_database.this"}
        for old, new in moves.items():
            if old in managed:
                self.run("state", "mv", "-no-color", f"-backup={self.work / 'terraform.tfstate.backup'}", old, new)
        managed = self.managed()
        var_args = self._var_args()
        for address, resource_id in wanted.items():
            if address not in managed:
                self.progress(f"adopting existing {resource_id} into the Terraform state")
                self.run("import", "-input=false", "-no-color", PARALLELISM, *var_args, address, resource_id)
                adopted.append(address)
        return adopted

    def apply(self) -> Provisioned:
        self.init()
        self.adopt_existing()
        self.run("apply", "-auto-approve", "-input=false", "-no-color", PARALLELISM, *self._var_args())
        raw = json.loads(self.run("output", "-json", "-no-color").stdout)
        self.outputs_file.write_text(json.dumps(raw, indent=1))
        return Provisioned.from_outputs(raw)

    def plan(self, destroy: bool = False) -> tuple[bool, str]:
        """(whether anything would change, the plan's text); `destroy`: what a destroy would delete."""
        self.init()
        mode = ["-destroy"] if destroy else []
        done = self.run("plan", *mode, "-detailed-exitcode", "-input=false", "-no-color", PARALLELISM,
                        *self._var_args(), ok_codes=(0, 2))
        return done.returncode == 2, done.stdout

    def destroy(self) -> None:
        self.init()
        self.run("destroy", "-auto-approve", "-input=false", "-no-color", PARALLELISM, *self._var_args())
        self.outputs_file.unlink(missing_ok=True)


def existing_resources(ctx: Context) -> dict[str, set[str]]:
    """Topics in Kafka, roles and databases in PostgreSQL, as they are now."""
    topics = set(kafka_clients.admin(ctx.kafka()).list_topics(timeout=10).topics)
    conn = Postgres(ctx).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles")
            roles = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT datname FROM pg_database")
            databases = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    return {"topics": topics, "roles": roles, "databases": databases}


def provision(ctx: Context, progress: Progress = lambda _m: None) -> Provisioned:
    progress("provisioning topics, catalog databases and warehouse (terraform apply, infra/envs/local)")
    provisioned = Terraform(ctx, progress=progress).apply()
    handed = hand_over(ctx, provisioned.dagster_database, provisioned.dagster_role)
    if handed:
        progress(f"Dagster's storage: {len(handed)} table(s) handed over to role {provisioned.dagster_role}")
    return provisioned


# Tables, views and free-standing sequences (a table's own sequences follow it).
_FOREIGN_OBJECTS = """
SELECT c.relkind, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_get_userbyid(c.relowner) <> %s
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                       AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
ORDER BY 1, 2, 3"""
_ALTER = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def hand_over(ctx: Context, database: str, role: str) -> list[str]:
    """Give `role` what another role created in its database: a stack from before Dagster had a role
    of its own has Dagster's tables owned by the catalog's role. Returns what changed hands."""
    conn = Postgres(ctx).connect(database)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_FOREIGN_OBJECTS, (role,))
            objects = cur.fetchall()
            for kind, schema, name in objects:
                cur.execute(pgsql.SQL("ALTER {} {}.{} OWNER TO {}").format(
                    pgsql.SQL(_ALTER[kind]), pgsql.Identifier(schema), pgsql.Identifier(name), pgsql.Identifier(role)))
    finally:
        conn.close()
    return [f"{schema}.{name}" for _kind, schema, name in objects]


__all__ = ["LOCAL_ENV", "Terraform", "kubernetes_vars", "provision", "tf_vars"]
