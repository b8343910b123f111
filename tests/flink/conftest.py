"""Job logic on a local Flink: these tests run inside the Flink environment (`make test-flink`).

That environment has apache-flink but not the platform's packages; the scenario generators are
plain Python, so the platform's source root is put on the path for them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
