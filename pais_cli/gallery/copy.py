"""The one copy: push, pull and promote all move a revision from one store to another.

Walks the manifest, moves only the blobs the destination lacks (mounting where it can, in
parallel up to `jobs`), then stores the manifest and only then the tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .oci import Descriptor, Manifest
from .progress import TransferProgress
from .stores.base import Mounter, Source, Target


@dataclass
class CopyResult:
    digest: str
    bytes_total: int  # every blob of the revision
    bytes_moved: int  # what actually travelled
    blobs_moved: int
    blobs_present: int
    blobs_mounted: int
    subject_indexed: bool = False  # the destination indexed the manifest's subject itself


def copy(
    source: Source,
    manifest: Manifest,
    destination: Target,
    tags: Sequence[str] = (),
    *,
    jobs: int = 4,
    progress: TransferProgress | None = None,
    before_tags: Callable[[], None] | None = None,  # runs once the manifest is in, before any tag
) -> CopyResult:
    progress = progress or TransferProgress()
    unique: dict[str, Descriptor] = {}
    for desc in manifest.blobs:
        unique.setdefault(desc.digest, desc)
    blobs = list(unique.values())
    present = [d for d in blobs if destination.has_blob(d)]
    missing = [d for d in blobs if d not in present]
    # Mounting is a capability some targets have (oras-go's Mounter): asked of the role, not the class.
    mounted = [d for d in missing if isinstance(destination, Mounter) and destination.mount_blob(d, source)]
    to_move = [d for d in missing if d not in mounted]
    offsets = {d.digest: destination.resume_offset(d) for d in to_move}
    progress.plan(sum(d.size - offsets[d.digest] for d in to_move))
    moved = 0

    def move(desc: Descriptor) -> int:
        counted = 0

        def advance(n: int) -> None:
            nonlocal counted
            counted += n
            progress.advance(n)

        with source.open_blob(desc, offsets[desc.digest]) as chunks:
            destination.push_blob(desc, chunks, advance)
        return counted

    # Largest first: keeps every worker busy until the end instead of waiting on one big tail.
    ordered = sorted(to_move, key=lambda d: d.size, reverse=True)
    if len(ordered) <= 1 or jobs <= 1:
        moved = sum(move(d) for d in ordered)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            moved = sum(pool.map(move, ordered))
    if before_tags is not None:
        # The manifest goes in by digest first, so what before_tags attaches (a report) has
        # its subject in place; the tags follow.
        indexed = destination.push_manifest(manifest)
        before_tags()
        if tags:
            destination.push_manifest(manifest, tags)
    else:
        indexed = destination.push_manifest(manifest, tags)
    return CopyResult(
        digest=manifest.digest,
        bytes_total=sum(d.size for d in blobs),
        bytes_moved=moved,
        blobs_moved=len(to_move),
        blobs_present=len(present),
        blobs_mounted=len(mounted),
        subject_indexed=indexed,
    )
