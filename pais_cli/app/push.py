"""Push: a model directory into a gallery as a revision, validated first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFound, PaisError, RegistryStalled, RegistryUnavailable, TagConflict, UsageError, ValidationFailed
from ..gallery.copy import copy
from ..gallery.modelpack import model_files, pack_snapshot
from ..gallery.progress import TransferProgress
from ..gallery.reference import check_model_name, check_tag
from ..gallery.stores.base import Repository
from ..gallery.stores.directory import PackedSource
from ..modeldir.snapshot import list_directory, snapshot_listing
from ..validation.progress import CheckProgress
from ..validation.report import Report
from ..validation.weights import require_weights
from .context import Context
from .galleries import Gallery
from .reports import attach_report
from .validate import CheckOptions, hashing_progress, result_cache, seed_from_gallery, validate_snapshot

SKIPPED_VALIDATION_NOTE = "revision is unvalidated: pushed with --skip-validation"


@dataclass
class PushResult:
    store: str
    model: str
    digest: str
    tags: list[str]
    flavor: str
    files: int
    bytes_total: int
    bytes_uploaded: int
    blobs_uploaded: int
    blobs_present: int
    skipped: list[str]
    validated: bool = False
    verdict: str = "unvalidated"
    note: str = ""
    report: Report | None = None
    report_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "report"}
        out["report"] = self.report.to_json() if self.report else None
        return out


def push_model(
    ctx: Context,
    gallery: Gallery,
    directory: Path,
    model: str,
    tags: list[str],
    *,
    force: bool = False,
    include_hidden: bool = False,
    jobs: int = 4,
    progress: TransferProgress | None = None,
    checks: CheckOptions | None = None,
    skip_validation: bool = False,
    on_report: Callable[[Report], None] | None = None,
    allow_no_weights: bool = False,
    check_progress: CheckProgress | None = None,
) -> PushResult:
    """Validate, then upload. A model that fails validation leaves nothing in the gallery."""
    check_model_name(model)
    if not tags:
        raise UsageError("no tag given: a pushed revision needs a deliberate tag",
                         "add --tag TAG (e.g. -t v1 or -t approved); -t may repeat")
    tags = list(dict.fromkeys(check_tag(t) for t in tags))
    listing = list_directory(directory, include_hidden)
    if not allow_no_weights:
        require_weights([rel for rel, _, _ in listing.entries], str(directory))
    # Fail fast: what can be told without reading a byte of the model comes before hashing and
    # scanning, which take half an hour at 140 GB.
    quick = gallery.store.preflight(model)
    if not force:
        _check_tags_early(quick, model, tags, listing.sizes)
    # One snapshot: what is validated is exactly what is packed. Validation with the result
    # cache hashes every file from its bytes: cached results are found by those digests.
    checks = checks or CheckOptions()
    rehash = not skip_validation and checks.use_cache
    on_hashed = hashing_progress(check_progress, sum(listing.sizes.values())) if rehash else None
    snapshot = snapshot_listing(listing, ctx.digests(), jobs, rehash=rehash, on_hashed=on_hashed)
    if on_hashed is not None and check_progress is not None:
        check_progress.finish("sha256", "pass", f"{len(snapshot.files)} files hashed")
    report: Report | None = None
    if not skip_validation:
        cache = result_cache(ctx, checks)
        if cache is not None and checks.trust_gallery_reports:
            seed_from_gallery(cache, gallery.store.repository(model), snapshot, checks, gallery.settings.flavor)
        report = validate_snapshot(snapshot, checks, {"model": model}, cache, check_progress)
        if on_report is not None:
            on_report(report)
        if report.verdict != "pass":
            failed = [c.name for c in report.checks if c.status.value == "fail"]
            raise ValidationFailed(
                f"{model} failed validation ({', '.join(failed)}): nothing was pushed",
                "fix each finding as its hint says, then push again; `pais models validate DIR` shows the report",
                report,
            )
    packed = pack_snapshot(snapshot, gallery.settings.flavor)
    repo = gallery.store.repository(model)
    digest = packed.manifest.digest
    for tag in tags:
        try:
            current = repo.resolve(tag)
        except NotFound:
            continue
        if current != digest and not force:
            raise TagConflict(
                f"tag {tag!r} of {model} names {current}, not the revision being pushed ({digest})",
                "push with another tag, or add --force to move the tag",
            )
    # The report goes in before the tags move, so a tag never names a revision whose report
    # is still missing.
    report_digest: str | None = None

    def attach() -> None:
        nonlocal report_digest
        if report is not None:
            report.subject["revision"] = digest
            report_digest = attach_report(repo, packed.manifest.descriptor, report).digest

    result = copy(PackedSource(packed), packed.manifest, repo, tags, jobs=jobs, progress=progress, before_tags=attach,
                  move_tags=force, network=gallery.network)
    validated, note = False, SKIPPED_VALIDATION_NOTE
    if report is not None:
        validated, why = report.counts_as_validation()
        note = "validated" if validated else f"revision is unvalidated: {why}"
    return PushResult(
        store=gallery.store.description,
        model=model,
        digest=digest,
        tags=tags,
        flavor=gallery.settings.flavor,
        files=len(packed.files),
        bytes_total=packed.bytes_total,
        bytes_uploaded=result.bytes_moved,
        blobs_uploaded=result.blobs_moved,
        blobs_present=result.blobs_present,
        skipped=packed.skipped,
        validated=validated,
        verdict=report.verdict if report else "unvalidated",
        note=note,
        report=report,
        report_digest=report_digest,
    )


def _check_tags_early(repo: Repository, model: str, tags: list[str], sizes: dict[str, int]) -> None:
    """A tag naming a revision whose files have other paths or sizes is a conflict at once; when
    they match, the digest decides after hashing, so pushing the same data again stays a no-op."""
    for tag in tags:
        try:
            manifest = repo.fetch_manifest(tag)
        except (NotFound, RegistryUnavailable, RegistryStalled):
            continue  # no such tag, or a busy registry: the digest check after hashing decides
        try:
            theirs = {f.path: f.size for f in model_files(manifest)}
        except PaisError:
            theirs = {}  # not a model revision: certainly not this one
        if theirs != sizes:
            raise TagConflict(
                f"tag {tag!r} of {model} names {manifest.digest}, whose files differ from {len(sizes)} files here",
                "push with another tag, or add --force to move the tag")
