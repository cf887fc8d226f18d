"""What the commands do, as library functions that return values and raise typed errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..config import GallerySettings
from ..errors import (
    AuthenticationError,
    NotFound,
    NotValidated,
    PaisError,
    PermissionDenied,
    RegistryError,
    RegistryUnreachable,
    TagConflict,
    UsageError,
    ValidationFailed,
)
from ..validation.report import Report
from ..validation.validate import ValidationOptions, inspect_directory, validate_model
from .copy import TransferProgress, copy
from .digests import DigestCache
from .galleries import Gallery
from .harbor import HarborClient, default_flavor
from .modelpack import model_files, model_names, pack_directory
from .reference import RevisionRef, check_model_name, check_tag, is_on_disk
from .referrers import attach_report, validation_state
from .stores.directory import DirectorySource, DirectoryTarget
from .stores.layout import LayoutGallery
from .stores.registry import RegistryGallery

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


@dataclass
class PullResult:
    store: str
    model: str
    digest: str
    path: str
    files: int
    bytes_total: int
    bytes_downloaded: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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


@dataclass
class GalleryCheck:
    store: str
    kind: str
    created: bool = False
    reachable: bool = True
    scheme: str | None = None
    tls_verified: bool | None = None
    auth: str | None = None
    credentials: str | None = None
    push_allowed: bool | None = None
    flavor: str = "cncf"
    saved_as: str | None = None
    config_changed: bool = False
    harbor: dict[str, Any] | None = None  # Harbor version, flavour reason, project, changes, robot
    notes: list[str] = field(default_factory=list)
    robot_secret: str | None = field(default=None, repr=False)  # shown once, on request, never in JSON

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "robot_secret"}


def push_model(
    gallery: Gallery,
    directory: Path,
    model: str,
    tags: list[str],
    *,
    force: bool = False,
    include_hidden: bool = False,
    jobs: int = 4,
    progress: TransferProgress | None = None,
    validation: ValidationOptions | None = None,
    skip_validation: bool = False,
    on_report: Callable[[Report], None] | None = None,
) -> PushResult:
    """Validate, then upload. A model that fails validation leaves nothing in the gallery."""
    check_model_name(model)
    if not tags:
        raise UsageError("no tag given: a pushed revision needs a deliberate tag",
                         "add --tag TAG (e.g. -t v1 or -t approved); -t may repeat")
    tags = list(dict.fromkeys(check_tag(t) for t in tags))
    digests = DigestCache()
    report: Report | None = None
    if not skip_validation:
        options = validation or ValidationOptions()
        options.include_hidden, options.jobs = include_hidden, jobs
        inspected, problems = inspect_directory(directory, include_hidden, jobs, digests)
        report = validate_model(inspected, problems, options, {"model": model})
        if on_report is not None:
            on_report(report)
        if report.verdict != "pass":
            failed = [c.name for c in report.checks if c.status.value == "fail"]
            raise ValidationFailed(
                f"{model} failed validation ({', '.join(failed)}): nothing was pushed",
                "fix the findings above, or push with --skip-validation to store it marked unvalidated",
                report,
            )
    packed = pack_directory(directory, gallery.settings.flavor, include_hidden, digests=digests, jobs=jobs)
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

    result = copy(DirectorySource(packed), packed.manifest, repo, tags, jobs=jobs, progress=progress, before_tags=attach)
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


def default_destination(model: str) -> Path:
    return Path.cwd() / model.rsplit("/", 1)[-1]


def pull_model(
    gallery: Gallery,
    model: str,
    ref: RevisionRef,
    dest: Path | None = None,
    *,
    jobs: int = 4,
    progress: TransferProgress | None = None,
    require_validated: bool | None = None,
) -> PullResult:
    """Fetch a revision into `dest`, verified; with require_validated (or the gallery's setting),
    only a revision with a passing report that covers exactly its files."""
    check_model_name(model)
    repo = gallery.store.repository(model)
    manifest = repo.fetch_manifest(ref.reference)
    if require_validated if require_validated is not None else gallery.settings.require_validated:
        state = validation_state(repo, manifest)
        if not state.validated:
            raise NotValidated(
                f"{model}{ref} ({manifest.digest[:19]}) is not validated: {state.reason}",
                f"validate it with `pais models validate --modelName {model} --modelStore ... "
                f"--digest {manifest.digest}`, or pull with --no-require-validated",
            )
    dest = dest or default_destination(model)
    target = DirectoryTarget(dest, DigestCache())
    files = target.prepare(manifest)  # every path checked before anything is written
    dest.mkdir(parents=True, exist_ok=True)
    result = copy(repo, manifest, target, jobs=jobs, progress=progress)
    return PullResult(
        store=gallery.store.description,
        model=model,
        digest=manifest.digest,
        path=str(target.dest),
        files=len(files),
        bytes_total=sum(f.size for f in files),
        bytes_downloaded=result.bytes_moved,
    )


def list_revisions(gallery: Gallery, model: str | None = None, jobs: int = 8) -> list[RevisionInfo]:
    """Every revision of every model (or of one). On Harbor, its API finds repositories and
    artifacts (untagged ones too) in a few requests; elsewhere the distribution API does."""
    if model:
        check_model_name(model)
    found: dict[str, list[tuple[str, str, list[str]]]] | None = None
    store = gallery.store
    if isinstance(store, RegistryGallery):
        harbor = HarborClient(store.client)
        if harbor.system_info().is_harbor:
            found = {}
            for row in harbor.list_models(store.location.namespace, model):
                if row.is_model:
                    found.setdefault(row.model, []).append((row.model, row.digest, sorted(row.tags)))
    models = [model] if model else (sorted(found) if found is not None else store.models())

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

    def revisions_of(name: str) -> list[tuple[str, str, list[str]]]:
        if found is not None:
            return found.get(name, [])
        return [(name, r.digest, r.tags) for r in gallery.store.repository(name).revisions()]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        items = [item for batch in pool.map(revisions_of, models) for item in batch]
        infos = [info for info in pool.map(describe, items) if info is not None]
    return sorted(infos, key=lambda i: (i.model, i.tags == [], i.tags, i.digest))


@dataclass
class HarborOptions:
    """What `gallery init` may ask of a Harbor project; any of it on another registry is refused."""

    public: bool = False
    quota: str | None = None
    immutable_tags: str | None = None
    robot: str | None = None
    robot_permission: str = "pull"

    @property
    def asked(self) -> bool:
        return self.public or bool(self.quota or self.immutable_tags or self.robot)


def init_gallery(
    gallery: Gallery,
    *,
    name: str | None = None,
    require_validated: bool = False,
    require_smoke: bool = False,
    production: bool = False,
    flavor_override: str | None = None,
    harbor: HarborOptions | None = None,
) -> GalleryCheck:
    settings = gallery.settings
    if require_validated or production or require_smoke:
        settings = GallerySettings(**{**asdict(settings), "require_validated": require_validated or settings.require_validated,
                                      "require_smoke": require_smoke or settings.require_smoke,
                                      "production": production or settings.production})
    check = GalleryCheck(store=gallery.store.description, kind=gallery.kind, flavor=settings.flavor)
    store = gallery.store
    harbor = harbor or HarborOptions()
    if isinstance(store, LayoutGallery):
        if harbor.asked:
            raise UsageError("--public, --quota, --immutable-tags and --robot are Harbor settings",
                             "use them with a Harbor project: --modelStore HOST/PROJECT")
        check.created = store.init({"flavor": settings.flavor, "require_validated": settings.require_validated,
                                    "require_smoke": settings.require_smoke, "production": settings.production})
        if not check.created:
            check.notes.append("gallery already existed; nothing changed")
    elif isinstance(store, RegistryGallery):
        harbor_client = HarborClient(store.client)
        info = harbor_client.system_info()
        if info.is_harbor:
            choice = default_flavor(info, flavor_override)
            settings = GallerySettings(**{**asdict(settings), "flavor": choice.flavor})
            check.flavor = choice.flavor
            result = harbor_client.init_project(
                store.location.namespace.partition("/")[0], public=harbor.public, storage_limit=harbor.quota,
                immutable_tags=harbor.immutable_tags, robot=harbor.robot,
                robot_permission=harbor.robot_permission,  # type: ignore[arg-type]
            )
            check.created = result.created
            check.harbor = {"version": info.version, "flavor_reason": choice.reason, **result.to_json()}
            check.robot_secret = result.robot.secret if result.robot else None
            check.notes.extend(result.changes + result.notes)
        elif harbor.asked:
            raise UsageError(f"{store.client.host} is not Harbor: --public, --quota, --immutable-tags and --robot need Harbor",
                             "drop those options; on other registries create the namespace with the registry's own tools")
        _check_registry(store, check)
    if name:
        if not config.is_gallery_name(name):
            raise UsageError(f"invalid gallery name {name!r}", "use lowercase letters, digits, '-' and '_', e.g. dev or prod")
        store_value = settings.store if not is_on_disk(settings.store) else str(Path(settings.store))
        check.config_changed = config.save_gallery(name, GallerySettings(**{**asdict(settings), "store": store_value}))
        check.saved_as = name
    return check


def _check_registry(store: RegistryGallery, check: GalleryCheck) -> None:
    client = store.client
    anonymous = client.client.get("/v2/", auth=None)
    check.scheme = "https" if client.tls else "http"
    check.tls_verified = client.tls
    if not client.tls:
        check.notes.append("plain HTTP: only acceptable on loopback or a trusted network")
    if anonymous.status_code == 401:
        scheme = anonymous.headers.get("WWW-Authenticate", "").split(" ")[0].lower() or "unknown"
        check.auth = scheme
        client.ping()  # authenticates with what we have; raises when refused
        if client.credentials is None:
            check.notes.append("registry needs credentials and none were found: run docker login")
    else:
        check.auth = "none"
    check.credentials = client.credentials.source if client.credentials else None
    probe = store.repository("pais-push-check")
    try:
        _, location = probe._start_upload()
        client.client.delete(location)
        check.push_allowed = True
    except RegistryError as exc:
        check.push_allowed = False
        check.notes.append(f"push not allowed: {exc.message}")


@dataclass
class ValidationResult:
    report: Report
    validated: bool
    reason: str
    model: str | None = None
    digest: str | None = None
    report_digest: str | None = None  # where the report was attached, for a stored revision


def validate_directory(directory: Path, options: ValidationOptions, model: str | None = None) -> ValidationResult:
    from ..validation.validate import validate_directory as run

    report = run(directory, options, {"model": model} if model else None)
    validated, why = report.counts_as_validation()
    return ValidationResult(report, validated, why, model)


def validate_revision(
    gallery: Gallery,
    model: str,
    ref: RevisionRef,
    options: ValidationOptions,
    workdir: Path | None = None,
    progress: TransferProgress | None = None,
) -> ValidationResult:
    """Re-check a stored revision (after a signature update, say) and attach the new report.

    The revision is fetched, verified, into a private temporary directory; nothing of it is
    loaded, and the directory is removed afterwards.
    """
    import tempfile

    check_model_name(model)
    repo = gallery.store.repository(model)
    manifest = repo.fetch_manifest(ref.reference)
    digests = DigestCache()
    with tempfile.TemporaryDirectory(prefix="pais-validate-", dir=workdir) as tmp:
        target = DirectoryTarget(Path(tmp) / "model", digests)
        target.prepare(manifest)
        target.dest.mkdir()
        copy(repo, manifest, target, jobs=options.jobs, progress=progress)
        # The digests were proven while the files were written: the cache answers, no rehash.
        inspected, problems = inspect_directory(target.dest, True, options.jobs, digests)
        report = validate_model(inspected, problems, options, {"model": model, "revision": manifest.digest})
    report.subject.pop("directory", None)
    report_digest = attach_report(repo, manifest.descriptor, report).digest
    state = validation_state(repo, manifest)
    return ValidationResult(report, state.validated, state.reason, model, manifest.digest, report_digest)


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
    from .referrers import read_blob

    check_model_name(model)
    repo = gallery.store.repository(model)
    manifest = repo.fetch_manifest(ref.reference)
    names = model_names(manifest)
    files = model_files(manifest)
    try:
        config = json.loads(read_blob(repo, manifest.config, limit=4 * 1024 * 1024))
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
    digest = repo.resolve(ref.reference)
    repo.delete(ref.reference)
    return DeleteResult(model, gallery.store.description, ref.reference, digest, ref.digest is not None)


def resolve_revision(gallery: Gallery, model: str, ref: RevisionRef) -> str:
    return gallery.store.repository(check_model_name(model)).resolve(ref.reference)
