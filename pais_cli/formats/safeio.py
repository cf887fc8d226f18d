"""Opening model files for reading without being stalled by them.

The directory snapshot already leaves FIFOs, sockets and devices out, but a file can be swapped
for one between the snapshot and the read. Opening a FIFO blocks until a writer appears and
reading a device never ends, so every reader in `formats` opens through `open_regular`: the
open does not block (O_NONBLOCK), does not follow a final symbolic link swapped in (O_NOFOLLOW
applies only when asked), and anything that is not a regular file is refused before one byte is read.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import IO


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or directory: never read."""


def open_regular(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path} is not a regular file (device, socket, pipe or directory); not read")
        os.set_blocking(fd, True)
        return io.open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_prefix(path: Path, limit: int) -> bytes:
    """At most `limit` bytes from the start of a regular file."""
    with open_regular(path) as f:
        return f.read(limit)
