"""One snapshot of a model directory, taken once per command.

Validation, engine detection and packing all read the same snapshot, so a push validates
exactly the files it packs: the directory is walked and hashed once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelDirectoryError, UnsafeArtifact
from .digests import DigestCache
from .paths import check_relative_path


@dataclass(frozen=True)
class DirectoryProblem:
    """Something in a model directory that cannot be stored safely."""

    path: str
    rule: str
    message: str
    hint: str


@dataclass(frozen=True)
class SnapshotFile:
    path: str  # relative POSIX path in the model
    full: Path  # where its bytes are now
    size: int
    digest: str  # sha256:...
    mode: int = 0o644  # normalised: 0o644, or 0o755 when any execute bit is set
    fresh: bool = False  # the digest was computed from the bytes by this snapshot, not taken from a cache


@dataclass
class DirectorySnapshot:
    """A model directory's regular files (sorted, hashed), the hidden entries left out, and
    what cannot be stored (links out of the model, special files, unsafe names)."""

    root: Path
    files: list[SnapshotFile]
    skipped: list[str] = field(default_factory=list)
    problems: list[DirectoryProblem] = field(default_factory=list)

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)

    def raise_for_problems(self) -> None:
        """For callers that store the files without validating them first (push --skip-validation)."""
        if self.problems:
            first = self.problems[0]
            raise ModelDirectoryError(first.message, first.hint)


def normalised_mode(st_mode: int) -> int:
    return 0o755 if st_mode & 0o111 else 0o644


def scan_directory(directory: Path, include_hidden: bool = False) -> tuple[list[tuple[str, Path, os.stat_result]], list[str], list[DirectoryProblem]]:
    """Regular files under `directory` (sorted by path bytes), hidden entries left out, problems."""
    root = directory.resolve()
    if not root.is_dir():
        raise ModelDirectoryError(f"{directory} is not a directory", "give the model's directory, e.g. pais models push ./my-model")
    found: list[tuple[str, Path, os.stat_result]] = []
    skipped: list[str] = []
    problems: list[DirectoryProblem] = []

    def unreadable(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        problems.append(DirectoryProblem(rel, "format.unreadable", f"{rel} cannot be read: {exc.strerror}",
                                         "make it readable by this user, or remove it from the model"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(dirnames):
            rel = (rel_dir / name).as_posix()
            if not include_hidden and name.startswith("."):
                skipped.append(rel + "/")
                dirnames.remove(name)
            elif (Path(dirpath) / name).is_symlink():
                # os.walk does not descend into linked directories; we refuse them outright.
                problems.append(DirectoryProblem(rel, "format.symlink", f"{rel} is a symbolic link to a directory",
                                                 "replace it with a real directory (hf download --local-dir writes real files)"))
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if not include_hidden and name.startswith("."):
                skipped.append(rel)
                continue
            full = Path(dirpath) / name
            try:
                check_relative_path(rel)
            except UnsafeArtifact as exc:
                problems.append(DirectoryProblem(rel, "format.path-name", f"file name {rel!r} cannot be stored: {exc.message}",
                                                 "rename the file"))
                continue
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = full.resolve()
                if not target.is_relative_to(root) or not target.is_file():
                    problems.append(DirectoryProblem(
                        rel, "format.symlink", f"{rel} is a symbolic link to {os.readlink(full)}, outside the model or not a file",
                        "copy the file into the model directory instead of linking to it"))
                    continue
                st = target.stat()
            elif not stat.S_ISREG(st.st_mode):
                problems.append(DirectoryProblem(rel, "format.special-file", f"{rel} is not a regular file (device, socket or pipe)",
                                                 "remove device files, sockets and pipes from the model"))
                continue
            found.append((rel, full, st))
    found.sort(key=lambda item: item[0].encode("utf-8"))
    if not found and not problems:
        raise ModelDirectoryError(f"no files in {directory}", "a model directory needs at least one file")
    return found, sorted(skipped), problems


@dataclass
class DirectoryListing:
    """A directory walked but not yet read: enough for checks that need only paths and sizes."""

    root: Path
    entries: list[tuple[str, Path, os.stat_result]]
    skipped: list[str]
    problems: list[DirectoryProblem]

    @property
    def sizes(self) -> dict[str, int]:
        return {rel: st.st_size for rel, _, st in self.entries}


def list_directory(directory: Path, include_hidden: bool = False) -> DirectoryListing:
    entries, skipped, problems = scan_directory(directory, include_hidden)
    return DirectoryListing(directory.resolve(), entries, skipped, problems)


def snapshot_directory(directory: Path, digests: DigestCache, include_hidden: bool = False, jobs: int = 4,
                       rehash: bool = False) -> DirectorySnapshot:
    """Walk `directory` once and hash every file (the digest cache answers for unchanged ones)."""
    return snapshot_listing(list_directory(directory, include_hidden), digests, jobs, rehash)


def snapshot_listing(listing: DirectoryListing, digests: DigestCache, jobs: int = 4, rehash: bool = False,
                     on_hashed: Callable[[str, int], None] | None = None) -> DirectorySnapshot:
    """Hash every listed file. A file that cannot be read is a problem that names it, never a
    file silently left out.

    `rehash`: compute every digest from the bytes, ignoring the stat-keyed digest cache (a file
    rewritten with its old size and times would fool it), and mark the files `fresh`: what is
    looked up by digest in a result cache must be the digest of these bytes."""
    entries, skipped, problems = listing.entries, listing.skipped, list(listing.problems)

    def digest(entry: tuple[str, Path, os.stat_result]) -> str | OSError:
        rel, full, st = entry
        try:
            return digests.rehash(full) if rehash else digests.digest(full)
        except OSError as exc:
            return exc
        finally:
            if on_hashed is not None:
                on_hashed(rel, st.st_size)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        file_digests = list(pool.map(digest, entries))
    files = []
    for (rel, full, st), d in zip(entries, file_digests):
        if isinstance(d, OSError):
            problems.append(DirectoryProblem(rel, "format.unreadable", f"{rel} cannot be read: {d.strerror}",
                                             "make it readable by this user, or remove it from the model"))
            continue
        files.append(SnapshotFile(rel, full, st.st_size, d, normalised_mode(st.st_mode), rehash))
    return DirectorySnapshot(listing.root, files, skipped, problems)
