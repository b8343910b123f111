"""Settings profiles: the cluster profile's facts, how a profile sits under kappa.toml, the Kafka
nodes and the object store it renders, and how each engine reaches the warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from flink_jobs.spec import CatalogSpec
from flink_jobs.sql import catalog_options
from kappa.catalog import job_catalog_spec
from kappa.context import Context
from kappa.infra import kubernetes_vars, tf_vars
from kappa.objectstore import s3_client_properties
from kappa.runtime.stack import services
from kappa.services.kafka import kafka_nodes, render_server_properties
from kappa.services.trino import Trino, iceberg_catalog_properties, trino_workers
from kappa.settings import (
    PROFILE_ENV_VAR,
    ConfigError,
    active_profile,
    load_settings,
    profiles,
    record_profile,
    recorded_profile,
)
from kappa.topics import topic_configs
from tests.unit.provisioned import fake_installs, fake_secrets, write_outputs

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_profile_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENV_VAR, raising=False)


def settings_file(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "kappa.toml"
    path.write_text(text)
    return path


def test_the_default_profile_is_one_node_and_unreplicated(tmp_path: Path) -> None:
    s = load_settings(settings_file(tmp_path))
    assert s.profile == "local" and s.kafka.brokers == 1 and s.state == tmp_path / ".kappa"
    assert {(t.replication_factor, t.min_insync_replicas) for t in s.kafka.topics.values()} == {(1, 1)}


def test_the_cluster_profile_replicates_every_topic_on_three_nodes(tmp_path: Path) -> None:
    s = load_settings(settings_file(tmp_path), profile="cluster")
    assert s.profile == "cluster" and s.kafka.brokers == 3
    assert s.state == tmp_path / ".kappa-cluster", "its own state: the local profile's data stays as it was"
    assert {(t.replication_factor, t.min_insync_replicas) for t in s.kafka.topics.values()} == {(3, 2)}
    step = s.kafka.node_port_step
    assert s.kafka_bootstrap == ",".join(f"127.0.0.1:{9092 + n * step}" for n in range(3))
    assert "cluster" in profiles()


def test_kappa_toml_wins_over_the_profile_field_by_field(tmp_path: Path) -> None:
    cfg = settings_file(tmp_path, "[kafka]\nheap_mb = 768\n[kafka.topics.transactions]\npartitions = 12\n"
                        "[kafka.topics.alerts]\nmin_insync_replicas = 3\n")
    s = load_settings(cfg, profile="cluster")
    assert s.kafka.heap_mb == 768 and s.kafka.brokers == 3
    # the topic's own partitions, the profile's replication
    t = s.kafka.topics["transactions"]
    assert (t.partitions, t.replication_factor, t.min_insync_replicas) == (12, 3, 2)
    assert s.kafka.topics["alerts"].min_insync_replicas == 3


@pytest.mark.parametrize(("text", "needle"), [
    ("[kafka]\nmin_insync_replicas = 4\n", "min_insync_replicas 4 exceeds replication_factor 3"),
    ("[kafka]\nreplication_factor = 4\nmin_insync_replicas = 2\n", "replication_factor 4 needs as many brokers"),
    ("[kafka.topics.alerts]\nreplication_factor = 1\n", "topic alerts: min_insync_replicas 2 exceeds"),
])
def test_replication_the_cluster_cannot_honour_is_a_settings_error(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(settings_file(tmp_path, text), profile="cluster")
    assert needle in str(err.value)


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no settings profile named 'big'; profiles: local, cluster"):
        load_settings(settings_file(tmp_path), profile="big")


def test_the_recorded_profile_applies_until_the_environment_names_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = settings_file(tmp_path)
    assert recorded_profile(tmp_path) is None and active_profile(cfg) is None
    record_profile(tmp_path, "cluster")
    assert active_profile(cfg) == "cluster"
    assert load_settings(cfg, profile=active_profile(cfg)).kafka.brokers == 3
    monkeypatch.setenv(PROFILE_ENV_VAR, "local")
    assert load_settings(cfg, profile=active_profile(cfg)).kafka.brokers == 1
    with pytest.raises(ConfigError):
        record_profile(tmp_path, "big")
    assert recorded_profile(tmp_path) == "cluster", "an unknown name is not recorded"


def test_effective_settings_written_for_child_processes_keep_their_profile(tmp_path: Path) -> None:
    s = load_settings(settings_file(tmp_path), profile="cluster")
    effective = tmp_path / "settings.effective.json"
    effective.write_text(s.model_dump_json())
    again = load_settings(effective)
    assert again.profile == "cluster" and again.kafka == s.kafka and again.state == s.state


def cluster(tmp_path: Path) -> Context:
    return Context(load_settings(settings_file(tmp_path), profile="cluster"), fake_installs(tmp_path),
                   fake_secrets())


def test_each_kafka_node_is_a_broker_and_a_voter_on_its_own_ports(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    nodes = kafka_nodes(c)
    assert [n.name for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert len({n.dir for n in nodes}) == 3
    step = c.settings.kafka.node_port_step
    voters = f"1@127.0.0.1:9093,2@127.0.0.1:{9093 + step},3@127.0.0.1:{9093 + 2 * step}"
    for n, node in enumerate(nodes):
        props = dict(line.split("=", 1) for line in render_server_properties(c, "/d", n).splitlines())
        port, controller = 9092 + n * step, 9093 + n * step
        assert node.ports() == [port, controller]
        assert props["node.id"] == str(n + 1) and props["controller.quorum.voters"] == voters
        assert props["listeners"] == f"BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}"
        assert props["advertised.listeners"] == f"BROKER://127.0.0.1:{port}"
        # Kafka's own topics (consumer offsets, the transactions the Flink sinks commit) replicated too
        assert props["offsets.topic.replication.factor"] == props["transaction.state.log.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == props["min.insync.replicas"] == "2"
        # a dead node's partitions lead elsewhere within the jobs' out-of-orderness
        assert int(props["broker.session.timeout.ms"]) < 5000
    names = [svc.name for svc in services(c)]
    assert names[names.index("kafka"):names.index("kafka") + 3] == ["kafka", "kafka-2", "kafka-3"]


def test_topics_and_terraform_carry_the_replication(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    assert topic_configs(c.settings.kafka.topics["transactions"])["min.insync.replicas"] == "2"
    v = tf_vars(c)
    assert v["kafka_bootstrap_servers"] == c.settings.kafka_brokers and len(v["kafka_bootstrap_servers"]) == 3
    assert v["topics"]["transactions"]["replication_factor"] == 3


def test_the_object_store_serves_on_loopback_with_its_key_out_of_the_command_line(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    store = next(svc for svc in services(c) if svc.name == "objectstore")
    spec = store.spec()
    assert ["--port", f"127.0.0.1:{c.settings.objectstore.port}"] == list(spec.argv[1:3])
    assert not {"s3-key", "s3-secret"} & {part for arg in spec.argv for part in arg.split("=")}
    assert spec.env == {"ROOT_ACCESS_KEY_ID": "s3-key", "ROOT_SECRET_ACCESS_KEY": "s3-secret"}


def test_every_engine_reads_the_warehouse_from_the_bucket(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    write_outputs(c)
    bucket = f"s3://{c.settings.objectstore.bucket}/"
    # Flink: Iceberg's S3FileIO on the object store, path-style
    options = catalog_options(CatalogSpec(**job_catalog_spec(c)))
    assert options["warehouse"] == bucket and options["io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert options["s3.endpoint"] == c.settings.s3_endpoint and options["s3.path-style-access"] == "true"
    # Trino: its native S3 file system, the key by reference to its environment
    props = iceberg_catalog_properties(c)
    assert props["fs.native-s3.enabled"] == "true" and props["iceberg.jdbc-catalog.default-warehouse-dir"] == bucket
    assert props["s3.aws-access-key"] == "${ENV:KAPPA_S3_ACCESS_KEY}" and "s3-secret" not in props.values()
    assert Trino(c).env()["KAPPA_S3_SECRET_KEY"] == "s3-secret"
    # PyIceberg (PyArrow) and Terraform
    assert s3_client_properties(c)["s3.endpoint"] == c.settings.s3_endpoint
    assert tf_vars(c)["object_store_warehouse"] == bucket


def test_the_local_profile_keeps_its_folder_warehouse(tmp_path: Path) -> None:
    c = Context(load_settings(settings_file(tmp_path)), fake_installs(tmp_path), fake_secrets())
    write_outputs(c)
    assert "objectstore" not in [svc.name for svc in services(c)]
    assert job_catalog_spec(c)["io"] == {} and job_catalog_spec(c)["warehouse"] == c.settings.warehouse.as_uri()
    assert iceberg_catalog_properties(c)["fs.native-local.enabled"] == "true"
    assert tf_vars(c)["object_store_warehouse"] == ""


def test_the_trino_worker_joins_the_coordinator_and_signs_its_traffic(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    write_outputs(c)
    workers = trino_workers(c)
    assert [w.name for w in workers] == ["trino-worker"] and workers[0].ports() == [c.settings.trino.worker_port]
    workers[0].prepare()
    config = dict(line.split("=", 1) for line in (workers[0].etc / "config.properties").read_text().splitlines())
    assert config["coordinator"] == "false"
    assert config["discovery.uri"] == f"http://127.0.0.1:{c.settings.trino.port}"
    assert config["internal-communication.shared-secret"] == "${ENV:KAPPA_TRINO_SHARED_SECRET}"
    argv = workers[0].spec().argv
    assert "-Dnode.id=kappa-trino-worker" in argv and f"-Xmx{c.settings.trino.worker_heap_mb}m" in argv
    assert "-Dnode.id=kappa-coordinator" in Trino(c).spec().argv


def test_the_kubernetes_environment_gets_the_cluster_profiles_facts(tmp_path: Path) -> None:
    s = cluster(tmp_path).settings
    rendered = kubernetes_vars(s)
    assert rendered["topics"] == {name: t.model_dump() for name, t in s.kafka.topics.items()}
    assert {(t["replication_factor"], t["min_insync_replicas"]) for t in rendered["topics"].values()} == {(3, 2)}
    assert rendered["trino_workers"] == s.trino.workers == 1
    assert rendered["checkpoint_interval_s"] == s.flink.checkpoint_interval_s
    variables = (Path(__file__).resolve().parents[2] / "infra" / "envs" / "kubernetes" / "variables.tf").read_text()
    assert all(f'variable "{name}"' in variables for name in rendered)
    assert "min_insync_replicas = number" in variables
