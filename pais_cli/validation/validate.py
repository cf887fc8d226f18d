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
from .progress import CheckProgress
from .report import CheckResult, Finding, Report, Severity, Status
from .resultcache import FileResults, ResultCache, cache_key
from .rules import RULESET_VERSION
from .serialization import check_serialization, picklescan_scanner

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


def model_subject(model: DirectorySnapshot) -> list[Any] | None:
    """What a whole-model check looked at, for its cache key: every path, digest and mode, and the
    directory's problems; None when any digest was not computed from the bytes just now."""
    if not all(f.fresh for f in model.files):
        return None
    return [[[f.path, f.digest, f.mode] for f in model.files], [[p.path, p.rule] for p in model.problems]]


def cached_check(cache: ResultCache | None, name: str, model: DirectorySnapshot, judge: dict[str, Any],
                 run: Callable[[], CheckResult]) -> CheckResult:
    """A check through the cache as a whole: a stored pass or warning for exactly these files is
    reused, marked as such; only a pass or a warning is stored (a failure is cheap to reproduce
    and may be a budget hit that depends on the machine). `run` may itself reuse results per
    file; the summary says how many."""
    subject = model_subject(model)
    if cache is None or subject is None:
        return _noted(_with_judge(run(), judge))  # the judge travels in the report, for --trust-gallery-reports
    key = cache_key(name, subject, judge)
    stored = cache.get(key)
    if stored is not None:
        result = Report.from_json({"checks": [stored]}).checks[0]
        result.details = {**result.details, "from_cache": sorted(f.path for f in model.files)}
        result.summary = f"{result.summary} (from the cache)"
        result.seconds = 0.0
        return result
    result = _with_judge(run(), judge)
    if result.status in (Status.passed, Status.warn) and not any("internal-error" in f.rule for f in result.findings):
        cache.put(name, key, result.to_json())
    return _noted(result)


def _noted(result: CheckResult) -> CheckResult:
    if judged_before := len(result.details.get("from_cache") or []):
        result.summary = f"{result.summary}; {judged_before} file(s) judged before, from the cache"
    return result


def _with_judge(result: CheckResult, judge: dict[str, Any]) -> CheckResult:
    result.details = {**result.details, "judge": judge}
    return result


def run_security_checks(model: DirectorySnapshot, options: ValidationOptions, cache: ResultCache | None = None,
                        progress: CheckProgress | None = None) -> dict[str, CheckResult]:
    """The four security checks (skipped ones recorded as such), concurrently.

    With a cache, results judged before under the same rules and versions are reused, per file
    (by path and digest): malware, serialization and format's per-file rules. Format's rules
    across files run every time."""
    progress = progress or CheckProgress()
    rules = {"rules": RULESET_VERSION, "pais": __version__}
    allowed = {"remote_code": options.allow_remote_code, "code": sorted(options.allow_code)}
    format_judge = {**rules, **allowed}

    def serialization() -> CheckResult:
        judge = {**rules, "picklescan": picklescan_scanner()[1] or "none"}  # loads picklescan: only when it runs
        return cached_check(cache, "serialization", model, judge,
                            lambda: check_serialization(model, known=FileResults(cache, "serialization", model.files, judge)))

    def counted(name: str, run: Callable[[], CheckResult]) -> Callable[[], CheckResult]:
        def go() -> CheckResult:
            progress.start(name, 0)
            return run()
        return go

    runners: dict[str, Callable[[], CheckResult]] = {
        "integrity": counted("integrity", lambda: check_integrity(model, options.checksums)),
        "malware": lambda: check_malware(model, options.malware, cache, progress),
        # Per file, under a whole-model result (what a trusted gallery report seeds): a revision
        # that changes one shard judges only that shard.
        "serialization": counted("serialization", serialization),
        "format": counted("format", lambda: cached_check(
            cache, "format", model, format_judge,
            lambda: check_format(model, options.allow_remote_code, AllowCode(tuple(options.allow_code)),
                                 FileResults(cache, "format", model.files, format_judge)))),
    }
    results: dict[str, CheckResult] = {}
    for name in options.skip:
        results[name] = CheckResult(name, Status.skipped, "skipped with --skip")
    todo = [n for n in SECURITY_CHECKS if n not in results]

    def one(name: str) -> CheckResult:
        result = timed(name, runners[name])
        progress.finish(name, result.status.value, result.summary)
        return result

    with ThreadPoolExecutor(max_workers=len(todo) or 1) as pool:
        for name, result in zip(todo, pool.map(one, todo)):
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
