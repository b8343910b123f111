"""The object store's server: the Versity S3 Gateway (Apache-2.0), an S3 API over a POSIX folder,
built once from source through the Go module proxy (MinIO's server is AGPL, which the workplace
does not use). Only the cluster profile runs it."""

from __future__ import annotations

from pathlib import Path

from kappa.artifacts.gobuild import GoBuild, Progress, go_build

VERSITYGW = GoBuild("github.com/versity/versitygw", "v1.8.0", "./cmd/versitygw")


def objectstore_binary(cache: Path) -> Path:
    return cache / "objectstore" / f"versitygw-{VERSITYGW.version}"


def ensure_objectstore(cache: Path, progress: Progress) -> Path:
    binary = objectstore_binary(cache)
    if not binary.exists():
        seconds = go_build(VERSITYGW, binary, progress, "the object store (Versity S3 Gateway)")
        progress(f"built the Versity S3 Gateway {VERSITYGW.version} in {seconds:.0f}s")
    return binary
