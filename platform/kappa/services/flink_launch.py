"""The command a Flink JobManager or TaskManager runs, built here rather than by Flink's scripts.

`jobmanager.sh` / `taskmanager.sh start-foreground` (through config.sh and flink-console.sh) run two
JVMs of their own before the process's: one reads the configuration back, one works out the memory
arguments (`BashJavaUtils GET_JM_RESOURCE_PARAMS` / `GET_TM_RESOURCE_PARAMS`). On 2 busy cores that
is 8-12 s of every start, and a restart after a crash waits for it. The same command is built here:
the memory arguments come from the same `BashJavaUtils`, run once per configuration and kept beside
it (`conf/.resource-params-*.json`), the class path is the scripts' (every jar of lib/, flink-dist
last), and the logging properties are theirs.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kappa.errors import KappaError
from kappa.runtime.private import write_private

RESULT_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:"


@dataclass(frozen=True)
class Entrypoint:
    main_class: str
    resource_command: str  # BashJavaUtils' command for its memory arguments


JOBMANAGER = Entrypoint("org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                        "GET_JM_RESOURCE_PARAMS")
TASKMANAGER = Entrypoint("org.apache.flink.runtime.taskexecutor.TaskManagerRunner", "GET_TM_RESOURCE_PARAMS")


@dataclass(frozen=True)
class ResourceParams:
    jvm: list[str]  # -Xmx..., -Xms..., -XX:MaxMetaspaceSize=... (and direct memory for a TaskManager)
    dynamic: list[str]  # -D key=value pairs of the derived memory sizes


def classpath(lib_dir: Path) -> str:
    """lib/'s jars as config.sh's constructFlinkClassPath orders them: sorted by path, flink-dist last."""
    jars = sorted((str(p) for p in lib_dir.rglob("*.jar") if not p.is_dir()), key=lambda s: s.encode())
    dist = [j for j in jars if re.search(r"/flink-dist[^/]*\.jar$", j)]
    if len(dist) != 1:
        raise KappaError(f"expected one flink-dist jar in {lib_dir}, found {len(dist)}; re-run `make setup`")
    return ":".join([j for j in jars if j != dist[0]] + dist)


def parse_resource_params(output: str) -> ResourceParams:
    """BashJavaUtils' two result lines (JVM arguments, dynamic configuration) from its whole output."""
    results = [line[len(RESULT_PREFIX):] for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if len(results) != 2:
        raise KappaError(f"Flink's BashJavaUtils gave {len(results)} result lines, not 2:\n{output[-2000:]}")
    return ResourceParams(results[0].split(), results[1].split())


def resource_params(java: Path, flink_home: Path, conf_dir: Path, entry: Entrypoint,
                    dist: str | None = None) -> ResourceParams:
    """The memory arguments for `entry` under conf_dir/config.yaml, worked out once per configuration
    (`dist`: the flink-dist jar, if the caller has the class path already)."""
    config = (conf_dir / "config.yaml").read_bytes()
    dist = dist or classpath(flink_home / "lib").rsplit(":", 1)[-1]
    key = hashlib.sha256(b"\0".join([config, str(java).encode(), dist.encode()])).hexdigest()
    cache = conf_dir / f".resource-params-{entry.resource_command}.json"
    try:
        kept = json.loads(cache.read_text())
        if kept.get("key") == key:
            return ResourceParams(kept["jvm"], kept["dynamic"])
    except (FileNotFoundError, ValueError, KeyError):
        pass
    argv = [str(java), "-classpath", f"{flink_home / 'bin' / 'bash-java-utils.jar'}:{dist}",
            "org.apache.flink.runtime.util.bash.BashJavaUtils", entry.resource_command, "--configDir", str(conf_dir)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise KappaError(f"Flink's BashJavaUtils {entry.resource_command} failed (exit {out.returncode}):\n"
                         f"{(out.stdout + out.stderr)[-2000:]}")
    params = parse_resource_params(out.stdout + out.stderr)
    write_private(cache, json.dumps({"key": key, "jvm": params.jvm, "dynamic": params.dynamic}))
    return params


def command(java: Path, flink_home: Path, conf_dir: Path, log_file: Path, entry: Entrypoint,
            java_options: list[str], args: list[str]) -> list[str]:
    """The argv flink-console.sh would exec for `entry`."""
    cp = classpath(flink_home / "lib")
    params = resource_params(java, flink_home, conf_dir, entry, dist=cp.rsplit(":", 1)[-1])
    logging = [f"-Dlog.file={log_file}",
               f"-Dlog4j.configuration=file:{conf_dir / 'log4j-console.properties'}",
               f"-Dlog4j.configurationFile=file:{conf_dir / 'log4j-console.properties'}",
               f"-Dlogback.configurationFile=file:{conf_dir / 'logback-console.xml'}"]
    return [str(java), *params.jvm, *java_options, *logging, "-classpath", cp,
            entry.main_class, *params.dynamic, "--configDir", str(conf_dir), *args]
