"""The one typed settings object.

Loaded once at the entry point from one TOML file (``kappa.toml``) plus environment overrides
(``KAPPA__SECTION__KEY=value``, double underscore = nesting), then passed down to every service
renderer, job spec and client. Nothing else reads the environment for configuration.
"""

from __future__ import annotations

import json
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lakehouse.pipeline import PipelineSettings
from lakehouse.registry import Registry, default_registry
from lakehouse.sql import IdentifierError
from lakehouse.sql import check as check_identifier

CONFIG_FILE_NAME = "kappa.toml"
CONFIG_ENV_VAR = "KAPPA_CONFIG"
PROFILE_ENV_VAR = "KAPPA_PROFILE"
DEFAULT_PROFILE = "local"  # no overlay: the defaults below
PROFILES_DIR = Path(__file__).parent / "profiles"
PROFILE_RECORD = ".kappa-profile"  # beside kappa.toml: the profile of the last `kappa up --profile`


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kappa"


class TopicSettings(_Section):
    partitions: int = Field(6, ge=1)
    replication_factor: int = Field(1, ge=1, description="defaults to [kafka] replication_factor")
    min_insync_replicas: int = Field(1, ge=1, description="defaults to [kafka] min_insync_replicas; an acks=all "
                                     "write fails rather than land on fewer replicas")
    retention_ms: int = Field(7 * 24 * 3600 * 1000, description="-1 keeps data forever")
    cleanup_policy: Literal["delete", "compact"] = "delete"


def plain_name(value: str) -> str:
    """A setting that becomes an SQL identifier: validated, or a settings error naming it."""
    try:
        return check_identifier(value)
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


CONNECT_TOPIC_PREFIX = "kappa-connect"  # the Kafka Connect worker's group and internal topics

# While settings are validated: the registry whose declarations give each `[jobs.<pipeline>]`
# section its settings model (load_settings sets it; the default registry otherwise).
_VALIDATING: ContextVar[Registry | None] = ContextVar("kappa_validating_registry", default=None)


def _registry() -> Registry:
    return _VALIDATING.get() or default_registry()


def _declared_topics() -> dict[str, dict[str, Any]]:
    """Every live pipeline's topic with its declared partitions, and the shared alerts topic."""
    topics: dict[str, dict[str, Any]] = {
        name: {"partitions": t.partitions} | ({} if t.retention_ms is None else {"retention_ms": t.retention_ms})
        for name, t in _registry().topics.items()}
    # Kafka Connect's own topics (services/kafka_connect.py): compacted, kept forever
    connect = {f"{CONNECT_TOPIC_PREFIX}-{name}": {"partitions": n, "cleanup_policy": "compact", "retention_ms": -1}
               for name, n in (("configs", 1), ("offsets", 5), ("status", 5))}
    return {**topics, "alerts": {"partitions": 3}, **connect}


def _default_topics() -> dict[str, TopicSettings]:
    return {name: TopicSettings(**values) for name, values in _declared_topics().items()}


class KafkaSettings(_Section):
    port: int = Field(9092, description="the first node's client listener")
    controller_port: int = Field(9093, description="the first node's controller listener")
    brokers: int = Field(1, ge=1, description="nodes, each a broker and a KRaft controller: 1 (the local profile) "
                         "or 3 (the cluster profile: a quorum that outlives one node)")
    node_port_step: int = Field(100, ge=2, description="node n (from 0) listens on port + n * node_port_step and "
                                "controller_port + n * node_port_step")
    replication_factor: int = Field(1, ge=1, description="every topic's, internal ones included, unless a topic "
                                    "sets its own")
    min_insync_replicas: int = Field(1, ge=1, description="every topic's, unless a topic sets its own")
    heap_mb: int = Field(1024, ge=256, description="per node")
    topics: dict[str, TopicSettings] = Field(default_factory=_default_topics)

    @model_validator(mode="before")
    @classmethod
    def _over_declared(cls, data: Any) -> Any:
        """A topic's settings in the file override its declaration's, field by field, and the section's
        replication settings; every declared topic exists whatever the file lists."""
        if not isinstance(data, dict):
            return data
        defaults = {key: data[key] for key in ("replication_factor", "min_insync_replicas") if key in data}
        merged = {name: {**defaults, **values} for name, values in _declared_topics().items()}
        given = data.get("topics", {})
        if not isinstance(given, dict):
            return data
        for name, values in given.items():
            values = values.model_dump() if isinstance(values, TopicSettings) else values
            merged[name] = {**merged.get(name, defaults), **values} if isinstance(values, dict) else values
        return {**data, "topics": merged}

    @model_validator(mode="after")
    def _replicas_fit(self) -> KafkaSettings:
        """A topic cannot have more replicas than there are brokers to hold them, nor ask more of them in sync."""
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"min_insync_replicas {self.min_insync_replicas} exceeds replication_factor "
                             f"{self.replication_factor}: no write could succeed")
        for name, topic in self.topics.items():
            if topic.replication_factor > self.brokers:
                raise ValueError(
                    f"topic {name}: replication_factor {topic.replication_factor} needs as many brokers; the stack "
                    f"runs {self.brokers} (set kafka.topics.{name}.replication_factor = {self.brokers})")
            if topic.min_insync_replicas > topic.replication_factor:
                raise ValueError(f"topic {name}: min_insync_replicas {topic.min_insync_replicas} exceeds its "
                                 f"replication_factor {topic.replication_factor}")
        return self

    def node_ports(self, node: int) -> tuple[int, int]:
        """Node `node`'s (from 0) client and controller ports."""
        return self.port + node * self.node_port_step, self.controller_port + node * self.node_port_step


class PostgresSettings(_Section):
    port: int = 5433
    database: str = "iceberg"
    dagster_database: str = Field("dagster", description="Dagster's run, event and schedule storage")
    user: str = Field("kappa", description="the catalog's role: Flink, Trino and PyIceberg log in as it")
    dagster_user: str = Field("dagster", description="the role owning Dagster's storage, and nothing else")
    registry_database: str = Field("registry", description="the schema registry's storage")
    registry_user: str = Field("registry", description="the role owning the schema registry's storage, and "
                               "nothing else")


class FlinkSettings(_Section):
    rest_port: int = Field(8081, description="Flink's own REST API: the platform's clients")
    ui_port: int = Field(8082, description="the Web UI and REST API through the gateway: HTTPS with a password")
    rpc_port: int = 6123
    sql_gateway_port: int = Field(8086, description="Flink's SQL gateway (`kappa sql --streaming`): loopback, "
                                  "mutual TLS as the REST API; started on first use")
    sql_gateway_memory_mb: int = Field(512, ge=256, description="the SQL gateway's heap")
    jobmanager_memory_mb: int = Field(1024, ge=768)
    taskmanager_memory_mb: int = Field(4096, ge=1024)
    # The default stack runs 7 jobs (3 built-in, 1 SQL pipeline, 3 CDC): 12 slots leave room for a
    # deployed pipeline, a replay beside its live version and a benchmark's job.
    task_slots: int = Field(12, ge=1, description="per TaskManager; jobs run with parallelism 1 take one slot each")
    taskmanagers: int = Field(2, ge=1, description="the jobs spread over them; a dead one's jobs restart at once "
                              "in another's free slots, so each has slots for every job")
    parallelism: int = Field(1, ge=1, description="per job; the default jobs share 2 cores")
    checkpoint_interval_s: int = Field(10, ge=1)
    parallel_submissions: int = Field(3, ge=1, description="jobs `kappa up` (or a restart) submits at once: each "
                                      "submission is a client JVM and a Python process planning the job")
    high_availability: bool = Field(True, description="ZooKeeper keeps the JobManager's leadership, jobs and "
                                    "checkpoints: a restarted JobManager resumes the jobs itself")
    zookeeper_port: int = Field(2181, description="ZooKeeper (high availability): loopback, SASL login")
    ha_session_timeout_s: int = Field(15, ge=2, description="Flink's ZooKeeper sessions outlive a ZooKeeper "
                                      "restart this long (beyond it every job restarts); a dead JobManager's "
                                      "leadership ends this long after its death (its restart takes longer)")
    # Exponential back-off from 1 s up to this cap, reset by a stable spell: a job rides out a dead
    # TaskManager however often it dies (a fixed count of attempts is spent over a job's life: three
    # TaskManager kills in ten minutes once left every job FAILED until the next `kappa up`).
    restart_max_backoff_s: int = Field(10, ge=1, description="the longest wait between a failed job's restarts")
    restart_attempts: int = Field(100, ge=1, description="restarts in a row, without a stable spell between, "
                                  "before a job is left FAILED (a job that cannot run at all)")
    restart_reset_after_min: int = Field(10, ge=1, description="running this long without failing resets "
                                         "the back-off and the count")


class TrinoSettings(_Section):
    port: int = Field(8080, description="HTTP: health and the coordinator's own traffic only")
    https_port: int = Field(8443, description="HTTPS with password authentication: every client")
    heap_mb: int = Field(2048, ge=1024)
    java_home: Path | None = Field(None, description="A JDK >= 24 for Trino; found automatically if unset")
    workers: int = Field(0, ge=0, description="worker nodes beside the coordinator, which runs queries too "
                         "(the cluster profile: 1)")
    worker_port: int = Field(8090, description="the first worker's HTTP port (health; Trino's internal traffic, "
                             "signed with the cluster's shared secret); worker n listens on worker_port + n")
    worker_heap_mb: int = Field(1536, ge=1024)


class DagsterSettings(_Section):
    port: int = Field(3000, description="the UI through the gateway: HTTPS with a password (Dagster itself "
                      "serves on a socket in the state directory)")
    enabled: bool = Field(True, description="start the Dagster UI and daemon with `kappa up`")
    schedules: bool = Field(True, description="the checks and maintenance schedules start running (off: they are "
                            "defined but stopped, an operator starts them in the UI)")


class SupervisorSettings(_Section):
    """The supervisor `kappa up` starts: it restarts a service process that died (without a user
    running `kappa up`) and, after the JobManager, the jobs that should run."""

    enabled: bool = Field(True, description="restart a service that dies, within a second of its death")
    restart_limit: int = Field(5, ge=1, description="restarts of one service within restart_window_min before "
                               "the supervisor leaves it down (a service that cannot run) and says so")
    restart_window_min: int = Field(10, ge=1)
    taskmanager_defer_s: int = Field(60, ge=0, description="a dead TaskManager whose jobs restart in another is "
                                     "itself restarted once they run again, or this long after its death at most "
                                     "(its start would take the CPU their recovery needs); 0: at once")


class RegistrySettings(_Section):
    """The schema registry (Apicurio Registry, speaking the Confluent Schema Registry API)."""

    port: int = Field(8085, description="the Confluent-compatible API through the gateway: HTTPS with a password "
                      "(the registry itself serves on a socket in the state directory)")
    heap_mb: int = Field(384, ge=256)
    compatibility: Literal["BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                           "FULL_TRANSITIVE", "NONE"] = Field(
        "BACKWARD", description="each subject's compatibility level: a new schema version must pass it")


class CdcSettings(_Section):
    """Change data capture: the source database's roles and the Kafka Connect worker running Debezium.
    The captured tables, and their database, are declared by the pipelines (lakehouse/pipelines/ecommerce_*)."""

    connect_port: int = Field(8083, description="Kafka Connect's REST API (loopback, HTTP basic auth: user connect)")
    connect_heap_mb: int = Field(512, ge=256)
    owner: str = Field("ecommerce", description="the role owning the source database: the application writes as it")
    capture_user: str = Field("debezium", description="the replication role Debezium reads the WAL as")
    slot: str = Field("kappa_cdc", description="the logical replication slot (plugin pgoutput)")
    publication: str = Field("kappa_cdc", description="the publication of the captured tables")
    connector: str = Field("ecommerce", description="the Debezium connector's name in Kafka Connect")

    _plain_names = field_validator("owner", "capture_user", "slot", "publication", "connector")(
        classmethod(lambda _cls, v: plain_name(v)))


class OperationsSettings(_Section):
    """Thresholds of the health sensors and the table maintenance schedules."""

    max_lag_events: int = Field(50_000, ge=0)
    max_checkpoint_age_s: int = Field(180, ge=10)
    max_restarts: int = Field(3, ge=0)
    max_watermark_ahead_s: int = Field(600, ge=0, description="a job's watermark this far past the clock is a "
                                       "failure: on-time events go late")
    max_late_share: float = Field(0.05, ge=0, le=1, description="of a job's events in the health window")
    max_quarantine_share: float = Field(0.05, ge=0, le=1, description="of a job's events in the health window")
    health_window_min: int = Field(15, ge=1, description="late and quarantined shares are over this much ingest")
    freshness_slo_min: int = Field(24 * 60, ge=1, description="newest event older than this: stale")
    check_lookback_h: int = Field(24, ge=1, description="quality checks validate this much recent data")
    snapshot_retention_h: int = Field(24, ge=1)
    orphan_min_age_h: int = Field(24, ge=1)
    compact_file_size_mb: int = Field(64, ge=1, description="files smaller than this are compacted")
    upsert_compact_delete_files: int = Field(8, ge=1, description="an upsert table (change data capture) with "
                                             "this many delete files is compacted: its deletes applied, files merged")
    upsert_compact_every_min: int = Field(10, ge=1, le=60, description="how often Dagster looks at the upsert "
                                          "tables' delete files")
    backfill_start: str = Field("2026-01-01", description="first day offered for backfills in Dagster")
    replay_min_coverage: float = Field(0.95, ge=0, le=1, description="a replay's gate refuses to cut over when it "
                                       "compared a smaller share of the replayed events (`--accept-coverage`)")


class ObjectStoreSettings(_Section):
    """An S3-compatible object store holding the warehouse (the Versity S3 Gateway over a folder of the
    state directory, built from source): the cluster profile's. Off, the warehouse is a local folder."""

    enabled: bool = Field(False, description="the warehouse in the object store (s3://<bucket>/)")
    port: int = Field(9000, description="its S3 API: loopback, every request signed with the platform's key")
    bucket: str = Field("warehouse", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    region: str = "us-east-1"


class CatalogSettings(_Section):
    """The Iceberg JDBC catalog shared by Flink, PyIceberg and Trino."""

    name: str = "kappa"
    warehouse_dir: Path | None = Field(None, description="Defaults to <state_dir>/warehouse")


class JobsSettings(_Section):
    """Where the pipelines write, and each pipeline's settings: `[jobs.<pipeline>]`, whose keys and
    defaults its declaration gives (lakehouse/pipelines/<pipeline>.py)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    namespace: str = Field("streaming", description="the streaming tables")
    views_namespace: str = Field("analytics", description="the stable views analysts query")
    ops_namespace: str = Field("ops", description="platform bookkeeping, e.g. replay history")
    backfill_lookahead_h: int = Field(24, ge=0, description="a backfilled day also reads records that reached "
                                      "Kafka this long after it ended")
    alerts_topic: str = "alerts"

    _plain_names = field_validator("namespace", "views_namespace", "ops_namespace")(
        classmethod(lambda _cls, v: plain_name(v)))

    @model_validator(mode="before")
    @classmethod
    def _pipeline_sections(cls, data: Any) -> Any:
        """Each declared pipeline's section, validated by its settings model (defaults when absent)."""
        if not isinstance(data, dict):
            return data
        registry = _registry()
        # a SQL pipeline left out until it is planned again keeps its section, unused meanwhile
        data = {k: v for k, v in data.items() if k not in dict(registry.left_out)}
        unknown = sorted(set(data) - set(cls.model_fields) - set(registry.names))
        if unknown:
            raise ValueError(f"no pipeline named {', '.join(unknown)}; pipelines: {', '.join(registry.names)}")
        for p in registry.pipelines:
            section = data.get(p.name, {})
            if isinstance(section, PipelineSettings):
                section = section.model_dump()
            if not isinstance(section, dict):
                raise ValueError(f"[jobs.{p.name}] must be a table of settings")
            try:
                data[p.name] = p.settings(**section)
            except ValidationError as exc:
                raise ValueError("; ".join(f"{p.name}.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
                                           for e in exc.errors())) from None
        return data

    def pipeline(self, name: str) -> PipelineSettings:
        """The settings of one pipeline (KeyError when no pipeline has that name)."""
        value = getattr(self, name, None)
        if not isinstance(value, PipelineSettings):
            raise KeyError(name)
        return value


class KappaSettings(BaseSettings):
    """Everything the platform needs to know, in one place."""

    model_config = SettingsConfigDict(
        env_prefix="KAPPA__", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    project_dir: Path = Field(default_factory=Path.cwd, description="Where kappa.toml lives")
    profile: str = Field(DEFAULT_PROFILE, description="the settings profile applied under kappa.toml")
    host: str = "127.0.0.1"
    state_dir: Path = Path(".kappa")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    java_home: Path | None = Field(None, description="A JDK 17 for Kafka and Flink; found if unset")
    startup_timeout_s: int = Field(180, ge=10)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = PostgresSettings()
    flink: FlinkSettings = FlinkSettings()
    trino: TrinoSettings = TrinoSettings()
    catalog: CatalogSettings = CatalogSettings()
    objectstore: ObjectStoreSettings = ObjectStoreSettings()
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    dagster: DagsterSettings = DagsterSettings()
    registry: RegistrySettings = RegistrySettings()
    cdc: CdcSettings = CdcSettings()
    operations: OperationsSettings = OperationsSettings()
    supervisor: SupervisorSettings = SupervisorSettings()

    _pipelines: Registry = PrivateAttr(default_factory=_registry)

    @property
    def pipelines(self) -> Registry:
        """The pipeline declarations these settings were validated against."""
        return self._pipelines

    @field_validator("host")
    @classmethod
    def _loopback_or_explicit(cls, v: str) -> str:
        if not v:
            raise ValueError("host must not be empty")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, which arrives as init kwargs.
        return (env_settings, init_settings)

    # Derived locations: defined once here, used everywhere.
    @property
    def state(self) -> Path:
        return _absolute(self.state_dir, self.project_dir)

    @property
    def cache(self) -> Path:
        return _absolute(self.cache_dir, self.project_dir)

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def warehouse(self) -> Path:
        if self.catalog.warehouse_dir is not None:
            return _absolute(self.catalog.warehouse_dir, self.project_dir)
        return self.state / "warehouse"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.objectstore.port}"

    @property
    def warehouse_uri(self) -> str:
        """Where the tables' files go: the object store's bucket, or the local warehouse folder."""
        if self.objectstore.enabled:
            return f"s3://{self.objectstore.bucket}/"
        return self.warehouse.as_uri()

    @property
    def kafka_brokers(self) -> list[str]:
        """Every node's client address."""
        return [f"{self.host}:{self.kafka.node_ports(n)[0]}" for n in range(self.kafka.brokers)]

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(self.kafka_brokers)

    @property
    def data_topics(self) -> dict[str, TopicSettings]:
        """The topics events flow through (without Kafka Connect's own)."""
        return {n: t for n, t in self.kafka.topics.items() if not n.startswith(CONNECT_TOPIC_PREFIX)}

    @property
    def cdc_database(self) -> str:
        """The captured tables' database (one, declared by the CDC pipelines; the registry checks)."""
        return next((p.source.database for p in self.pipelines.captured if p.source is not None), "cdc")

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.cdc.connect_port}"

    @property
    def flink_rest_url(self) -> str:
        return f"https://{self.host}:{self.flink.rest_port}"

    @property
    def sql_gateway_url(self) -> str:
        return f"https://{self.host}:{self.flink.sql_gateway_port}"

    @property
    def flink_tls_dir(self) -> Path:
        return self.state / "flink" / "tls"

    @property
    def trino_url(self) -> str:
        return f"https://{self.host}:{self.trino.https_port}"

    @property
    def trino_health_url(self) -> str:
        return f"http://{self.host}:{self.trino.port}/v1/info"

    @property
    def trino_ca_file(self) -> Path:
        return self.state / "trino" / "tls" / "trino-ca.pem"

    @property
    def flink_ui_url(self) -> str:
        return f"https://{self.host}:{self.flink.ui_port}"

    @property
    def dagster_url(self) -> str:
        return f"https://{self.host}:{self.dagster.port}"

    @property
    def dagster_socket(self) -> Path:
        return self.state / "dagster" / "webserver.sock"

    @property
    def registry_url(self) -> str:
        """The registry's Confluent-compatible API, as any client reaches it (through the gateway)."""
        return f"https://{self.host}:{self.registry.port}"

    @property
    def registry_socket(self) -> Path:
        return self.state / "schema-registry" / "registry.sock"

    @property
    def gateway_ca_file(self) -> Path:
        return self.state / "gateway" / "tls" / "gateway-ca.pem"

    @property
    def effective_settings_file(self) -> Path:
        """The settings as loaded, for processes the platform starts (the Dagster code location)."""
        return self.state / "settings.effective.json"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.postgres.port}/{self.postgres.database}"


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def find_config_file(explicit: Path | None = None, start: Path | None = None) -> Path | None:
    """The config file: explicit path, then $KAPPA_CONFIG, then the nearest kappa.toml upwards."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV_VAR)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


class ConfigError(Exception):
    """A settings file or override that cannot be used."""


def profiles() -> list[str]:
    """Every settings profile: the default one and those shipped in kappa/profiles/."""
    return [DEFAULT_PROFILE, *sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))]


def profile_values(name: str) -> dict[str, Any]:
    """A profile's settings (applied under the settings file)."""
    if name == DEFAULT_PROFILE:
        return {}
    if name not in profiles():
        raise ConfigError(f"no settings profile named {name!r}; profiles: {', '.join(profiles())}")
    return tomllib.loads((PROFILES_DIR / f"{name}.toml").read_text())


def project_dir(config_file: Path | None = None) -> Path:
    """The folder of the settings file (the working directory when there is none)."""
    path = find_config_file(config_file)
    return path.resolve().parent if path is not None else Path.cwd()


def recorded_profile(folder: Path) -> str | None:
    """The profile the last `kappa up --profile` in this project chose."""
    record = folder / PROFILE_RECORD
    return record.read_text().strip() or None if record.is_file() else None


def active_profile(config_file: Path | None = None) -> str | None:
    """The profile a command uses when it names none: $KAPPA_PROFILE, else the recorded one."""
    return os.environ.get(PROFILE_ENV_VAR) or recorded_profile(project_dir(config_file))


def record_profile(folder: Path, name: str) -> None:
    profile_values(name)  # an unknown name fails here, before it is recorded
    (folder / PROFILE_RECORD).write_text(name + "\n")


def load_settings(config_file: Path | None = None, registry: Registry | None = None,
                  profile: str | None = None, **overrides: Any) -> KappaSettings:
    """Load the settings once: the profile's values (`profile`, else $KAPPA_PROFILE, else the default),
    the file's over them, then environment overrides, then explicit overrides.
    `registry`: the pipeline declarations (default: lakehouse/pipelines/)."""
    path = find_config_file(config_file)
    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            # .json: the effective settings a parent process wrote for the processes it starts
            text = path.read_text()
            values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
        values.setdefault("project_dir", path.resolve().parent)
    # the file's own `profile` key (the effective settings a parent process wrote carry theirs)
    profile = profile or os.environ.get(PROFILE_ENV_VAR) or values.get("profile") or DEFAULT_PROFILE
    values = _deep_merge(_deep_merge(profile_values(profile), values), {"profile": profile, **overrides})
    token = _VALIDATING.set(registry or default_registry())
    try:
        return KappaSettings(**values)
    except Exception as exc:  # pydantic.ValidationError, reported in one line by the CLI
        raise ConfigError(_one_line_validation_error(exc, path)) from exc
    finally:
        _VALIDATING.reset(token)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _one_line_validation_error(exc: Exception, path: Path | None) -> str:
    errors = getattr(exc, "errors", None)
    where = f" in {path}" if path else ""
    if callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}")
        return f"invalid settings{where} or KAPPA__* environment: " + "; ".join(parts)
    return f"invalid settings{where}: {exc}"
