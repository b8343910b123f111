"""Fetch JVM artifacts from Maven Central through `mvn`, verify them against the lock, cache them.

Each bundle is copied by `mvn dependency:copy-dependencies` from a generated pom into
``<cache>/jvm/<bundle>-<digest>``; Maven checks the repository's checksums (--strict-checksums) and
we check every file's SHA-256 against ``jvm-lock.json``. A folder with a ``.complete`` marker is
reused as is, so a second run starts no `mvn` at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from kappa.artifacts.versions import BUNDLES, Bundle, Coordinate
from kappa.errors import KappaError

LOCK_FILE = Path(__file__).with_name("jvm-lock.json")
_MARKER = ".complete"

Progress = Callable[[str], None]


def bundle_digest(bundle: Bundle) -> str:
    parts: list[object] = [str(c) for c in bundle.coordinates] + [bundle.transitive]
    if bundle.exclude:
        parts.append(sorted(bundle.exclude))
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def bundle_dir(cache: Path, bundle: Bundle) -> Path:
    return cache / "jvm" / f"{bundle.name}-{bundle_digest(bundle)}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _exclusions_xml(exclude: tuple[str, ...]) -> str:
    """`group:artifact` pairs left out of every dependency's tree."""
    if not exclude:
        return ""
    items = "".join(f"<exclusion><groupId>{escape(g)}</groupId><artifactId>{escape(a)}</artifactId></exclusion>"
                    for g, a in (e.split(":", 1) for e in exclude))
    return f"<exclusions>{items}</exclusions>"


def _coordinate_xml(c: Coordinate, tag: str, exclude: tuple[str, ...] = ()) -> str:
    extra = ""
    if c.packaging != "jar":
        extra += f"<type>{escape(c.packaging)}</type>"
    if c.classifier:
        extra += f"<classifier>{escape(c.classifier)}</classifier>"
    extra += _exclusions_xml(exclude)
    return (
        f"<{tag}><groupId>{escape(c.group)}</groupId><artifactId>{escape(c.artifact)}</artifactId>"
        f"<version>{escape(c.version)}</version>{extra}</{tag}>"
    )


def render_pom(bundle: Bundle, out_dir: Path) -> str:
    """A pom whose dependencies (transitive bundles) or artifact items (exact files) are the bundle."""
    head = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>kappa.fetch</groupId><artifactId>{escape(bundle.name)}</artifactId><version>1</version>"
        "<packaging>pom</packaging>"
    )
    if bundle.transitive:
        deps = "".join(_coordinate_xml(c, "dependency", bundle.exclude) for c in bundle.coordinates)
        return head + f"<dependencies>{deps}</dependencies></project>\n"
    # Exact files only: `dependency:copy` does not walk the artifacts' own dependency trees (the
    # trino-server tarball's pom lists every plugin, some unresolvable from Maven Central).
    items = "".join(_coordinate_xml(c, "artifactItem") for c in bundle.coordinates)
    return head + (
        "<build><plugins><plugin><groupId>org.apache.maven.plugins</groupId>"
        "<artifactId>maven-dependency-plugin</artifactId><configuration>"
        f"<artifactItems>{items}</artifactItems><outputDirectory>{escape(str(out_dir))}</outputDirectory>"
        "</configuration></plugin></plugins></build></project>\n"
    )


def load_lock() -> dict[str, dict[str, str]]:
    if not LOCK_FILE.exists():
        return {}
    return json.loads(LOCK_FILE.read_text())


def fetch_bundle(bundle: Bundle, cache: Path, progress: Progress, *, update_lock: bool = False) -> Path:
    """Return the folder holding the bundle's files, downloading and verifying them if needed."""
    dest = bundle_dir(cache, bundle)
    if (dest / _MARKER).exists():
        return dest
    if shutil.which("mvn") is None:
        raise KappaError("Maven (`mvn`) is not on PATH; it fetches the JVM artifacts (apt-get install maven)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    out_dir = partial / "files"
    (partial / "pom.xml").write_text(render_pom(bundle, out_dir))
    cmd = ["mvn", "-B", "--strict-checksums", "-f", str(partial / "pom.xml")]
    if bundle.transitive:
        cmd += ["dependency:copy-dependencies", f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime"]
    else:
        cmd += ["dependency:copy"]
    log_path = partial / "mvn.log"
    progress(f"fetching {bundle.name}: {bundle.description}")
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if line.startswith("Downloaded from"):
                progress(f"{bundle.name}: {line.split('/')[-1].strip()}")
        code = proc.wait()
    if code != 0:
        raise KappaError(
            f"download of {bundle.name} ({', '.join(str(c) for c in bundle.coordinates)}) failed; "
            f"Maven's log: {log_path}"
        )
    _verify(bundle, out_dir, update_lock=update_lock)
    (out_dir / _MARKER).touch()
    shutil.rmtree(dest, ignore_errors=True)
    out_dir.rename(dest)
    shutil.rmtree(partial, ignore_errors=True)
    return dest


def _verify(bundle: Bundle, files: Path, *, update_lock: bool) -> None:
    actual = {p.name: sha256_of(p) for p in sorted(files.iterdir()) if p.is_file()}
    lock = load_lock()
    if update_lock:
        lock[bundle.name] = actual
        LOCK_FILE.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
        return
    expected = lock.get(bundle.name)
    if expected is None:
        raise KappaError(f"bundle {bundle.name} has no entry in {LOCK_FILE}; run `kappa setup --update-lock`")
    if actual != expected:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(n for n in set(actual) & set(expected) if actual[n] != expected[n])
        raise KappaError(
            f"checksum verification failed for {bundle.name}: changed={changed} missing={missing} "
            f"unexpected={extra} (lock: {LOCK_FILE})"
        )


def fetch_all(cache: Path, progress: Progress, *, update_lock: bool = False) -> dict[str, Path]:
    return {name: fetch_bundle(b, cache, progress, update_lock=update_lock) for name, b in BUNDLES.items()}
