"""`models validate` and the validation phase of push: the security checks, then the smoke test.

This is where validation and the smoke check are composed: `validation` knows nothing of the
sandbox, and the smoke test runs only on a model the security checks passed, never with
remote code.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gallery.copy import copy
from ..gallery.progress import TransferProgress
from ..gallery.reference import RevisionRef, check_model_name
from ..gallery.stores.directory import DirectoryTarget
from ..modeldir.snapshot import DirectorySnapshot, snapshot_directory
from ..smoke.check import SmokeOptions, check_smoke
from ..validation.weights import require_weights
from ..validation.report import CheckResult, Report, Status
from ..validation.validate import (
    ValidationOptions,
    build_report,
    failed_checks,
    run_security_checks,
    timed,
)
from .context import Context
from .galleries import Gallery
from .reports import attach_report, validation_state


@dataclass
class CheckOptions:
    """Everything a validation run is asked: the security checks' options and the smoke test's."""

    security: ValidationOptions = field(default_factory=ValidationOptions)
    smoke: SmokeOptions = field(default_factory=SmokeOptions)
    include_hidden: bool = False


@dataclass
class ValidationResult:
    report: Report
    validated: bool
    reason: str
    model: str | None = None
    digest: str | None = None
    report_digest: str | None = None  # where the report was attached, for a stored revision


def validate_snapshot(snapshot: DirectorySnapshot, options: CheckOptions, subject: dict[str, Any] | None = None) -> Report:
    results = run_security_checks(snapshot, options.security)
    if "smoke" not in results:
        failed = failed_checks(results)
        if failed:
            results["smoke"] = CheckResult("smoke", Status.skipped,
                                           f"not run: the model failed {', '.join(failed)}; only a model that passed "
                                           "the security checks is loaded")
        else:
            results["smoke"] = timed("smoke", lambda: check_smoke(snapshot, options.smoke))
    return build_report(snapshot, results, options.security, subject)


def validate_directory(ctx: Context, directory: Path, options: CheckOptions, model: str | None = None) -> ValidationResult:
    snapshot = snapshot_directory(directory, ctx.digests(), options.include_hidden, options.security.jobs)
    if not options.security.allow_no_weights:
        require_weights([f.path for f in snapshot.files], str(directory))
    report = validate_snapshot(snapshot, options, {"model": model} if model else None)
    validated, why = report.counts_as_validation()
    return ValidationResult(report, validated, why, model)


def validate_revision(
    ctx: Context,
    gallery: Gallery,
    model: str,
    ref: RevisionRef,
    options: CheckOptions,
    workdir: Path | None = None,
    progress: TransferProgress | None = None,
) -> ValidationResult:
    """Re-check a stored revision (after a signature update, say) and attach the new report.

    The revision is fetched, verified, into a private temporary directory; nothing of it is
    loaded, and the directory is removed afterwards.
    """
    check_model_name(model)
    repo = gallery.store.repository(model)
    manifest = repo.fetch_manifest(ref.reference)
    digests = ctx.digests()
    with tempfile.TemporaryDirectory(prefix="pais-validate-", dir=workdir) as tmp:
        target = DirectoryTarget(Path(tmp) / "model", digests)
        target.prepare(manifest)
        target.dest.mkdir()
        copy(repo, manifest, target, jobs=options.security.jobs, progress=progress, network=gallery.network)
        # The digests were proven while the files were written: the cache answers, no rehash.
        snapshot = snapshot_directory(target.dest, digests, True, options.security.jobs)
        report = validate_snapshot(snapshot, options, {"model": model, "revision": manifest.digest})
    report.subject.pop("directory", None)
    report_digest = attach_report(repo, manifest.descriptor, report).digest
    state = validation_state(repo, manifest)
    return ValidationResult(report, state.validated, state.reason, model, manifest.digest, report_digest)
