"""Handlers of the ``wait_for_callback`` requirements (7-x): ``dg.WaitForCallback``."""

from __future__ import annotations

import durable_gen as dg

log = dg.get_logger(__name__)


def register_callback(callback_id: str) -> None:
    """The submitter: hands the id to the outside world (here, a log line)."""
    log.info("waiting for callback %s", callback_id)


def always_fails(callback_id: str) -> None:
    raise ConnectionError(f"could not hand over callback {callback_id}")


@dg.step
def fixed_data() -> dict[str, str]:
    return {"source": "top-level step"}


@dg.workflow
def wait_for_callback_basic(event: str):  # 7-1
    return (yield dg.WaitForCallback(register_callback, name=event))


@dg.workflow
def wait_for_callback_named(_event: None):  # 7-2
    return (yield dg.WaitForCallback(register_callback, name="approval"))


@dg.workflow
def wait_for_callback_anonymous(_event: None):  # 7-3
    return (yield dg.WaitForCallback(lambda callback_id: None))


@dg.workflow
def wait_for_callback_failure(event: str):  # 7-4
    return (yield dg.WaitForCallback(register_callback, name=event))


@dg.workflow
def wait_for_callback_timeout(event: str):  # 7-5
    return (yield dg.WaitForCallback(register_callback, name=event, timeout=3))


@dg.workflow
def wait_for_callback_failure_caught(event: str):  # 7-6
    try:
        return (yield dg.WaitForCallback(register_callback, name=event))
    except dg.CallbackFailedError:
        return "recovered"


@dg.workflow
def wait_for_callback_submitter_exhausted(event: str):  # 7-7
    retry = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
    return (yield dg.WaitForCallback(always_fails, name=event, retry=retry))


def wrapper(name: str):
    return (yield dg.WaitForCallback(register_callback, name=name))


@dg.workflow
def wait_for_callback_in_child(event: str):  # 7-8
    return (yield dg.Child(wrapper, (event,), name="wrapper"))


@dg.workflow
def wait_for_callback_sequential(_event: None):  # 7-9
    yield dg.WaitForCallback(register_callback, name="first")
    return (yield dg.WaitForCallback(register_callback, name="second"))


@dg.workflow
def wait_for_callback_mixed(event: str):  # 7-10
    yield dg.Wait(seconds=1)
    yield fixed_data()
    return (yield dg.WaitForCallback(register_callback, name=event))


@dg.workflow
def wait_for_callback_json_result(event: str):  # 7-11
    decision = yield dg.WaitForCallback(register_callback, name=event, serdes=dg.JsonSerdes())
    return decision["status"]


@dg.workflow
def wait_for_callback_heartbeat_timeout(event: str):  # 7-12
    return (yield dg.WaitForCallback(register_callback, name=event, heartbeat_timeout=5))


@dg.workflow
def wait_for_callback_heartbeat_then_success(event: str):  # 7-13
    return (yield dg.WaitForCallback(register_callback, name=event, heartbeat_timeout=10))


@dg.workflow
def wait_for_callback_timeout_caught(event: str):  # 7-14
    try:
        return (yield dg.WaitForCallback(register_callback, name=event, timeout=3))
    except dg.CallbackTimeoutError:
        return "timed-out-handled"


@dg.workflow
def wait_for_callback_empty_result(event: str):  # 7-15
    return (yield dg.WaitForCallback(register_callback, name=event))


HANDLERS = {
    "7-1": wait_for_callback_basic,
    "7-2": wait_for_callback_named,
    "7-3": wait_for_callback_anonymous,
    "7-4": wait_for_callback_failure,
    "7-5": wait_for_callback_timeout,
    "7-6": wait_for_callback_failure_caught,
    "7-7": wait_for_callback_submitter_exhausted,
    "7-8": wait_for_callback_in_child,
    "7-9": wait_for_callback_sequential,
    "7-10": wait_for_callback_mixed,
    "7-11": wait_for_callback_json_result,
    "7-12": wait_for_callback_heartbeat_timeout,
    "7-13": wait_for_callback_heartbeat_then_success,
    "7-14": wait_for_callback_timeout_caught,
    "7-15": wait_for_callback_empty_result,
}
