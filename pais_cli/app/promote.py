"""`models promote`: a revision moves from one gallery to another without touching a local directory.

Byte for byte by default (same digest); only missing blobs travel, mounted across
repositories where the registry allows, hard-linked between models of one on-disk gallery.
Its validation reports travel with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import FlavorMismatch, NotFound, NotValidated, TagConflict, UsageError
from ..gallery.copy import copy
from ..gallery.modelpack import convert_flavor, model_names
from ..gallery.progress import TransferProgress
from ..gallery.reference import RevisionRef, check_model_name, check_tag
from ..gallery.referrers import copy_referrers
from ..validation.report import REPORT_ARTIFACT_TYPE
from .missing import explained
from .galleries import Gallery
from .reports import validation_state


@dataclass
class PromoteResult:
    model: str
    source: str
    destination: str
    digest: str  # the revision's digest in the destination
    source_digest: str
    tag: str
    flavor: str
    converted: bool
    bytes_total: int
    bytes_copied: int
    blobs_copied: int
    blobs_mounted: int
    blobs_present: int
    reports_copied: int
    validated: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def promote_model(
    source: Gallery,
    destination: Gallery,
    model: str,
    ref: RevisionRef,
    as_tag: str | None = None,
    *,
    force: bool = False,
    convert: bool = False,
    require_validated: bool | None = None,
    jobs: int = 4,
    progress: TransferProgress | None = None,
) -> PromoteResult:
    check_model_name(model)
    tag = check_tag(as_tag or ref.tag or "") if (as_tag or ref.tag) else None
    if tag is None:
        raise UsageError("promoting by digest needs --as-tag", "name the revision in the destination, e.g. --as-tag prod")
    destination.store.preflight(model)  # the destination takes pushes from us: known before any byte moves
    src_repo, dst_repo = source.store.repository(model), destination.store.repository(model)
    with explained(source, model, ref):
        manifest = src_repo.fetch_manifest(ref.reference)
    names = model_names(manifest)
    must_validate = destination.settings.production if require_validated is None else require_validated
    state = validation_state(src_repo, manifest)
    if must_validate and not state.validated:
        raise NotValidated(
            f"{model}{ref} is not validated ({state.reason}); {destination.store.description} "
            + ("is a production gallery" if destination.settings.production else "requires validation"),
            f"validate it first: pais models validate --modelName {model} --modelStore {source.settings.store} "
            f"--digest {manifest.digest}",
        )
    target = manifest
    if names.flavor != destination.settings.flavor:
        if not convert:
            raise FlavorMismatch(
                f"the revision uses {names.flavor} media types; {destination.store.description} is a {destination.settings.flavor} gallery",
                "add --convert-flavor to rewrite it (a new digest), or promote as is to a gallery of the same flavour",
            )
        target = convert_flavor(manifest, destination.settings.flavor)
    try:
        current = dst_repo.resolve(tag)
    except NotFound:
        current = None
    if current is not None and current != target.digest and not force:
        raise TagConflict(f"tag {tag!r} of {model} in {destination.store.description} names {current}, not {target.digest}",
                          "add --force to move it, or promote with another --as-tag")
    reports = 0

    def bring_reports() -> None:
        nonlocal reports
        # Reports land before the tag moves: a tag never names a revision missing its report.
        reports = copy_referrers(src_repo, dst_repo, manifest.digest, REPORT_ARTIFACT_TYPE,
                                 target.descriptor if target is not manifest else None)

    result = copy(src_repo, target, dst_repo, [tag], jobs=jobs, progress=progress, before_tags=bring_reports,
                  move_tags=force, network=destination.network)
    return PromoteResult(
        model=model, source=source.store.description, destination=destination.store.description,
        digest=target.digest, source_digest=manifest.digest, tag=tag, flavor=model_names(target).flavor,
        converted=target is not manifest, bytes_total=result.bytes_total, bytes_copied=result.bytes_moved,
        blobs_copied=result.blobs_moved, blobs_mounted=result.blobs_mounted, blobs_present=result.blobs_present,
        reports_copied=reports, validated=validation_state(dst_repo, target).validated,
    )
