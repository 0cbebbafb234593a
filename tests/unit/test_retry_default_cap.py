"""A first delay above the default cap of ``Retry``/``WaitStrategy`` is refused where the policy
is built (the cap would cut every delay, without a word); an explicit cap keeps capping."""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


@pytest.mark.parametrize(
    ("build", "advice"),
    [
        (lambda: dg.Retry(initial_delay=3600), "Retry(initial_delay=3600, max_delay=3600)"),
        (lambda: dg.Retry(initial_delay=60.5), "max_delay=60.5"),
        (lambda: dg.WaitStrategy(until=bool, delay=600), "WaitStrategy(delay=600, max_delay=600)"),
    ],
)
def test_a_first_delay_above_the_default_cap_is_refused(build: Any, advice: str) -> None:
    with pytest.raises(dg.ValidationError, match="above max_delay") as caught:
        build()
    assert advice in str(caught.value)


def test_the_cap_given_or_reached_is_kept() -> None:
    assert dg.Retry(initial_delay=60).max_delay == 60  # at the cap, not above it
    assert dg.Retry(initial_delay=3600, max_delay=60).max_delay == 60  # asked for: caps
    assert dg.Retry(initial_delay=3600, max_delay=7200).delay(1, 0.999) == 3597
    assert dg.WaitStrategy(until=bool, delay=600, max_delay=300).max_delay == 300
    assert dg.WaitStrategy(until=bool, delay=300).max_delay == 300


def test_a_default_policy_holds_a_plain_int_cap() -> None:
    """The default is told apart by identity, then replaced: the policy encodes, pickles and
    compares as a plain one."""
    for policy in (dg.Retry(), dg.Retry(max_attempts=2), dg.WaitStrategy(until=bool)):
        assert type(policy.max_delay) is int
        assert f"max_delay={policy.max_delay}," in repr(policy)
    assert dg.Retry() == dg.Retry(max_delay=60)
    assert pickle.loads(pickle.dumps(dg.Retry(max_attempts=3))) == dg.Retry(max_attempts=3)
    assert msgspec.to_builtins(dg.Retry(retry_on=()))["max_delay"] == 60


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=600, max_delay=600, jitter="none"))
def flaky() -> str:
    raise ValueError("no")


@dg.workflow
def waits_for_its_retry(_: Any) -> Any:
    try:
        yield flaky()
    except dg.StepFailedError:
        return "gave up"


def test_an_explicit_cap_above_the_default_waits_the_whole_first_delay() -> None:
    runner = TestRunner()
    run = runner.start(waits_for_its_retry, None)
    start = runner.now()
    while runner.advance_to_next_timer():
        pass
    assert run.result() == "gave up"
    assert (runner.now() - start).total_seconds() >= 600
