"""`models validate` and the validation phase of push: the security checks, then the smoke test.

This is where validation and the smoke check are composed: `validation` knows nothing of the
sandbox, and the smoke test runs only on a model the security checks passed, never with
remote code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import NotFound, PaisError
from ..gallery.copy import copy
from ..gallery.modelpack import pack_snapshot
from ..gallery.stores.base import Repository
from ..gallery.progress import TransferProgress
from ..gallery.reference import RevisionRef, check_model_name
from ..gallery.stores.directory import DirectoryTarget
from ..modeldir.snapshot import DirectorySnapshot, list_directory, snapshot_directory, snapshot_listing
from ..smoke.check import SmokeOptions, check_smoke
from ..validation.weights import require_weights
from ..validation.progress import CheckProgress
from ..validation.report import CheckResult, Report, Status
from ..validation.resultcache import ResultCache, cache_key
from ..validation.validate import (
    ValidationOptions,
    build_report,
    cached_check,
    failed_checks,
    model_subject,
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
    use_cache: bool = True  # False: --no-cache, every check runs and nothing is remembered
    trust_gallery_reports: bool = False  # --trust-gallery-reports: a stored passing report seeds the cache


def result_cache(ctx: Context, options: CheckOptions) -> ResultCache | None:
    return ctx.results() if options.use_cache else None


@dataclass
class ValidationResult:
    report: Report
    validated: bool
    reason: str
    model: str | None = None
    digest: str | None = None
    report_digest: str | None = None  # where the report was attached, for a stored revision


def validate_snapshot(snapshot: DirectorySnapshot, options: CheckOptions, subject: dict[str, Any] | None = None,
                      cache: ResultCache | None = None, progress: CheckProgress | None = None) -> Report:
    """The security checks, then the smoke test on a model that passed them. `cache` answers for
    what was judged before (only for files the snapshot hashed from their bytes)."""
    progress = progress or CheckProgress()
    results = run_security_checks(snapshot, options.security, cache, progress)
    if "smoke" not in results:
        failed = failed_checks(results)
        if failed:
            results["smoke"] = CheckResult("smoke", Status.skipped,
                                           f"not run: the model failed {', '.join(failed)}; only a model that passed "
                                           "the security checks is loaded")
        else:
            progress.start("smoke", 0)
            smoke_judge = {"pais": __version__, "options": asdict(options.smoke)}
            results["smoke"] = timed("smoke", lambda: cached_check(
                cache, "smoke", snapshot, smoke_judge, lambda: check_smoke(snapshot, options.smoke)))
        progress.finish("smoke", results["smoke"].status.value, results["smoke"].summary)
    return build_report(snapshot, results, options.security, subject)


def hashing_progress(progress: CheckProgress | None, total: int) -> Callable[[str, int], None] | None:
    """Digests computed from the bytes show as their own line: at 140 GB they take minutes."""
    if progress is None:
        return None
    progress.start("sha256", total)
    return lambda path, size: progress.advance_check("sha256", size, path)


def validate_directory(ctx: Context, directory: Path, options: CheckOptions, model: str | None = None,
                       progress: CheckProgress | None = None) -> ValidationResult:
    listing = list_directory(directory, options.include_hidden)
    on_hashed = hashing_progress(progress, sum(listing.sizes.values())) if options.use_cache else None
    if not options.security.allow_no_weights:
        require_weights([rel for rel, _, _ in listing.entries], str(directory))
    snapshot = snapshot_listing(listing, ctx.digests(), options.security.jobs, rehash=options.use_cache,
                                on_hashed=on_hashed)
    if on_hashed is not None and progress is not None:
        progress.finish("sha256", "pass", f"{len(snapshot.files)} files hashed")
    report = validate_snapshot(snapshot, options, {"model": model} if model else None, result_cache(ctx, options),
                               progress)
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
    check_progress: CheckProgress | None = None,
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
        target = DirectoryTarget(Path(tmp) / "model", digests, options.security.jobs)
        target.prepare(manifest)
        target.dest.mkdir()
        copy(repo, manifest, target, jobs=options.security.jobs, progress=progress, network=gallery.network)
        # The digests were proven while the files were written: the cache answers, no rehash.
        snapshot = snapshot_directory(target.dest, digests, True, options.security.jobs, rehash=options.use_cache)
        report = validate_snapshot(snapshot, options, {"model": model, "revision": manifest.digest},
                                   result_cache(ctx, options), check_progress)
    report.subject.pop("directory", None)
    report_digest = attach_report(repo, manifest.descriptor, report).digest
    state = validation_state(repo, manifest)
    return ValidationResult(report, state.validated, state.reason, model, manifest.digest, report_digest)


def seed_from_gallery(cache: ResultCache, repo: Repository, snapshot: DirectorySnapshot, options: CheckOptions,
                      flavor: str) -> list[str]:
    """--trust-gallery-reports: when the gallery already holds this exact revision with a passing
    report, its clean results seed the cache under the judges the report names, so they count
    only where this run's rules, engine and database are the same. Opt-in: anyone with push
    rights can attach a report. Returns the checks seeded."""
    subject = model_subject(snapshot)
    if subject is None:
        return []
    try:
        manifest = repo.fetch_manifest(pack_snapshot(snapshot, flavor).manifest.digest)
    except (NotFound, PaisError):
        return []
    state = validation_state(repo, manifest)
    if not state.validated or state.report is None:
        return []
    seeded: list[str] = []
    for check in state.report.checks:
        judge = check.details.get("judge")
        if check.status != Status.passed or check.findings or not isinstance(judge, dict):
            continue
        if check.name == "malware":
            cache.put_many("malware", {cache_key("malware", f.digest, judge): {"findings": []} for f in snapshot.files})
        elif check.name in ("serialization", "format", "smoke"):
            cache.put(check.name, cache_key(check.name, subject, judge), check.to_json())
        else:
            continue
        seeded.append(check.name)
    return seeded
