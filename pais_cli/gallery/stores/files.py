"""Writing blobs to disk: verified while streaming, renamed into place only when whole."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from ...errors import DigestMismatch, TransferIncomplete
from ..oci import Descriptor
from .base import Progress

READ_CHUNK = 1024 * 1024


def iter_file(path: Path, offset: int = 0, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        while data := f.read(chunk):
            yield data


def write_verified(
    desc: Descriptor,
    chunks: Iterator[bytes],
    partial: Path,
    final: Path,
    progress: Progress,
    mode: int = 0o644,
) -> None:
    """Append `chunks` to `partial` (which may hold an earlier transfer's first bytes), check the
    whole file against `desc`, then atomically rename it to `final`.

    A failure leaves `final` untouched; a partial file stays for resumption unless its bytes
    are proven wrong, in which case it is removed.
    """
    h = hashlib.sha256()
    done = partial.stat().st_size if partial.exists() else 0
    if done:
        with partial.open("rb") as f:
            while data := f.read(4 * READ_CHUNK):
                h.update(data)
    with partial.open("ab") as f:
        for data in chunks:
            done += len(data)
            if done > desc.size:
                f.close()
                partial.unlink(missing_ok=True)
                raise DigestMismatch(f"blob {desc.digest} is larger than the {desc.size} bytes announced",
                                     "the source store is corrupt or hostile; nothing was kept")
            h.update(data)
            f.write(data)
            progress(len(data))
        f.flush()
        os.fsync(f.fileno())
    if done < desc.size:
        raise TransferIncomplete(
            f"blob {desc.digest} ended after {done} of {desc.size} bytes",
            "run the same command again: it resumes where this one stopped",
        )
    actual = "sha256:" + h.hexdigest()
    if actual != desc.digest:
        partial.unlink(missing_ok=True)
        raise DigestMismatch(
            f"blob {desc.digest} arrived as {actual} ({done} of {desc.size} bytes)",
            "the source store is corrupt or the transfer was tampered with; nothing was kept",
        )
    os.chmod(partial, mode)
    os.replace(partial, final)
