"""Every Terraform module and environment is formatted and valid, with the providers `kappa setup`
built from source (the same filesystem mirror `kappa up` uses; no registry is reached)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from kappa.artifacts.terraform import PROVIDERS, ensure_cli_config, ensure_providers, ensure_terraform
from kappa.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CONFIGS = sorted(p.parent for p in INFRA.glob("*/*/versions.tf"))


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    cache = load_settings(ROOT / "kappa.toml").cache
    binary = ensure_terraform(cache, lambda _m: None)
    ensure_providers(cache, lambda _m: None)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(ensure_cli_config(cache)), "TF_IN_AUTOMATION": "1",
           "CHECKPOINT_DISABLE": "1"}
    return binary, env


def test_every_module_and_environment_is_found() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in CONFIGS}
    assert {"envs/local", "envs/kubernetes", "modules/kafka_topics", "modules/service_database",
            "modules/local_warehouse", "modules/helm_release"} <= names
    for config in CONFIGS:
        assert {f.name for f in config.glob("*.tf")} >= {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}


def test_formatting(terraform: tuple[Path, dict[str, str]]) -> None:
    binary, env = terraform
    done = subprocess.run([str(binary), "fmt", "-check", "-recursive", "-diff", str(INFRA)], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_validate(config: Path, terraform: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    binary, env = terraform
    env = {**env, "TF_DATA_DIR": str(tmp_path / ".terraform")}
    init = subprocess.run([str(binary), f"-chdir={config}", "init", "-backend=false", "-input=false", "-no-color",
                           "-lockfile=readonly" if (config / ".terraform.lock.hcl").exists() else "-upgrade=false"],
                          capture_output=True, text=True, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    done = subprocess.run([str(binary), f"-chdir={config}", "validate", "-no-color"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_variable_and_output_is_described_and_typed() -> None:
    for config in CONFIGS:
        variables = (config / "variables.tf").read_text()
        for block in re.findall(r'variable "[^"]+" \{.*?\n\}', variables, re.S):
            assert "description" in block and "type" in block, f"{config}: {block[:60]}"
        outputs = (config / "outputs.tf").read_text()
        for block in re.findall(r'output "[^"]+" \{.*?\n\}', outputs, re.S):
            assert "description" in block, f"{config}: {block[:60]}"


def test_environments_pin_the_providers_the_platform_builds() -> None:
    built = {p.source: p.version for p in PROVIDERS}
    for env in ("local", "kubernetes"):
        text = (INFRA / "envs" / env / "versions.tf").read_text()
        pinned = dict(re.findall(r'source\s*=\s*"([^"]+)"\s*\n\s*version\s*=\s*"([^"]+)"', text))
        assert pinned == built, env
