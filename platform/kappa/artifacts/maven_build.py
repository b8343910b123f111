"""Build a Maven project of this repository into the cache, once per digest of its sources.

The build runs in a `.partial` folder, and only a finished one is renamed into place, so an
interrupted build is redone rather than half-used, and a second `kappa setup` runs no Maven at all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kappa.artifacts.java import find_java
from kappa.errors import KappaError

Progress = Callable[[str], None]


def source_digest(root: Path, salt: str) -> str:
    """A digest of the project's poms and sources, and of `salt` (the versions it builds against)."""
    h = hashlib.sha256(salt.encode())
    files = [p for p in root.rglob("*") if p.is_file() and (p.name == "pom.xml" or "src" in p.relative_to(root).parts)]
    for path in sorted(files):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def build(root: Path, dest: Path, what: str, args: list[str], keep: Callable[[Path], Path], progress: Progress,
          *, java: tuple[int, int]) -> Path:
    """Run `mvn package` on `root` with its build directory under `dest`'s partial twin; `keep` moves
    what to keep out of the build directory (given as its argument) and returns the path to return
    (relative to dest's partial twin, it ends up under `dest`)."""
    if shutil.which("mvn") is None:
        raise KappaError(f"Maven (`mvn`) is not on PATH; it builds {what} (apt-get install maven)")
    lo, hi = java
    jdk = find_java(f"Building {what}", minimum=lo, maximum=hi, prefer=lo)
    if not (jdk.home / "bin" / "javac").exists():
        raise KappaError(f"building {what} needs a JDK (javac), and {jdk.home} has none; "
                         "install one (apt-get install openjdk-17-jdk-headless)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log_path = partial / "mvn.log"
    progress(f"building {what} from {root} (Maven)")
    cmd = ["mvn", "-B", "--strict-checksums", "-f", str(root / "pom.xml"), "package", "-DskipTests",
           f"-Dkappa.build.dir={partial / 'build'}", *args]
    env = {**os.environ, "JAVA_HOME": str(jdk.home)}
    with log_path.open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    try:
        if code != 0:
            raise FileNotFoundError
        kept = keep(partial / "build")
    except FileNotFoundError:
        raise KappaError(f"building {what} failed; Maven's log: {log_path}") from None
    shutil.rmtree(partial / "build")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest / kept.relative_to(partial)
