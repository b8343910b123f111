"""Build the `kappa-contract` Flink format from its source (flink_jobs/contract_format) with Maven.

The jar is cached under a digest of the sources and the Flink version it compiles against, so a
second `kappa setup` runs no Maven at all, and a change of the sources builds a new jar.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import flink_jobs
from kappa.artifacts.java import find_java
from kappa.artifacts.maven import Progress
from kappa.artifacts.versions import FLINK_JAVA_MAJORS, FLINK_SHADED_JACKSON_VERSION, FLINK_VERSION
from kappa.errors import KappaError

SOURCE = Path(flink_jobs.__file__).resolve().parent / "contract_format"
JAR_NAME = "kappa-contract-format.jar"


def source_digest() -> str:
    h = hashlib.sha256(f"{FLINK_VERSION} {FLINK_SHADED_JACKSON_VERSION}".encode())
    for path in sorted([SOURCE / "pom.xml", *(p for p in (SOURCE / "src").rglob("*") if p.is_file())]):
        h.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def jar_path(cache: Path) -> Path:
    return cache / "jvm" / f"kappa-contract-format-{source_digest()}" / JAR_NAME


def ensure_contract_format(cache: Path, progress: Progress) -> Path:
    """The built jar, building it first when these sources have not been built yet."""
    jar = jar_path(cache)
    if jar.is_file():
        return jar
    if shutil.which("mvn") is None:
        raise KappaError("Maven (`mvn`) is not on PATH; it builds the kappa-contract format (apt-get install maven)")
    lo, hi = FLINK_JAVA_MAJORS
    jdk = find_java("Building the kappa-contract format", minimum=lo, maximum=hi, prefer=lo)
    if not (jdk.home / "bin" / "javac").exists():
        raise KappaError(f"building the kappa-contract format needs a JDK (javac), and {jdk.home} has none; "
                         "install one (apt-get install openjdk-17-jdk-headless)")
    partial = jar.parent.with_name(jar.parent.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log_path = partial / "mvn.log"
    progress(f"building the kappa-contract Flink format from {SOURCE} (Maven)")
    cmd = ["mvn", "-B", "--strict-checksums", "-f", str(SOURCE / "pom.xml"), "package",
           f"-Dkappa.build.dir={partial / 'build'}", f"-Dflink.version={FLINK_VERSION}",
           f"-Dflink.shaded.jackson.version={FLINK_SHADED_JACKSON_VERSION}"]
    env = {**os.environ, "JAVA_HOME": str(jdk.home)}
    with log_path.open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    built = partial / "build" / JAR_NAME
    if code != 0 or not built.is_file():
        raise KappaError(f"building the kappa-contract format failed; Maven's log: {log_path}")
    built.rename(partial / JAR_NAME)
    shutil.rmtree(partial / "build")
    shutil.rmtree(jar.parent, ignore_errors=True)
    partial.rename(jar.parent)
    return jar

