"""Run the security checks over a directory snapshot and build the report.

Files were hashed once, when the snapshot was taken; the checks run concurrently, each
reading only what it needs: clamd streams every byte, the serialization check reads pickles,
the format check reads headers. The smoke check is not run here: the application layer runs
it (only after these passed) and hands its result to `build_report`.
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
from ..modeldir.snapshot import DirectorySnapshot
from .codefiles import AllowCode
from .formatcheck import check_format
from .integrity import check_integrity
from .malware import MalwareOptions, check_malware
from .report import CheckResult, Finding, Report, Severity, Status
from .rules import RULESET_VERSION
from .serialization import check_serialization

SECURITY_CHECKS = ("integrity", "malware", "serialization", "format")
CHECKS = (*SECURITY_CHECKS, "smoke")


@dataclass
class ValidationOptions:
    skip: list[str] = field(default_factory=list)
    checksums: Path | None = None
    allow_remote_code: bool = False
    allow_code: list[str] = field(default_factory=list)  # --allow-code: paths vouched for (binaries, scripts)
    allow_no_weights: bool = False  # --allow-no-weights: a tokenizer-only repository, said in the report
    malware: MalwareOptions = field(default_factory=MalwareOptions)
    jobs: int = 4

    def __post_init__(self) -> None:
        unknown = sorted(set(self.skip) - set(CHECKS))
        if unknown:
            raise UsageError(f"unknown check {', '.join(unknown)} in --skip", f"checks are {', '.join(CHECKS)}")


def timed(name: str, run: Callable[[], CheckResult]) -> CheckResult:
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


def run_security_checks(model: DirectorySnapshot, options: ValidationOptions) -> dict[str, CheckResult]:
    """The four security checks (skipped ones recorded as such), concurrently."""
    runners: dict[str, Callable[[], CheckResult]] = {
        "integrity": lambda: check_integrity(model, options.checksums),
        "malware": lambda: check_malware(model, options.malware),
        "serialization": lambda: check_serialization(model),
        "format": lambda: check_format(model, options.allow_remote_code, AllowCode(tuple(options.allow_code))),
    }
    results: dict[str, CheckResult] = {}
    for name in options.skip:
        results[name] = CheckResult(name, Status.skipped, "skipped with --skip")
    todo = [n for n in SECURITY_CHECKS if n not in results]
    with ThreadPoolExecutor(max_workers=len(todo) or 1) as pool:
        for name, result in zip(todo, pool.map(lambda n: timed(n, runners[n]), todo)):
            results[name] = result
    return results


def failed_checks(results: dict[str, CheckResult]) -> list[str]:
    return [n for n in SECURITY_CHECKS if n in results and results[n].status == Status.failed]


def build_report(model: DirectorySnapshot, results: dict[str, CheckResult], options: ValidationOptions,
                 subject: dict[str, Any] | None = None) -> Report:
    """The report over every check in `CHECKS`; `results` must hold each of them."""
    checks = [results[n] for n in CHECKS]
    tool = {"pais": __version__, "python": platform.python_version(), "rules": str(RULESET_VERSION)}
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
        allowed={"remoteCode": options.allow_remote_code, "code": sorted(options.allow_code),
                 "noWeights": options.allow_no_weights},
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
