from __future__ import annotations

from pathlib import Path

import pytest

from kappa.artifacts.java import find_java, java_major
from kappa.errors import KappaError


def fake_jdk(root: Path, version: str) -> Path:
    home = root / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    (home / "bin" / "java").chmod(0o755)
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


def test_reads_the_major_version_from_release(tmp_path: Path) -> None:
    assert java_major(fake_jdk(tmp_path, "25.0.1")) == 25
    assert java_major(fake_jdk(tmp_path, "17.0.15")) == 17


def test_a_too_old_java_is_refused_with_what_is_needed(tmp_path: Path) -> None:
    home = fake_jdk(tmp_path, "17.0.15")
    with pytest.raises(KappaError) as err:
        find_java("Trino 476", minimum=24, explicit=home)
    assert "Trino 476 needs Java 24+" in str(err.value)
    assert str(home) in str(err.value)


def test_an_explicit_suitable_java_is_used(tmp_path: Path) -> None:
    home = fake_jdk(tmp_path, "25.0.1")
    rt = find_java("Trino", minimum=24, explicit=home)
    assert rt.home == home.resolve() and rt.major == 25


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KappaError, match="Flink needs Java 17 to 21"):
        find_java("Flink", minimum=17, maximum=21, explicit=tmp_path / "nope")
