"""What is in a gallery: revisions listed, inspected, resolved and deleted."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import (
    AuthenticationError,
    PaisError,
    PermissionDenied,
    RegistryUnreachable,
)
from ..gallery.modelpack import MAX_CONFIG_BYTES, model_files, model_names
from ..gallery.reference import RevisionRef, check_model_name
from ..gallery.referrers import read_blob
from .missing import explained, no_such_model
from .galleries import Gallery
from .reports import validation_state


@dataclass
class RevisionInfo:
    model: str
    digest: str
    tags: list[str]
    size: int
    files: int
    flavor: str
    verdict: str = "unvalidated"  # pass, fail or unvalidated (the newest report's verdict)
    validated: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_revisions(gallery: Gallery, model: str | None = None, jobs: int = 8) -> list[RevisionInfo]:
    """Every revision of every model (or of one), found the fastest way the store knows (Harbor's
    API lists untagged revisions too), each with its size and validation state."""
    if model:
        check_model_name(model)
    catalog = gallery.store.catalog(model)
    if model and model not in catalog:
        raise no_such_model(gallery, model, sorted(gallery.store.catalog()))
    items = [(name, r.digest, r.tags) for name, revisions in catalog.items() for r in revisions]

    def describe(item: tuple[str, str, list[str]]) -> RevisionInfo | None:
        name, digest, tags = item
        repo = gallery.store.repository(name)
        try:
            manifest = repo.fetch_manifest(digest)
            names = model_names(manifest)
            files = model_files(manifest)
        except (AuthenticationError, PermissionDenied, RegistryUnreachable):
            raise
        except PaisError:
            return None  # not a model (an image, a report index): not a revision of the gallery
        state = validation_state(repo, manifest)
        return RevisionInfo(name, digest, tags, sum(f.size for f in files), len(files), names.flavor,
                            state.verdict, state.validated)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        infos = [info for info in pool.map(describe, items) if info is not None]
    return sorted(infos, key=lambda i: (i.model, i.tags == [], i.tags, i.digest))




@dataclass
class InspectResult:
    model: str
    store: str
    digest: str
    tags: list[str]
    flavor: str
    size: int
    files: list[dict[str, Any]]
    config: dict[str, Any]
    validated: bool
    verdict: str
    validation_reason: str
    report: dict[str, Any] | None
    reports: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inspect_revision(gallery: Gallery, model: str, ref: RevisionRef) -> InspectResult:
    """Files, ModelPack config, tags and validation state of one revision, without its weights."""
    check_model_name(model)
    repo = gallery.store.repository(model)
    with explained(gallery, model, ref):
        manifest = repo.fetch_manifest(ref.reference)
    names = model_names(manifest)
    files = model_files(manifest)
    try:
        config = json.loads(read_blob(repo, manifest.config, limit=MAX_CONFIG_BYTES))
    except ValueError:
        config = {}
    tags = next((r.tags for r in repo.revisions() if r.digest == manifest.digest), [])
    state = validation_state(repo, manifest)
    summary = None
    if state.report is not None:
        summary = {"verdict": state.report.verdict, "created": state.report.created, "tool": state.report.tool,
                   "checks": {c.name: c.status.value for c in state.report.checks},
                   "findings": sum(len(c.findings) for c in state.report.checks)}
    return InspectResult(
        model=model, store=gallery.store.description, digest=manifest.digest, tags=tags, flavor=names.flavor,
        size=sum(f.size for f in files),
        files=[{"path": f.path, "size": f.size, "digest": f.digest, "kind": f.kind, "mode": oct(f.mode)} for f in files],
        config=config if isinstance(config, dict) else {}, validated=state.validated, verdict=state.verdict,
        validation_reason=state.reason, report=summary, reports=state.reports,
    )


@dataclass
class DeleteResult:
    model: str
    store: str
    deleted: str  # the tag or digest removed
    digest: str  # the revision it named
    revision_removed: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def delete_revision(gallery: Gallery, model: str, ref: RevisionRef) -> DeleteResult:
    """By tag: the tag goes, the revision stays. By digest: the revision and every tag on it."""
    check_model_name(model)
    repo = gallery.store.repository(model)
    with explained(gallery, model, ref):
        digest = repo.resolve(ref.reference)
    repo.delete(ref.reference)
    return DeleteResult(model, gallery.store.description, ref.reference, digest, ref.digest is not None)


def resolve_revision(gallery: Gallery, model: str, ref: RevisionRef) -> str:
    with explained(gallery, model, ref):
        return gallery.store.repository(check_model_name(model)).resolve(ref.reference)
