from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kappa.settings import ConfigError, KappaSettings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kappa.toml"
    path.write_text(text)
    return path


def test_file_values_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'state_dir = "st"\n[kafka]\nport = 19092\n[kafka.topics.transactions]\npartitions = 3\n')
    s = load_settings(cfg)
    assert s.kafka.port == 19092
    assert s.kafka.topics["transactions"].partitions == 3
    assert s.state == tmp_path / "st"
    assert s.kafka_bootstrap == "127.0.0.1:19092"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path, "[trino]\nport = 8090\n[flink]\ncheckpoint_interval_s = 30\n")
    monkeypatch.setenv("KAPPA__TRINO__PORT", "8099")
    s = load_settings(cfg)
    assert s.trino.port == 8099
    assert s.flink.checkpoint_interval_s == 30  # untouched by the override of another section


def test_explicit_overrides_merge_into_sections(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[kafka.topics.transactions]\npartitions = 4\n")
    s = load_settings(cfg, kafka={"port": 1234})
    assert s.kafka.port == 1234
    assert s.kafka.topics["transactions"].partitions == 4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[kafka]\nport = 'abc'\n", "kafka.port"),
        ("[kafka]\nbogus = 1\n", "kafka.bogus"),
        ("[flink]\nparallelism = 0\n", "flink.parallelism"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_settings_give_one_line_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert needle in str(err.value)
    assert "\n" not in str(err.value).strip()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_frozen() -> None:
    s = KappaSettings()
    with pytest.raises(ValidationError):
        s.host = "0.0.0.0"  # type: ignore[misc]


def test_repository_config_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    s = load_settings(root / "kappa.toml")
    assert s.kafka.topics["transactions"].partitions == 6
    assert s.state == root / ".kappa"
