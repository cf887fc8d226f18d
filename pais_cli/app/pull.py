"""Pull: a revision out of a gallery into a plain directory, verified byte for byte.

Kept apart from push so a pull loads no validation code: its start-up is part of its time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..gallery.copy import copy
from ..gallery.modelpack import MAX_CONFIG_BYTES, check_model_config
from ..gallery.progress import TransferProgress
from ..gallery.reference import RevisionRef, check_model_name
from ..gallery.referrers import read_blob
from ..gallery.stores.directory import DirectoryTarget
from .context import Context
from .galleries import Gallery
from .missing import explained
from .reports import require_validation


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


def default_destination(model: str) -> Path:
    return Path.cwd() / model.rsplit("/", 1)[-1]


def pull_model(
    ctx: Context,
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
    with explained(gallery, model, ref):
        manifest = repo.fetch_manifest(ref.reference)
    if require_validated if require_validated is not None else gallery.settings.require_validated:
        require_validation(repo, manifest, model, f"{model}{ref} ({manifest.digest[:19]})", gallery.settings.store,
                           "pull with --no-require-validated")
    dest = dest or default_destination(model)
    target = DirectoryTarget(dest, ctx.digests(), jobs)
    files = target.prepare(manifest)  # every path checked before anything is written
    check_model_config(read_blob(repo, manifest.config, limit=MAX_CONFIG_BYTES))
    target.begin()
    result = copy(repo, manifest, target, jobs=jobs, progress=progress, network=gallery.network)
    return PullResult(
        store=gallery.store.description,
        model=model,
        digest=manifest.digest,
        path=str(target.dest),
        files=len(files),
        bytes_total=sum(f.size for f in files),
        bytes_downloaded=result.bytes_moved,
    )
