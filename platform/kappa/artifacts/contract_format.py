"""Build the `kappa-contract` Flink format from its source (flink_jobs/contract_format) with Maven.

The jar is cached under a digest of the sources and the Flink version it compiles against, so a
second `kappa setup` runs no Maven at all, and a change of the sources builds a new jar.
"""

from __future__ import annotations

from pathlib import Path

import flink_jobs
from kappa.artifacts import maven_build
from kappa.artifacts.maven import Progress
from kappa.artifacts.versions import FLINK_JAVA_MAJORS, FLINK_SHADED_JACKSON_VERSION, FLINK_VERSION

SOURCE = Path(flink_jobs.__file__).resolve().parent / "contract_format"
JAR_NAME = "kappa-contract-format.jar"


def source_digest() -> str:
    return maven_build.source_digest(SOURCE, f"{FLINK_VERSION} {FLINK_SHADED_JACKSON_VERSION}")


def jar_path(cache: Path) -> Path:
    return cache / "jvm" / f"kappa-contract-format-{source_digest()}" / JAR_NAME


def ensure_contract_format(cache: Path, progress: Progress) -> Path:
    """The built jar, building it first when these sources have not been built yet."""
    jar = jar_path(cache)
    if jar.is_file():
        return jar

    def keep(build: Path) -> Path:
        return (build / JAR_NAME).rename(build.parent / JAR_NAME)

    return maven_build.build(
        SOURCE, jar.parent, "the kappa-contract format",
        [f"-Dflink.version={FLINK_VERSION}", f"-Dflink.shaded.jackson.version={FLINK_SHADED_JACKSON_VERSION}"],
        keep, progress, java=FLINK_JAVA_MAJORS)
