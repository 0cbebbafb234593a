"""Bad options to the public constructors: each one a ``ValidationError`` (or, for something
that is not a workflow at all, a ``WorkflowDefinitionError``) raised where the command is built,
with a message that names the option and what it accepts."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import LambdaService, lambda_handler


def plain(x: Any = None) -> Any:
    return x


async def _async_generator(x: Any = None) -> Any:
    yield x


def flow(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)


class NotASerdes:
    def serialize(self, value: Any) -> str:
        return str(value)


@dataclasses.dataclass
class Card:
    number: str


@dataclasses.dataclass
class Wire:
    iban: str


def prüfen(x: Any = None) -> Any:
    return x


@dg.workflow
def unterprüfung(x: Any) -> Any:
    yield dg.Wait(seconds=1)
    return x


def annulér(result: Any) -> None:
    pass


def verdoppeln_ü(item: int) -> int:
    return item * 2


def unterprüfung_ohne_argument() -> Any:
    yield dg.Wait(seconds=1)


nan, inf = float("nan"), float("inf")

#: (case, how to build it, the error type, a fragment the message must hold)
CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # --- Retry ---
    ("retry-zero-attempts", lambda: dg.Retry(max_attempts=0), dg.ValidationError, "at least 1"),
    ("retry-str-attempts", lambda: dg.Retry(max_attempts="3"), dg.ValidationError, "an int"),
    ("retry-bool-attempts", lambda: dg.Retry(max_attempts=True), dg.ValidationError, "an int"),
    (
        "retry-negative-delay",
        lambda: dg.Retry(initial_delay=-1),
        dg.ValidationError,
        "initial_delay",
    ),
    ("retry-nan-delay", lambda: dg.Retry(initial_delay=nan), dg.ValidationError, "finite"),
    ("retry-str-delay", lambda: dg.Retry(initial_delay="5"), dg.ValidationError, "initial_delay"),
    ("retry-inf-max-delay", lambda: dg.Retry(max_delay=inf), dg.ValidationError, "max_delay"),
    (
        "retry-max-delay-over-366-days",
        lambda: dg.Retry(max_delay=366 * 86400 + 1),
        dg.ValidationError,
        "at most 31622400 seconds",
    ),
    ("retry-backoff-below-1", lambda: dg.Retry(backoff=0.5), dg.ValidationError, "backoff"),
    ("retry-inf-backoff", lambda: dg.Retry(backoff=inf), dg.ValidationError, "backoff"),
    (
        "retry-jitter",
        lambda: dg.Retry(jitter="some"),
        dg.ValidationError,
        "'none', 'full' or 'half'",
    ),
    (
        "retry-on-not-types",
        lambda: dg.Retry(retry_on=(int,)),
        dg.ValidationError,
        "exception types",
    ),
    ("retry-on-not-tuple", lambda: dg.Retry(retry_on=ValueError), dg.ValidationError, "tuple"),
    ("retry-if-not-callable", lambda: dg.Retry(retry_if=True), dg.ValidationError, "retry_if"),
    # --- Step and @step ---
    ("step-not-callable", lambda: dg.Step(42), dg.ValidationError, "needs a callable"),
    ("step-args-list", lambda: dg.Step(plain, [1]), dg.ValidationError, "args must be a tuple"),
    (
        "step-semantics",
        lambda: dg.Step(plain, semantics="exactly_once"),
        dg.ValidationError,
        "at_most_once",
    ),
    ("step-empty-name", lambda: dg.Step(plain, name=""), dg.ValidationError, "non-empty string"),
    ("step-long-name", lambda: dg.Step(plain, name="n" * 257), dg.ValidationError, "at most 256"),
    (
        "step-name-escape",
        lambda: dg.Step(plain, name="pay\x1b[2J"),
        dg.ValidationError,
        "printable ASCII",
    ),
    ("wait-name-non-ascii", lambda: dg.Wait(seconds=1, name="café"), dg.ValidationError, "ASCII"),
    (
        "decorator-name-newline",
        lambda: dg.step(name="a\nb")(plain),
        dg.ValidationError,
        "printable ASCII",
    ),
    ("step-retry-int", lambda: dg.Step(plain, retry=3), dg.ValidationError, "must be a Retry"),
    ("step-serdes", lambda: dg.Step(plain, serdes=NotASerdes()), dg.ValidationError, "deserialize"),
    (
        "step-compensate",
        lambda: dg.Step(plain, compensate="undo"),
        dg.ValidationError,
        "compensate",
    ),
    ("decorator-retry-int", lambda: dg.step(retry=3)(plain), dg.ValidationError, "must be a Retry"),
    ("decorator-semantics", lambda: dg.step(semantics="x")(plain), dg.ValidationError, "semantics"),
    (
        "decorator-compensate",
        lambda: dg.step(compensate=1)(plain),
        dg.ValidationError,
        "compensate",
    ),
    ("decorator-not-callable", lambda: dg.step(42), dg.ValidationError, "needs a callable"),
    (
        "decorator-generator-function",
        lambda: dg.step(flow),
        dg.WorkflowDefinitionError,
        "is a generator function: it is a workflow",
    ),
    (
        "decorator-options-generator-function",
        lambda: dg.step(name="flow")(flow),
        dg.WorkflowDefinitionError,
        "yield from flow(...)",
    ),
    # --- Wait ---
    ("wait-zero", lambda: dg.Wait(seconds=0), dg.ValidationError, "between 1 and 31622400"),
    ("wait-negative", lambda: dg.Wait(seconds=-5), dg.ValidationError, "between 1 and"),
    ("wait-fraction", lambda: dg.Wait(seconds=1.5), dg.ValidationError, "whole number"),
    ("wait-str", lambda: dg.Wait(seconds="5"), dg.ValidationError, "whole number"),
    ("wait-bool", lambda: dg.Wait(seconds=True), dg.ValidationError, "whole number"),
    ("wait-nan", lambda: dg.Wait(seconds=nan), dg.ValidationError, "whole number"),
    (
        "wait-over-366-days",
        lambda: dg.Wait(seconds=31_622_401),
        dg.ValidationError,
        "between 1 and",
    ),
    ("wait-name-int", lambda: dg.Wait(seconds=1, name=5), dg.ValidationError, "wait name"),
    # --- callbacks ---
    (
        "callback-timeout-zero",
        lambda: dg.CreateCallback(timeout=0),
        dg.ValidationError,
        "callback timeout",
    ),
    (
        "callback-heartbeat-negative",
        lambda: dg.CreateCallback(heartbeat_timeout=-1),
        dg.ValidationError,
        "heartbeat_timeout",
    ),
    (
        "callback-timeout-float",
        lambda: dg.CreateCallback(timeout=1.5),
        dg.ValidationError,
        "whole number",
    ),
    (
        "callback-serdes",
        lambda: dg.CreateCallback(serdes=NotASerdes()),
        dg.ValidationError,
        "Serdes",
    ),
    ("wfc-submitter", lambda: dg.WaitForCallback(5), dg.ValidationError, "callable submitter"),
    (
        "wfc-timeout",
        lambda: dg.WaitForCallback(plain, timeout=-1),
        dg.ValidationError,
        "callback timeout",
    ),
    (
        "wfc-retry",
        lambda: dg.WaitForCallback(plain, retry=3),
        dg.ValidationError,
        "must be a Retry",
    ),
    # --- Invoke ---
    ("invoke-empty-name", lambda: dg.Invoke("", {}), dg.ValidationError, "function_name"),
    ("invoke-int-name", lambda: dg.Invoke(5, {}), dg.ValidationError, "function_name"),
    ("invoke-long-function", lambda: dg.Invoke("f" * 257, {}), dg.ValidationError, "1 to 256"),
    (
        "invoke-function-with-space",
        lambda: dg.Invoke("tax service", {}),
        dg.ValidationError,
        "ChainedInvokeOptions.FunctionName",
    ),
    (
        "invoke-function-with-slash",
        lambda: dg.Invoke("team/tax", {}),
        dg.ValidationError,
        "ChainedInvokeOptions.FunctionName",
    ),
    ("invoke-tenant", lambda: dg.Invoke("f", {}, tenant_id=5), dg.ValidationError, "tenant_id"),
    (
        "invoke-tenant-empty",
        lambda: dg.Invoke("f", {}, tenant_id=""),
        dg.ValidationError,
        "1 to 256",
    ),
    (
        "invoke-tenant-character",
        lambda: dg.Invoke("f", {}, tenant_id="acme!"),
        dg.ValidationError,
        "TenantId",
    ),
    (
        "invoke-tenant-long",
        lambda: dg.Invoke("f", {}, tenant_id="t" * 257),
        dg.ValidationError,
        "1 to 256",
    ),
    ("invoke-serdes", lambda: dg.Invoke("f", {}, serdes=1), dg.ValidationError, "Serdes"),
    (
        "wfc-submitter-no-argument",
        lambda: dg.WaitForCallback(lambda: None),
        dg.ValidationError,
        "a WaitForCallback submitter is called with (callback_id)",
    ),
    (
        "wfc-submitter-two-arguments",
        lambda: dg.WaitForCallback(lambda callback_id, channel: None),
        dg.ValidationError,
        "bind other arguments first with functools.partial",
    ),
    # --- WaitForCondition and its strategy ---
    ("wfcond-check", lambda: dg.WaitForCondition(5), dg.ValidationError, "callable check"),
    (
        "wfcond-check-no-state",
        lambda: dg.WaitForCondition(lambda: True, 0),
        dg.ValidationError,
        "a WaitForCondition check is called with (state)",
    ),
    (
        "wfcond-strategy-one-argument",
        lambda: dg.WaitForCondition(plain, 0, wait_strategy=lambda state: None),
        dg.ValidationError,
        "a wait_strategy is called with (state, attempt)",
    ),
    (
        "wfcond-strategy",
        lambda: dg.WaitForCondition(plain, 0, wait_strategy=5),
        dg.ValidationError,
        "wait_strategy",
    ),
    ("strategy-until", lambda: dg.WaitStrategy(until=5), dg.ValidationError, "predicate"),
    (
        "strategy-delay-zero",
        lambda: dg.WaitStrategy(until=plain, delay=0),
        dg.ValidationError,
        "delay",
    ),
    (
        "strategy-delay-float",
        lambda: dg.WaitStrategy(until=plain, delay=0.5),
        dg.ValidationError,
        "whole number",
    ),
    (
        "strategy-backoff",
        lambda: dg.WaitStrategy(until=plain, backoff=0),
        dg.ValidationError,
        "backoff",
    ),
    (
        "strategy-max-delay",
        lambda: dg.WaitStrategy(until=plain, max_delay=0),
        dg.ValidationError,
        "max_delay",
    ),
    (
        "strategy-attempts",
        lambda: dg.WaitStrategy(until=plain, max_attempts=0),
        dg.ValidationError,
        "max_attempts",
    ),
    ("decision-zero", lambda: dg.WaitDecision.again(0), dg.ValidationError, "between 1 and"),
    # --- Map, Parallel, Completion ---
    ("map-not-callable", lambda: dg.Map(42, [1]), dg.ValidationError, "needs a callable"),
    ("map-items-int", lambda: dg.Map(plain, 5), dg.ValidationError, "sequence (list or tuple)"),
    ("map-items-str", lambda: dg.Map(plain, "abc"), dg.ValidationError, "got str"),
    (
        "map-items-generator",
        lambda: dg.Map(plain, (i for i in range(3))),
        dg.ValidationError,
        "got generator",
    ),
    ("map-items-dict", lambda: dg.Map(plain, {1: 2}), dg.ValidationError, "got dict"),
    (
        "map-concurrency-zero",
        lambda: dg.Map(plain, [1], max_concurrency=0),
        dg.ValidationError,
        "positive int",
    ),
    (
        "map-concurrency-float",
        lambda: dg.Map(plain, [1], max_concurrency=1.5),
        dg.ValidationError,
        "positive int",
    ),
    (
        "map-concurrency-bool",
        lambda: dg.Map(plain, [1], max_concurrency=True),
        dg.ValidationError,
        "positive int",
    ),
    ("map-completion", lambda: dg.Map(plain, [1], completion=3), dg.ValidationError, "Completion("),
    (
        "map-item-namer",
        lambda: dg.Map(plain, [1], item_namer="x"),
        dg.ValidationError,
        "item_namer",
    ),
    (
        "map-item-namer-one-argument",
        lambda: dg.Map(plain, [1], item_namer=lambda item: f"n-{item}"),
        dg.ValidationError,
        "item_namer is called with (item, index)",
    ),
    (
        "map-item-namer-three-arguments",
        lambda: dg.Map(plain, [1], item_namer=lambda item, index, prefix: prefix),
        dg.ValidationError,
        "item_namer is called with (item, index)",
    ),
    (
        "map-nesting",
        lambda: dg.Map(plain, [1], nesting="deep"),
        dg.ValidationError,
        "'nested' or 'flat'",
    ),
    (
        "map-item-serdes",
        lambda: dg.Map(plain, [1], item_serdes=1),
        dg.ValidationError,
        "item_serdes",
    ),
    (
        "map-fn-three-args",
        lambda: dg.Map(lambda a, b, c: a, [1]),
        dg.ValidationError,
        "called with (item) or (item, index)",
    ),
    ("map-fn-no-args", lambda: dg.Map(lambda: 1, [1]), dg.ValidationError, "(item) or"),
    (
        "map-fn-keyword-only",
        lambda: dg.Map(lambda item, *, factor: item, [1]),
        dg.ValidationError,
        "missing a required argument: 'factor'",
    ),
    (
        "parallel-branch-takes-an-arg",
        lambda: dg.Parallel([flow]),
        dg.ValidationError,
        "called with no arguments",
    ),
    (
        "parallel-named-branch-takes-an-arg",
        lambda: dg.Parallel([dg.Branch(lambda x: x, name="b")]),
        dg.ValidationError,
        "functools.partial",
    ),
    ("parallel-not-a-list", lambda: dg.Parallel(plain), dg.ValidationError, "Parallel([a, b])"),
    ("parallel-branch", lambda: dg.Parallel([plain, 5]), dg.ValidationError, "must be callable"),
    (
        "parallel-concurrency",
        lambda: dg.Parallel([plain], max_concurrency=0),
        dg.ValidationError,
        "positive int",
    ),
    (
        "parallel-completion",
        lambda: dg.Parallel([plain], completion="all"),
        dg.ValidationError,
        "Completion(",
    ),
    ("parallel-name", lambda: dg.Parallel([plain], name=""), dg.ValidationError, "parallel name"),
    ("branch-not-callable", lambda: dg.Branch(5), dg.ValidationError, "needs a function"),
    ("branch-name", lambda: dg.Branch(plain, name="x" * 300), dg.ValidationError, "branch name"),
    (
        "completion-negative",
        lambda: dg.Completion(min_successful=-1),
        dg.ValidationError,
        "min_successful",
    ),
    (
        "completion-min-zero",
        lambda: dg.Completion(min_successful=0),
        dg.ValidationError,
        "leave it None",
    ),
    ("completion-str", lambda: dg.Completion(min_successful="1"), dg.ValidationError, "an int"),
    (
        "completion-count",
        lambda: dg.Completion(tolerated_failure_count=-1),
        dg.ValidationError,
        "tolerated_failure_count",
    ),
    (
        "completion-pct-high",
        lambda: dg.Completion(tolerated_failure_percentage=101),
        dg.ValidationError,
        "between 0 and 100",
    ),
    (
        "completion-pct-nan",
        lambda: dg.Completion(tolerated_failure_percentage=nan),
        dg.ValidationError,
        "between 0 and 100",
    ),
    (
        "completion-pct-str",
        lambda: dg.Completion(tolerated_failure_percentage="5"),
        dg.ValidationError,
        "a number",
    ),
    # --- keyword arguments, serdes and result types given where they are not checked later ---
    ("step-kwargs-list", lambda: dg.Step(plain, (), [1]), dg.ValidationError, "kwargs must be a"),
    (
        "step-kwargs-int-keys",
        lambda: dg.Step(plain, (), {1: 2}),
        dg.ValidationError,
        "keyword arguments by name",
    ),
    ("child-kwargs-list", lambda: dg.Child(flow, (), [1]), dg.ValidationError, "kwargs must be"),
    ("child-serdes", lambda: dg.Child(flow, serdes=1), dg.ValidationError, "child serdes"),
    (
        "wfcond-serdes",
        lambda: dg.WaitForCondition(plain, 0, serdes=NotASerdes()),
        dg.ValidationError,
        "wait-for-condition serdes",
    ),
    (
        "callback-result-type-value",
        lambda: dg.CreateCallback(result_type=5),
        dg.ValidationError,
        "CreateCallback result_type must be a type",
    ),
    (
        "wfc-result-type-str",
        lambda: dg.WaitForCallback(plain, result_type="int"),
        dg.ValidationError,
        "WaitForCallback result_type must be a type",
    ),
    (
        "invoke-result-type-unreadable",
        lambda: dg.Invoke("f", 1, result_type=Card | Wire),
        dg.ValidationError,
        "Invoke result_type must be a type",
    ),
    # --- Child, workflow, Patched ---
    ("child-not-callable", lambda: dg.Child(5), dg.WorkflowDefinitionError, "generator function"),
    ("child-args-list", lambda: dg.Child(flow, [1]), dg.ValidationError, "args must be a tuple"),
    ("child-name", lambda: dg.Child(flow, name=5), dg.ValidationError, "child name"),
    ("workflow-plain-def", lambda: dg.workflow(plain), dg.WorkflowDefinitionError, "must `yield`"),
    (
        "compensate-generator",
        lambda: dg.Step(plain, compensate=flow),
        dg.WorkflowDefinitionError,
        "compensate= undo runs as a step",
    ),
    (
        "compensate-async-generator",
        lambda: dg.step(compensate=_async_generator)(plain),
        dg.WorkflowDefinitionError,
        "is a generator function",
    ),
    (
        "compensate-two-arguments",
        lambda: dg.Step(plain, compensate=lambda booking, reason: None),
        dg.ValidationError,
        "compensate= undo is called with (result)",
    ),
    (
        "map-async-generator",
        lambda: dg.Map(_async_generator, [1]),
        dg.WorkflowDefinitionError,
        "async generator function",
    ),
    (
        "parallel-async-generator",
        lambda: dg.Parallel([plain, dg.Branch(_async_generator, name="a")]),
        dg.WorkflowDefinitionError,
        "async generator function",
    ),
    ("patched-empty", lambda: dg.Patched(""), dg.ValidationError, "change id"),
    ("patched-int", lambda: dg.Patched(5), dg.ValidationError, "change id"),
    # --- the Lambda handler and its service ---
    (
        "handler-mode",
        lambda: lambda_handler(flow, checkpointing="sometimes"),
        dg.ValidationError,
        "'step', 'eager' or 'batch'",
    ),
    (
        "handler-not-callable",
        lambda: lambda_handler(42),
        dg.WorkflowDefinitionError,
        "generator function",
    ),
    (
        "service-attempts",
        lambda: LambdaService(object(), max_attempts=0),
        dg.ValidationError,
        "max_attempts",
    ),
    (
        "service-page-size",
        lambda: LambdaService(object(), page_size=0),
        dg.ValidationError,
        "page_size",
    ),
    (
        "service-delay",
        lambda: LambdaService(object(), base_delay=-1),
        dg.ValidationError,
        "must not be negative",
    ),
    # --- sub_type= (what the service accepts, and not a SubType durable_gen records itself) ---
    ("step-sub-type-empty", lambda: dg.Step(plain, sub_type=""), dg.ValidationError, "1 to 32"),
    ("step-sub-type-space", lambda: dg.Step(plain, sub_type="a b"), dg.ValidationError, "A-Z"),
    ("step-sub-type-long", lambda: dg.Step(plain, sub_type="x" * 33), dg.ValidationError, "32"),
    ("step-sub-type-int", lambda: dg.Step(plain, sub_type=3), dg.ValidationError, "got 3"),
    ("step-sub-type-now", lambda: dg.Step(plain, sub_type="Now"), dg.ValidationError, "Now"),
    (
        "step-sub-type-condition",
        lambda: dg.Step(plain, sub_type="WaitForCondition"),
        dg.ValidationError,
        "reserved for a step",
    ),
    ("step-fn-sub-type", lambda: dg.step(sub_type="Patch")(plain), dg.ValidationError, "Patch"),
    ("child-sub-type-map", lambda: dg.Child(flow, sub_type="Map"), dg.ValidationError, "Map"),
    (
        "child-sub-type-wfc",
        lambda: dg.Child(flow, sub_type="WaitForCallback"),
        dg.ValidationError,
        "reserved for a child",
    ),
    (
        "callback-sub-type-unicode",
        lambda: dg.CreateCallback(sub_type="Genehmigung\u00e4"),
        dg.ValidationError,
        "callback sub_type",
    ),
    # --- names taken from a function's name, which Python lets hold non-ASCII letters ---
    (
        "step-function-non-ascii-name",
        lambda: dg.step(prüfen),
        dg.ValidationError,
        "pass @dg.step(name=...)",
    ),
    (
        "child-non-ascii-workflow-name",
        lambda: dg.Child(unterprüfung, (1,)),
        dg.ValidationError,
        "'unterprüfung'",
    ),
    (
        "undo-non-ascii-name",
        lambda: dg.Step(plain, compensate=annulér),
        dg.ValidationError,
        "compensate= undo",
    ),
    (
        "map-function-non-ascii-name",
        lambda: dg.Map(verdoppeln_ü, [1]),
        dg.ValidationError,
        "the step of a Map function is named after the function, 'verdoppeln_ü'",
    ),
    (
        "parallel-branch-non-ascii-name",
        lambda: dg.Parallel([dg.Branch(prüfen, name="check")]),
        dg.ValidationError,
        "the step of a Parallel branch",
    ),
    (
        "wait-for-callback-name-too-long-for-its-callback",
        lambda: dg.WaitForCallback(plain, name="x" * 238),
        dg.ValidationError,
        "at most 237 characters, got 238",
    ),
    (
        "wait-for-callback-sub-type",
        lambda: dg.WaitForCallback(plain, sub_type="a.b"),
        dg.ValidationError,
        "callback sub_type",
    ),
]


@pytest.mark.parametrize(
    ("build", "error", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_option_is_refused_where_it_is_given(
    build: Callable[[], object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert fragment in str(caught.value)
    # Every refusal is in the one tree, so `except dg.DurableGenError` catches it.
    assert isinstance(caught.value, dg.DurableGenError)


def test_the_case_names_are_unique() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


def test_good_options_are_still_accepted() -> None:
    # The checks above refuse what is wrong, not what is unusual.
    dg.Retry(initial_delay=0, max_delay=0.5, backoff=1)
    dg.Retry(initial_delay=400 * 86400, max_delay=366 * 86400)  # every delay within 366 days
    dg.Step(plain, retry=dg.Retry.never(), serdes=dg.JsonSerdes(), compensate=plain)
    dg.Map(plain, (), completion=dg.Completion(min_successful=1), item_namer=lambda i, n: "x")
    dg.Parallel([dg.Branch(plain, name="a")], completion=dg.Completion.all_completed())
    dg.WaitStrategy(until=bool, delay=1, backoff=1.5, max_delay=1, max_attempts=1)
    dg.Completion(tolerated_failure_percentage=0.5)
    dg.Invoke("f", None, tenant_id="t", result_type=list[Card])
    dg.Invoke("tax-service_v2.1:live", None)
    dg.Invoke("arn:aws:lambda:us-east-1:123456789012:function:tax:$LATEST", None)
    dg.Invoke("f", None, tenant_id="Acme Corp/eu-1:a.b_c=d+e-f@g" + "x" * 227)
    dg.Step(plain, (), {"x": 1})
    dg.Map(lambda item, index, scale=2: item, [1])
    dg.Map(lambda *items: items, [1])
    dg.Map(plain, [1], item_namer=lambda item, index, sep="-": f"n{sep}{index}")
    dg.Map(plain, [1], item_namer=lambda *item_and_index: "x")
    dg.Map(plain, [1], item_namer="item-{1}".format)
    dg.Step(plain, compensate=lambda result, reason="rollback": None)
    dg.Step(plain, compensate=functools.partial(lambda reason, result: None, "rollback"))
    dg.Step(plain, compensate=dg.step(lambda result: None))
    dg.Parallel([plain, lambda factor=1: factor, functools.partial(flow, 1)])
    dg.Child(flow, (), {"_": 1}, serdes=dg.JsonSerdes())
    dg.WaitForCallback(plain, result_type=Card | None)
    dg.WaitForCallback(functools.partial(lambda channel, callback_id: None, "mail"))
    dg.WaitForCallback(dg.step(lambda callback_id, retries=3: None))
    dg.WaitForCondition(dg.step(lambda state: state), 0, wait_strategy=dg.WaitStrategy(until=bool))
    dg.WaitForCondition(lambda *states: states[0], 0, wait_strategy=lambda state, attempt, x=1: x)
    dg.Step(plain, sub_type="Fetch-v2_" + "x" * 23)  # 32 characters
    dg.Child(flow, (1,), sub_type="RunInChildContext")
    dg.CreateCallback(sub_type="Callback")
    dg.WaitForCallback(plain, sub_type="Approval")
    dg.WaitForCallback(plain, name="x" * 237)  # its callback: 256 characters
    dg.step(name="pruefen")(prüfen)  # a name of its own
    dg.Child(unterprüfung, (1,), name="unterpruefung")
    dg.Child(unterprüfung, (1,), virtual=True)  # records nothing under its name
    dg.Step(plain, compensate=dg.step(name="annuler")(annulér))
    dg.Step(plain, compensate=lambda result: annulér(result))  # named after the step
    dg.Map(dg.step(name="verdoppeln")(verdoppeln_ü), [1])
    dg.Map(lambda item: verdoppeln_ü(item), [1])  # a lambda's step is unnamed
    dg.Parallel([functools.partial(prüfen, 1)])  # so is a partial's
    dg.Parallel([unterprüfung_ohne_argument])  # a child workflow: named by its branch


@pytest.mark.parametrize(
    ("build", "seconds"),
    [
        (lambda td: dg.Wait(seconds=td), 90),
        (lambda td: dg.WaitForCallback(plain, timeout=td), 3600),
        (lambda td: dg.CreateCallback(heartbeat_timeout=td), 30),
        (lambda td: dg.Retry(initial_delay=td), 2),
        (lambda td: dg.Retry(max_delay=td), 600),
    ],
)
def test_a_timedelta_where_seconds_are_due_says_how_to_pass_them(
    build: Callable[[Any], Any], seconds: int
) -> None:
    from datetime import timedelta

    with pytest.raises(dg.ValidationError) as info:
        build(timedelta(seconds=seconds))
    assert f"pass its seconds, e.g. {seconds}" in str(info.value)
    build(seconds)  # the number itself is accepted
