"""A plain model directory as a copy() source (push) or destination (pull).

As a destination it writes each file through a hidden staging folder on the same filesystem,
verifying the digest while streaming, and renames it into place only when whole. Every path
is checked before anything is written; existing links on the way are refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ...errors import UnsafeArtifact
from ...modeldir.digests import DigestCache
from ...modeldir.paths import INCOMPLETE_MARKER, STAGING
from ..modelpack import ModelFile, PackedModel, model_files
from ..oci import Descriptor, Manifest
from .base import Progress, no_progress
from .files import free_bytes, hash_thread, iter_file, write_verified

BIG_BLOB = 64 << 20  # smaller files take a moment whichever way they are hashed


class PackedSource:
    """A packed model directory as a copy() Source: one revision, no tags."""

    def __init__(self, packed: PackedModel) -> None:
        self.packed = packed
        self.location = str(packed.directory)

    def resolve(self, reference: str) -> str:
        return self.packed.manifest.digest

    def fetch_manifest(self, reference: str) -> Manifest:
        return self.packed.manifest

    @contextmanager
    def open_blob(self, desc: Descriptor, offset: int = 0) -> Iterator[Iterator[bytes]]:
        if desc.digest == self.packed.config.digest:
            yield iter([self.packed.config_bytes[offset:]])
        else:
            yield iter_file(self.packed.by_digest[desc.digest], offset)


class DirectoryTarget:
    """Unpacks a model revision into `dest`: a copy() Target."""

    def __init__(self, dest: Path, digests: DigestCache | None = None, jobs: int = 1) -> None:
        self.dest = dest.absolute()
        self.jobs = jobs  # blobs copy() writes at once: decides whether each gets a hashing thread
        self._threaded = False
        self.location = str(self.dest)
        self.staging = self.dest / STAGING
        self.digests = digests or DigestCache()
        self._files: list[ModelFile] = []
        self._manifest: Manifest | None = None

    def prepare(self, manifest: Manifest) -> list[ModelFile]:
        """Check every path of the revision; nothing is written before this returns."""
        files = model_files(manifest)
        for f in files:
            self._check_no_links(f.path)
        self._files = files
        self._manifest = manifest
        self._threaded = hash_thread(min(self.jobs, len({f.digest for f in files if f.size >= BIG_BLOB})))
        return files

    def begin(self) -> None:
        """Mark the destination incomplete until push_manifest finishes it: whoever watches
        the directory can tell half a model from a model."""
        if self.dest.exists() and not self.dest.is_dir():
            raise UnsafeArtifact(f"destination {self.dest} exists and is not a directory", "give a new or existing directory as --dest")
        self.dest.mkdir(parents=True, exist_ok=True)
        marker = {"revision": self._manifest.digest if self._manifest else None, "note": "a pull into this directory has not finished; "
                  "run it again to complete it, or delete the directory"}
        (self.dest / INCOMPLETE_MARKER).write_text(json.dumps(marker) + "\n")

    def free_bytes(self) -> int:
        return free_bytes(self.dest)

    def _check_no_links(self, rel: str) -> None:
        if self.dest.is_symlink():
            raise UnsafeArtifact(f"destination {self.dest} is a symbolic link", "pull into a real directory")
        current = self.dest
        for part in rel.split("/"):
            current = current / part
            if current.is_symlink():
                raise UnsafeArtifact(
                    f"{current} is a symbolic link; writing {rel} through it could leave {self.dest}",
                    "remove the link or pull into an empty directory",
                )
            if not current.exists():
                return
        if not current.is_file():
            raise UnsafeArtifact(f"{current} exists and is not a regular file", "move it away, then pull again")

    def _path(self, f: ModelFile) -> Path:
        return self.dest / f.path

    def _present(self, f: ModelFile) -> bool:
        path = self._path(f)
        return path.is_file() and not path.is_symlink() and path.stat().st_size == f.size and self.digests.digest(path) == f.digest

    def _partial(self, desc: Descriptor) -> Path:
        return self.staging / f"{desc.digest.partition(':')[2]}.partial"

    def has_blob(self, desc: Descriptor) -> bool:
        same = [f for f in self._files if f.digest == desc.digest]
        if not same:
            return True  # the config: a directory keeps only the files
        return any(self._present(f) for f in same)

    def resume_offset(self, desc: Descriptor) -> int:
        partial = self._partial(desc)
        try:
            size = partial.stat().st_size
        except FileNotFoundError:
            return 0
        if size > desc.size:
            partial.unlink()
            return 0
        return size  # == desc.size: complete but not renamed yet; push_blob verifies it

    def push_blob(self, desc: Descriptor, chunks: Iterator[bytes], progress: Progress = no_progress) -> None:
        target = next(f for f in self._files if f.digest == desc.digest)
        self.staging.mkdir(parents=True, exist_ok=True)
        self._path(target).parent.mkdir(parents=True, exist_ok=True)
        # No fsync: a pulled directory is a working copy, written as curl or git would; it is
        # complete only once `.pais-incomplete` is gone, and the on-disk gallery (a store) syncs.
        write_verified(desc, chunks, self._partial(desc), self._path(target), progress, target.mode, sync=False,
                       threaded=self._threaded and desc.size >= BIG_BLOB)
        # Verified while streaming: validation and the next pull need not hash it again.
        self.digests.remember(self._path(target), desc.digest)

    def push_manifest(self, manifest: Manifest, tags: Sequence[str] = (), *, move_tags: bool = True) -> bool:
        """Complete files that share a digest with one already written, by local copy."""
        for f in self._files:
            if self._present(f):
                continue
            twin = next(t for t in self._files if t.digest == f.digest and self._present(t))
            self._path(f).parent.mkdir(parents=True, exist_ok=True)
            self.staging.mkdir(parents=True, exist_ok=True)
            tmp = self.staging / f"{f.digest.partition(':')[2]}.copy"
            shutil.copyfile(self._path(twin), tmp)
            os.chmod(tmp, f.mode)
            os.replace(tmp, self._path(f))
            self.digests.remember(self._path(f), f.digest)
        shutil.rmtree(self.staging, ignore_errors=True)
        (self.dest / INCOMPLETE_MARKER).unlink(missing_ok=True)
        return False
