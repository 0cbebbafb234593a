"""A fourth set of conformance handlers, written from README.md and docs/*.md alone.

Style: every step is a ``@dg.step`` function with its options on the decorator (name, retry,
semantics, serdes), child workflows are ``@dg.workflow`` generator functions annotated with
``dg.Workflow[R]`` and taken with ``yield from`` (typed), callback and invoke results are
decoded into declared types (``result_type=``) where a requirement reads them, and the plugin
suite uses one plugin class configured per requirement. ``HANDLERS`` maps a requirement key to
its workflow; ``CHECKPOINTING`` names the few that need a mode other than the one a run asks
for; ``FUNCTIONS`` are the invoke targets; ``PLUGINS`` makes the plugins of a run.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import durable_gen as dg
from durable_gen.plugins import AttemptInfo, InvocationInfo, OperationInfo

HANDLERS: dict[str, Callable[..., Any]] = {}
CHECKPOINTING: dict[str, dg.CheckpointMode] = {}
PLUGINS: dict[str, Callable[[], list[dg.Plugin]]] = {}

_attempts: dict[str, int] = {}
_lock = threading.Lock()


def reset() -> None:
    """Forget the attempt counts of the previous run."""
    with _lock:
        _attempts.clear()


def _attempt(key: str) -> int:
    """Count one more attempt of ``key`` in this run; 1 for the first."""
    with _lock:
        _attempts[key] = _attempts.get(key, 0) + 1
        return _attempts[key]


def handler(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        HANDLERS[key] = fn
        return fn

    return register


class Crash(SystemExit):
    """Ends the invocation as ``process.exit`` does: a BaseException, so not a step failure."""


class TransientError(Exception):
    pass


log = dg.get_logger("outsider4")
replay_log = dg.get_logger("outsider4.replay", log_during_replay=True)

# ---------------------------------------------------------------- step (1-x)


@dg.step
def greet(name: str) -> str:
    return f"Hello, {name}!"


@handler("1-1")
@dg.workflow
def step_basic(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


@dg.step(name="custom_step_name")
def greet_named(name: str) -> str:
    return f"Hello, {name}!"


@handler("1-2")
@dg.workflow
def step_named(name: str) -> dg.Workflow[str]:
    return (yield from greet_named(name))


@dg.step
def first() -> str:
    return "first"


@dg.step
def then_second(prefix: str) -> str:
    return f"{prefix}_second"


@handler("1-3")
@dg.workflow
def step_sequence(_: None) -> dg.Workflow[str]:
    head = yield from first()
    return (yield from then_second(head))


@dataclass
class User:
    name: str
    tags: list[str]


@dataclass
class Profile:
    user: User
    count: int


@dg.step
def build_profile(user: User) -> Profile:
    return Profile(user=user, count=len(user.tags))


@handler("1-4")
@dg.workflow
def step_complex(user: User) -> dg.Workflow[Profile]:
    profile = yield from build_profile(user)
    assert isinstance(profile.user, User)  # decoded into the declared type
    return profile


@dg.step
def nothing() -> None:
    return None


@handler("1-5")
@dg.workflow
def step_null(_: None) -> dg.Workflow[None]:
    return (yield from nothing())


class UpperStrings:
    """Upper-cases every string of a value when it is written."""

    def serialize(self, value: Any) -> str:
        def up(v: Any) -> Any:
            if isinstance(v, str):
                return v.upper()
            if isinstance(v, list):
                return [up(x) for x in v]
            if isinstance(v, dict):
                return {k: up(x) for k, x in v.items()}
            return v

        return json.dumps(up(value))

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


@dg.step(serdes=UpperStrings())
def echo_text(text: str) -> str:
    return text


@handler("1-6")
@dg.workflow
def step_serdes(text: str):
    return (yield echo_text(text))


@dg.step
def greet_logged(name: str) -> str:
    log.info("Greeting step started for: %s", name)
    result = f"Hello, {name}!"
    log.info("Greeting step completed with: %s", result)
    return result


@handler("1-7")
@dg.workflow
def step_logger(name: str) -> dg.Workflow[str]:
    return (yield from greet_logged(name))


@dg.step
def compute() -> str:
    return "computed"


@handler("1-8")
@dg.workflow
def step_then_wait(_: None) -> dg.Workflow[str]:
    value = yield from compute()
    yield from dg.Wait(seconds=2)
    return value


@dg.step
def cached() -> str:
    if _attempt("1-9") > 1:
        raise AssertionError("a succeeded step ran again on replay")
    return "cached_value"


@handler("1-9")
@dg.workflow
def step_replay(_: None) -> dg.Workflow[str]:
    value = yield from cached()
    yield from dg.Wait(seconds=1)
    return value


@dg.step(retry=dg.Retry.never())
def broken() -> str:
    _attempt("1-10")
    raise ValueError("permanently broken")


@handler("1-10")
@dg.workflow
def step_replay_failure(_: None) -> dg.Workflow[str]:
    try:
        yield from broken()
        caught = "no error"
    except dg.StepFailedError as exc:
        caught = exc.error_type or ""
    yield from dg.Wait(seconds=1)
    assert _attempts.get("1-10", 0) <= 1  # never again on replay (0 under the replayer)
    return caught


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def flaky_once() -> str:
    if _attempt("flaky_once") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@handler("1-11")
@dg.workflow
def step_retry(_: None) -> dg.Workflow[str]:
    return (yield from flaky_once())


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1.0, jitter="none"))
def always_fails() -> str:
    raise RuntimeError("always")


@handler("1-12")
@dg.workflow
def step_exhaustion(_: None) -> dg.Workflow[str]:
    return (yield from always_fails())


@dg.step
def fails_twice() -> str:
    if _attempt("fails_twice") <= 2:
        raise RuntimeError("not yet")
    return "third time"


@handler("1-13")
@dg.workflow
def step_default_retry(_: None) -> dg.Workflow[str]:
    return (yield from fails_twice())


@dg.step(retry=dg.Retry(initial_delay=2, backoff=3.0, jitter="none"))
def fails_twice_backoff() -> str:
    if _attempt("fails_twice_backoff") <= 2:
        raise RuntimeError("not yet")
    return "third time"


@handler("1-14")
@dg.workflow
def step_custom_retry(_: None) -> dg.Workflow[str]:
    return (yield from fails_twice_backoff())


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none", retry_on=(TransientError,)))
def transient_once() -> str:
    if _attempt("transient_once") == 1:
        raise TransientError("try again")
    return "ok"


@handler("1-15")
@dg.workflow
def step_retry_on(_: None) -> dg.Workflow[str]:
    return (yield from transient_once())


@dg.step(retry=dg.Retry(retry_if=lambda exc: not isinstance(exc, TransientError)))
def transient_never_retried() -> str:
    raise TransientError("not retried")


@handler("1-16")
@dg.workflow
def step_retry_if(_: None) -> dg.Workflow[str]:
    return (yield from transient_never_retried())


@dg.step(name="at_most_once_flaky_step", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def crash_at_most_once(text: str) -> str:
    log.info("at most once: %s", text)
    raise Crash(1)


@handler("1-17")
@dg.workflow
def step_at_most_once(text: str) -> dg.Workflow[str]:
    return (yield from crash_at_most_once(text))


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=2, initial_delay=1))
def crash_then_succeed(text: str) -> str:
    log.info("attempt with %s", text)
    if _attempt("crash_then_succeed") == 1:
        raise Crash(1)
    return "succeeded on second attempt"


@handler("1-18")
@dg.workflow
def step_at_most_once_retry(text: str) -> dg.Workflow[str]:
    return (yield from crash_then_succeed(text))


@dg.step(retry=dg.Retry.never())
def hopeless() -> str:
    raise RuntimeError("always fails")


@handler("1-19")
@dg.workflow
def step_fails(_: None) -> dg.Workflow[str]:
    return (yield from hopeless())


@dg.step
def fallback() -> str:
    return "fallback_result"


@handler("1-20")
@dg.workflow
def step_caught(_: None) -> dg.Workflow[str]:
    try:
        return (yield from hopeless())
    except dg.StepFailedError:
        return (yield from fallback())


# ---------------------------------------------------------------- wait (2-x)


@handler("2-1")
@dg.workflow
def wait_basic(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(2)


@handler("2-2")
@dg.workflow
def wait_named(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(2, name="custom_wait_name")


@handler("2-3")
@dg.workflow
def wait_twice(_: None) -> dg.Workflow[dict[str, int]]:
    done = 0
    for n in (1, 2):
        yield from dg.Wait(2, name=f"wait-{n}")
        done += 1
    return {"completedWaits": done}


@handler("2-4")
@dg.workflow
def wait_minute(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=1 * 60)


@handler("2-5")
@dg.workflow
def wait_hour(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(seconds=60 * 60)


# ---------------------------------------------------------------- child (3-x)


@dg.step
def identity(text: str) -> str:
    return text


@dg.workflow
def one_step(text: str) -> dg.Workflow[str]:
    return (yield from identity(text))


@handler("3-1")
@dg.workflow
def child_basic(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(one_step, (text,)))


@dataclass
class NamedValue:
    name: str
    value: str


@handler("3-2")
@dg.workflow
def child_named(arg: NamedValue) -> dg.Workflow[str]:
    return (yield from dg.Child(one_step, (arg.value,), name=arg.name))


@dg.workflow
def two_steps(text: str) -> dg.Workflow[str]:
    a = yield from identity(text)
    return (yield from identity(a))


@handler("3-3")
@dg.workflow
def child_sequence(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(two_steps, (text,)))


@dg.workflow
def failing_child(_: None) -> dg.Workflow[str]:
    return (yield from hopeless())


@handler("3-4")
@dg.workflow
def child_fails(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(failing_child, (None,)))


@dg.workflow
def failing_child_unnamed(_: None) -> dg.Workflow[str]:
    return (yield from hopeless())


@handler("3-5")
@dg.workflow
def child_caught(text: str) -> dg.Workflow[str]:
    with contextlib.suppress(dg.ChildFailedError):  # raised at the yield, inside the block
        yield from dg.Child(failing_child_unnamed, (None,))
    return (yield from identity(text))


@dg.workflow
def inner(text: str) -> dg.Workflow[str]:
    return (yield from identity(text))


@dg.workflow
def outer(text: str) -> dg.Workflow[str]:
    yield from identity(text)
    return (yield from dg.Child(inner, (text,)))


@handler("3-6")
@dg.workflow
def child_nested(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(outer, (text,)))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def flaky_identity(text: str) -> str:
    if _attempt("flaky_identity") == 1:
        raise RuntimeError("first attempt fails")
    return text


@dg.workflow
def retrying_child(text: str) -> dg.Workflow[str]:
    return (yield from flaky_identity(text))


@handler("3-7")
@dg.workflow
def child_retry(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(retrying_child, (text,)))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def never_works() -> str:
    raise RuntimeError("never works")


@dg.workflow
def exhausted_child(_: None) -> dg.Workflow[str]:
    return (yield from never_works())


@handler("3-8")
@dg.workflow
def child_exhaustion(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(exhausted_child, (None,)))


@dg.step
def identity_once(text: str) -> str:
    if _attempt("identity_once") > 1:
        raise AssertionError("the child ran again on replay")
    return text


def plain_child(text: str) -> dg.Workflow[str]:
    return (yield from identity_once(text))


@handler("3-9")
@dg.workflow
def child_replay(text: str) -> dg.Workflow[str]:
    value = yield from dg.Child(plain_child, (text,))
    yield from dg.Wait(1)
    return value


@dg.workflow
def step_and_wait(text: str) -> dg.Workflow[str]:
    value = yield from identity(text)
    yield from dg.Wait(1)
    return value


@handler("3-10")
@dg.workflow
def child_step_wait(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(step_and_wait, (text,)))


@dg.workflow
def big_child(text: str) -> dg.Workflow[str]:
    replay_log.info("building a large result from %s", text)
    small = yield from identity(text)
    return small * (300 * 1024 // len(small) + 1)


@handler("3-11")
@dg.workflow
def child_large(text: str) -> dg.Workflow[int]:
    big = yield from dg.Child(big_child, (text,))
    yield from dg.Wait(1)
    return len(big)


@dg.step
def slow_crash_once(text: str) -> str:
    if _attempt("slow_crash_once") == 1:
        raise Crash(1)
    return text


def crashing_child(text: str) -> dg.Workflow[str]:
    return (yield from slow_crash_once(text))


@handler("3-12")
@dg.workflow
def child_interrupted(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(crashing_child, (text,)))


# The step crashes at once, so only a START confirmed before it runs leaves StepStarted.
CHECKPOINTING["3-12"] = "eager"


@dg.workflow
def just_wait(text: str) -> dg.Workflow[str]:
    yield from dg.Wait(1)
    return text


@handler("3-13")
@dg.workflow
def child_wait(text: str) -> dg.Workflow[str]:
    value = yield from dg.Child(just_wait, (text,))
    return (yield from identity(value))


class Shout:
    def serialize(self, value: str) -> str:
        return value.upper()

    def deserialize(self, text: str) -> str:
        return text


@handler("3-14")
@dg.workflow
def child_serdes(text: str) -> dg.Workflow[str]:
    return (yield from dg.Child(one_step, (text,), serdes=Shout()))


@dg.workflow
def raises_directly(_: None) -> dg.Workflow[str]:
    raise ValueError("thrown in the child body")
    yield  # a workflow


@handler("3-15")
@dg.workflow
def child_raises(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(raises_directly, (None,)))


@dg.workflow
def returns_none(_: None) -> dg.Workflow[None]:
    return None
    yield  # a workflow


@handler("3-16")
@dg.workflow
def child_null(_: None) -> dg.Workflow[None]:
    return (yield from dg.Child(returns_none, (None,)))


@dg.workflow
def only_logs(text: str) -> dg.Workflow[str]:
    replay_log.info("child body ran with %s", text)
    return text
    yield  # a workflow


@handler("3-17")
@dg.workflow
def child_logger(text: str) -> dg.Workflow[str]:
    value = yield from dg.Child(only_logs, (text,))
    yield from dg.Wait(1)
    return value


@handler("3-18")
@dg.workflow
def child_then_more(text: str) -> dg.Workflow[str]:
    value = yield from dg.Child(step_and_wait, (text,))
    value = yield from identity(value)
    yield from dg.Wait(1)
    return value


# ---------------------------------------------------------------- callback (4-x)


@handler("4-1")
@dg.workflow
def callback_basic(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    return (yield from handle)


@handler("4-2")
@dg.workflow
def callback_named(_: None) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name="approval", result_type=str)
    return (yield from handle)


@handler("4-3")
@dg.workflow
def callback_timeout(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, timeout=5, result_type=str)
    return (yield from handle)


@handler("4-4")
@dg.workflow
def callback_heartbeat_timeout(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, heartbeat_timeout=5, result_type=str)
    return (yield from handle)


@handler("4-5")
@dg.workflow
def callback_heartbeat(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, heartbeat_timeout=10, result_type=str)
    return (yield from handle)


@handler("4-6")
@dg.workflow
def callback_failure(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    return (yield from handle)


@dg.step
def notify(callback_id: str) -> str:
    return f"sent {callback_id}"


@handler("4-7")
@dg.workflow
def callback_step_failure(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    yield from notify(handle.callback_id)
    return (yield from handle)


@handler("4-8")
@dg.workflow
def callback_step_timeout(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, timeout=5, result_type=str)
    yield from notify(handle.callback_id)
    return (yield from handle)


@handler("4-9")
@dg.workflow
def callback_wait_success(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    yield from dg.Wait(5)
    return (yield from handle)


@handler("4-10")
@dg.workflow
def callback_wait_failure(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    yield from dg.Wait(5)
    return (yield from handle)


@handler("4-11")
@dg.workflow
def callback_wait_timeout(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, timeout=3, result_type=str)
    yield from dg.Wait(6)
    return (yield from handle)


@handler("4-12")
@dg.workflow
def callback_then_wait(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    value = yield from handle
    yield from dg.Wait(2)
    return value


@handler("4-13")
@dg.workflow
def callback_failure_caught(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, result_type=str)
    try:
        message = yield from handle
    except dg.CallbackFailedError as exc:
        message = f"callback failed: {exc.error_type}: {exc.error_message}"
    yield from dg.Wait(2)
    return message


@handler("4-14")
@dg.workflow
def callback_timeout_caught(name: str) -> dg.Workflow[str]:
    handle = yield from dg.CreateCallback(name=name, timeout=3, result_type=str)
    try:
        message = yield from handle
    except dg.CallbackTimeoutError as exc:
        message = f"timed out: {exc.error_type}"
    yield from dg.Wait(2)
    return message


@dataclass
class Message:
    id: str
    message: str
    timestamp: datetime


@handler("4-15")
@dg.workflow
def callback_typed(name: str) -> dg.Workflow[dict[str, dict[str, Any]]]:
    handle = yield from dg.CreateCallback(name=name, result_type=Message)
    got = yield from handle
    assert isinstance(got.timestamp, datetime)
    return {
        "received": {
            "id": got.id,
            "message": got.message,
            "timestamp": int(got.timestamp.timestamp()),
        }
    }


@handler("4-16")
@dg.workflow
def callback_number(name: str) -> dg.Workflow[dict[str, int]]:
    handle = yield from dg.CreateCallback(name=name, result_type=int)
    count = yield from handle
    return {"count": count, "doubled": count * 2}


@handler("4-17")
@dg.workflow
def callbacks_in_turn(names: list[str]) -> dg.Workflow[list[str]]:
    out = []
    for name in names:
        handle = yield from dg.CreateCallback(name=name, result_type=str)
        out.append((yield from handle))
    return out


@handler("4-18")
@dg.workflow
def callbacks_a_then_b(names: list[str]) -> dg.Workflow[list[str]]:
    a = yield from dg.CreateCallback(name=names[0], result_type=str)
    b = yield from dg.CreateCallback(name=names[1], result_type=str)
    first_value = yield from a
    second_value = yield from b
    return [first_value, second_value]


@handler("4-19")
@dg.workflow
def callbacks_b_then_a(names: list[str]) -> dg.Workflow[list[str]]:
    a = yield from dg.CreateCallback(name=names[0], result_type=str)
    b = yield from dg.CreateCallback(name=names[1], result_type=str)
    second_value = yield from b
    first_value = yield from a
    return [first_value, second_value]


# ---------------------------------------------------------------- invoke (5-x)


@dg.workflow
def echo_target(payload: Any) -> dg.Workflow[Any]:
    return payload
    yield  # a workflow


@dg.workflow
def failing_target(payload: Any) -> dg.Workflow[Any]:
    raise RuntimeError(f"target failed on {payload!r}")
    yield  # a workflow


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "outsider4-echo": echo_target,
    "outsider4-fail": failing_target,
}


@handler("5-1")
@dg.workflow
def invoke_basic(text: str) -> dg.Workflow[str]:
    return (yield from dg.Invoke("outsider4-echo", text, result_type=str))


@dataclass
class NamedPayload:
    name: str
    payload: str


@handler("5-2")
@dg.workflow
def invoke_named(arg: NamedPayload) -> dg.Workflow[str]:
    return (yield from dg.Invoke("outsider4-echo", arg.payload, name=arg.name, result_type=str))


@handler("5-3")
@dg.workflow
def invoke_complex(arg: dict[str, Any]) -> dg.Workflow[dict[str, Any]]:
    got = yield from dg.Invoke("outsider4-echo", arg, result_type=dict[str, Any])
    assert got == arg
    return got


@handler("5-4")
@dg.workflow
def invoke_null(_: None) -> dg.Workflow[None]:
    return (yield from dg.Invoke("outsider4-echo", None, result_type=type(None)))


@handler("5-5")
@dg.workflow
def invoke_fails(_: None):
    return (yield dg.Invoke("outsider4-fail", "x"))


@handler("5-6")
@dg.workflow
def invoke_fails_caught(_: None) -> dg.Workflow[str]:
    try:
        yield dg.Invoke("outsider4-fail", "x")
    except dg.InvokeFailedError as exc:
        return f"caught {exc.error_type}"
    return "not failed"


@handler("5-7")
@dg.workflow
def invoke_large(_: None) -> dg.Workflow[int]:
    text = "x" * (1024 * 1024 - 1024 - 2)  # with its quotes, 1 MiB minus 1 KiB of JSON
    got = yield from dg.Invoke("outsider4-echo", text, result_type=str)
    return len(got)


@dataclass
class TenantPayload:
    tenantId: str
    payload: str


@handler("5-8")
@dg.workflow
def invoke_tenant(arg: TenantPayload) -> dg.Workflow[str]:
    return (
        yield from dg.Invoke("outsider4-echo", arg.payload, tenant_id=arg.tenantId, result_type=str)
    )


@dg.workflow
def count_invokes(payload: Any) -> dg.Workflow[Any]:
    _attempt("5-9 target")
    return payload
    yield  # a workflow


FUNCTIONS["outsider4-counted"] = count_invokes


@handler("5-9")
@dg.workflow
def invoke_replay(_: None) -> dg.Workflow[str]:
    got = yield from dg.Invoke("outsider4-counted", "once", result_type=str)
    yield from dg.Wait(1)
    assert _attempts.get("5-9 target", 0) <= 1  # invoked once (0 under the replayer)
    return got


@handler("5-10")
@dg.workflow
def invoke_replay_failure(_: None) -> dg.Workflow[str]:
    try:
        yield dg.Invoke("outsider4-fail", "x")
        outcome = "not failed"
    except dg.InvokeFailedError as exc:
        outcome = exc.error_message or ""
    yield from dg.Wait(1)
    return outcome


@dg.step
def prepare() -> str:
    return "prepared"


@handler("5-11")
@dg.workflow
def step_then_invoke(_: None) -> dg.Workflow[str]:
    value = yield from prepare()
    return (yield from dg.Invoke("outsider4-echo", value, result_type=str))


@dg.step
def shout(text: str) -> str:
    return text.upper()


@handler("5-12")
@dg.workflow
def invoke_then_step(_: None) -> dg.Workflow[str]:
    value = yield from dg.Invoke("outsider4-echo", "hi", result_type=str)
    return (yield from shout(value))


@dg.workflow
def invoking_child(_: None) -> dg.Workflow[str]:
    return (yield from dg.Invoke("outsider4-echo", "from child", result_type=str))


@handler("5-13")
@dg.workflow
def invoke_in_child(_: None) -> dg.Workflow[str]:
    return (yield from dg.Child(invoking_child, (None,)))


@handler("5-14")
@dg.workflow
def invokes_in_turn(_: None) -> dg.Workflow[list[str]]:
    a = yield from dg.Invoke("outsider4-echo", "one", result_type=str)
    b = yield from dg.Invoke("outsider4-echo", "two", result_type=str)
    return [a, b]


class Envelope:
    """Wraps the payload sent in an envelope; reads the result as plain JSON."""

    def serialize(self, value: Any) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, text: str) -> Any:
        return json.loads(text)


@handler("5-15")
@dg.workflow
def invoke_payload_serdes(arg: dict[str, str]):
    got = yield dg.Invoke("outsider4-echo", arg, serdes=Envelope())
    assert got == {"wrapped": arg}
    return got


class UpperText:
    def serialize(self, value: Any) -> str:
        return json.dumps(value)

    def deserialize(self, text: str) -> str:
        return text.upper()


@handler("5-16")
@dg.workflow
def invoke_result_serdes(text: str):
    return (yield dg.Invoke("outsider4-echo", text, serdes=UpperText()))


# ---------------------------------------------------------------- wait_for_condition (6-x)


def increment(state: int) -> int:
    return state + 1


@handler("6-1")
@dg.workflow
def poll_basic(target: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment, 0, wait_strategy=dg.WaitStrategy(until=lambda s: s >= target, delay=1)
        )
    )


@handler("6-2")
@dg.workflow
def poll_immediate(value: int) -> dg.Workflow[int]:
    def same(state: int) -> int:
        return state

    return (
        yield from dg.WaitForCondition(
            same, value, wait_strategy=dg.WaitStrategy(until=lambda s: s == value)
        )
    )


@handler("6-3")
@dg.workflow
def poll_named(target: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment,
            0,
            wait_strategy=dg.WaitStrategy(until=lambda s: s >= target, delay=1),
            name="poll-status",
        )
    )


@handler("6-4")
@dg.workflow
def poll_seeded(target: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment, 5, wait_strategy=dg.WaitStrategy(until=lambda s: s >= target, delay=1)
        )
    )


def fixed_two(state: int, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(2)


@handler("6-5")
@dg.workflow
def poll_fixed(_: int) -> dg.Workflow[int]:
    return (yield from dg.WaitForCondition(increment, 0, wait_strategy=fixed_two))


@handler("6-6")
@dg.workflow
def poll_exhausted(_: int) -> dg.Workflow[int]:
    return (
        yield from dg.WaitForCondition(
            increment,
            0,
            wait_strategy=dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=3),
        )
    )


def explode(state: Any) -> Any:
    raise RuntimeError("the check failed")


@handler("6-7")
@dg.workflow
def poll_raises(_: None):
    return (yield dg.WaitForCondition(explode, None, wait_strategy=dg.WaitStrategy(until=bool)))


@handler("6-8")
@dg.workflow
def poll_raises_caught(_: None):
    try:
        return (yield dg.WaitForCondition(explode, None, wait_strategy=dg.WaitStrategy(until=bool)))
    except dg.StepFailedError:
        return "recovered"


@dataclass
class Job:
    status: str
    attempts: int


@dg.step
def advance(job: Job) -> Job:
    n = job.attempts + 1
    return Job(status="DONE" if n >= 2 else "PENDING", attempts=n)


@handler("6-9")
@dg.workflow
def poll_structured(_: None) -> dg.Workflow[Job]:
    job = yield from dg.WaitForCondition(
        advance,
        Job(status="PENDING", attempts=0),
        wait_strategy=dg.WaitStrategy(until=lambda j: j.status == "DONE", delay=1),
    )
    assert isinstance(job, Job)
    return job


def to_none(state: Any) -> None:
    return None


@handler("6-10")
@dg.workflow
def poll_null(_: None):
    return (
        yield dg.WaitForCondition(
            to_none, "start", wait_strategy=lambda s, n: dg.WaitDecision.done()
        )
    )


class Xs:
    """The state "xx" is written as "len:2"."""

    def serialize(self, value: str) -> str:
        return f"len:{len(value)}"

    def deserialize(self, text: str) -> str:
        return "x" * int(text.removeprefix("len:"))


def grow(state: str) -> str:
    return state + "x"


@handler("6-11")
@dg.workflow
def poll_serdes(_: None):
    return (
        yield dg.WaitForCondition(
            grow,
            "",
            wait_strategy=dg.WaitStrategy(until=lambda s: len(s) >= 2, delay=1),
            serdes=Xs(),
        )
    )


@dg.step
def times_ten(n: int) -> int:
    return n * 10


@handler("6-12")
@dg.workflow
def poll_then_step(target: int) -> dg.Workflow[int]:
    n = yield from dg.WaitForCondition(
        increment, 0, wait_strategy=dg.WaitStrategy(until=lambda s: s >= target, delay=1)
    )
    return (yield from times_ten(n))


@handler("6-13")
@dg.workflow
def polls_in_turn(_: None) -> dg.Workflow[int]:
    a = yield from dg.WaitForCondition(
        increment, 0, wait_strategy=dg.WaitStrategy(until=lambda s: s >= 2, delay=1)
    )
    return (
        yield from dg.WaitForCondition(
            increment, a, wait_strategy=dg.WaitStrategy(until=lambda s: s >= 4, delay=1)
        )
    )


# ---------------------------------------------------------------- wait_for_callback (7-x)


@dg.step
def submit(callback_id: str) -> None:
    """Hands the id to the outside world (here: nothing to do)."""


@handler("7-1")
@dg.workflow
def wfc_basic(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, result_type=str))


@handler("7-2")
@dg.workflow
def wfc_named(_: None) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name="approval", result_type=str))


@handler("7-3")
@dg.workflow
def wfc_anonymous(_: None):
    return (yield dg.WaitForCallback(lambda callback_id: None))


@handler("7-4")
@dg.workflow
def wfc_failure(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, result_type=str))


@handler("7-5")
@dg.workflow
def wfc_timeout(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, timeout=3, result_type=str))


@handler("7-6")
@dg.workflow
def wfc_failure_caught(name: str) -> dg.Workflow[str]:
    try:
        return (yield from dg.WaitForCallback(submit, name=name, result_type=str))
    except dg.CallbackFailedError:
        return "recovered"


def broken_submitter(callback_id: str) -> None:
    raise ConnectionError(f"cannot hand over {callback_id}")


@handler("7-7")
@dg.workflow
def wfc_submitter_fails(name: str) -> dg.Workflow[str]:
    return (
        yield from dg.WaitForCallback(
            broken_submitter,
            name=name,
            retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"),
            result_type=str,
        )
    )


@dg.workflow
def wrapper(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, result_type=str))


@handler("7-8")
@dg.workflow
def wfc_in_child(name: str) -> dg.Workflow[str]:
    return (yield from dg.Child(wrapper, (name,)))


@handler("7-9")
@dg.workflow
def wfc_twice(_: None) -> dg.Workflow[list[str]]:
    a = yield from dg.WaitForCallback(submit, name="first", result_type=str)
    b = yield from dg.WaitForCallback(submit, name="second", result_type=str)
    return [a, b]


@handler("7-10")
@dg.workflow
def wfc_mixed(name: str) -> dg.Workflow[str]:
    yield from dg.Wait(1)
    yield from prepare()
    return (yield from dg.WaitForCallback(submit, name=name, result_type=str))


@dataclass
class Decision:
    status: str


@handler("7-11")
@dg.workflow
def wfc_object(name: str) -> dg.Workflow[str]:
    decision = yield from dg.WaitForCallback(submit, name=name, result_type=Decision)
    return decision.status


@handler("7-12")
@dg.workflow
def wfc_heartbeat_timeout(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, heartbeat_timeout=5, result_type=str))


@handler("7-13")
@dg.workflow
def wfc_heartbeat(name: str) -> dg.Workflow[str]:
    return (yield from dg.WaitForCallback(submit, name=name, heartbeat_timeout=10, result_type=str))


@handler("7-14")
@dg.workflow
def wfc_timeout_caught(name: str) -> dg.Workflow[str]:
    try:
        return (yield from dg.WaitForCallback(submit, name=name, timeout=3, result_type=str))
    except dg.CallbackTimeoutError:
        return "timed-out-handled"


@handler("7-15")
@dg.workflow
def wfc_empty(name: str) -> dg.Workflow[str | None]:
    value = yield from dg.WaitForCallback(submit, name=name, result_type=str | None)
    assert value is None
    return value


# ---------------------------------------------------------------- parallel (8-x)


def projection(batch: dg.BatchResult[Any]) -> dict[str, Any]:
    return {
        "completionReason": batch.completion_reason,
        "status": "FAILED" if batch.has_failure else "SUCCEEDED",
        "successCount": batch.success_count,
        "failureCount": batch.failure_count,
        "totalCount": batch.success_count + batch.failure_count + batch.started_count,
    }


def returns(value: Any) -> Callable[[], dg.Workflow[Any]]:
    """A branch workflow that returns ``value`` without any operation of its own."""

    def branch() -> dg.Workflow[Any]:
        return value
        yield  # a workflow

    branch.__name__ = f"returns_{value!r}"
    return branch


def fails(message: str) -> Callable[[], dg.Workflow[Any]]:
    def branch() -> dg.Workflow[Any]:
        raise RuntimeError(message)
        yield  # a workflow

    return branch


def task_1() -> str:
    return "task-1"


def task_2() -> str:
    return "task-2"


@handler("8-1")
@dg.workflow
def parallel_basic(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([task_1, task_2], name="parallel", max_concurrency=1)
    return batch.results()


@handler("8-2")
@dg.workflow
def parallel_unnamed(_: None) -> dg.Workflow[list[str]]:
    batch = yield from dg.Parallel([returns("alpha"), returns("beta")], max_concurrency=1)
    return batch.get_results()


@handler("8-3")
@dg.workflow
def parallel_branches(_: None):
    batch = yield dg.Parallel(
        [dg.Branch(returns("one"), name="first"), dg.Branch(returns("two"), name="second")],
        max_concurrency=1,
    )
    return batch.results()


@handler("8-4")
@dg.workflow
def parallel_mixed(_: None):
    batch = yield dg.Parallel(
        [returns("hello"), returns(42), returns({"k": "v"})], max_concurrency=1
    )
    return batch.results()


@handler("8-5")
@dg.workflow
def parallel_empty(_: None):
    batch = yield dg.Parallel([])
    return batch.results()


@handler("8-6")
@dg.workflow
def parallel_fail_fast(_: None):
    batch = yield dg.Parallel(
        [returns("ok"), fails("branch 1"), returns("never")],
        max_concurrency=1,
        completion=dg.Completion.all_successful(),
    )
    return projection(batch)


@handler("8-7")
@dg.workflow
def parallel_rethrow(_: None):
    batch = yield dg.Parallel(
        [fails("branch 0"), returns("never")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    batch.raise_if_failed()
    return "not raised"


@handler("8-8")
@dg.workflow
def parallel_min_successful(_: None):
    batch = yield dg.Parallel(
        [returns(f"b{i}") for i in range(4)],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "totalCount")}


@handler("8-9")
@dg.workflow
def parallel_tolerated(_: None):
    batch = yield dg.Parallel(
        [returns("a"), fails("b"), returns("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch)


@handler("8-10")
@dg.workflow
def parallel_over_count(_: None):
    batch = yield dg.Parallel(
        [fails("a"), fails("b"), returns("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "failureCount", "totalCount")}


@handler("8-11")
@dg.workflow
def parallel_order(_: None):
    batch = yield dg.Parallel([returns("r0"), returns("r1"), returns("r2")], max_concurrency=2)
    return batch.results()


def fa() -> str:
    return "fa"


def fb() -> str:
    return "fb"


@handler("8-12")
@dg.workflow
def parallel_flat(_: None):
    batch = yield dg.Parallel([fa, fb], max_concurrency=1, nesting="flat")
    return batch.results()


@handler("8-13")
@dg.workflow
def parallel_over_percentage(_: None):
    batch = yield dg.Parallel(
        [fails("a"), fails("b"), returns("c"), returns("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "failureCount", "totalCount")}


def b0() -> str:
    return "b0"


@dg.workflow
def waits_then_b1() -> dg.Workflow[str]:
    yield from dg.Wait(2)
    return "b1"


@handler("8-14")
@dg.workflow
def parallel_suspends(_: None):
    batch = yield dg.Parallel([b0, waits_then_b1], max_concurrency=1)
    return batch.results()


class Wrapped:
    def serialize(self, value: str) -> str:
        return f"wrapped:{value}"

    def deserialize(self, text: str) -> str:
        return text.removeprefix("wrapped:")


@handler("8-15")
@dg.workflow
def parallel_item_serdes(_: None):
    batch = yield dg.Parallel(
        [returns("x"), returns("y")], max_concurrency=1, item_serdes=Wrapped()
    )
    return batch.results()


@handler("8-16")
@dg.workflow
def parallel_all_fail(_: None):
    batch = yield dg.Parallel(
        [fails("a"), fails("b"), fails("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=3),
    )
    return projection(batch)


@handler("8-17")
@dg.workflow
def parallel_min_never(_: None):
    batch = yield dg.Parallel(
        [returns("a"), fails("b"), returns("c")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3),
    )
    return projection(batch)


@handler("8-18")
@dg.workflow
def parallel_both(_: None):
    batch = yield dg.Parallel(
        [fails("a"), fails("b"), returns("c"), returns("d")],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2, tolerated_failure_count=1),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "failureCount", "totalCount")}


@handler("8-19")
@dg.workflow
def parallel_zero(_: None):
    batch = yield dg.Parallel([returns("a"), returns("b")], max_concurrency=0)
    return batch.results()


@handler("8-20")
@dg.workflow
def parallel_accessors(_: None):
    batch = yield dg.Parallel(
        [returns("a"), fails("b"), returns("c")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    failed = [item for item in batch.items if item.status == "FAILED"]
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.results()),
        "failureCount": len(failed),
        "errorCount": len(batch.errors()),
    }


def i1() -> str:
    return "i1"


def i2() -> str:
    return "i2"


@dg.workflow
def nested_parallel() -> dg.Workflow[list[str]]:
    inner_batch = yield from dg.Parallel([i1, i2], max_concurrency=1)
    return inner_batch.results()


@handler("8-21")
@dg.workflow
def parallel_nested(_: None):
    batch = yield dg.Parallel([nested_parallel])
    return batch.results()


@handler("8-22")
@dg.workflow
def parallel_equal_percentage(_: None):
    batch = yield dg.Parallel(
        [fails("a"), returns("b"), returns("c"), returns("d")],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return projection(batch)


# ---------------------------------------------------------------- map (9-x)


@dg.step
def hello(name: str) -> str:
    return f"Hello, {name}!"


@handler("9-1")
@dg.workflow
def map_basic(names: list[str]) -> dg.Workflow[list[str]]:
    batch = yield from dg.Map(hello, names, name="map", max_concurrency=1)
    return batch.results()


@dg.workflow
def double(n: int) -> dg.Workflow[int]:
    return n * 2
    yield  # a workflow


@handler("9-2")
@dg.workflow
def map_direct(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(double, items, max_concurrency=1)
    return batch.results()


@dg.workflow
def plus_index(item: int, index: int) -> dg.Workflow[int]:
    return item + index
    yield  # a workflow


@handler("9-3")
@dg.workflow
def map_index(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(plus_index, items, max_concurrency=1)
    return batch.results()


@handler("9-4")
@dg.workflow
def map_empty(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(double, items)
    assert batch.completion_reason == "ALL_COMPLETED" and batch.total_count == 0
    return batch.results()


@dg.workflow
def ok_unless_fail(item: str) -> dg.Workflow[str]:
    if item.startswith("fail"):
        raise RuntimeError(f"item {item} failed")
    return item
    yield  # a workflow


@handler("9-5")
@dg.workflow
def map_fail_fast(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["ok", "fail-1", "ok-2"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return projection(batch)


@handler("9-6")
@dg.workflow
def map_rethrow(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["fail-0", "ok"],
        max_concurrency=1,
        completion=dg.Completion.all_successful(),
    )
    return batch.get_results()


@handler("9-7")
@dg.workflow
def map_min_successful(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["a", "b", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "totalCount")}


@handler("9-8")
@dg.workflow
def map_tolerated(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["a", "fail-b", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return projection(batch)


@handler("9-9")
@dg.workflow
def map_over_count(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["fail-a", "fail-b", "c"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "failureCount", "totalCount")}


@handler("9-10")
@dg.workflow
def map_over_percentage(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["fail-a", "fail-b", "c", "d"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    p = projection(batch)
    return {k: p[k] for k in ("completionReason", "successCount", "failureCount", "totalCount")}


@handler("9-11")
@dg.workflow
def map_order(_: None):
    batch = yield dg.Map(ok_unless_fail, ["r0", "r1", "r2"], max_concurrency=2)
    return batch.results()


def same_text(item: str) -> str:
    return item


@handler("9-12")
@dg.workflow
def map_flat(_: None):
    batch = yield dg.Map(same_text, ["fa", "fb"], max_concurrency=1, nesting="flat")
    return batch.results()


@dg.workflow
def tenfold(n: int) -> dg.Workflow[int]:
    return n * 10
    yield  # a workflow


@handler("9-13")
@dg.workflow
def map_named_items(items: list[int]) -> dg.Workflow[list[int]]:
    batch = yield from dg.Map(
        tenfold, items, max_concurrency=1, item_namer=lambda item, index: f"item-{item}"
    )
    assert [item.name for item in batch.items] == [f"item-{n}" for n in items]
    return batch.results()


@dg.workflow
def upper(item: str) -> dg.Workflow[str]:
    return item.upper()
    yield  # a workflow


@handler("9-14")
@dg.workflow
def map_item_serdes(_: None):
    batch = yield dg.Map(upper, ["x", "y"], max_concurrency=1, item_serdes=Wrapped())
    return batch.results()


@dg.step
def label(index: int) -> str:
    return f"r{index}"


@dg.workflow
def maybe_wait(index: int) -> dg.Workflow[str]:
    if index == 1:
        yield from dg.Wait(1)
    return (yield from label(index))


@handler("9-15")
@dg.workflow
def map_suspends(_: None):
    batch = yield dg.Map(maybe_wait, [0, 1], max_concurrency=1)
    return batch.results()


@dg.workflow
def big_text(n: int) -> dg.Workflow[str]:
    return str(n) * (70 * 1024)
    yield  # a workflow


@handler("9-16")
@dg.workflow
def map_large(_: None):
    batch = yield dg.Map(big_text, [1, 2, 3, 4], max_concurrency=1)
    assert all(len(r) == 70 * 1024 for r in batch.results())
    return {"successCount": batch.success_count, "totalCount": batch.total_count}


@handler("9-17")
@dg.workflow
def map_then_wait(_: None):
    batch = yield dg.Map(upper, ["a", "b"], max_concurrency=1)
    yield dg.Wait(1)
    return batch.results()


@handler("9-18")
@dg.workflow
def map_failure_then_wait(_: None):
    batch = yield dg.Map(
        ok_unless_fail,
        ["ok", "fail-1"],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    yield dg.Wait(1)
    return projection(batch)


class OpSerde:
    def serialize(self, batch: dg.BatchResult[str]) -> str:
        return "OPSERDE:" + ",".join(batch.results())

    def deserialize(self, text: str) -> dg.BatchResult[str]:
        values = text.removeprefix("OPSERDE:").split(",")
        return dg.BatchResult(
            items=[
                dg.BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)
            ],
            completion_reason="ALL_COMPLETED",
        )


@handler("9-19")
@dg.workflow
def map_serdes(_: None):
    batch = yield dg.Map(upper, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    return batch.results()


@handler("9-20")
@dg.workflow
def map_serdes_then_wait(_: None):
    batch = yield dg.Map(upper, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    yield dg.Wait(1)
    return batch.results()


# ---------------------------------------------------------------- plugin (10-x)


class Recorder(dg.Plugin):
    """Prints one JSON record per hook it is set to report, stamped with the execution's ARN.

    ``hooks`` says which hooks print; ``faulty`` makes every hook raise after printing.
    Operation and attempt hooks keep to steps.
    """

    def __init__(self, tag: str, hooks: frozenset[str], *, faulty: bool = False) -> None:
        self.tag = tag
        self.hooks = hooks
        self.faulty = faulty
        self.arn = ""

    def _emit(self, hook: str, **fields: Any) -> None:
        if hook in self.hooks:
            print(
                json.dumps(
                    {"plugin": self.tag, "hook": hook, **fields, "durableExecutionArn": self.arn}
                )
            )
        if self.faulty:
            raise RuntimeError(f"{self.tag} {hook} is broken")

    def on_invocation_start(self, info: InvocationInfo) -> None:
        self.arn = info.execution_arn
        self._emit("invocation-start", first=info.first)

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        self._emit("invocation-end", status=status)

    def on_operation_start(self, op: OperationInfo) -> None:
        if op.type == "STEP":
            self._emit("operation-start", op=op.operation_id)

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        if op.type == "STEP":
            self._emit("operation-end", op=op.operation_id, status=status)

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        if attempt.type == "STEP":
            self._emit("attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        if attempt.type == "STEP":
            self._emit("attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id)


INVOCATION = frozenset({"invocation-start", "invocation-end"})
OPERATION = frozenset({"operation-start", "operation-end"})
ATTEMPT = frozenset({"attempt-start", "attempt-end"})


@dg.step
def greet_running(name: str) -> str:
    log.info("Greeting step running for: %s", name)
    return f"Hello, {name}!"


@handler("10-1")
@dg.workflow
def plugin_invocation(name: str) -> dg.Workflow[str]:
    return (yield from greet_running(name))


PLUGINS["10-1"] = lambda: [Recorder("CONFPLUGIN", INVOCATION)]


@handler("10-2")
@dg.workflow
def plugin_operation(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


PLUGINS["10-2"] = lambda: [Recorder("CONFPLUGIN", OPERATION)]


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def flaky_plugin_step() -> str:
    if _attempt("flaky_plugin_step") == 1:
        raise RuntimeError("first attempt fails")
    return "Operation succeeded"


@handler("10-3")
@dg.workflow
def plugin_attempts(_: None) -> dg.Workflow[str]:
    return (yield from flaky_plugin_step())


PLUGINS["10-3"] = lambda: [Recorder("CONFPLUGIN", ATTEMPT)]


@handler("10-4")
@dg.workflow
def plugin_faulty(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


PLUGINS["10-4"] = lambda: [
    Recorder("CONFPLUGIN-FAULTY", INVOCATION | OPERATION | ATTEMPT, faulty=True)
]


@handler("10-5")
@dg.workflow
def plugin_two(name: str) -> dg.Workflow[str]:
    return (yield from greet(name))


PLUGINS["10-5"] = lambda: [
    Recorder("CONFPLUGIN-A", INVOCATION),
    Recorder("CONFPLUGIN-B", INVOCATION),
]


@handler("10-6")
@dg.workflow
def plugin_first(_: None) -> dg.Workflow[None]:
    yield from dg.Wait(2)


PLUGINS["10-6"] = lambda: [Recorder("CONFPLUGIN", INVOCATION)]


@handler("10-7")
@dg.workflow
def plugin_failed(_: None) -> dg.Workflow[str]:
    return (yield from hopeless())


PLUGINS["10-7"] = lambda: [Recorder("CONFPLUGIN", INVOCATION)]
