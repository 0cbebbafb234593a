"""Execution and request ids of the embedded engine: random version-4 UUIDs, never repeated
by a test's ``random.seed()`` nor by a forked process."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid

import pytest

from durable_gen.local import LocalService
from durable_gen.local._runner import new_uuid


def test_ids_are_version_4_uuids_in_canonical_text() -> None:
    for _ in range(2000):
        text = new_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_do_not_repeat() -> None:
    ids = {new_uuid() for _ in range(20_000)}
    assert len(ids) == 20_000


def test_seeding_the_global_random_does_not_repeat_ids() -> None:
    random.seed(1234)
    first = [new_uuid() for _ in range(3)]
    random.seed(1234)
    second = [new_uuid() for _ in range(3)]
    assert not set(first) & set(second)


def test_execution_ids_differ_after_seeding_the_global_random() -> None:
    engine = LocalService()
    engine.register("f", lambda event: None)
    random.seed(0)
    first = engine.start("f", "1")
    random.seed(0)
    second = engine.start("f", "1")
    assert first != second


_FORK = """
import os, uuid
from durable_gen.local._runner import new_uuid
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_uuid().encode())
    os._exit(0)
os.close(write)
child = os.read(read, 100).decode()
os.waitpid(pid, 0)
parent = new_uuid()
assert uuid.UUID(child).version == 4, child
print(child != parent)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    # in a process of its own: this one runs threads, which fork() does not carry over
    done = subprocess.run(
        [sys.executable, "-c", _FORK], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "True"
