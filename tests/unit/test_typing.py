"""tests/typing passes ``mypy --strict``, and the check does catch a wrong type.

tests/typing/commands.py pins with ``assert_type`` what ``yield from`` gives for every command;
tests/typing/negative.py holds mistakes whose ``type: ignore`` comments must all be needed.
pyright (basedpyright, in the test extra) must agree with the ``assert_type`` pins too, and
tests/typing/strict.py, a program written from the docs, must pass its strict mode.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TYPING = ROOT / "tests" / "typing"

pytest.importorskip("mypy")


def _mypy(*paths: pathlib.Path, cache: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--warn-unused-ignores",
            "--no-error-summary",
            "--cache-dir",
            str(cache),
            *map(str, paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_typing_folder_passes_mypy_strict(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "mypy-cache"
    done = _mypy(TYPING, cache=cache)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_result_type_is_flagged(
    tmp_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import durable_gen as dg\n\n"
        "@dg.step\n"
        "def charge(order_id: str) -> int:\n"
        "    return 1\n\n"
        "def double(item: int) -> int:\n"
        "    return item * 2\n\n"
        "def wf() -> dg.Workflow[None]:\n"
        "    receipt: str = yield from charge('o-1')\n"
        "    labels = yield from dg.Map(double, [1])\n"
        "    first: str = labels.results()[0]\n"
    )
    done = _mypy(bad, cache=tmp_path_factory.getbasetemp() / "mypy-cache")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, done.stdout
    assert 'expression has type "int", variable has type "str"' in errors[0]
    assert 'expression has type "int", variable has type "str"' in errors[1]


def test_the_examples_pass_mypy_strict(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "mypy-cache"
    done = _mypy(ROOT / "examples" / "order.py", ROOT / "examples" / "embedding.py", cache=cache)
    assert done.returncode == 0, done.stdout + done.stderr


def _pyright() -> str | None:
    for name in ("basedpyright", "pyright"):
        found = shutil.which(name) or shutil.which(
            name, path=str(pathlib.Path(sys.executable).parent)
        )
        if found:
            return found
    return None


def _run_pyright(tmp_path: pathlib.Path, mode: str, *files: pathlib.Path) -> None:
    pyright = _pyright()
    if pyright is None:
        pytest.skip("pyright is not installed (pip install basedpyright; the test extra has it)")
    config = tmp_path / f"pyright-{mode}.json"
    config.write_text(json.dumps({"pythonVersion": "3.11", "typeCheckingMode": mode}))
    done = subprocess.run(
        [pyright, "--pythonpath", sys.executable, "-p", str(config), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_typing_pins_hold_under_pyright(tmp_path: pathlib.Path) -> None:
    # pyright infers some types differently from mypy (an ``async def``'s call is a
    # CoroutineType there): the same pins must hold for its users.
    _run_pyright(
        tmp_path,
        "standard",
        TYPING / "commands.py",
        TYPING / "values.py",
        TYPING / "port.py",
        TYPING / "shapes.py",
        TYPING / "sagas.py",
        TYPING / "kinds.py",
        TYPING / "round8.py",
        TYPING / "round9.py",
        TYPING / "round10.py",
        TYPING / "round11.py",
        TYPING / "round12.py",
        TYPING / "round13.py",
        TYPING / "round13b.py",
    )


def test_a_program_written_from_the_docs_passes_pyright_strict(tmp_path: pathlib.Path) -> None:
    # Strict mode also refuses Unknown types (a TypeVar left unsolved by the library's own
    # signatures), which mypy --strict lets through.
    _run_pyright(
        tmp_path,
        "strict",
        TYPING / "strict.py",
        TYPING / "shapes.py",
        TYPING / "kinds.py",
        TYPING / "round8.py",
        TYPING / "round9.py",
        TYPING / "round10.py",
        TYPING / "round11.py",
        TYPING / "round12.py",
        TYPING / "round13.py",
        TYPING / "round13b.py",
    )


@pytest.mark.parametrize(
    ("name", "mistakes"),
    [
        ("negative_kinds.py", 15),
        ("negative_round8.py", 11),
        ("negative_round9.py", 14),
        ("negative_round10.py", 15),
        ("negative_round11.py", 16),
        ("negative_round12.py", 21),
        ("negative_round13.py", 22),
    ],
)
def test_pyright_flags_every_mistake_mypy_flags_in_the_call_shapes(
    tmp_path: pathlib.Path, name: str, mistakes: int
) -> None:
    # tests/typing/negative_kinds.py (and negative_round8.py): each line with a `type: ignore`
    # is a mistake mypy must flag (warn_unused_ignores); with those comments disabled, pyright
    # must flag each too.
    pyright = _pyright()
    if pyright is None:
        pytest.skip("pyright is not installed (pip install basedpyright; the test extra has it)")
    source = TYPING / name
    marked = {
        n for n, line in enumerate(source.read_text().splitlines(), 1) if "# type: ignore" in line
    }
    assert len(marked) >= mistakes
    config = tmp_path / "pyright-no-ignores.json"
    config.write_text(
        json.dumps(
            {
                "pythonVersion": "3.11",
                "typeCheckingMode": "standard",
                "enableTypeIgnoreComments": False,
            }
        )
    )
    done = subprocess.run(
        [pyright, "--pythonpath", sys.executable, "-p", str(config), "--outputjson", str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    flagged = {
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }
    assert marked <= flagged, f"not flagged by pyright: lines {sorted(marked - flagged)}"
    assert flagged <= marked, (
        f"pyright errors on lines without a mistake: {sorted(flagged - marked)}"
    )


def test_pyright_strict_does_flag_an_unknown_result(tmp_path: pathlib.Path) -> None:
    # The strict check can fail: `yield from` an Invoke without result_type= is Unknown there,
    # which is why the guide says to use plain `yield` with an annotated variable.
    bad = tmp_path / "unknown.py"
    bad.write_text(
        "import durable_gen as dg\n\n"
        "def wf(x: int) -> dg.Workflow[float]:\n"
        "    tax: float = yield from dg.Invoke('tax', x)\n"
        "    return tax\n"
    )
    with pytest.raises(AssertionError, match="reportUnknownVariableType"):
        _run_pyright(tmp_path, "strict", bad)


def test_pyright_types_a_wait_strategys_predicate_from_the_state(tmp_path: pathlib.Path) -> None:
    # WaitStrategy is generic in the state: given inline to a WaitForCondition, its predicate's
    # parameter is the check's state type under pyright (mypy, which resolves the command's
    # overloads first, leaves it Any), so a misspelt attribute is caught.
    bad = tmp_path / "strategy.py"
    bad.write_text(
        "from dataclasses import dataclass\n"
        "import durable_gen as dg\n\n"
        "@dataclass\n"
        "class Job:\n"
        "    done: bool\n\n"
        "def check(job: Job) -> Job:\n"
        "    return job\n\n"
        "def wf(_: None) -> dg.Workflow[Job]:\n"
        "    return (yield from dg.WaitForCondition(\n"
        "        check, Job(False), wait_strategy=dg.WaitStrategy(until=lambda s: s.finished)\n"
        "    ))\n"
    )
    with pytest.raises(AssertionError, match=r'Cannot access attribute "finished" for class "Job"'):
        _run_pyright(tmp_path, "standard", bad)


def test_pyright_flags_a_step_or_child_whose_arguments_are_left_out(tmp_path: pathlib.Path) -> None:
    # Step(fn) and Child(sub) call the function with no arguments: one that needs some is a
    # type error under both checkers (tests/typing/negative.py holds mypy's), not a TypeError
    # in the step, retried by its policy, or a failed child at run time.
    bad = tmp_path / "no_args.py"
    bad.write_text(
        "import durable_gen as dg\n\n"
        "def plain(order_id: str) -> int:\n"
        "    return 1\n\n"
        "def sub(n: int) -> dg.Workflow[int]:\n"
        "    yield from dg.Wait(seconds=1)\n"
        "    return n\n\n"
        "def wf(_: None) -> dg.Workflow[None]:\n"
        "    yield from dg.Step(plain)\n"
        "    yield from dg.Child(sub, name='sub')\n"
    )
    with pytest.raises(AssertionError) as failed:
        _run_pyright(tmp_path, "standard", bad)
    message = str(failed.value)
    assert 'cannot be assigned to parameter "fn" of type "() -> R@Step"' in message, message
    assert "no_args.py:12" in message, message


def test_pyright_flags_an_undo_that_cannot_take_the_steps_result(tmp_path: pathlib.Path) -> None:
    # compensate= is typed by the step's result (an async def's awaited one, a @step
    # function's): an undo declared for another type is a type error where the step is
    # declared, under pyright as under mypy (tests/typing/negative.py), not a TypeError or a
    # wrong value in the rollback.
    bad = tmp_path / "undo.py"
    bad.write_text(
        "import durable_gen as dg\n\n"
        "def cancel(booking_id: str) -> None:\n"
        "    return None\n\n"
        "@dg.step(compensate=cancel)\n"
        "def book(seats: int) -> int:\n"
        "    return seats\n\n"
        "@dg.step(compensate=cancel)\n"
        "async def book_async(seats: int) -> int:\n"
        "    return seats\n\n"
        "def seats_of(n: int) -> int:\n"
        "    return n\n\n"
        "def wf(_: None) -> dg.Workflow[None]:\n"
        "    yield from dg.Step(seats_of, (1,), compensate=cancel)\n"
    )
    with pytest.raises(AssertionError) as failed:
        _run_pyright(tmp_path, "standard", bad)
    message = str(failed.value)
    for line in (6, 10, 18):
        assert f"undo.py:{line}:" in message, message
    assert "6 errors" in message, message  # two lines each
