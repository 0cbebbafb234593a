"""A worker process of the fleet soak: ``python -m tests.postgres.fleet_worker URL``."""

from __future__ import annotations

import sys

from durable_gen.local import Worker


def main() -> None:
    url = sys.argv[1]
    with Worker(url, poll=0.05, lease_seconds=5) as worker:
        worker.run()


if __name__ == "__main__":
    main()
