"""``durable-gen worker`` stops on SIGTERM whatever the main thread holds when it arrives."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# The child holds the stop event's own lock while SIGTERM arrives: a handler that set the event
# directly would wait for that lock on the very thread that holds it, for ever.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, threading
    from durable_gen.cli import _stop_on_sigterm

    stopped = threading.Event()
    _stop_on_sigterm(stopped.set)
    with stopped._cond:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # bytecodes run here: the handler runs among them
            pass
    sys.exit(0 if stopped.wait(10) else 3)
    """
)


def test_sigterm_while_the_stop_event_is_held_still_stops() -> None:
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, timeout=60)
    assert child.returncode == 0, child.stderr.decode()[-2000:]


def test_repeated_sigterms_are_harmless() -> None:
    code = CHILD.replace(
        "os.kill(os.getpid(), signal.SIGTERM)",
        "[os.kill(os.getpid(), signal.SIGTERM) for _ in range(100_000)]",
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert child.returncode == 0, child.stderr.decode()[-2000:]
