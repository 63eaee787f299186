"""A materialization run that dies (SIGKILL) after a number of written batches.

Run as ``python -m tests.mlplat.offline.crash_materialize DATA REDIS NAMESPACE REGISTRY END BATCH KILL_AFTER``
by the crash test; killing the process, not raising, is what a lost node or OOM does.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from mlplat.loader import load_catalog
from mlplat.offline.materialize import MaterializeOptions, OnlineTarget, materialize_view
from mlplat.registry import Registry

REPO = Path(__file__).resolve().parents[3]


def main(argv: list[str]) -> None:
    data, redis_url, namespace, registry_url, end, batch_rows, kill_after = argv
    catalog = load_catalog(REPO / "specs")
    batches = 0

    def die_after_some(written: int, total: int) -> None:
        nonlocal batches
        batches += 1
        if batches == int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)

    options = MaterializeOptions(data, batch_rows=int(batch_rows), end=datetime.fromisoformat(end))
    materialize_view(
        catalog,
        "bureau_profile",
        OnlineTarget(redis_url, namespace),
        Registry.open(registry_url),
        options,
        progress=die_after_some,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
