"""``--plugin`` specs a user gets wrong, on ``run`` and on ``worker``: each a one-line usage
error (exit status 2) that names ``--plugin`` and what to write, before anything is recorded."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

PLUGINS = textwrap.dedent(
    """
    import durable_gen as dg


    class AsyncHooks(dg.Plugin):
        async def on_attempt_end(self, attempt, outcome, error):
            pass


    async_instance = AsyncHooks()
    """
)

#: (case, the spec, words the error line must hold)
SPECS: list[tuple[str, str, str]] = [
    ("no-colon", "plugins", "--plugin takes MODULE:ATTR"),
    ("no-attribute", "plugins:", "--plugin takes MODULE:ATTR"),
    ("no-module", ":async_instance", "--plugin takes MODULE:ATTR"),
    ("async-hook-class", "plugins:AsyncHooks", "AsyncHooks.on_attempt_end is an async def"),
    ("async-hook-instance", "plugins:async_instance", "make it a plain def"),
]


@pytest.mark.parametrize(("spec", "words"), [c[1:] for c in SPECS], ids=[c[0] for c in SPECS])
@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_bad_plugin_spec_is_a_usage_error(
    command: str, spec: str, words: str, cli: Cli, workdir: Path
) -> None:
    (workdir / "plugins.py").write_text(PLUGINS)
    args = ["run", "flows:total", "--input", "3"] if command == "run" else ["worker", "--once"]
    result = cli(*args, "--plugin", spec)
    assert result.code == 2, result
    assert words.lower() in result.err.lower(), result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "a workflow is given" not in result.err  # the advice is about plugins
    assert cli("list").out.strip() in ("", "no executions")


@pytest.mark.parametrize("path", ["", "   "])
def test_show_html_without_a_file_name_is_a_usage_error(path: str, cli: Cli, workdir: Path) -> None:
    # Before, `show ID --html ""` printed the text view and exited 0: the timeline asked for
    # was silently not written.
    done = cli("run", "flows:total", "--input", "2", "--name", "t2")
    assert done.code == 0, done
    result = cli("show", "t2", "--html", path)
    assert result.code == 2, result
    assert "--html takes the name of the file" in result.err
    assert result.out == ""


def test_show_html_dash_writes_the_timeline_to_standard_output(cli: Cli, workdir: Path) -> None:
    # Before, `--html -` wrote a file named "-" in the working directory.
    done = cli("run", "flows:total", "--input", "2", "--name", "t3")
    assert done.code == 0, done
    result = cli("show", "t3", "--html", "-")
    assert result.code == 0, result
    assert result.out.lstrip().lower().startswith("<!doctype html>"), result.out[:80]
    assert result.out.rstrip().endswith("</html>")
    assert not (workdir / "-").exists()
