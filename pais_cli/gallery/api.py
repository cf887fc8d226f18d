"""What the commands do, as library functions that return values and raise typed errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..config import GallerySettings
from ..errors import NotAModel, NotFound, PaisError, RegistryError, TagConflict, UsageError
from .copy import TransferProgress, copy
from .digests import DigestCache
from .galleries import Gallery
from .modelpack import model_files, model_names, pack_directory
from .reference import RevisionRef, check_model_name, check_tag, is_on_disk
from .stores.directory import DirectorySource, DirectoryTarget
from .stores.layout import LayoutGallery
from .stores.registry import RegistryGallery

UNVALIDATED_NOTE = "revision is unvalidated: pais does not validate models yet (models validate comes with issue #3)"


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
    note: str = UNVALIDATED_NOTE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
) -> PushResult:
    check_model_name(model)
    if not tags:
        raise UsageError("no tag given: a pushed revision needs a deliberate tag",
                         "add --tag TAG (e.g. -t v1 or -t approved); -t may repeat")
    tags = list(dict.fromkeys(check_tag(t) for t in tags))
    packed = pack_directory(directory, gallery.settings.flavor, include_hidden, jobs=jobs)
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
    result = copy(DirectorySource(packed), packed.manifest, repo, tags, jobs=jobs, progress=progress)
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
) -> PullResult:
    check_model_name(model)
    repo = gallery.store.repository(model)
    manifest = repo.fetch_manifest(ref.reference)
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
    models = [check_model_name(model)] if model else gallery.store.models()

    def describe(item: tuple[str, str, list[str]]) -> RevisionInfo | None:
        name, digest, tags = item
        try:
            manifest = gallery.store.repository(name).fetch_manifest(digest)
            names = model_names(manifest)
            files = model_files(manifest)
        except (NotAModel, RegistryError):
            return None  # not a model (an image, a report index): not a revision of the gallery
        except PaisError:
            return None
        return RevisionInfo(name, digest, tags, sum(f.size for f in files), len(files), names.flavor)

    def revisions_of(name: str) -> list[tuple[str, str, list[str]]]:
        return [(name, r.digest, r.tags) for r in gallery.store.repository(name).revisions()]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        items = [item for batch in pool.map(revisions_of, models) for item in batch]
        infos = [info for info in pool.map(describe, items) if info is not None]
    return sorted(infos, key=lambda i: (i.model, i.tags == [], i.tags, i.digest))


def init_gallery(
    gallery: Gallery,
    *,
    name: str | None = None,
    require_validated: bool = False,
    production: bool = False,
) -> GalleryCheck:
    settings = gallery.settings
    if require_validated or production:
        settings = GallerySettings(**{**asdict(settings), "require_validated": require_validated or settings.require_validated,
                                      "production": production or settings.production})
    check = GalleryCheck(store=gallery.store.description, kind=gallery.kind, flavor=settings.flavor)
    store = gallery.store
    if isinstance(store, LayoutGallery):
        check.created = store.init({"flavor": settings.flavor, "require_validated": settings.require_validated,
                                    "production": settings.production})
        if not check.created:
            check.notes.append("gallery already existed; nothing changed")
    elif isinstance(store, RegistryGallery):
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
