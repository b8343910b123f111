"""Service configuration and job specs are rendered from the one settings object."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flink_jobs.spec import JobSpec, ident
from flink_jobs.sql import catalog_options, field_columns
from kappa.artifacts.installs import Installs
from kappa.context import Context
from kappa.infra import KUBERNETES_CATALOG_KEYS, kubernetes_vars, tf_vars
from kappa.jobs import get_definition, render_spec
from kappa.runtime.secrets import load_or_create
from kappa.runtime.stack import services
from kappa.services.dagster import STORAGE_PASSWORD_ENV, DagsterWebserver, render_instance
from kappa.services.flink import FlinkJobManager, flink_config, render_config_yaml, taskmanagers, zookeeper_jaas_file
from kappa.services.gateway import htpasswd, render_config
from kappa.services.kafka import render_server_properties
from kappa.services.trino import Trino, iceberg_catalog_properties
from kappa.services.zookeeper import FLINK_LOGIN_MODULE, ZooKeeper, client_jaas
from kappa.settings import load_settings
from lakehouse.catalog import trino_catalog_properties
from tests.unit.provisioned import fake_installs, fake_secrets, write_outputs


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text(
        "[kafka]\nport = 19092\ncontroller_port = 19093\n[postgres]\nport = 15433\n"
        "[flink]\nrest_port = 18081\ncheckpoint_interval_s = 7\n[trino]\nport = 18080\n"
        "[jobs.transactions]\nwindow_size_min = 10\nout_of_orderness_s = 3\n"
    )
    c = Context(load_settings(cfg), fake_installs(tmp_path), fake_secrets())
    write_outputs(c)
    return c


def test_terraform_variables_come_from_the_settings(ctx: Context) -> None:
    v = tf_vars(ctx)
    assert v["kafka_bootstrap_servers"] == ["127.0.0.1:19092"] and v["postgres_port"] == 15433
    assert v["topics"]["transactions"] == {"partitions": 6, "replication_factor": 1, "min_insync_replicas": 1,
                                           "retention_ms": 604_800_000, "cleanup_policy": "delete"}
    assert v["warehouse_path"] == str(ctx.settings.warehouse)
    assert not any("pw" in str(value) for value in v.values()), "passwords go through TF_VAR_, never the file"


def test_kafka_properties_use_the_settings_ports(ctx: Context) -> None:
    props = dict(line.split("=", 1) for line in render_server_properties(ctx, "/d").splitlines())
    assert props["listeners"] == "BROKER://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["auto.create.topics.enable"] == "false"
    # a lone node has nobody to fail over to: Kafka's own session and heartbeat timings
    assert "broker.session.timeout.ms" not in props and "broker.heartbeat.interval.ms" not in props


def test_kafka_authenticates_every_listener_and_authorizes_every_request(ctx: Context) -> None:
    props = dict(line.split("=", 1) for line in render_server_properties(ctx, "/d").splitlines())
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert props["listener.name.broker.sasl.enabled.mechanisms"].split(",") == ["SCRAM-SHA-512", "PLAIN"]
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:broker;User:admin"
    # PLAIN knows one user, the broker itself, with its derived password
    password = ctx.secrets.kafka_password("broker")
    assert props["listener.name.broker.plain.sasl.jaas.config"].count("user_") == 1
    assert f'user_broker="{password}"' in props["listener.name.broker.plain.sasl.jaas.config"]


def test_flink_config_yaml(ctx: Context) -> None:
    conf = flink_config(ctx)
    assert conf["rest.port"] == 18081
    assert conf["execution.checkpointing.interval"] == "7s"
    assert conf["execution.checkpointing.dir"] == (ctx.settings.state / "flink" / "checkpoints").as_uri()
    text = render_config_yaml(conf)
    assert 'rest.port: 18081\n' in text
    assert 'execution.checkpointing.interval: "7s"\n' in text


def test_the_jobmanager_keeps_its_jobs_in_a_zookeeper_that_asks_a_login(ctx: Context) -> None:
    conf = flink_config(ctx)
    port = ctx.settings.flink.zookeeper_port
    assert conf["high-availability.type"] == "zookeeper"
    assert conf["high-availability.zookeeper.quorum"] == f"127.0.0.1:{port}"
    assert conf["high-availability.storageDir"] == (ctx.settings.state / "flink" / "ha").as_uri()
    assert conf["high-availability.zookeeper.client.acl"] == "creator"
    # the RPC port stays the one the settings name (and the platform's TLS guards), not a random one
    assert conf["high-availability.jobmanager.port"] == conf["jobmanager.rpc.port"] == ctx.settings.flink.rpc_port
    assert f"-Djava.security.auth.login.config={zookeeper_jaas_file(ctx)}" in str(conf["env.java.opts.all"])
    # given to Flink's scripts, which would otherwise start a JVM to work them out on every start
    assert str(conf["env.java.opts.all"]) in FlinkJobManager(ctx).env()["FLINK_ENV_JAVA_OPTS"]
    zk = ZooKeeper(ctx)
    cfg = zk.config()
    assert cfg["clientPortAddress"] == "127.0.0.1" and cfg["clientPort"] == port
    assert cfg["admin.enableServer"] == "false" and cfg["sessionRequireClientSASLAuth"] == "true"
    assert FlinkJobManager(ctx).depends_on == ("zookeeper",)
    jaas = client_jaas('a"b\\c')
    assert FLINK_LOGIN_MODULE in jaas and 'password="a\\"b\\\\c";' in jaas
    zk.prepare()
    server = zk.dir / "jaas.conf"
    assert 'user_flink="zk-pw";' in server.read_text() and server.stat().st_mode & 0o077 == 0


def test_the_jobs_spread_over_two_taskmanagers_each_registering_a_new_id_per_start(ctx: Context) -> None:
    assert flink_config(ctx)["taskmanager.load-balance.mode"] == "slots"
    first, second = taskmanagers(ctx)
    names = [s.name for s in services(ctx)]
    assert [first.name, second.name] == ["flink-taskmanager", "flink-taskmanager-2"]
    assert names.index("flink-jobmanager") < names.index(first.name) < names.index(second.name)
    ids = []
    for tm in (first, second, first):
        made = tm.new_resource_id()  # what each start (prepare) does
        assert f"-Dtaskmanager.resource-id={made}" in tm.args()  # what its command ends with
        ids.append(made)
    assert len(set(ids)) == 3 and ids[1].startswith("flink-taskmanager-2-")


def test_without_high_availability_there_is_no_zookeeper(tmp_path: Path) -> None:
    c = Context(load_settings(None, state_dir=tmp_path, flink={"high_availability": False}),
                Installs(*(tmp_path / n for n in "abcdefghij")), fake_secrets())
    assert not any(key.startswith("high-availability") for key in flink_config(c))
    assert "login.config" not in str(flink_config(c)["env.java.opts.all"])
    assert "zookeeper" not in [s.name for s in services(c)] and FlinkJobManager(c).depends_on == ()


def test_trino_catalog_shares_the_jdbc_catalog(ctx: Context) -> None:
    props = iceberg_catalog_properties(ctx)
    assert props["iceberg.jdbc-catalog.catalog-name"] == ctx.settings.catalog.name
    assert props["iceberg.jdbc-catalog.connection-url"] == "jdbc:postgresql://127.0.0.1:15433/iceberg"
    assert props["iceberg.jdbc-catalog.schema-version"] == "V1"
    # by reference: the password is in Trino's environment, not in a file
    assert props["iceberg.jdbc-catalog.connection-password"] == "${ENV:KAPPA_CATALOG_PASSWORD}"
    assert Trino(ctx).env()["KAPPA_CATALOG_PASSWORD"] == "catalog-pw"


def test_both_catalogs_retry_a_restarting_database(ctx: Context) -> None:
    """Flink's and Trino's JDBC catalogs take the same SQL states of a restarting PostgreSQL as
    retryable, each a comma-separated list of five-character states."""
    trino_states = iceberg_catalog_properties(ctx)["iceberg.jdbc-catalog.retryable-status-codes"]
    spec = JobSpec.from_dict(json.loads(json.dumps(render_spec(ctx, get_definition(ctx.settings, "transactions"),
                                                                version=1))))
    flink_states = catalog_options(spec.catalog)["retryable_status_codes"]
    assert trino_states == flink_states
    assert "57P01" in trino_states.split(",")  # terminating connection due to administrator command
    assert all(len(state) == 5 for state in trino_states.split(","))


def test_job_spec_round_trip_and_parameters(ctx: Context) -> None:
    job = get_definition(ctx.settings, "transactions")
    spec = JobSpec.from_dict(json.loads(json.dumps(render_spec(ctx, job, version=3))))
    assert spec.pipeline_name == "kappa.transactions.v3"
    assert spec.kafka.group_id == "kappa.transactions.v3"
    assert spec.kafka.bootstrap == "127.0.0.1:19092"
    assert spec.catalog.jdbc_url == ctx.settings.jdbc_url
    assert spec.checkpoint_interval_s == 7
    assert spec.params["window_size_min"] == 10 and spec.params["out_of_orderness_s"] == 3
    assert spec.table("windows") == "`kappa`.`streaming`.`transactions_5m__v3`"
    assert spec.contract["x-topic"] == "transactions"
    # the contract's fields become the source's typed columns; its event time is `event_ts_ms`
    assert field_columns(spec) == [("transaction_id", "STRING"), ("user_id", "STRING"),
                                   ("amount", "DECIMAL(18, 2)"), ("merchant", "STRING")]


@pytest.mark.parametrize("bad", ["a b", "x`; DROP", "", "1abc"])
def test_identifiers_are_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        ident(bad)


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    second = load_or_create(tmp_path)
    assert first == second
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert "****" in repr(first) and first.catalog_password not in repr(first)


def test_a_spec_without_the_catalog_password_reads_it_from_the_environment(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(json.dumps(render_spec(ctx, get_definition(ctx.settings, "transactions"), version=1)))
    data["catalog"].pop("password")
    monkeypatch.setenv("KAPPA_CATALOG_PASSWORD", "from-a-secret")
    assert JobSpec.from_dict(data).catalog.password == "from-a-secret"


def test_watermark_delays_beyond_99_seconds_are_valid_intervals() -> None:
    from flink_jobs.sql import seconds_interval

    assert seconds_interval(5) == "INTERVAL '0 00:00:05' DAY TO SECOND"
    assert seconds_interval(86_400 + 3725) == "INTERVAL '1 01:02:05' DAY TO SECOND"


def test_a_job_runs_live_at_its_own_parallelism_and_bounded_with_one_writer(tmp_path: Path) -> None:
    cfg = tmp_path / "kappa.toml"
    cfg.write_text("[flink]\nparallelism = 1\n[jobs.user_activity]\nparallelism = 2\n")
    c = Context(load_settings(cfg), Installs(*(tmp_path / n for n in "abcdefghij")),
                fake_secrets())
    write_outputs(c)
    ua, tx = get_definition(c.settings, "user_activity"), get_definition(c.settings, "transactions")
    assert render_spec(c, ua, 1)["parallelism"] == 2 and render_spec(c, tx, 1)["parallelism"] == 1
    assert "parallelism" not in render_spec(c, ua, 1)["params"]
    # backfills and bounded replays: Iceberg 1.11's FlinkSink loses an early-finishing writer's files
    bounded = render_spec(c, ua, 2, startup_mode="specific-offsets", specific_offsets="partition:0,offset:0",
                          bounded_mode="specific-offsets", bounded_specific_offsets="partition:0,offset:9")
    assert bounded["parallelism"] == 1


def test_the_contract_format_is_rebuilt_when_its_sources_change(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from kappa.artifacts import contract_format

    copy = tmp_path / "contract_format"
    shutil.copytree(contract_format.SOURCE, copy, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setattr(contract_format, "SOURCE", copy)
    before = contract_format.jar_path(tmp_path)
    java = next(copy.rglob("EventParser.java"))
    java.write_text(java.read_text() + "\n")
    assert contract_format.jar_path(tmp_path) != before
    assert contract_format.jar_path(tmp_path).parent.parent == tmp_path / "jvm"


def test_the_kubernetes_environment_takes_the_settings_facts_from_the_platform() -> None:
    """Each fact once: the Kubernetes variables that the settings define have no default of their own,
    and Trino's catalog there is the local stack's function plus the deployment's own endpoints."""
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "kappa.toml")
    rendered = kubernetes_vars(settings)
    variables = (root / "infra" / "envs" / "kubernetes" / "variables.tf").read_text()
    for name in rendered:
        block = re.search(rf'variable "{name}" \{{.*?\n\}}', variables, re.S)
        assert block is not None and "default" not in block.group(0), name
    assert rendered["checkpoint_interval_s"] == settings.flink.checkpoint_interval_s
    catalog = rendered["trino_catalog_properties"]
    assert catalog["connector.name"] == "iceberg" and catalog["fs.native-s3.enabled"] == "true"
    assert catalog["iceberg.jdbc-catalog.connection-password"] == "${ENV:KAPPA_CATALOG_PASSWORD}"
    main = (root / "infra" / "envs" / "kubernetes" / "main.tf").read_text()
    added = set(re.findall(r'"(iceberg\.jdbc-catalog\.[a-z-]+)"\s*=', main))
    assert added == set(KUBERNETES_CATALOG_KEYS) and not added & set(catalog)
    local = iceberg_catalog_properties_for_comparison(settings)
    assert {k: v for k, v in local.items() if not k.startswith(("fs.", "local.", "s3."))} == {
        **{k: v for k, v in catalog.items() if not k.startswith(("fs.", "s3."))},
        **{k: local[k] for k in KUBERNETES_CATALOG_KEYS}, "iceberg.jdbc-catalog.connection-password": "pw"}
    values = (root / "infra" / "charts" / "kappa-flink" / "values.yaml").read_text()
    assert re.search(r"^checkpointIntervalS: null", values, re.M), "the chart takes the interval from Terraform"


def iceberg_catalog_properties_for_comparison(settings: Any) -> dict[str, str]:
    return trino_catalog_properties(settings.catalog.name, jdbc_url="jdbc:x", user="u", password="pw",
                                    warehouse="file:///w", storage="local")


def test_dagsters_instance_names_its_storage_password_and_never_holds_it(ctx: Context) -> None:
    """Dagster hands its instance configuration to each code server on the command line."""
    instance = render_instance(ctx)
    assert "dagster-pw" not in json.dumps(instance)
    db = instance["storage"]["postgres"]["postgres_db"]
    assert db["password"] == {"env": STORAGE_PASSWORD_ENV}
    assert (db["username"], db["db_name"]) == ("dagster", "dagster")  # its own role, not the catalog's
    assert DagsterWebserver(ctx).env()[STORAGE_PASSWORD_ENV] == "dagster-pw"


def test_flink_rest_speaks_mutual_tls_and_allows_only_the_gateways_origin(ctx: Context) -> None:
    config = flink_config(ctx)
    assert config["security.ssl.rest.enabled"] == "true"
    assert config["security.ssl.rest.authentication-enabled"] == "true"
    assert config["security.ssl.rest.keystore-password"] == "ks-pw"
    assert config["security.ssl.internal.enabled"] == "true"  # RPC, blobs: always mutually authenticated
    assert config["security.ssl.internal.truststore"] == config["security.ssl.rest.truststore"]
    assert config["web.access-control-allow-origin"] == ctx.settings.flink_ui_url
    assert ctx.settings.flink_rest_url.startswith("https://")


def test_the_gateway_asks_a_password_checks_host_and_origin_and_presents_flinks_client_certificate(
        ctx: Context, tmp_path: Path) -> None:
    conf = render_config(ctx, tmp_path, tmp_path / "server.pem")
    s = ctx.settings
    for port in (s.flink.ui_port, s.dagster.port, s.registry.port):
        assert f"listen 127.0.0.1:{port} ssl default_server;" in conf  # any other Host: 421
        assert f"listen 127.0.0.1:{port} ssl;" in conf
    assert conf.count("return 421;") == 3 and conf.count("auth_basic_user_file") == 3
    assert conf.count(f"auth_basic_user_file {tmp_path / 'htpasswd'};") == 2  # the UIs: user admin
    assert conf.count(f"auth_basic_user_file {tmp_path / 'htpasswd-registry'};") == 1  # user registry
    assert conf.count('if ($http_origin !~') == 3 and "return 403;" in conf
    assert f"proxy_pass https://127.0.0.1:{s.flink.rest_port};" in conf and "proxy_ssl_verify on;" in conf
    assert f"proxy_pass http://unix:{s.dagster_socket}:;" in conf
    assert f"proxy_pass http://unix:{s.registry_socket}:/apis/ccompat/v7/;" in conf
    assert 'proxy_set_header Authorization "";' in conf  # the password stays at the gateway
    assert "0.0.0.0" not in conf and "listen 80" not in conf
    line = htpasswd("s3cret")
    user, hashed = line.strip().split(":", 1)
    assert user == "admin" and hashed.startswith("$2y$") and "s3cret" not in line
