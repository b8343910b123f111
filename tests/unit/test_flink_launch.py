"""How a Flink process's command is built without Flink's scripts (the real scripts and JVM are
compared with it in tests/integration/test_services.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kappa.errors import KappaError
from kappa.services import flink_launch
from kappa.services.flink_launch import JOBMANAGER, RESULT_PREFIX, classpath, parse_resource_params, resource_params


def _lib(tmp_path: Path, *names: str) -> Path:
    lib = tmp_path / "flink" / "lib"
    for name in names:
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_bytes(b"")
    return lib


def test_the_class_path_is_every_jar_of_lib_sorted_with_flink_dist_last(tmp_path: Path) -> None:
    lib = _lib(tmp_path, "flink-dist-2.1.3.jar", "b.jar", "a.jar", "Z.jar", "sub/c.jar", "notes.txt")
    assert classpath(lib).split(":") == [str(lib / n) for n in ("Z.jar", "a.jar", "b.jar", "sub/c.jar",
                                                                "flink-dist-2.1.3.jar")]
    (lib / "flink-dist-2.1.3.jar").unlink()
    with pytest.raises(KappaError, match="flink-dist"):
        classpath(lib)


def test_the_memory_arguments_are_bash_java_utils_two_result_lines() -> None:
    out = (f"INFO loading\n{RESULT_PREFIX}-Xmx100 -Xms100 -XX:MaxMetaspaceSize=5\n"
           f"{RESULT_PREFIX}-D a=1b -D b=2b\nINFO done\n")
    params = parse_resource_params(out)
    assert params.jvm == ["-Xmx100", "-Xms100", "-XX:MaxMetaspaceSize=5"]
    assert params.dynamic == ["-D", "a=1b", "-D", "b=2b"]
    with pytest.raises(KappaError, match="1 result lines"):
        parse_resource_params(f"{RESULT_PREFIX}-Xmx1\n")


def test_the_memory_arguments_are_worked_out_once_per_configuration(tmp_path: Path) -> None:
    home = tmp_path / "flink"
    _lib(tmp_path, "flink-dist-2.1.3.jar")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yaml").write_text("jobmanager.memory.process.size: 1g\n")
    calls = tmp_path / "calls"
    java = tmp_path / "java"  # a stand-in for the JVM: prints BashJavaUtils' two lines, counts its runs
    java.write_text(f'#!/bin/sh\necho x >> "{calls}"\necho "{RESULT_PREFIX}-Xmx1"\necho "{RESULT_PREFIX}-D a=b"\n')
    java.chmod(0o700)
    runs = lambda: len(calls.read_text().splitlines()) if calls.exists() else 0  # noqa: E731
    first = resource_params(java, home, conf, JOBMANAGER)
    assert resource_params(java, home, conf, JOBMANAGER) == first and runs() == 1
    assert (conf / f".resource-params-{JOBMANAGER.resource_command}.json").stat().st_mode & 0o077 == 0
    (conf / "config.yaml").write_text("jobmanager.memory.process.size: 2g\n")
    resource_params(java, home, conf, JOBMANAGER)
    assert runs() == 2
    argv = flink_launch.command(java, home, conf, tmp_path / "jm.log", JOBMANAGER, ["-Dopt"], ["-Dx=y"])
    assert argv[:3] == [str(java), "-Xmx1", "-Dopt"] and f"-Dlog.file={tmp_path / 'jm.log'}" in argv
    assert argv[argv.index("-classpath") + 2:] == [JOBMANAGER.main_class, "-D", "a=b", "--configDir", str(conf),
                                                   "-Dx=y"]
