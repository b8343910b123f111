"""A Flink session cluster (JobManager + TaskManagers) from the PyFlink distribution.

Each process is the JVM Flink's `bin/*.sh start-foreground` would exec, launched directly
(flink_launch.py: the scripts' own two JVMs cost every start, and every restart after a crash, 8-12 s),
with its configuration rendered from the settings and a lib/ that adds the Kafka, Iceberg, Hadoop and
JDBC jars to the wheel's own.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from kappa.artifacts.installs import pyflink_dir
from kappa.artifacts.java import JavaRuntime, find_java
from kappa.artifacts.versions import FLINK_JAVA_MAJORS, FLINK_VERSION
from kappa.context import Context
from kappa.flink_rest import FlinkRest
from kappa.runtime.private import write_private
from kappa.runtime.process import ProcessSpec
from kappa.services import flink_launch
from kappa.services.flink_tls import rest_tls_config, write_rest_tls
from kappa.services.zookeeper import client_jaas

# The JVM flags Flink's own config.yaml ships with (module access for Java 17+).
_JAVA_OPTS = " ".join(
    [f"--add-exports={m}=ALL-UNNAMED" for m in (
        "java.base/sun.net.util", "java.rmi/sun.rmi.registry", "jdk.compiler/com.sun.tools.javac.api",
        "jdk.compiler/com.sun.tools.javac.file", "jdk.compiler/com.sun.tools.javac.parser",
        "jdk.compiler/com.sun.tools.javac.tree", "jdk.compiler/com.sun.tools.javac.util",
        "java.security.jgss/sun.security.krb5",
    )]
    + [f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
        "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text",
        "java.time", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
        "java.util.concurrent.locks",
    )]
)


def java_opts(ctx: Context) -> str:
    """Every Flink JVM's options (`env.java.opts.all`): the module openings and, with high availability,
    the ZooKeeper login."""
    return _JAVA_OPTS + (f" -Djava.security.auth.login.config={zookeeper_jaas_file(ctx)}"
                         if ctx.settings.flink.high_availability else "")


def flink_config(ctx: Context) -> dict[str, str | int]:
    s = ctx.settings
    f = s.flink
    state = s.state / "flink"
    return {
        "env.java.opts.all": java_opts(ctx),
        "jobmanager.rpc.address": s.host,
        "jobmanager.rpc.port": f.rpc_port,
        "jobmanager.bind-host": s.host,
        "jobmanager.memory.process.size": f"{f.jobmanager_memory_mb}m",
        "taskmanager.host": s.host,
        "taskmanager.bind-host": s.host,
        "taskmanager.numberOfTaskSlots": f.task_slots,
        # jobs spread over the TaskManagers: one's death stops only its share, restarted in the others'
        "taskmanager.load-balance.mode": "slots",
        "taskmanager.memory.process.size": f"{f.taskmanager_memory_mb}m",
        "rest.address": s.host,
        "rest.bind-address": s.host,
        "rest.port": f.rest_port,
        "parallelism.default": f.parallelism,
        "execution.checkpointing.interval": f"{f.checkpoint_interval_s}s",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": 3,
        "state.backend.type": "hashmap",
        "execution.checkpointing.dir": (state / "checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": (state / "savepoints").as_uri(),
        # Notice a dead TaskManager in seconds rather than the default 50 s, so jobs recover quickly.
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 12000,
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1s",
        "restart-strategy.exponential-delay.backoff-multiplier": "1.5",
        "restart-strategy.exponential-delay.max-backoff": f"{f.restart_max_backoff_s}s",
        "restart-strategy.exponential-delay.reset-backoff-threshold": f"{f.restart_reset_after_min}min",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": f.restart_attempts,
        "restart-strategy.exponential-delay.jitter-factor": "0.1",
        "table.local-time-zone": "UTC",
        # Flame graphs in the Web UI and for `kappa bench` (sampled only when asked for).
        "rest.flamegraph.enabled": "true",
        "classloader.check-leaked-classloader": "false",
        "io.tmp.dirs": str(state / "tmp"),
        "web.upload.dir": str(state / "uploads"),
        # Iceberg writes the warehouse through Hadoop's file system, which sets each file's mode from its
        # own umask (022 by default, so 644) whatever the process's: the warehouse stays private.
        "flink.hadoop.fs.permissions.umask-mode": "077",
        # No jar upload and run through the Web UI or REST (`kappa` submits with `flink run`), and no
        # cross-origin reads of the REST API by a web page open in a browser on this machine: the UI's
        # origin is the gateway's.
        "web.submit.enable": "false",
        "web.access-control-allow-origin": s.flink_ui_url,
        **rest_tls_config(ctx),
        **high_availability_config(ctx),
        "python.client.executable": str(ctx.installs.flink_python),
        "python.executable": str(ctx.installs.flink_python),
    }


def high_availability_config(ctx: Context) -> dict[str, str | int]:
    """ZooKeeper high availability (services/zookeeper.py): the leader, the jobs and the pointers to their
    latest checkpoints in ZooKeeper, the files in the state directory. A restarted JobManager takes
    the jobs back and restores each from its latest checkpoint; the TaskManager finds it there."""
    s = ctx.settings
    if not s.flink.high_availability:
        return {}
    return {
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": f"{s.host}:{s.flink.zookeeper_port}",
        "high-availability.storageDir": (s.state / "flink" / "ha").as_uri(),
        "high-availability.zookeeper.path.root": "/flink",
        "high-availability.cluster-id": "/kappa",
        # With HA the JobManager's RPC port comes from here (a random one by default), not jobmanager.rpc.port
        "high-availability.jobmanager.port": s.flink.rpc_port,
        "high-availability.zookeeper.client.session-timeout": f"{s.flink.ha_session_timeout_s} s",
        "high-availability.zookeeper.client.connection-timeout": f"{min(3, s.flink.ha_session_timeout_s)} s",
        # A restarted ZooKeeper keeps the sessions it had: riding out its restart, the JobManager keeps
        # its leadership and the jobs keep running (not suspended on every lost connection).
        "high-availability.zookeeper.client.tolerate-suspended-connections": "true",
        "high-availability.zookeeper.client.acl": "creator",  # nodes only the `flink` login reads or changes
    }


def zookeeper_jaas_file(ctx: Context) -> Path:
    """The login of Flink's processes and clients (`flink run`, the SQL gateway) to ZooKeeper: private."""
    return ctx.settings.state / "flink" / "conf" / "zookeeper-jaas.conf"


def render_config_yaml(config: dict[str, str | int]) -> str:
    # Flink 2 reads standard YAML and accepts flattened keys; JSON scalars are valid YAML.
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in config.items())


class _FlinkProcess:
    depends_on: tuple[str, ...] = ()
    version = FLINK_VERSION
    entry: flink_launch.Entrypoint

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.conf_dir = ctx.settings.state / "flink" / "conf"

    def _java(self) -> JavaRuntime:
        lo, hi = FLINK_JAVA_MAJORS
        return find_java("Flink", minimum=lo, maximum=hi, explicit=self.ctx.settings.java_home, prefer=17)

    def env(self) -> dict[str, str]:
        """What config.sh would export to the JVM (the runtime reads some: the plugins directory, say):
        the distribution's own directories, resolved as the scripts resolve them, and our lib/."""
        dist = (self.ctx.installs.flink_home / "bin").resolve().parent  # bin/ links into the PyFlink wheel
        return {**flink_env(self.ctx, self._java()), "FLINK_HOME": str(dist), "FLINK_BIN_DIR": str(dist / "bin"),
                "FLINK_OPT_DIR": str(dist / "opt"), "FLINK_PLUGINS_DIR": str(dist / "plugins")}

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("checkpoints", "savepoints", "tmp", "uploads"):
            (self.ctx.settings.state / "flink" / sub).mkdir(parents=True, exist_ok=True)
        (self.ctx.settings.logs_dir / "flink").mkdir(parents=True, exist_ok=True)
        write_rest_tls(self.ctx)
        if self.ctx.settings.flink.high_availability:
            (self.ctx.settings.state / "flink" / "ha").mkdir(parents=True, exist_ok=True)
            write_private(zookeeper_jaas_file(self.ctx), client_jaas(self.ctx.secrets.zookeeper_password))
        (self.conf_dir / "config.yaml").write_text(render_config_yaml(flink_config(self.ctx)))
        dist_conf = pyflink_dir(self.ctx.installs.flink_python) / "conf"
        for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties"):
            if not (self.conf_dir / name).exists():
                shutil.copyfile(dist_conf / name, self.conf_dir / name)  # not its mode: private, as all state

    def args(self) -> list[str]:
        return []

    def spec(self) -> ProcessSpec:
        java = self._java()
        name: str = self.name  # type: ignore[attr-defined]
        argv = flink_launch.command(java.java, self.ctx.installs.flink_home, self.conf_dir,
                                    self.ctx.settings.logs_dir / "flink" / f"{name}.log", self.entry,
                                    flink_java_options(self.ctx, java), self.args())
        return ProcessSpec(
            name=name,
            argv=argv,
            log_path=self.ctx.log_path(name),
            ports=self.ports(),  # type: ignore[attr-defined]
            env=self.env(),
            cwd=self.ctx.settings.state / "flink",
        )

    def url(self) -> str | None:
        return self.ctx.settings.flink_rest_url

    def after_start(self) -> None:
        return None


def flink_java_options(ctx: Context, java: JavaRuntime) -> list[str]:
    """What Flink's scripts (config.sh) would work out from the configuration, at the cost of a JVM
    asking the runtime its version, on every start of a JobManager, TaskManager or `flink run`."""
    return ["-XX:+IgnoreUnrecognizedVMOptions", *java_opts(ctx).split(),
            *(["-Djava.security.manager=allow"] if java.major > 17 else [])]


def flink_env(ctx: Context, java: JavaRuntime) -> dict[str, str]:
    """The environment Flink's scripts start from (`flink run`, the SQL gateway)."""
    home = ctx.installs.flink_home
    return {
        "JAVA_HOME": str(java.home),
        "FLINK_HOME": str(home),
        "FLINK_CONF_DIR": str(ctx.settings.state / "flink" / "conf"),
        "FLINK_LIB_DIR": str(home / "lib"),
        "FLINK_LOG_DIR": str(ctx.settings.logs_dir / "flink"),
        "FLINK_ENV_JAVA_OPTS": " ".join(flink_java_options(ctx, java)),
        "PATH": f"{java.home / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    }


class FlinkJobManager(_FlinkProcess):
    name = "flink-jobmanager"
    entry = flink_launch.JOBMANAGER

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.depends_on = ("zookeeper",) if ctx.settings.flink.high_availability else ()

    def ports(self) -> list[int]:
        return [self.ctx.settings.flink.rest_port, self.ctx.settings.flink.rpc_port]

    def healthy(self) -> bool:
        return bool(FlinkRest(self.ctx).get("/overview", timeout_s=2))


class FlinkTaskManager(_FlinkProcess):
    """One of `[flink] taskmanagers` TaskManagers, each with `task_slots` slots: the jobs spread over
    them, and a dead one's jobs restart at once in another's free slots while the supervisor restarts
    it (rather than waiting for its process to start again)."""

    entry = flink_launch.TASKMANAGER
    depends_on: tuple[str, ...] = ("flink-jobmanager",)

    def __init__(self, ctx: Context, number: int = 1) -> None:
        super().__init__(ctx)
        self.name = taskmanager_name(number)

    def ports(self) -> list[int]:
        return []

    @property
    def _resource_id_file(self) -> Path:
        return self.conf_dir / f"{self.name}-resource-id"

    def prepare(self) -> None:
        """Each start of the TaskManager registers under a new resource id: healthy means that one is
        registered, not a dead predecessor the JobManager has yet to time out."""
        super().prepare()
        self.new_resource_id()

    def new_resource_id(self) -> str:
        resource_id = f"{self.name}-{uuid.uuid4().hex[:12]}"
        self._resource_id_file.parent.mkdir(parents=True, exist_ok=True)
        self._resource_id_file.write_text(resource_id)
        return resource_id

    def args(self) -> list[str]:
        return [f"-Dtaskmanager.resource-id={self._resource_id_file.read_text()}"]

    def resource_id(self) -> str | None:
        """The id this TaskManager's latest start registers under."""
        try:
            return self._resource_id_file.read_text()
        except FileNotFoundError:
            return None

    def healthy(self) -> bool:
        mine = self.resource_id()
        if mine is None:
            return False
        registered = FlinkRest(self.ctx).get("/taskmanagers", timeout_s=2).get("taskmanagers", [])
        return any(tm.get("id") == mine for tm in registered)


TASKMANAGER = "flink-taskmanager"


def taskmanager_name(number: int) -> str:
    """flink-taskmanager, flink-taskmanager-2, ...: the first keeps the name a single one had."""
    return TASKMANAGER if number == 1 else f"{TASKMANAGER}-{number}"


def taskmanagers(ctx: Context) -> list[FlinkTaskManager]:
    return [FlinkTaskManager(ctx, n) for n in range(1, ctx.settings.flink.taskmanagers + 1)]
