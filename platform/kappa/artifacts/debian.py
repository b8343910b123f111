"""Programs from Debian's packages, unpacked into the cache (no install, no system service): nginx,
the TLS and password front of the Flink and Dagster UIs (services/gateway.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from kappa.errors import KappaError

Progress = Callable[[str], None]
NGINX_PACKAGE = "nginx"  # bookworm: 1.22, with ssl, auth_basic (crypt(3): bcrypt) and proxying built in
_MARKER = ".complete"


def nginx_dir(cache: Path) -> Path:
    return cache / "debian" / NGINX_PACKAGE


def nginx_binary(cache: Path) -> Path:
    return nginx_dir(cache) / "usr" / "sbin" / "nginx"


def _apt_get(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", "-q", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def ensure_nginx(cache: Path, progress: Progress) -> Path:
    """Debian's nginx package, downloaded with `apt-get download` and unpacked with `dpkg-deb -x`
    (root, or sudo without a password, only to refresh apt's package lists when they are missing)."""
    home = nginx_dir(cache)
    if (home / _MARKER).exists():
        return nginx_binary(cache)
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise KappaError("nginx comes from Debian's packages, and apt-get or dpkg-deb is missing here")
    progress("fetching nginx from Debian's packages")
    with tempfile.TemporaryDirectory() as tmp:
        done = _apt_get("download", NGINX_PACKAGE, cwd=Path(tmp))
        if done.returncode != 0:  # a fresh machine has no package lists yet: root (or sudo) refreshes them
            update = ["apt-get", "-q", "update"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get", "-q", "update"]
            subprocess.run(update, capture_output=True, check=False)
            done = _apt_get("download", NGINX_PACKAGE, cwd=Path(tmp))
        debs = sorted(Path(tmp).glob(f"{NGINX_PACKAGE}_*.deb"))
        if done.returncode != 0 or not debs:
            raise KappaError(f"could not download nginx from Debian's packages: {(done.stderr or done.stdout)[-300:]}")
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(home)], check=True, capture_output=True)
        (home / "VERSION").write_text(debs[0].name.split("_")[1])
    check = subprocess.run([str(nginx_binary(cache)), "-V"], capture_output=True, text=True, check=False)
    if check.returncode != 0 or "--with-http_ssl_module" not in check.stderr:
        raise KappaError(f"the unpacked nginx does not run or lacks TLS: {check.stderr[-300:]}")
    (home / _MARKER).write_text("")
    return nginx_binary(cache)


def nginx_version(cache: Path) -> str:
    path = nginx_dir(cache) / "VERSION"
    return path.read_text().strip() if path.exists() else "-"
