"""Terraform and its providers, offline: no machine here reaches the Terraform registry.

Providers are built from their source, fetched through the Go module proxy at pinned versions, into
a filesystem mirror in the cache; a CLI configuration points Terraform at that mirror only. The
`terraform` on PATH is used when present, otherwise Terraform itself is built the same way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kappa.artifacts.gobuild import GoBuild, Progress, go_build


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


__all__ = ["PROVIDERS", "TERRAFORM", "Provider", "ensure_cli_config",
           "ensure_providers", "ensure_terraform", "mirror_dir", "provider_binary"]
