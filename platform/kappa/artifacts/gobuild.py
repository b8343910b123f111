"""Go programs built from source: fetched through the Go module proxy at a pinned version, built once
into the cache (no registry serves their binaries here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kappa.errors import KappaError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GoBuild:
    """A Go main module at a pinned version, and where its binary goes."""

    module: str
    version: str
    package: str = "."  # the main package, relative to the module's root


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise KappaError("Go is needed to build Terraform, its providers and the object store (no registry "
                         "serves their binaries here): install Go 1.25+ (Debian: apt-get install golang) and run "
                         "`kappa setup` again")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env["CGO_ENABLED"] = "0"
    return env


def go_build(build: GoBuild, out: Path, progress: Progress, what: str) -> float:
    """Download the module's source through the Go module proxy and build its main package into
    `out`. Built outside the module cache (read-only) and outside `go install`, which refuses
    modules whose go.mod names another path or has replace directives. Returns the seconds taken."""
    started = time.monotonic()
    progress(f"building {what} {build.version} from source (Go module proxy; once, a few minutes)")
    go = _go()
    dl = subprocess.run([go, "mod", "download", "-json", f"{build.module}@{build.version}"],
                        capture_output=True, text=True, env=_go_env(), timeout=900)
    info = json.loads(dl.stdout or "{}")
    if dl.returncode != 0 or "Dir" not in info:
        raise KappaError(f"could not fetch {build.module}@{build.version} from the Go module proxy: "
                         f"{info.get('Error') or dl.stderr.strip()[-300:]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kappa-gobuild-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(info["Dir"], src)
        for path in src.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        partial = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two builds at once each finish theirs
        build_run = subprocess.run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), build.package],
                                   cwd=src, capture_output=True, text=True, env=_go_env(), timeout=3600)
        if build_run.returncode != 0:
            raise KappaError(f"building {what} {build.version} failed: {build_run.stderr.strip()[-600:]}")
        partial.replace(out)
    return time.monotonic() - started
