"""Terraform and its providers, offline: no machine here reaches the Terraform registry.

Providers are built from their source, fetched through the Go module proxy at pinned versions, into
a filesystem mirror in the cache; a CLI configuration points Terraform at that mirror only. The
`terraform` on PATH is used when present, otherwise Terraform itself is built the same way.
"""

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


@dataclass(frozen=True)
class Provider:
    source: str  # registry address, e.g. "Mongey/kafka"
    build: GoBuild

    @property
    def namespace(self) -> str:
        return self.source.split("/")[0].lower()

    @property
    def type(self) -> str:
        return self.source.split("/")[1]

    @property
    def version(self) -> str:
        return self.build.version.lstrip("v")


# Pinned here only; the environments' versions.tf pin the same versions (a unit test checks).
PROVIDERS = (
    Provider("Mongey/kafka", GoBuild("github.com/Mongey/terraform-provider-kafka", "v0.13.1")),
    Provider("cyrilgdn/postgresql", GoBuild("github.com/cyrilgdn/terraform-provider-postgresql", "v1.27.0")),
)
TERRAFORM = GoBuild("github.com/hashicorp/terraform", "v1.11.4")
PLATFORM = "linux_amd64"
_MARKER = ".built"


def terraform_dir(cache: Path) -> Path:
    return cache / "terraform"


def mirror_dir(cache: Path) -> Path:
    return terraform_dir(cache) / "providers"


def provider_binary(cache: Path, p: Provider) -> Path:
    return (mirror_dir(cache) / "registry.terraform.io" / p.namespace / p.type / p.version / PLATFORM
            / f"terraform-provider-{p.type}_v{p.version}")


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise KappaError("Go is needed to build the Terraform providers (no registry is reachable): "
                         "install Go 1.24+ (Debian: apt-get install golang) and run `kappa setup` again")
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
        partial = out.with_name(out.name + ".partial")
        build_run = subprocess.run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
                                   cwd=src, capture_output=True, text=True, env=_go_env(), timeout=3600)
        if build_run.returncode != 0:
            raise KappaError(f"building {what} {build.version} failed: {build_run.stderr.strip()[-600:]}")
        partial.replace(out)
    return time.monotonic() - started


def ensure_providers(cache: Path, progress: Progress, providers: tuple[Provider, ...] = PROVIDERS) -> Path:
    """Every pinned provider built into the filesystem mirror; returns the mirror."""
    for p in providers:
        binary = provider_binary(cache, p)
        if not binary.exists():
            seconds = go_build(p.build, binary, progress, f"Terraform provider {p.source}")
            progress(f"built {p.source} {p.version} in {seconds:.0f}s")
    return mirror_dir(cache)


def ensure_terraform(cache: Path, progress: Progress) -> Path:
    """`terraform` from PATH (or $KAPPA_TERRAFORM), else built once into the cache."""
    found = os.environ.get("KAPPA_TERRAFORM") or shutil.which("terraform")
    if found:
        return Path(found)
    built = terraform_dir(cache) / "bin" / f"terraform-{TERRAFORM.version}"
    if not built.exists():
        seconds = go_build(TERRAFORM, built, progress, "Terraform")
        progress(f"built Terraform {TERRAFORM.version} in {seconds:.0f}s")
    return built


def ensure_cli_config(cache: Path) -> Path:
    """A Terraform CLI configuration that installs providers from the mirror and never from a network."""
    config = terraform_dir(cache) / "terraformrc"
    text = (
        "# Written by kappa: providers come from the filesystem mirror built from source.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror_dir(cache)}"\n'
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
        "disable_checkpoint = true\n"
    )
    config.parent.mkdir(parents=True, exist_ok=True)
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return config


__all__ = ["PROVIDERS", "TERRAFORM", "GoBuild", "Provider", "ensure_cli_config",
           "ensure_providers", "ensure_terraform", "mirror_dir", "provider_binary"]
