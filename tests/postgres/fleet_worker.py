"""A worker process of the fleet soak: ``python -m tests.postgres.fleet_worker URL [N]``.

N is the worker's concurrency (default 1).
"""

from __future__ import annotations

import sys

from durable_gen.local import Worker


def main() -> None:
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with Worker(url, poll=0.05, lease_seconds=5, concurrency=concurrency) as worker:
        worker.run()


if __name__ == "__main__":
    main()
