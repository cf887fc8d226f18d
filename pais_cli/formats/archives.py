"""Archive members listed as data, within budgets: zips (by their end record first, so a zip of
70,000 entries is judged from 22 bytes before anything is parsed) and tars (plain or compressed,
streamed: NeMo's `.nemo`, legacy torch tars). Each member comes with its first bytes and, when
small, its whole content, so callers can check it by what it really is. Nothing is extracted.
"""

from __future__ import annotations

import struct
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .safeio import open_regular

HEAD = 4096
EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"


class ArchiveLimit(Exception):
    """A budget ran out; the message carries the numbers."""


@dataclass(frozen=True)
class Budget:
    """Work allowed for one archive, scaled with its size: members, bytes inflated, seconds (a backstop)."""

    members: int
    inflated: int
    seconds: float = 60.0
    small: int = 1 << 20  # members up to this size are read whole (configs, scripts, templates)

    @classmethod
    def for_size(cls, size: int) -> Budget:
        # 10,000 members plus one per 64 KiB: torch zips hold one member per tensor (megabytes
        # each), .npz one per array; tens of thousands of tiny members is a stall, not a model
        return cls(members=10_000 + size // 65536, inflated=min(256 << 30, (64 << 20) + size * 200))


@dataclass
class Member:
    name: str
    size: int  # uncompressed, as declared
    packed: int
    head: bytes = b""
    data: bytes | None = None  # whole content when at most `small` bytes
    link: str | None = None  # tar symlink / hardlink target
    special: bool = False  # tar device, FIFO


def zip_entry_count(path: Path, size: int) -> int | None:
    """Entries the zip's end record declares (zip64 aware); None when there is no end record."""
    with open_regular(path) as f:
        tail_len = min(size, 65536 + 22)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        at = tail.rfind(EOCD)
        if at < 0 or at + 22 > len(tail):
            return None
        count = struct.unpack("<H", tail[at + 10:at + 12])[0]
        loc = at - 20
        if count == 0xFFFF and loc >= 0 and tail[loc:loc + 4] == EOCD64_LOCATOR:
            (offset,) = struct.unpack("<Q", tail[loc + 8:loc + 16])
            if offset + 40 <= size:
                f.seek(offset)
                rec = f.read(40)
                if rec[:4] == b"PK\x06\x06":
                    count = struct.unpack("<Q", rec[32:40])[0]
        return int(count)


def zip_members(path: Path, size: int, budget: Budget) -> Iterator[Member]:
    declared = zip_entry_count(path, size)
    if declared is not None and declared > budget.members:
        raise ArchiveLimit(f"{declared} zip entries exceed the budget of {budget.members} for a file of {size} bytes")
    deadline = time.monotonic() + budget.seconds
    inflated = 0
    with open_regular(path) as f, zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if len(infos) > budget.members:
            raise ArchiveLimit(f"{len(infos)} zip entries exceed the budget of {budget.members} for a file of {size} bytes")
        for info in infos:
            if time.monotonic() > deadline:
                raise ArchiveLimit(f"listing took over {budget.seconds:.0f} s (wall-time backstop)")
            member = Member(info.filename, info.file_size, info.compress_size)
            if not info.is_dir() and not info.flag_bits & 0x1:
                want = info.file_size if info.file_size <= budget.small else HEAD
                inflated += want
                if inflated > budget.inflated:
                    raise ArchiveLimit(f"more than {budget.inflated} bytes inflated")
                try:
                    with zf.open(info) as m:
                        data = m.read(want)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError):
                    data = b""
                member.head = data[:HEAD]
                member.data = data if info.file_size <= budget.small else None
            yield member


def tar_members(path: Path, size: int, budget: Budget) -> Iterator[Member]:
    deadline = time.monotonic() + budget.seconds
    inflated = 0
    with open_regular(path) as f, tarfile.open(fileobj=f, mode="r|*") as tf:
        for count, info in enumerate(tf):
            if count >= budget.members:
                raise ArchiveLimit(f"more than {budget.members} tar members, the budget for a file of {size} bytes")
            if time.monotonic() > deadline:
                raise ArchiveLimit(f"reading took over {budget.seconds:.0f} s (wall-time backstop)")
            member = Member(info.name, info.size, info.size)
            if info.issym() or info.islnk():
                member.link = info.linkname
            elif info.ischr() or info.isblk() or info.isfifo():
                member.special = True
            elif info.isfile():
                want = info.size if info.size <= budget.small else HEAD
                inflated += info.size  # a stream reads every byte to reach the next member
                if inflated > budget.inflated:
                    raise ArchiveLimit(f"more than {budget.inflated} bytes inflated")
                ef = tf.extractfile(info)
                data = ef.read(want) if ef is not None else b""
                member.head = data[:HEAD]
                member.data = data if info.size <= budget.small else None
            yield member


def is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False
