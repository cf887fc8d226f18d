"""What a Hugging Face download left in a model directory, read back as data.

``.cache/huggingface/download/<path>.metadata`` (written by huggingface_hub, also by
``hf download --local-dir``), one per file, three lines::

    <commit sha, 40 hex>
    <etag: sha256 of the content (64 hex) for LFS files; git blob sha1 (40 hex) otherwise>
    <unix timestamp of the download>

The git blob sha1 is ``sha1(b"blob <size>\\0" + content)``, the id git gives the file.
``.pais/source.json`` is pais's own record of the download (see `pais_cli.hub`).
`hub_expected_digests` reads both; the `integrity` check compares the files with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnsafeArtifact

SOURCE_FILE = ".pais/source.json"
SOURCE_SCHEMA_VERSION = 1
HF_DOWNLOAD_DIR = ".cache/huggingface/download"
HF_TREE_DIR = ".cache/huggingface/trees"
SHA256 = "sha256"
GIT_BLOB_SHA1 = "git-blob-sha1"
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX40 = re.compile(r"[0-9a-f]{40}")
_CHUNK = 4 * 1024 * 1024


def check_repo_path(name: str) -> None:
    """A repo file name that can only land inside the destination."""
    if (not name or name.startswith("/") or "\\" in name or "\x00" in name
            or any(unicodedata.category(ch) == "Cc" for ch in name)
            or any(part in ("", ".", "..") for part in name.split("/"))
            or re.match(r"^[A-Za-z]:", name)):
        raise UnsafeArtifact(f"the Hub lists a file named {name!r}, which would be written outside the destination",
                             "refused: this repo is not safe to download")


@dataclass(frozen=True)
class ExpectedDigest:
    """What the Hub published for one file: a sha256 (LFS files) or a git blob sha1 (others)."""

    path: str
    algorithm: str  # SHA256 or GIT_BLOB_SHA1
    value: str  # lowercase hex
    commit: str | None = None
    size: int | None = None
    sources: tuple[str, ...] = ()  # the metadata files that say so
    conflicts: tuple[str, ...] = ()  # other values other sources gave

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self.value}"

    def actual(self, full: Path, sha256: str | None = None) -> str:
        """The same kind of digest, of the file at `full` (a known sha256 saves hashing)."""
        if self.algorithm == SHA256:
            return sha256.removeprefix("sha256:") if sha256 else _hash_file(full, hashlib.sha256())
        return git_blob_sha1(full)


def git_blob_sha1(path: Path) -> str:
    """The id git gives a file's content: sha1 of b"blob <size>\\0" + content."""
    h = hashlib.sha1()
    h.update(b"blob %d\0" % path.stat().st_size)
    return _hash_file(path, h)


def _hash_file(path: Path, h: Any) -> str:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return str(h.hexdigest())


def _classify(value: str) -> str | None:
    value = value.strip().lower()
    if value.startswith("w/"):
        value = value[2:]
    value = value.strip('"')
    if HEX64.fullmatch(value):
        return SHA256
    if HEX40.fullmatch(value):
        return GIT_BLOB_SHA1
    return None


def read_metadata(path: Path) -> tuple[str, str, float] | None:
    """(commit, etag, timestamp) of a huggingface_hub local-dir download metadata file."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 4096:
            return None
        lines = path.read_text(encoding="utf-8").splitlines()
        commit, etag, timestamp = lines[0].strip(), lines[1].strip().strip('"').lower(), float(lines[2])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None
    return commit, etag, timestamp


def read_source_record(model_root: Path) -> dict[str, Any] | None:
    """The `.pais/source.json` of a downloaded directory, or None when there is none.

    Raises ValueError when it exists but is not a schemaVersion 1 record.
    """
    path = Path(model_root) / SOURCE_FILE
    if path.is_symlink() or not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("schemaVersion") != SOURCE_SCHEMA_VERSION \
            or not isinstance(record.get("files"), list):
        raise ValueError(f"{SOURCE_FILE} is not a pais source record (schemaVersion {SOURCE_SCHEMA_VERSION})")
    return record


def hub_expected_digests(model_root: Path, problems: list[str] | None = None) -> dict[str, ExpectedDigest]:
    """Per file path, the digest the Hub published, from the download metadata in `model_root`.

    Sources: huggingface_hub's ``.cache/huggingface/download/<path>.metadata`` (etag: sha256 for
    LFS files, git blob sha1 otherwise) and pais's ``.pais/source.json``. Where both speak of a
    file and disagree, the value from the download metadata is kept and the other is listed in
    `conflicts`. Unreadable metadata is skipped and described in `problems`, when given.
    """
    root = Path(model_root)
    found: dict[str, ExpectedDigest] = {}

    def note(message: str) -> None:
        if problems is not None:
            problems.append(message)

    def add(path: str, algorithm: str, value: str, commit: str | None, size: int | None, source: str) -> None:
        try:
            check_repo_path(path)
        except UnsafeArtifact:
            note(f"{source} names an unsafe path {path!r}")
            return
        old = found.get(path)
        if old is None:
            found[path] = ExpectedDigest(path, algorithm, value, commit, size, (source,))
        elif (old.algorithm, old.value) == (algorithm, value) and (old.size is None or size is None or old.size == size):
            found[path] = ExpectedDigest(path, algorithm, value, old.commit or commit,
                                         old.size if old.size is not None else size,
                                         old.sources + (source,), old.conflicts)
        else:
            claim = f"{algorithm}:{value}" + (f" ({size} bytes)" if size is not None else "")
            found[path] = ExpectedDigest(path, old.algorithm, old.value, old.commit, old.size, old.sources,
                                         old.conflicts + (f"{source} says {claim}",))

    download_dir = root / HF_DOWNLOAD_DIR
    if download_dir.is_dir() and not download_dir.is_symlink():
        for dirpath, dirnames, filenames in os.walk(download_dir, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(".metadata"):
                    continue  # .lock files and .incomplete downloads
                meta_path = Path(dirpath) / name
                rel = meta_path.relative_to(download_dir).as_posix()
                path = rel[: -len(".metadata")]
                meta = read_metadata(meta_path)
                if meta is None:
                    note(f"{HF_DOWNLOAD_DIR}/{rel} is not a valid download metadata file")
                    continue
                commit, etag, _ = meta
                algorithm = _classify(etag)
                if algorithm is None:
                    note(f"{HF_DOWNLOAD_DIR}/{rel} has etag {etag!r}, neither a sha256 nor a git blob sha1")
                    continue
                add(path, algorithm, etag, commit if HEX40.fullmatch(commit) else None, None, f"{HF_DOWNLOAD_DIR}/{rel}")

    # huggingface_hub (2.x) also caches the Hub's tree listing per commit: it corroborates the
    # files found above and adds their sizes. It lists every file of the commit, downloaded or
    # not (allow_patterns), so it adds no files of its own.
    for commit in sorted({e.commit for e in found.values() if e.commit}):
        tree_path = root / HF_TREE_DIR / f"{commit}.json"
        if tree_path.is_symlink() or not tree_path.is_file():
            continue
        try:
            listing = json.loads(tree_path.read_text(encoding="utf-8")).get("files")
        except (OSError, ValueError, AttributeError):
            listing = None
        if not isinstance(listing, dict):
            note(f"{HF_TREE_DIR}/{commit}.json is not a tree listing")
            continue
        source = f"{HF_TREE_DIR}/{commit}.json"
        for path, info in listing.items():
            old = found.get(path)
            if old is None or old.commit != commit or not isinstance(info, dict):
                continue
            size = info.get("lfs_size", info.get("size"))
            size = size if isinstance(size, int) else None
            if isinstance(info.get("lfs_sha256"), str):
                add(path, SHA256, info["lfs_sha256"].lower(), commit, size, source)
            elif isinstance(info.get("blob_id"), str):
                add(path, GIT_BLOB_SHA1, info["blob_id"].lower(), commit, size, source)

    try:
        record = read_source_record(root)
    except (OSError, ValueError) as exc:
        note(f"{SOURCE_FILE} cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        record = None
    if record is not None:
        record_commit = record.get("commit") if isinstance(record.get("commit"), str) else None
        for entry in record["files"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                note(f"{SOURCE_FILE} has a malformed file entry")
                continue
            size = entry.get("size") if isinstance(entry.get("size"), int) else None
            lfs = entry.get("lfs")
            if isinstance(lfs, dict) and isinstance(lfs.get("sha256"), str) and HEX64.fullmatch(lfs["sha256"]):
                add(entry["path"], SHA256, lfs["sha256"], record_commit, size, SOURCE_FILE)
            elif lfs is None and isinstance(entry.get("blobId"), str) and HEX40.fullmatch(entry["blobId"]):
                add(entry["path"], GIT_BLOB_SHA1, entry["blobId"], record_commit, size, SOURCE_FILE)
            else:
                note(f"{SOURCE_FILE} gives no usable digest for {entry['path']}")
    return dict(sorted(found.items()))


