"""The supervisor's process: `kappa supervise` (kappa/runtime/supervisor.py), started last by `kappa
up` and stopped first by `kappa down`. Healthy while it beats: it touches a file in the run
directory at every look at the stack."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kappa.context import Context
from kappa.runtime.process import ProcessSpec

NAME = "supervisor"
BEAT_EVERY_S = 0.5
STALE_AFTER_S = 10.0


class Supervisor:
    name = NAME
    depends_on: tuple[str, ...] = ()
    version = "kappa"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def ports(self) -> list[int]:
        return []

    def url(self) -> str | None:
        return None

    def prepare(self) -> None:
        settings = self.ctx.settings
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        settings.effective_settings_file.write_text(settings.model_dump_json(indent=1))
        heartbeat_file(self.ctx).unlink(missing_ok=True)

    def spec(self) -> ProcessSpec:
        s = self.ctx.settings
        return ProcessSpec(name=self.name, log_path=self.ctx.log_path(self.name), cwd=s.project_dir,
                           argv=[sys.executable, "-m", "kappa", "--config", str(s.effective_settings_file),
                                 "supervise"])

    def healthy(self) -> bool:
        try:
            return time.time() - heartbeat_file(self.ctx).stat().st_mtime < STALE_AFTER_S
        except OSError:
            return False

    def after_start(self) -> None:
        return None


def heartbeat_file(ctx: Context) -> Path:
    return ctx.settings.run_dir / "supervisor.beat"
