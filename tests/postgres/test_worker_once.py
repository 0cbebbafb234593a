"""``Worker.run(once=True)`` with ``concurrency`` above 1 runs every execution due when it
starts, whichever thread looks first (on Postgres a task another thread is looking at is
skipped, not waited for)."""

from __future__ import annotations

from benchmarks import fleet

from durable_gen.local import Worker


def test_a_concurrent_worker_run_once_leaves_nothing_due_behind(postgres_url: str) -> None:
    for _ in range(15):  # the race it guards against showed up in about one round of four
        with Worker(postgres_url) as starter:
            name = starter.register(fleet.sequential)
            arns = [starter.service.start(name, "4") for _ in range(3)]
            with Worker(postgres_url, concurrency=3) as worker:
                worker.run(once=True)
            assert [starter.service.get_execution(arn).result for arn in arns] == ["4"] * 3
