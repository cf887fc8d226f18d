"""Run the checks over a model directory and build the report.

Files are hashed once (the digest cache shares them with push); the checks then run
concurrently, each reading only what it needs: clamd streams every byte, the serialization
check reads pickles, the format check reads headers.
"""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..gallery.modelpack import DirectoryProblem
from .formatcheck import check_format
from .inspect import inspect_directory
from .integrity import check_integrity
from .malware import MalwareOptions, check_malware
from .report import CheckResult, Finding, ModelUnderTest, Report, Severity, Status
from .serialization import check_serialization
from ..smoke.check import SmokeOptions, check_smoke

SECURITY_CHECKS = ("integrity", "malware", "serialization", "format")
CHECKS = (*SECURITY_CHECKS, "smoke")


@dataclass
class ValidationOptions:
    skip: list[str] = field(default_factory=list)
    checksums: Path | None = None
    allow_remote_code: bool = False
    malware: MalwareOptions = field(default_factory=MalwareOptions)
    include_hidden: bool = False
    jobs: int = 4
    smoke: SmokeOptions = field(default_factory=SmokeOptions)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.skip) - set(CHECKS))
        if unknown:
            raise UsageError(f"unknown check {', '.join(unknown)} in --skip", f"checks are {', '.join(CHECKS)}")


def _timed(name: str, run: Callable[[], CheckResult]) -> CheckResult:
    start = time.perf_counter()
    try:
        result = run()
    except Exception as exc:  # noqa: BLE001 - a check that breaks must fail, never pass silently
        result = CheckResult(name, Status.failed, f"the {name} check could not run: {type(exc).__name__}: {exc}", [
            Finding(f"{name}.internal-error", Severity.error, f"{type(exc).__name__}: {exc}", None,
                    "run again with --debug and report it"),
        ], {"traceback": traceback.format_exc(limit=5)})
    result.seconds = time.perf_counter() - start
    return result


def validate_model(model: ModelUnderTest, problems: list[DirectoryProblem], options: ValidationOptions,
                   subject: dict[str, Any] | None = None) -> Report:
    runners: dict[str, Callable[[], CheckResult]] = {
        "integrity": lambda: check_integrity(model, options.checksums),
        "malware": lambda: check_malware(model, options.malware),
        "serialization": lambda: check_serialization(model),
        "format": lambda: check_format(model, problems, options.allow_remote_code),
    }
    results: dict[str, CheckResult] = {}
    for name in options.skip:
        results[name] = CheckResult(name, Status.skipped, "skipped with --skip")
    todo = [n for n in SECURITY_CHECKS if n not in results]
    with ThreadPoolExecutor(max_workers=len(todo) or 1) as pool:
        for name, result in zip(todo, pool.map(lambda n: _timed(n, runners[n]), todo)):
            results[name] = result
    if "smoke" not in results:
        # Only a model the security checks passed is ever loaded, and never with remote code.
        failed = [n for n in SECURITY_CHECKS if results[n].status == Status.failed]
        if failed:
            results["smoke"] = CheckResult("smoke", Status.skipped,
                                           f"not run: the model failed {', '.join(failed)}; only a model that passed "
                                           "the security checks is loaded")
        else:
            results["smoke"] = _timed("smoke", lambda: check_smoke(model, options.smoke))
    checks = [results[n] for n in CHECKS]
    tool = {"pais": __version__, "python": platform.python_version()}
    for check in checks:
        for key in ("engine", "picklescan"):
            if isinstance(check.details.get(key), str):
                tool[f"{check.name}.{key}"] = check.details[key]
    return Report(
        tool=tool,
        subject={**(subject or {}), "directory": str(model.root), "skippedFiles": model.skipped},
        files=[{"path": f.path, "size": f.size, "digest": f.digest} for f in model.files],
        checks=checks,
        skipped_checks=sorted(options.skip),
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def validate_directory(directory: Path, options: ValidationOptions, subject: dict[str, Any] | None = None) -> Report:
    model, problems = inspect_directory(directory, options.include_hidden, options.jobs)
    return validate_model(model, problems, options, subject)
