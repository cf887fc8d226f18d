"""Writing a blob to disk (`write_verified`), on the receiving thread and with a hashing thread
of its own: the same bytes, the same checks, and what arrived before a break is kept."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pais_cli.errors import DigestMismatch, TransferIncomplete
from pais_cli.gallery.oci import Descriptor
from pais_cli.gallery.stores.files import hash_thread, write_verified

MiB = 1 << 20
DATA = os.urandom(5 * MiB + 123)
DESC = Descriptor("application/octet-stream", "sha256:" + hashlib.sha256(DATA).hexdigest(), len(DATA))


def chunks(data: bytes, size: int = 300_000, fail_after: int | None = None) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        if fail_after is not None and start >= fail_after:
            raise TransferIncomplete("blob stream broke off", "run it again")
        yield data[start:start + size]


@pytest.mark.parametrize("threaded", [False, True])
def test_a_whole_blob_is_written_verified_and_renamed(tmp_path: Path, threaded: bool) -> None:
    moved: list[int] = []
    write_verified(DESC, chunks(DATA), tmp_path / "b.partial", tmp_path / "b", moved.append, sync=False, threaded=threaded)
    assert (tmp_path / "b").read_bytes() == DATA and not (tmp_path / "b.partial").exists() and sum(moved) == len(DATA)


@pytest.mark.parametrize("threaded", [False, True])
def test_a_break_keeps_every_byte_received_and_the_next_run_resumes(tmp_path: Path, threaded: bool) -> None:
    partial = tmp_path / "b.partial"
    with pytest.raises(TransferIncomplete):
        write_verified(DESC, chunks(DATA, fail_after=3 * MiB), partial, tmp_path / "b", lambda n: None, threaded=threaded)
    kept = partial.stat().st_size
    assert kept >= 3 * MiB - 300_000 and DATA.startswith(partial.read_bytes()) and not (tmp_path / "b").exists()
    write_verified(DESC, iter([DATA[kept:]]), partial, tmp_path / "b", lambda n: None, threaded=threaded)
    assert (tmp_path / "b").read_bytes() == DATA


@pytest.mark.parametrize("threaded", [False, True])
def test_other_bytes_are_corruption_and_nothing_is_kept(tmp_path: Path, threaded: bool) -> None:
    flipped = bytes([DATA[0] ^ 1]) + DATA[1:]
    with pytest.raises(DigestMismatch, match="corrupt"):
        write_verified(DESC, chunks(flipped), tmp_path / "b.partial", tmp_path / "b", lambda n: None, threaded=threaded)
    with pytest.raises(DigestMismatch, match="more than"):
        write_verified(DESC, chunks(DATA + b"x"), tmp_path / "c.partial", tmp_path / "c", lambda n: None, threaded=threaded)
    assert list(tmp_path.iterdir()) == []


def test_a_hashing_thread_only_where_every_blob_in_flight_has_two_cores() -> None:
    cores = os.cpu_count() or 1
    assert hash_thread(cores // 2 or 1) is (cores >= 2)
    assert hash_thread(cores) is False
