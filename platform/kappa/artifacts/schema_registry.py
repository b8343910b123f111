"""Build the schema registry (Apicurio Registry, platform/schema_registry) into a runnable jar.

Maven Central serves Apicurio's application as a Quarkus module, not as a runnable packaging; the
project in platform/schema_registry runs Quarkus' build step over it (see its pom). The result, a
runner jar and its lib/ folder, is cached under a digest of that project.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from kappa.artifacts import maven_build
from kappa.artifacts.maven import Progress

SOURCE = Path(__file__).resolve().parents[2] / "schema_registry"
RUNNER = "kappa-schema-registry-1-runner.jar"
JAVA_MAJORS = (17, 21)
# The storage's database kind is a build-time setting of Quarkus, and the application's own
# properties set it for the `prod` profile, which only a profile-qualified property overrides.
BUILD_ARGS = ["-D%prod.quarkus.datasource.db-kind=postgresql"]


@cache
def version() -> str:
    """Apicurio Registry's version, as the project's pom pins it."""
    found = re.search(r"<apicurio\.version>([^<]+)</apicurio\.version>", (SOURCE / "pom.xml").read_text())
    assert found, "platform/schema_registry/pom.xml pins no apicurio.version"
    return found.group(1)


def runner_path(cache_dir: Path) -> Path:
    digest = maven_build.source_digest(SOURCE, " ".join(BUILD_ARGS))
    return cache_dir / "jvm" / f"schema-registry-{digest}" / RUNNER


def ensure_schema_registry(cache_dir: Path, progress: Progress) -> Path:
    """The runner jar (its lib/ beside it), building it first when this project was not built yet."""
    runner = runner_path(cache_dir)
    if runner.is_file():
        return runner

    def keep(build: Path) -> Path:
        server = build / "server"
        (server / "lib").rename(build.parent / "lib")
        return (server / RUNNER).rename(build.parent / RUNNER)

    return maven_build.build(SOURCE, runner.parent, f"the schema registry (Apicurio Registry {version()})",
                             BUILD_ARGS, keep, progress, java=JAVA_MAJORS)
