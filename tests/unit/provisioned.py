"""What the unit tests stand in for Terraform: the outputs `terraform apply` of infra/envs/local
reports (the integration tier runs the real one)."""

from __future__ import annotations

import json
from pathlib import Path

from kappa.artifacts.installs import Installs
from kappa.context import Context
from kappa.infra import Terraform, tf_vars
from kappa.runtime.secrets import Secrets


def write_outputs(c: Context) -> None:
    """What `terraform apply` of infra/envs/local reports (the integration tier runs the real one)."""
    v = tf_vars(c)
    outputs = {
        "topics": {n: {"partitions": t["partitions"]} for n, t in v["topics"].items()},
        "catalog_role": v["catalog_role"], "catalog_database": v["catalog_database"],
        "catalog_jdbc_url": f"jdbc:postgresql://{v['postgres_host']}:{v['postgres_port']}/{v['catalog_database']}",
        "dagster_database": v["dagster_database"], "dagster_role": v["dagster_role"],
        "registry_database": v["registry_database"], "registry_role": v["registry_role"],
        "cdc_database": v["cdc_database"], "cdc_owner_role": v["cdc_owner_role"],
        "cdc_capture_role": v["cdc_capture_role"],
        "warehouse_uri": v["object_store_warehouse"] or f"file://{v['warehouse_path']}",
    }
    path = Terraform(c).outputs_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({k: {"value": val} for k, val in outputs.items()}))


def fake_secrets() -> Secrets:
    """Secrets as the unit tests know them: the catalog's is `catalog-pw`, Flink's key store's `ks-pw`."""
    return Secrets("super", "catalog-pw", "a", "p", "n", "s", "dagster-pw", "kafka-secret", "ui-pw", "ks-pw",
                   "registry-pw", "registry-db-pw", "cdc-owner-pw", "cdc-capture-pw", "connect-pw", "zk-pw",
                   "s3-key", "s3-secret")


def fake_installs(tmp_path: Path) -> Installs:
    """Where the components would be installed (nothing is there: renderers only name the paths)."""
    fake = tmp_path / "installs"
    return Installs(fake / "kafka", fake / "py", fake / "flink", fake / "format.jar", fake / "trino",
                    fake / "cli.jar", fake / "registry.jar", fake / "connect", fake / "zookeeper",
                    fake / "gateway-opt")
