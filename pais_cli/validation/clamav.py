"""A small clamd client and a windowed scanner that never calls unscanned bytes clean.

Client. The clamd protocol is written here rather than taken from the PyPI `clamd` package
(1.0.2): that package connects TCP sockets with no timeout (it sets one only after connect),
speaks IPv4 only, streams INSTREAM in 1 KiB frames with `send` (not `sendall`), cannot send a
byte range of a file, and turns "INSTREAM size limit exceeded" into a connection reset because
it writes until the pipe breaks before it reads the reply. Here every command uses the
NUL-delimited form (`zCOMMAND\\0`), connects with a timeout, and INSTREAM reads a byte range of
a file from disk in 1 MiB frames (memory stays flat) and still reads clamd's reply when clamd
cuts the stream.

Why windows. clamd answers `OK` WITHOUT scanning a stream larger than MaxFileSize or
MaxScanSize (unless AlertExceedsMax is on), answers "INSTREAM size limit exceeded" past
StreamMaxLength, answers `OK` for a scan it stopped at MaxScanTime, and can never scan more
than 2 GB. So every file is sent as overlapping windows no larger than the daemon's limits,
and a window counts as scanned only when clamd's reply proves it (`OK` inside the limits,
in less time than MaxScanTime, or `FOUND`).

Window size, in order: the config file of the daemon when it is local (min of StreamMaxLength,
MaxFileSize, MaxScanSize, minus 1/16 so that files clamd extracts from a window still fit in
MaxScanSize); else `--clamd-window`; else calibration. Calibration sends streams of candidate
sizes, large to small, that END in a canary, until clamd reports the canary: a size whose canary
comes back FOUND is proven for that daemon. The canary is a stored ZIP holding the 68-byte EICAR
file, because the official database detects EICAR only as a whole file (an EICAR string inside
other bytes is not reported, by design), and clamd extracts the ZIP it finds at the end of the
stream and scans the file in it; a database with an anywhere-in-file EICAR byte signature sees it
too. Sizes from the config or --clamd-window are checked with the same canary and replaced by
calibration when clamd does not scan that far; only when the database cannot see the canary at
all are they taken on trust (that is what --clamd-window is for). No size at all: every byte is
reported not scanned.

Overlap. Consecutive windows share `min(1 MiB, window / 4)` bytes: every byte sequence up to
that length lies whole inside some window, which covers byte signatures (ClamAV's are far
shorter). What windows cannot see: whole-file hashes of files larger than a window, and
logical signatures or containers spanning more than the overlap; a file no larger than a
window goes in one stream and is scanned exactly as clamdscan would.
"""

from __future__ import annotations

import io
import ipaddress
import os
import random
import re
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

FRAME = 1 * MiB  # bytes per INSTREAM frame and per disk read
MAX_OVERLAP = 1 * MiB
MAX_WINDOW = 256 * MiB  # clamd cannot scan 2 GB; this keeps one scan well under MaxScanTime and big files parallel
MIN_WINDOW = 1 * MiB - MiB // 16  # the calibration floor
DEFAULT_REMOTE_JOBS = 2  # concurrent streams when clamd's MaxThreads is unknown
CONNECT_TIMEOUT = 5.0
SCAN_TIMEOUT = 600.0  # one window's upload and scan; MaxScanTime defaults to 120 s
SYSTEM_CLAMD_CONF = Path("/etc/clamav/clamd.conf")
CANARY_PROBE = 64 * KiB  # a stream this small fits any clamd: it tells whether the database sees the canary
CALIBRATION_LADDER = [s * MiB for s in (100, 64, 50, 32, 25, 16, 8, 4, 2, 1)]  # clamd's defaults are 100M and Debian's 25M

# clamd's defaults (clamd.conf(5)) for the options that limit a scan.
DEFAULT_LIMITS = {"StreamMaxLength": 100 * MiB, "MaxFileSize": 100 * MiB, "MaxScanSize": 400 * MiB}
DEFAULT_MAX_THREADS = 10
DEFAULT_MAX_SCAN_TIME_MS = 120_000
SCAN_TIME_GUARD = 0.8  # a window that took this share of MaxScanTime may have been cut short

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class ClamdError(Exception):
    """clamd could not be reached or did not answer as the protocol says."""


class ClamdUnreachable(ClamdError):
    pass


class SourceError(Exception):
    """A file could not be read; not an OSError, so that it is never taken for a socket error."""


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class ClamdAddress:
    kind: Literal["unix", "tcp"]
    path: str = ""  # unix
    host: str = ""  # tcp
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> ClamdAddress:
        """`unix:///PATH` (or a bare absolute path) or `tcp://HOST:PORT` (`[v6]:PORT` for IPv6)."""
        text = text.strip()
        if text.startswith("unix://"):
            path = text[len("unix://"):]
            if not path.startswith("/"):
                raise ValueError(f"invalid clamd address {text!r}: unix:// needs an absolute path (unix:///run/clamd.sock)")
            return cls("unix", path=path)
        if text.startswith("/"):
            return cls("unix", path=text)
        if text.startswith("tcp://"):
            m = re.fullmatch(r"(?:\[([^\]]+)\]|([^:/\[\]]+)):(\d{1,5})/?", text[len("tcp://"):])
            if m and 0 < int(m.group(3)) < 65536:
                return cls("tcp", host=m.group(1) or m.group(2), port=int(m.group(3)))
        raise ValueError(f"invalid clamd address {text!r}: write unix:///PATH or tcp://HOST:PORT")

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix://{self.path}"
        return f"tcp://[{self.host}]:{self.port}" if ":" in self.host else f"tcp://{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.kind == "unix":
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


# --------------------------------------------------------------------------- clamd.conf


_SIZE = re.compile(r"^(\d+)([kKmMgG]?)[bB]?$")


def parse_conf_size(text: str) -> int:
    """clamd.conf sizes: bytes, or with a K/M/G suffix (powers of 1024, as clamd reads them)."""
    m = _SIZE.match(text.strip().strip('"'))
    if not m:
        raise ValueError(f"invalid size {text!r}")
    return int(m.group(1)) * {"": 1, "k": KiB, "m": MiB, "g": GiB}[m.group(2).lower()]


@dataclass
class ClamdConfig:
    """The parts of a clamd.conf that say where clamd listens and how much one stream may hold."""

    path: Path
    local_socket: str | None = None
    tcp_socket: int | None = None
    tcp_addrs: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    max_threads: int = DEFAULT_MAX_THREADS
    max_scan_time_ms: int = DEFAULT_MAX_SCAN_TIME_MS
    database_directory: str | None = None

    @classmethod
    def read(cls, path: Path) -> ClamdConfig:
        conf = cls(path)
        for raw in path.read_text(errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            value = value.strip().strip('"')
            try:
                if key == "LocalSocket":
                    conf.local_socket = value
                elif key == "TCPSocket":
                    conf.tcp_socket = int(value)
                elif key == "TCPAddr":
                    conf.tcp_addrs.append(value)
                elif key in DEFAULT_LIMITS:
                    conf.limits[key] = parse_conf_size(value)
                elif key == "MaxThreads":
                    conf.max_threads = max(1, int(value))
                elif key == "MaxScanTime":
                    conf.max_scan_time_ms = int(value)
                elif key == "DatabaseDirectory":
                    conf.database_directory = value
            except ValueError:
                continue  # clamd itself would refuse such a file; the defaults stand
        return conf

    def address(self) -> ClamdAddress | None:
        """Where a client of this config connects: LocalSocket first, as clamdscan does."""
        if self.local_socket:
            return ClamdAddress("unix", path=self.local_socket)
        if self.tcp_socket:
            host = self.tcp_addrs[0] if self.tcp_addrs else "127.0.0.1"
            return ClamdAddress("tcp", host="127.0.0.1" if host in ("0.0.0.0", "::", "any") else host, port=self.tcp_socket)
        return None

    def serves(self, address: ClamdAddress) -> bool:
        """Whether the daemon this config describes is the one listening at `address`."""
        if address.kind == "unix":
            return bool(self.local_socket) and _same_path(self.local_socket or "", address.path)
        if not address.is_loopback or self.tcp_socket != address.port:
            return False
        return not self.tcp_addrs or any(a in ("0.0.0.0", "::", "any") or ClamdAddress("tcp", host=a, port=1).is_loopback
                                         for a in self.tcp_addrs)

    def window(self) -> int:
        """The largest window this daemon scans whole. 0 means "no limit" for these options."""
        limit = min([v for v in self.limits.values() if v > 0] or [MAX_WINDOW])
        return max(0, min(limit - limit // 16, MAX_WINDOW))


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _running_clamd_configs() -> Iterator[Path]:
    """Config files of the clamd processes on this machine (`-c FILE` / `--config-file=FILE`)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != "clamd":
            continue
        conf: str | None = None
        for i, arg in enumerate(argv[1:], 1):
            if arg in ("-c", "--config-file") and i + 1 < len(argv):
                conf = argv[i + 1]
            elif arg.startswith("--config-file="):
                conf = arg.split("=", 1)[1]
            elif arg.startswith("-c") and len(arg) > 2:
                conf = arg[2:]
        if conf is None:
            yield SYSTEM_CLAMD_CONF
        elif os.path.isabs(conf):
            yield Path(conf)
        else:
            try:
                yield Path(os.readlink(entry / "cwd")) / conf
            except OSError:
                continue


def find_local_config(address: ClamdAddress, explicit: Path | None = None,
                      system: Path | None = None) -> ClamdConfig | None:
    """The config the daemon at `address` runs with, when it is on this machine and readable:
    `explicit` ($PAIS_CLAMD_CONF), a running clamd's `-c` file, or the system clamd.conf, whichever
    names the same socket."""
    if not address.is_loopback:
        return None
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(explicit)
    candidates += list(_running_clamd_configs())
    candidates.append(system if system is not None else SYSTEM_CLAMD_CONF)
    seen: set[Path] = set()
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        try:
            conf = ClamdConfig.read(path)
        except OSError:
            continue
        if conf.serves(address):
            return conf
    return None


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class ClamdVersion:
    engine: str  # "ClamAV 1.4.6"
    database: str | None  # "27500" with the official databases; None with only custom ones
    database_date: str | None

    @classmethod
    def parse(cls, text: str) -> ClamdVersion:
        parts = text.strip().split("/", 2)
        return cls(parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)


@dataclass(frozen=True)
class ScanReply:
    status: Literal["OK", "FOUND", "ERROR"]
    signature: str | None = None  # FOUND
    message: str | None = None  # ERROR

    @property
    def stream_too_long(self) -> bool:
        return self.status == "ERROR" and "size limit exceeded" in (self.message or "")

    @classmethod
    def parse(cls, text: str) -> ScanReply:
        text = text.strip()
        if text.endswith(" FOUND"):
            body = text[: -len(" FOUND")]
            return cls("FOUND", signature=body.split(": ", 1)[1] if ": " in body else body)
        if text.endswith(": OK"):
            return cls("OK")
        return cls("ERROR", message=text.removesuffix(" ERROR") or "no reply")


class ClamdClient:
    """One connection per command, as clamd expects; safe to share between threads."""

    def __init__(self, address: ClamdAddress, connect_timeout: float = CONNECT_TIMEOUT,
                 scan_timeout: float = SCAN_TIMEOUT) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self.scan_timeout = scan_timeout

    def _connect(self) -> socket.socket:
        try:
            if self.address.kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout)
                try:
                    sock.connect(self.address.path)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((self.address.host, self.address.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ClamdUnreachable(f"cannot connect to clamd at {self.address}: {exc.strerror or exc}") from exc
        sock.settimeout(self.scan_timeout)
        return sock

    @staticmethod
    def _read_reply(sock: socket.socket) -> str:
        data = bytearray()
        while not data.endswith(b"\0") and len(data) < 64 * KiB:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.rstrip(b"\0").decode(errors="replace").strip()

    def command(self, name: str) -> str:
        with self._connect() as sock:
            try:
                sock.settimeout(self.connect_timeout)
                sock.sendall(b"z" + name.encode() + b"\0")
                return self._read_reply(sock)
            except OSError as exc:
                raise ClamdError(f"clamd at {self.address} did not answer {name}: {exc}") from exc

    def ping(self) -> None:
        reply = self.command("PING")
        if reply != "PONG":
            raise ClamdError(f"clamd at {self.address} answered PING with {reply!r}")

    def version(self) -> ClamdVersion:
        return ClamdVersion.parse(self.command("VERSION"))

    def max_threads(self) -> int | None:
        """The daemon's scanning-thread limit, as its STATS reports it (`THREADS: live 1 idle 0 max 4`)."""
        try:
            stats = self.command("STATS")
        except ClamdError:
            return None
        m = re.search(r"THREADS:.*?\bmax\s+(\d+)", stats)
        return max(1, int(m.group(1))) if m else None

    def instream(self, frames: Iterable[bytes | memoryview]) -> ScanReply:
        """Stream the frames; the reply, also when clamd stopped reading (StreamMaxLength)."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for frame in frames:
                    if len(frame):
                        sock.sendall(struct.pack("!L", len(frame)))
                        sock.sendall(frame)
                sock.sendall(struct.pack("!L", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd closed early; its reason is waiting in the reply
            except OSError as exc:
                raise ClamdError(f"streaming to clamd at {self.address} failed: {exc}") from exc
            try:
                reply = self._read_reply(sock)
            except OSError as exc:
                raise ClamdError(f"clamd at {self.address} dropped the stream: {exc}") from exc
            if not reply:
                raise ClamdError(f"clamd at {self.address} closed the stream without a reply")
            return ScanReply.parse(reply)

    def scan_range(self, path: Path, offset: int, length: int, buffer: bytearray | None = None) -> ScanReply:
        """INSTREAM bytes [offset, offset+length) of a file, read from disk one frame at a time."""
        frames = read_range(path, offset, length, buffer)
        try:
            return self.instream(frames)
        finally:
            frames.close()  # closes the file now, also when clamd cut the stream short


def read_range(path: Path, offset: int, length: int,
               buffer: bytearray | None = None) -> Generator[memoryview, None, None]:
    """Frames of a byte range; one reused buffer, so memory stays at one frame per stream."""
    buf = buffer if buffer is not None else bytearray(FRAME)
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as f:
            f.seek(offset)
            left = length
            while left > 0:
                n = f.readinto(view[: min(len(buf), left)])
                if not n:
                    raise SourceError(f"{path} ended {left} bytes early: it changed while being scanned")
                left -= n
                yield view[:n]
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def clamd_version(address: str | ClamdAddress, timeout: float = CONNECT_TIMEOUT) -> str:
    """What clamd's VERSION says, e.g. 'ClamAV 1.4.6/27500/Mon Nov 23 09:00:00 2026'."""
    addr = ClamdAddress.parse(address) if isinstance(address, str) else address
    return ClamdClient(addr, connect_timeout=timeout).command("VERSION")


# --------------------------------------------------------------------------- window size


def overlap_for(window: int) -> int:
    return min(MAX_OVERLAP, window // 4)


def plan_windows(size: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """(offset, length) windows covering [0, size); neighbours share `overlap` bytes."""
    if size <= 0:
        return []
    if size <= window:
        return [(0, size)]
    if not 0 <= overlap < window:
        raise ValueError("the overlap must be smaller than the window")
    step = window - overlap
    out: list[tuple[int, int]] = []
    offset = 0
    while True:
        length = min(window, size - offset)
        out.append((offset, length))
        if offset + length >= size:
            return out
        offset += step


_NOISE = random.Random(0x9A15).randbytes(FRAME)
_ZEROS = bytes(FRAME)
_canary_zip: bytes | None = None


def canary_tail() -> bytes:
    """A stored ZIP holding the EICAR file: found by an exact-file EICAR signature (the official
    database's) once clamd extracts it, and by any anywhere-in-file EICAR byte signature."""
    global _canary_zip
    if _canary_zip is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(zipfile.ZipInfo("eicar.com", date_time=(2000, 1, 1, 0, 0, 0)), EICAR)
        _canary_zip = buf.getvalue()
    return _canary_zip


def _canary_frames(size: int, noise: bool) -> Iterator[bytes]:
    tail = canary_tail()
    fill, block = max(0, size - len(tail)), _NOISE if noise else _ZEROS
    while fill > 0:
        n = min(fill, len(block))
        yield block[:n]
        fill -= n
    yield tail


def canary_found(client: ClamdClient, size: int, noise: bool = True) -> bool:
    """Whether clamd scans a stream of `size` bytes to its end: the canary there must come back FOUND.

    Noise costs clamd what real weights cost, so a MaxScanTime too short for this size shows too;
    zeros (3x faster) suffice where MaxScanTime is known and each window's time is checked against it."""
    try:
        reply = client.instream(_canary_frames(size, noise))
    except ClamdUnreachable:
        raise
    except ClamdError:
        return False  # a dropped stream proves nothing
    return reply.status == "FOUND" and not (reply.signature or "").startswith("Heuristics.Limits")


@dataclass(frozen=True)
class Window:
    size: int | None  # None: no size could be established, so nothing can be proven scanned
    source: str  # "config", "option" or "calibration"
    note: str = ""


_window_cache: dict[str, Window] = {}
_window_locks: dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()


def clear_window_cache() -> None:
    with _cache_lock:
        _window_cache.clear()


def calibrate(client: ClamdClient, ladder: list[int] | None = None) -> Window:
    """The largest ladder size whose canary clamd reports; first, whether it reports the canary at all."""
    if not canary_found(client, CANARY_PROBE):
        return Window(None, "calibration", "clamd never reported the canary (a stored ZIP with the EICAR file at the "
                                           "end of a stream): its database has no EICAR signature, or it does not "
                                           "scan ZIP files")
    for size in ladder or CALIBRATION_LADDER:
        window = size - size // 16
        if canary_found(client, window):
            return Window(window, "calibration", f"canary found at the end of a {window}-byte stream")
    return Window(None, "calibration", f"the canary was not found even at the end of a {MIN_WINDOW}-byte stream")


def establish_window(client: ClamdClient, config: ClamdConfig | None, option: int | None) -> Window:
    """The window for this daemon (see the module docstring), established once per process.

    A size from the config or from --clamd-window is checked with the canary; one clamd does not
    scan to its end is replaced by calibration. Without a canary-detecting database such a size is
    taken on trust: that is what --clamd-window is for."""
    key = f"{client.address}|{config.path if config else ''}|{option or ''}"
    with _cache_lock:
        lock = _window_locks.setdefault(key, threading.Lock())
    with lock:  # concurrent checks against one daemon establish its window once
        window = _window_cache.get(key)
        if window is None:
            if config is not None and (option is None or option >= config.window()):
                limits = ", ".join(f"{k} {v}" for k, v in config.limits.items())
                window = _checked(client, config.window(), "config", f"{config.path}: {limits}", noise=False)
            elif option is not None:
                window = _checked(client, option, "option", "--clamd-window")
            else:
                window = calibrate(client)
            _window_cache[key] = window
    return window


def _checked(client: ClamdClient, size: int, source: str, note: str, noise: bool = True) -> Window:
    if canary_found(client, size, noise):
        return Window(size, source, f"{note}; canary confirmed at {size} bytes")
    if canary_found(client, CANARY_PROBE):
        found = calibrate(client)
        return Window(found.size, "calibration",
                      f"{note}, but clamd did not scan a {size}-byte stream to its end; {found.note}")
    return Window(size, source, f"{note}; taken on trust (the database does not detect the canary)")


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class WindowResult:
    file: int  # index into the scanned files
    offset: int
    length: int
    reply: ScanReply | None
    error: str | None
    seconds: float

    @property
    def proven(self) -> bool:
        """clamd's reply shows it scanned every byte of the window."""
        return self.reply is not None and self.reply.status in ("OK", "FOUND") and self.error is None


def scan_window(client: ClamdClient, path: Path, index: int, offset: int, length: int, buf: bytearray,
                max_scan_time_ms: int = DEFAULT_MAX_SCAN_TIME_MS) -> WindowResult:
    """One window through one daemon, with one retry; the reply is trusted only as far as it proves."""
    guard = max_scan_time_ms / 1000 * SCAN_TIME_GUARD if max_scan_time_ms > 0 else None
    error: str | None = None
    reply: ScanReply | None = None
    start = time.perf_counter()
    for _ in range(2):  # one retry: a busy clamd may refuse or drop a connection
        try:
            reply, error = client.scan_range(path, offset, length, buf), None
            break
        except ClamdError as exc:
            error = str(exc)
        except SourceError as exc:
            error = str(exc)
            break
    seconds = time.perf_counter() - start
    if reply is not None and reply.status == "OK" and guard is not None and seconds >= guard:
        reply, error = None, (f"clamd answered OK after {seconds:.0f} s, close to MaxScanTime "
                              f"({max_scan_time_ms / 1000:.0f} s): it may have stopped scanning early")
    elif reply is not None and reply.status == "FOUND" and (reply.signature or "").startswith("Heuristics.Limits"):
        error = f"clamd stopped at one of its limits ({reply.signature})"
        reply = None
    elif reply is not None and reply.status == "ERROR":
        error = ("clamd refused the stream: INSTREAM size limit exceeded (StreamMaxLength)"
                 if reply.stream_too_long else f"clamd answered: {reply.message}")
    return WindowResult(index, offset, length, reply, error, seconds)


def scan_windows(client: ClamdClient, files: list[tuple[Path, int]], window: int, overlap: int, jobs: int,
                 max_scan_time_ms: int = DEFAULT_MAX_SCAN_TIME_MS) -> list[WindowResult]:
    """Scan every window of every file, `jobs` streams at a time; each worker has one frame buffer."""
    work = [(i, off, length) for i, (_, size) in enumerate(files) for off, length in plan_windows(size, window, overlap)]
    local = threading.local()

    def one(item: tuple[int, int, int]) -> WindowResult:
        index, offset, length = item
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = bytearray(FRAME)
        return scan_window(client, files[index][0], index, offset, length, buf, max_scan_time_ms)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="clamd") as pool:
        return list(pool.map(one, work))


def uncovered(size: int, proven: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) ranges of a file that no proven window covers."""
    gaps: list[tuple[int, int]] = []
    pos = 0
    for off, length in sorted(proven):
        if off > pos:
            gaps.append((pos, off))
        pos = max(pos, off + length)
    if pos < size:
        gaps.append((pos, size))
    return gaps
