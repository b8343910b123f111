"""ZooKeeper, the JobManager's high availability, on the real stack: it listens on loopback only,
refuses a session that does not log in or logs in with a wrong password, and holds Flink's nodes
(leader, execution plans), readable and writable by the `flink` login only. The JobManager's kill -9 and its
recovery from here are in test_faults.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psutil
import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from kappa.context import Context
from kappa.runtime.stack import Stack
from kappa.services.zookeeper import USER

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def client(ctx: Context, password: str | None) -> Iterator[KazooClient]:
    sasl = None if password is None else {"mechanism": "DIGEST-MD5", "username": USER, "password": password}
    zk = KazooClient(hosts=f"{ctx.settings.host}:{ctx.settings.flink.zookeeper_port}", timeout=5,
                     sasl_options=sasl, connection_retry={"max_tries": 1}, command_retry={"max_tries": 1})
    try:
        zk.start(timeout=10)
        yield zk
    finally:
        zk.stop()
        zk.close()


def test_zookeeper_listens_on_loopback_only(ctx: Context) -> None:
    running = Stack(ctx).table.get("zookeeper")
    assert running is not None
    proc = psutil.Process(running.pid)
    listening = {(c.laddr.ip, c.laddr.port) for c in proc.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {(ctx.settings.host, ctx.settings.flink.zookeeper_port)}


# kazoo's connection thread raises the server's refusal of the login (SessionClosedRequireSaslError)
# there, unhandled, besides the request's own error checked here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("password", [None, "not-the-password"], ids=["no login", "wrong password"])
def test_a_session_without_the_login_is_refused(ctx: Context, password: str | None) -> None:
    with pytest.raises((KazooException, TimeoutError)), client(ctx, password) as zk:
        zk.get_children("/")


def test_flinks_nodes_belong_to_its_login(ctx: Context) -> None:
    with client(ctx, ctx.secrets.zookeeper_password) as zk:
        root = "/flink/kappa"
        assert "leader" in zk.get_children(root)
        acls, _ = zk.get_acls(f"{root}/leader")
        assert [(a.id.scheme, a.id.id) for a in acls] == [("sasl", USER)]
