"""Fetch, verify, cache and load the published conformance requirements.

The requirements ship inside the PyPI wheel ``aws-durable-execution-conformance-tests``. The wheel
declares ``Requires-Python >= 3.14`` but is a pure-Python zip, so it is downloaded with pip's
cross-platform options (no install), checked against a pinned sha256, unpacked into
``tests/conformance/.cache/`` and read from there. Nothing from the wheel is vendored.

Set ``DURABLE_GEN_CONFORMANCE_WHEEL`` to the path of an already downloaded copy of the wheel to
avoid the network (the checksum is still enforced).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DIST_NAME = "aws-durable-execution-conformance-tests"
DIST_VERSION = "1.0.0"
WHEEL_FILENAME = "aws_durable_execution_conformance_tests-1.0.0-py3-none-any.whl"
WHEEL_SHA256 = "59b46cda93c0cbfed6a80f342ab0b93542ad8841196200a15fc716ebaa619c30"
PACKAGE_DIR = "aws_durable_execution_conformance_tests"
REQUIREMENTS_SUBDIR = "test_requirements"
WHEEL_ENV_VAR = "DURABLE_GEN_CONFORMANCE_WHEEL"

CACHE_DIR = Path(__file__).resolve().parent / ".cache"

# Requirement counts per suite in the pinned release.
EXPECTED_SUITE_COUNTS: Mapping[str, int] = {
    "step": 20,
    "wait": 5,
    "callback": 19,
    "child": 18,
    "invoke": 16,
    "map": 20,
    "parallel": 22,
    "wait_for_callback": 15,
    "wait_for_condition": 13,
    "plugin": 7,
}

_KEY_RE = re.compile(r"^(\d+)-(\d+)$")
_PIP_TIMEOUT_SECONDS = 300


class SuiteUnavailableError(RuntimeError):
    """The pinned conformance wheel could not be obtained or failed verification."""


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel of AWS's conformance packages, fetched and unpacked as described above."""

    dist: str
    version: str
    filename: str
    sha256: str
    package: str
    env_var: str


#: The core requirements; the OpenTelemetry and telemetry suites are other ``Wheel`` values.
CORE = Wheel(DIST_NAME, DIST_VERSION, WHEEL_FILENAME, WHEEL_SHA256, PACKAGE_DIR, WHEEL_ENV_VAR)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, wheel: Wheel = CORE) -> None:
    actual = _sha256(path)
    if actual != wheel.sha256:
        raise SuiteUnavailableError(
            f"checksum mismatch for {path}: expected sha256 {wheel.sha256}, got {actual}. "
            f"Delete the file and retry; the pinned release is {wheel.dist}=={wheel.version}."
        )


def _pip_download(dest: Path, wheel: Wheel = CORE) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.14",
        "--disable-pip-version-check",
        "--no-input",
        "--retries",
        "2",
        f"{wheel.dist}=={wheel.version}",
        "-d",
        str(dest),
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SuiteUnavailableError(_fetch_hint(f"could not run pip: {exc}", wheel)) from exc
    path = dest / wheel.filename
    if proc.returncode != 0 or not path.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SuiteUnavailableError(
            _fetch_hint(f"pip exited with {proc.returncode}:\n{tail}", wheel)
        )
    return path


def _fetch_hint(reason: str, wheel: Wheel = CORE) -> str:
    return (
        f"Cannot download the conformance requirements ({wheel.dist}=={wheel.version}) from "
        f"PyPI: {reason}\nPyPI must be reachable, or set {wheel.env_var} to a local copy of "
        f"{wheel.filename} (sha256 {wheel.sha256}), or place it in {CACHE_DIR}."
    )


def ensure_wheel(cache_dir: Path = CACHE_DIR, wheel: Wheel = CORE) -> Path:
    """Return the path of the verified wheel in ``cache_dir``, downloading it if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / wheel.filename
    if target.is_file():
        _verify(target, wheel)
        return target
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        override = os.environ.get(wheel.env_var)
        if override:
            source = Path(override)
            if not source.is_file():
                raise SuiteUnavailableError(f"{wheel.env_var} points to a missing file: {source}")
            staged = Path(tmp) / wheel.filename
            shutil.copyfile(source, staged)
        else:
            staged = _pip_download(Path(tmp), wheel)
        _verify(staged, wheel)
        os.replace(staged, target)
    return target


def ensure_unpacked(cache_dir: Path = CACHE_DIR, wheel: Wheel = CORE) -> Path:
    """Return the directory holding the unpacked wheel (its top level, usable on sys.path)."""
    root = cache_dir / f"{wheel.package}-{wheel.version}"
    marker = root / ".sha256"
    if marker.is_file() and marker.read_text().strip() == wheel.sha256:
        return root
    path = ensure_wheel(cache_dir, wheel)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".unpack-"))
    staging.chmod(0o755)
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(staging)
        (staging / ".sha256").write_text(wheel.sha256 + "\n")
        if root.exists():
            shutil.rmtree(root)
        try:
            os.replace(staging, root)
        except OSError:
            # Another process finished unpacking first; use its result if complete.
            if not (marker.is_file() and marker.read_text().strip() == wheel.sha256):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root


def requirements_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """Directory containing one sub-directory of YAML files per suite."""
    return ensure_unpacked(cache_dir) / PACKAGE_DIR / REQUIREMENTS_SUBDIR


@dataclass(frozen=True)
class Requirement:
    """One requirement file: ``<suite>/<key>.yaml``, e.g. ``step/1-13.yaml``."""

    suite: str
    key: str
    path: Path
    data: Mapping[str, Any] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.suite}/{self.key}"

    @property
    def sort_key(self) -> tuple[int, int]:
        m = _KEY_RE.match(self.key)
        if m is None:
            return (sys.maxsize, sys.maxsize)
        return (int(m.group(1)), int(m.group(2)))

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")

    @property
    def handler(self) -> str:
        """Prose describing what the handler under test does."""
        return str(self.data.get("handler") or "")

    @property
    def invocations(self) -> str:
        """Prose describing each invocation and replay."""
        return str(self.data.get("invocations") or "")

    @property
    def input(self) -> Any:
        """The raw ``Input`` (may contain ``${NAME}`` references to ``Variables``)."""
        return self.data.get("Input")

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.data.get("Variables") or {})

    @property
    def expected_result(self) -> dict[str, Any] | None:
        value = self.data.get("ExpectedResult")
        return dict(value) if value else None

    @property
    def expected_status(self) -> str | None:
        result = self.expected_result
        return None if result is None else result.get("ExecutionStatus")

    @property
    def expected_history(self) -> list[dict[str, Any]]:
        return list(self.data.get("ExpectedExecutionHistory") or [])

    @property
    def callback_actions(self) -> list[dict[str, Any]]:
        return list(self.data.get("CallbackActions") or [])

    @property
    def default_retry_parameters(self) -> dict[str, Any] | None:
        value = self.data.get("DefaultRetryParameters")
        return dict(value) if value else None

    @property
    def expected_logs(self) -> list[dict[str, Any]]:
        return list(self.data.get("ExpectedLogs") or [])

    @property
    def is_async(self) -> bool:
        """Invoked asynchronously and polled (callbacks are sent while it runs)."""
        return bool(self.data.get("AsyncInvoke") or self.data.get("async"))

    @property
    def optional(self) -> bool:
        return bool(self.data.get("optional", False))


def _load_one(suite: str, path: Path) -> Requirement:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return Requirement(suite=suite, key=path.stem, path=path, data=data)


@cache
def _load_all(root: Path) -> tuple[Requirement, ...]:
    reqs = [
        _load_one(suite_dir.name, path)
        for suite_dir in sorted(p for p in root.iterdir() if p.is_dir())
        for path in suite_dir.rglob("*.yaml")
    ]
    reqs.sort(key=lambda r: (r.sort_key, r.suite, r.key))
    return tuple(reqs)


def load_requirements(suites: Iterable[str] | None = None) -> list[Requirement]:
    """All requirements, ordered by key (``1-1``, ``1-2``, ..., ``10-7``), optionally filtered."""
    reqs = _load_all(requirements_dir())
    if suites is None:
        return list(reqs)
    wanted = set(suites)
    return [r for r in reqs if r.suite in wanted]


def load_requirement(key: str) -> Requirement:
    """The requirement with the given key, e.g. ``"1-13"`` or ``"step/1-13"``."""
    bare = key.rsplit("/", 1)[-1]
    for req in _load_all(requirements_dir()):
        if req.key == bare and (bare == key or str(req) == key):
            return req
    raise KeyError(key)
