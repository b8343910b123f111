"""The cluster profile's object store, for real: the Versity S3 Gateway built from source, started by
the platform's service on loopback, refusing what its key did not sign, and holding an Iceberg table
that PyIceberg writes and reads back through PyArrow's S3 file system (the warehouse's client path).

Its own process beside the session's stack; the cluster profile's whole stack (Flink's S3FileIO,
Trino's native S3) runs with `kappa up --profile cluster` (README: Cluster profile)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow as pa
import pytest
import requests
from pyarrow import fs
from pyiceberg.catalog.sql import SqlCatalog

from kappa.artifacts import installs
from kappa.context import Context, build_context
from kappa.objectstore import filesystem, s3_client_properties
from kappa.runtime.process import ProcessTable, free_port
from kappa.services.objectstore import ObjectStore
from kappa.settings import KappaSettings, load_settings
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(settings: KappaSettings) -> Iterator[Context]:
    state = settings.cache / "test-stacks" / f"objectstore-{uuid.uuid4().hex[:8]}"
    s = load_settings(ROOT / "kappa.toml", profile="cluster", state_dir=str(state),
                      objectstore={"port": free_port()})
    installs.setup(s.cache, lambda _m: None, objectstore=True)
    ctx = build_context(s)
    service = ObjectStore(ctx)
    table = ProcessTable(s.run_dir)
    service.prepare()
    running = table.start(service.spec(), s.host)
    try:
        table.wait_healthy(running, service.healthy, s.startup_timeout_s)
        service.after_start()
        yield ctx
    finally:
        table.stop(service.name)


def test_it_listens_on_loopback_only_and_refuses_unsigned_and_wrongly_signed_requests(store: Context) -> None:
    s = store.settings
    listening = {c.laddr.ip for c in psutil.net_connections("tcp")
                 if c.status == "LISTEN" and c.laddr.port == s.objectstore.port}
    assert listening == {"127.0.0.1"}
    anonymous = requests.get(f"{s.s3_endpoint}/{s.objectstore.bucket}", timeout=5)
    assert anonymous.status_code == 403, anonymous.text[:200]
    forged = fs.S3FileSystem(access_key=store.secrets.s3_access_key, secret_key="not-the-key",
                             endpoint_override=s.s3_endpoint, scheme="http", region=s.objectstore.region)
    with pytest.raises(OSError, match="SIGNATURE_DOES_NOT_MATCH|AccessDenied|403"):
        forged.get_file_info(fs.FileSelector(s.objectstore.bucket, recursive=True))


def test_an_iceberg_table_in_the_bucket_round_trips_through_pyiceberg(store: Context, tmp_path: Path) -> None:
    s = store.settings
    catalog = SqlCatalog("kappa_s3_test", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=s.warehouse_uri,
                         **s3_client_properties(store))
    catalog.create_namespace("streaming")
    rows = pa.table({"user_id": [f"user-{i}" for i in range(1000)], "amount": [i * 0.5 for i in range(1000)]})
    table = catalog.create_table("streaming.round_trip", schema=rows.schema)
    table.append(rows)
    assert table.location().startswith(f"s3://{s.objectstore.bucket}/")
    back = catalog.load_table("streaming.round_trip").scan().to_arrow()
    assert sorted(back.column("user_id").to_pylist()) == sorted(rows.column("user_id").to_pylist())
    assert sum(back.column("amount").to_pylist()) == sum(rows.column("amount").to_pylist())
    # the files are objects in the bucket, not local paths
    found = filesystem(store).get_file_info(fs.FileSelector(f"{s.objectstore.bucket}/streaming", recursive=True))
    assert any(f.path.endswith(".parquet") for f in found) and any(f.path.endswith(".metadata.json") for f in found)
