"""The state directory is private to the user who runs the platform: secrets, service configs, Kafka's
segments, Flink's blobs and checkpoints, the warehouse's Parquet files. Reading any of them would
bypass Kafka's and Trino's credentials and rules.

- Every process the platform starts, and the CLI itself, creates files with umask 077 (600 files,
  700 folders).
- The state directory is 700, or 711 (enter, not list) where PostgreSQL runs as its own system user
  (the platform runs as root): that user must reach its data folder, which it owns, mode 700.
- `kappa up` strips group and other access from anything older inside it (a stack made by an
  earlier version), leaving alone what belongs to another user (PostgreSQL's data).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
GROUP_OTHER = stat.S_IRWXG | stat.S_IRWXO


def private_umask() -> None:
    """For the CLI's own process (and the tests that act as it): files it writes are private."""
    os.umask(UMASK)


def secure_state_dir(state: Path, *, foreign: Path | None = None) -> int:
    """Create or tighten the state directory; `foreign` is a folder inside it that another system
    user owns and must reach (PostgreSQL's data when the platform runs as root): the folders above it
    keep "enter" (o+x) for that. Returns how many paths were tightened."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    passage = {state, *foreign.parents} if foreign is not None else set()
    me = os.getuid()
    tightened = _tighten(state, 0o711 if foreign is not None else 0o700)
    for root, dirs, files in os.walk(state):
        for name in [*dirs, *files]:
            path = Path(root, name)
            try:
                info = path.lstat()
            except FileNotFoundError:  # a service removed it meanwhile
                continue
            if info.st_uid != me or stat.S_ISLNK(info.st_mode):
                if name in dirs:
                    dirs.remove(name)  # another user's folder (PostgreSQL's data): its own business
                continue
            mode = stat.S_IMODE(info.st_mode) & ~GROUP_OTHER
            if path in passage:
                mode |= stat.S_IXOTH
            tightened += _tighten(path, mode)
    return tightened


def allow_traverse(path: Path) -> None:
    """Let another system user reach `path` (PostgreSQL's data folder) by entering, never listing,
    each folder above it."""
    for folder in path.parents:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _tighten(path: Path, mode: int) -> int:
    try:
        if stat.S_IMODE(path.lstat().st_mode) == mode:
            return 0
        path.chmod(mode)
        return 1
    except FileNotFoundError:
        return 0


def write_private(path: Path, text: str) -> None:
    """A file only its owner can read, created so from the start (it holds a secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
