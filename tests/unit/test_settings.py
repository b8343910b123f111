from __future__ import annotations

import tomllib
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
        # the source document's `--replication-factor 3`, on the local stack's single broker
        ('[kafka.topics.user-events]\nreplication_factor = 3\n', "replication_factor 3 needs as many brokers"),
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


def test_the_defaults_kappa_toml_shows_are_the_defaults() -> None:
    """kappa.toml documents the defaults as commented lines; each must equal the model's default."""
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "kappa.toml")
    section: list[str] = []
    shown = 0
    for line in (root / "kappa.toml").read_text().splitlines():
        text = line.removeprefix("# ").strip()
        if text.startswith("[") and text.endswith("]"):
            section = text.strip("[]").split(".")
        elif line.startswith("# ") and " = " in line:
            key, value = (part.strip() for part in text.split(" #")[0].split("=", 1))
            actual = _lookup(settings, [*section, key])
            expected = tomllib.loads(f"v = {value}")["v"]
            assert str(actual) == str(expected), f"{'.'.join([*section, key])}: {actual} != {expected}"
            shown += 1
    assert shown > 20


def _lookup(node: object, path: list[str]) -> object:
    for part in path:
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node
