"""The HTML timeline as a browser shows it: headless Chromium lays out a real timeline.

The page written by ``durable-gen show --html`` comes from a real run (a step retried twice, a
Map of 30 items some of which fail, a failed step). A copy of it gets a probe script that
measures, in the browser, what a person sees: the segments of each attempt and retry delay,
the error text (visible without hovering), the counts of the folded batch and what the fold
hides until it is opened. Without Chromium the test is skipped, and the session ends with a
warning that says so (``DURABLE_GEN_REQUIRE_CHROMIUM=1`` makes that an error).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from durable_gen.local import LocalService, open_store

Cli = Callable[..., Any]

#: Measures the page as laid out and writes the findings, as JSON, into <pre id="probe">.
PROBE = """
<script>
(() => {
  const box = (e) => e.getBoundingClientRect();
  // drawn, and not hidden by a closed <details> (content-visibility) or by CSS
  const seen = (e) => { const b = box(e); return b.width > 0 && b.height > 0
      && e.checkVisibility({visibilityProperty: true, opacityProperty: true}); };
  const row = (e) => e.closest(".row");
  const out = {};
  out.segments = [...document.querySelectorAll(".seg")].map((e) => {
    const track = box(e.parentElement), b = box(e);
    return {op: row(e).id, kind: e.classList.contains("delay") ? "delay" : "attempt",
            status: e.dataset.status || null, seen: seen(e), left: b.left, right: b.right,
            inside: b.left >= track.left - 0.5 && b.right <= track.right + 0.5};
  });
  out.errors = [...document.querySelectorAll(".err")].map((e) => ({
    text: e.innerText, seen: seen(e), op: e.previousElementSibling.id}));
  const failure = document.querySelector("#execution-error");
  out.failure = failure && {text: failure.innerText, seen: seen(failure)};
  out.counts = [...document.querySelectorAll(".counts")].map((e) => ({
    text: e.innerText, seen: seen(e)}));
  const folds = [...document.querySelectorAll("details.fold")];
  const rows = () => [...document.querySelectorAll(".row")];
  out.rows_closed = rows().filter(seen).map((e) => e.id);
  out.folds = folds.map((d) => ({open: d.open, summary: d.querySelector("summary").innerText,
                                 seen: seen(d.querySelector("summary"))}));
  folds.forEach((d) => { d.open = true; });
  out.rows_open = rows().filter(seen).map((e) => e.id);
  out.width = document.documentElement.scrollWidth;
  out.viewport = window.innerWidth;
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify(out);
  document.body.appendChild(probe);
})();
</script>
"""


def browse(chromium: str, page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--window-size=1280,900",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_real_timeline_in_a_headless_browser(
    cli: Cli, workdir: Path, tmp_path: Path, chromium: str
) -> None:
    ran = cli("run", "flows:story", "--skip-time", "--name", "story")
    assert ran.code == 1 and "card declined" in ran.err, ran
    page = workdir / "story.html"
    assert cli("show", "story", "--html", str(page)).code == 0

    # what the database says, read independently of the page
    with open_store(str(workdir / "durable.db")) as store:
        service = LocalService(store=store)
        (execution,) = service.list_executions()
        ops = service.get_operations(execution.arn)
    ids = {op.name: op.id for op in ops if op.name in ("flaky", "charge")}
    map_id = next(op.id for op in ops if op.name == "check stock")
    items = {op.id: op.status for op in ops if op.parent_id == map_id}
    assert len(items) == 30
    statuses = Counter(items.values())
    assert statuses["FAILED"] >= 1

    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    shown = browse(chromium, probed, tmp_path, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', shown.stdout, re.S)
    assert found, shown.stdout[-2000:]
    seen = json.loads(html.unescape(found.group(1)))

    # the retried step: attempt, delay, attempt, delay, attempt, left to right, all drawn
    flaky = [s for s in seen["segments"] if s["op"] == f"op-{ids['flaky']}"]
    assert [(s["kind"], s["status"]) for s in flaky] == [
        ("attempt", "FAILED"),
        ("delay", None),
        ("attempt", "FAILED"),
        ("delay", None),
        ("attempt", "SUCCEEDED"),
    ]
    assert all(s["seen"] and s["inside"] for s in flaky)
    assert [s["left"] for s in flaky] == sorted(s["left"] for s in flaky)
    # the 2 s and 4 s delays: the second is about twice as wide as the first
    first, second = (s["right"] - s["left"] for s in flaky if s["kind"] == "delay")
    assert 1.6 < second / first < 2.4

    # errors are on the page, visible, without hovering
    flaky_errors = next(e for e in seen["errors"] if e["op"] == f"op-{ids['flaky']}")
    assert flaky_errors["seen"]
    assert flaky_errors["text"].splitlines() == [
        "attempt 1 failed: ConnectionError: connection refused (try 1) · retried after 2.0 s",
        "attempt 2 failed: ConnectionError: connection refused (try 2) · retried after 4.0 s",
    ]
    charge = next(e for e in seen["errors"] if e["op"] == f"op-{ids['charge']}")
    assert charge["seen"] and "ValueError: card declined\\x1b[31m <b>red</b>" in charge["text"]
    assert seen["failure"]["seen"]
    assert seen["failure"]["text"].startswith("ValueError: card declined\\x1b[31m <b>red</b>")
    assert "Traceback (most recent call last):" in seen["failure"]["text"]
    assert 'raise ValueError("card declined' in seen["failure"]["text"]

    # the Map of 30 is folded: counts per status, the failed items shown first
    (counts,) = seen["counts"]
    assert counts["seen"]
    expected = [f"{statuses[s]} {s}" for s in ("FAILED", "STARTED", "SUCCEEDED") if statuses[s]]
    assert counts["text"] == f"30 items: {' '.join(expected)}"
    failed = [f"op-{i}" for i, status in items.items() if status == "FAILED"]
    visible_items = [r for r in seen["rows_closed"] if r[3:] in items]
    assert visible_items == failed
    failed_errors = [e for e in seen["errors"] if e["op"] in failed]
    assert failed_errors and all(e["seen"] and "KeyError" in e["text"] for e in failed_errors)
    (fold,) = seen["folds"]
    assert fold["seen"] and not fold["open"]
    assert fold["summary"].startswith(f"{30 - len(failed)} more items")
    # opened, the fold shows every item, in its order: not failed ones first (still open), then
    # the ones that succeeded
    opened = [r for r in seen["rows_open"] if r[3:] in items]
    assert sorted(opened) == sorted(f"op-{i}" for i in items)
    assert len(opened) == 30 and opened[: len(failed)] == failed
    assert seen["width"] <= seen["viewport"]  # nothing overflows the page sideways

    # and it paints: a screenshot of the page is an image of some substance
    shot = tmp_path / "timeline.png"
    painted = browse(chromium, page, tmp_path, f"--screenshot={shot}")
    assert painted.returncode == 0, painted.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
