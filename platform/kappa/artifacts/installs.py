"""Turn fetched artifacts into runnable installs: the Flink environment and home, Trino's server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from kappa.artifacts import maven
from kappa.artifacts.contract_format import ensure_contract_format
from kappa.artifacts.debian import ensure_nginx
from kappa.artifacts.objectstore import ensure_objectstore
from kappa.artifacts.schema_registry import ensure_schema_registry, runner_path
from kappa.artifacts.terraform import ensure_providers, ensure_terraform
from kappa.artifacts.versions import (
    BUNDLES,
    FLINK_PYTHON_REQUIREMENTS,
    FLINK_VERSION,
    TRINO_PLUGINS,
    TRINO_VERSION,
)
from kappa.errors import KappaError

REPO_REQUIREMENTS = Path(__file__).resolve().parents[3] / "requirements"
_MARKER = ".complete"


@dataclass(frozen=True)
class Installs:
    """Where everything the runtime needs lives, once set up."""

    kafka_classpath: Path
    flink_python: Path
    flink_home: Path
    contract_format_jar: Path  # also in flink_home/lib
    trino_home: Path
    trino_cli: Path
    schema_registry_jar: Path  # its lib/ beside it
    connect_classpath: Path  # Kafka Connect and Debezium
    zookeeper_classpath: Path
    sql_gateway_opt: Path  # FLINK_OPT_DIR for the SQL gateway: the wheel's opt/ jars and the gateway's


def flink_venv_dir(cache: Path) -> Path:
    """Named after what it holds, so a change of requirements or pins builds a new one."""
    pins = (REPO_REQUIREMENTS / "flink.txt").read_bytes() if (REPO_REQUIREMENTS / "flink.txt").exists() else b""
    digest = hashlib.sha256(repr(FLINK_PYTHON_REQUIREMENTS).encode() + pins).hexdigest()[:8]
    return cache / "venvs" / f"flink-{FLINK_VERSION}-py{sys.version_info.major}{sys.version_info.minor}-{digest}"


def ensure_flink_venv(cache: Path, progress: maven.Progress) -> Path:
    """A separate virtualenv holding apache-flink and its pyarrow < 17 (BRIEF: the two cannot share one)."""
    venv = flink_venv_dir(cache)
    python = venv / "bin" / "python"
    if (venv / _MARKER).exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    progress(f"creating the Flink Python environment (apache-flink {FLINK_VERSION}) in {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = REPO_REQUIREMENTS / "flink.txt"
    cmd = [str(python), "-m", "pip", "install", "--quiet", *FLINK_PYTHON_REQUIREMENTS]
    if constraints.exists():
        cmd += ["-c", str(constraints)]
    log = venv.with_name(venv.name + "-pip.log")
    with log.open("w") as fh:
        if subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode != 0:
            raise KappaError(f"installing apache-flink {FLINK_VERSION} failed; pip's log: {log}")
    (venv / _MARKER).touch()
    return python


def pyflink_dir(flink_python: Path) -> Path:
    out = subprocess.run(
        [str(flink_python), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"],
        capture_output=True, text=True, check=True,
    )
    return Path(out.stdout.strip())


def flink_home_dir(cache: Path, connectors: Path, extra_jars: list[Path]) -> Path:
    """Named after what its lib/ holds, so a new connector bundle or platform jar makes a new one."""
    extras = hashlib.sha256("".join(str(j) for j in extra_jars).encode()).hexdigest()[:8]
    return cache / "flink" / f"flink-{FLINK_VERSION}-{connectors.name}-{extras}"


def ensure_flink_home(cache: Path, flink_python: Path, connectors: Path, extra_jars: list[Path]) -> Path:
    """A FLINK_HOME whose lib/ holds the wheel's jars plus the connector bundle and the platform's
    own jars (as symlinks)."""
    home = flink_home_dir(cache, connectors, extra_jars)
    if (home / _MARKER).exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    dist = pyflink_dir(flink_python)
    (home / "lib").mkdir(parents=True)
    for name in ("bin", "opt", "plugins", "conf"):
        (home / name).symlink_to(dist / name)
    for jar in sorted((dist / "lib").glob("*.jar")) + sorted(connectors.glob("*.jar")) + extra_jars:
        (home / "lib" / jar.name).symlink_to(jar)
    (home / _MARKER).touch()
    return home


def ensure_sql_gateway_opt(cache: Path, flink_python: Path, gateway: Path) -> Path:
    """An opt/ folder holding the wheel's optional jars and the SQL gateway's, which the wheel lacks
    (bin/sql-gateway.sh looks for it there), as symlinks."""
    home = cache / "flink" / f"sql-gateway-opt-{FLINK_VERSION}-{gateway.name}"
    if (home / _MARKER).exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for jar in sorted((pyflink_dir(flink_python) / "opt").glob("*.jar")) + sorted(gateway.glob("*.jar")):
        (home / jar.name).symlink_to(jar)
    (home / _MARKER).touch()
    return home


def ensure_trino(cache: Path, tarball_dir: Path, progress: maven.Progress) -> Path:
    """Unpack trino-server, keeping only the plugins we use (each plugin costs start-up time)."""
    home = cache / "trino" / f"trino-server-{TRINO_VERSION}"
    if (home / _MARKER).exists():
        return home
    tarballs = list(tarball_dir.glob("trino-server-*.tar.gz"))
    if len(tarballs) != 1:
        raise KappaError(f"expected one trino-server tarball in {tarball_dir}, found {len(tarballs)}")
    progress(f"unpacking {tarballs[0].name}")
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # Extract everything (plugin jars are hard links into lib/), then drop the plugins we do not use.
    with tarfile.open(tarballs[0]) as tar:
        tar.extractall(partial, filter="tar")
    root = partial / f"trino-server-{TRINO_VERSION}"
    for plugin in (root / "plugin").iterdir():
        if plugin.name not in TRINO_PLUGINS:
            shutil.rmtree(plugin)
    for item in root.iterdir():
        item.rename(partial / item.name)
    root.rmdir()
    (partial / _MARKER).touch()
    shutil.rmtree(home, ignore_errors=True)
    partial.rename(home)
    return home


def setup(cache: Path, progress: maven.Progress, *, update_lock: bool = False, objectstore: bool = False) -> Installs:
    """Fetch and install everything; idempotent and offline once the cache is warm. `objectstore`: build
    the object store's server too (the cluster profile's; a few minutes, once)."""
    cache.mkdir(parents=True, exist_ok=True)
    if objectstore:
        ensure_objectstore(cache, progress)
    bundles = {name: maven.fetch_bundle(b, cache, progress, update_lock=update_lock) for name, b in BUNDLES.items()}
    flink_python = ensure_flink_venv(cache, progress)
    contract_format_jar = ensure_contract_format(cache, progress)
    flink_home = ensure_flink_home(cache, flink_python, bundles["flink-connectors"], [contract_format_jar])
    trino_home = ensure_trino(cache, bundles["trino-server"], progress)
    ensure_terraform(cache, progress)
    ensure_providers(cache, progress)
    ensure_nginx(cache, progress)
    schema_registry_jar = ensure_schema_registry(cache, progress)
    cli = next(bundles["trino-cli"].glob("trino-cli-*.jar"))
    return Installs(
        kafka_classpath=bundles["kafka"],
        connect_classpath=bundles["kafka-connect"],
        zookeeper_classpath=bundles["zookeeper"],
        flink_python=flink_python,
        flink_home=flink_home,
        contract_format_jar=contract_format_jar,
        trino_home=trino_home,
        trino_cli=cli,
        schema_registry_jar=schema_registry_jar,
        sql_gateway_opt=ensure_sql_gateway_opt(cache, flink_python, bundles["flink-sql-gateway"]),
    )


def installed(cache: Path) -> Installs:
    """The installs if set up already; otherwise a clear error telling the user to run set-up."""
    missing = [n for n, b in BUNDLES.items() if not (maven.bundle_dir(cache, b) / _MARKER).exists()]
    if not (flink_venv_dir(cache) / _MARKER).exists():
        missing.append("flink environment")
    if not runner_path(cache).is_file():
        missing.append("schema registry")
    if missing:
        raise KappaError(f"components not set up yet ({', '.join(missing)}); run `kappa setup`")
    return setup(cache, lambda _msg: None)
