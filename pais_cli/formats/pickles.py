"""Find and analyse pickles in bytes, without ever unpickling anything.

Two layers:

* An opcode walker (`walk_pickles`) that decodes pickle opcodes the way CPython's `_pickle`
  unpickler reads them and runs a *symbolic* stack machine over them: strings, ints and tuples
  are tracked as constants, everything an unpickler would compute (calls, persistent loads,
  buffers) as opaque symbols. That resolves every global an unpickler would import: `GLOBAL`,
  `INST`, and `STACK_GLOBAL` fed through `DUP`, marks or the memo, and it records how each one
  is used (called by `REDUCE`/`NEWOBJ`/`OBJ`/`INST`, or only referenced). Anything that cannot be
  resolved statically (a `STACK_GLOBAL` whose operands are computed at load time, `EXT*` codes)
  is reported as unresolved rather than guessed. The walker is deliberately at least as lenient
  as CPython wherever a value could not matter, and exactly as strict about stack structure, so
  it never stops earlier than a real unpickler would.

* A content sniffer (`scan_file`) that finds pickles wherever a loader would find them, whatever
  the file is called: pickles (several may be concatenated, as in legacy torch files) at the
  start of any file, after a `.npy` header, inside zip/7z/tar archives (torch checkpoints, `.npz`,
  `.keras`), inside gzip/bz2/xz/lzma/zlib/zstd/lz4 streams (joblib, pandas), nested up to a
  depth limit. It also collects Keras configs (`config.json` in `.keras` archives, `model_config`
  JSON embedded in HDF5 files) so the serialization check can vet them.

Where loaders disagree about what bytes mean, the walker models the loader or fails closed:
persistent ids stop loaders without a persistent_load (everything but torch's data.pkl and
legacy pickles); an opcode that straddles a FRAME end reads differently in CPython's C
unpickler (file objects) than in linear decoders, so it is reported as unanalysable; zip members
are read the way PyTorch reads them (no CRC or local-name check), and a zip whose central
directory is not where its end record says (Python and PyTorch then list different members) is
reported too.

Everything is bounded: bytes per pickle, opcodes per stream and per file, memo entries, kept
string bytes, archive members, decompressed bytes, nesting depth. Hitting a bound is reported,
never silently ignored. Nothing here imports, evaluates or executes anything from the input.
"""

from __future__ import annotations

import ast
import bz2
import codecs
import gzip
import io
import json
import lzma
import re
import struct
import tarfile
import time
import zipfile
import zlib

# Python 2 names that a protocol 0-2 pickle is rewritten to on load (`fix_imports`).
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from .archives import is_tar, zip_entry_count
from .safeio import open_regular


@dataclass(frozen=True)
class Limits:
    max_pickle_bytes: int = 2 << 30  # bytes one pickle may span (bytes payloads included)
    max_ops: int = 5_000_000  # opcodes per pickle stream: torch state dicts use tens of thousands
    max_file_ops: int = 20_000_000  # opcodes per model file, all its archive members together
    max_memo: int = 5_000_000  # memo entries per pickle (at most one per opcode)
    max_kept_text: int = 64 << 20  # string bytes kept for name resolution per pickle
    max_pickles_per_stream: int = 16  # legacy torch files hold 5
    max_depth: int = 4  # archive/compression layers below a model file
    max_members: int = 100_000  # entries per archive
    max_buffered_member: int = 256 << 20  # 7z/tar members and nested archives are read into memory
    max_archive_bytes: int = 8 << 30  # decompressed bytes read per model file, all layers together
    max_json_bytes: int = 64 << 20  # JSON documents (config.json, HDF5 model_config)
    max_raw_scan_bytes: int = 16 << 30  # bytes of an HDF5 file searched for embedded JSON
    capture_bytes: int = 16 << 20  # pickles up to this size are kept for a second opinion
    base_members: int = 10_000  # archive members allowed in any archive ...
    bytes_per_member: int = 65536  # ... plus one per this many bytes of it (tensors are megabytes)
    max_seconds: float = 120.0  # wall-time backstop per model file; the counts above bound the work

    def members_for(self, size: int | None) -> int:
        """Members allowed in an archive of `size` bytes: work scales with the file, within max_members."""
        return min(self.max_members, self.base_members + (size or 0) // self.bytes_per_member)


DEFAULT_LIMITS = Limits()

# (module, name) -> predicate over the symbolic call arguments (a `Tup`, usually): for globals
# that are harmless only with particular arguments. Every call is checked, not just the first.
CheckedCalls = dict[tuple[str, str], Callable[[Any], bool]]

KEEP_STR = 4096  # strings longer than this are never names; they are skipped, not kept
CHUNK = 1 << 16
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
HIGHEST_PROTOCOL = 5


# --------------------------------------------------------------------------- symbolic values


class _Sym:
    """An opaque value: what the unpickler would compute, without computing it."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


LIST, DICT, SET, BYTES, NUMBER, UNKNOWN, LONGSTR = (
    _Sym("<list>"), _Sym("<dict>"), _Sym("<set>"), _Sym("<bytes>"), _Sym("<number>"),
    _Sym("<unknown>"), _Sym("<long str>"))


@dataclass(frozen=True)
class GlobalRef:
    """A global as the unpickler resolves it (after Python 2 name mapping), plus the raw spelling."""

    module: str
    name: str
    raw: str = ""  # "module.name" as written in the pickle, when mapping changed it

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Unresolved:
    reason: str


class Call:
    """The result of calling something during unpickling (REDUCE, NEWOBJ, OBJ, INST)."""

    __slots__ = ("func", "kind")

    def __init__(self, func: Any, kind: str) -> None:
        self.func = func
        self.kind = kind

    def __repr__(self) -> str:
        return f"{_summary(self.func)}(...)"


class Persistent:
    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


class Tup:
    """A tuple; at most 16 items are kept (enough for persistent ids and call arguments)."""

    __slots__ = ("items", "length")

    def __init__(self, items: list[Any]) -> None:
        self.length = len(items)
        self.items = tuple(items[:16])


def _summary(value: Any, depth: int = 0) -> str:
    if isinstance(value, GlobalRef):
        return value.dotted
    if isinstance(value, Tup):
        if depth > 2:
            return "(...)"
        inner = ", ".join(_summary(v, depth + 1) for v in value.items)
        more = ", ..." if value.length > len(value.items) else ""
        return f"({inner}{more}{',' if value.length == 1 else ''})"
    if isinstance(value, str):
        return repr(value if len(value) <= 64 else value[:61] + "...")
    if isinstance(value, Unresolved):
        return "<unresolved>"
    if isinstance(value, Persistent):
        return "<persistent>"
    return repr(value)


# --------------------------------------------------------------------------- results


@dataclass
class GlobalUse:
    module: str
    name: str
    uses: set[str] = field(default_factory=set)  # "reduce", "newobj", "obj", "inst", "build", "ref"
    offset: int = 0  # first reference
    raw: str = ""  # spelling in the pickle when Python 2 name mapping changed it
    call_args: list[str] = field(default_factory=list)  # summaries of the first few call arguments
    bad_calls: list[str] = field(default_factory=list)  # calls a `checked_calls` predicate rejected

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def called(self) -> bool:
        return bool(self.uses & {"reduce", "newobj", "obj", "inst"})


@dataclass
class PickleInfo:
    location: str  # "file", "file!member" or "file (after the .npy header)"
    index: int  # position in a stream of concatenated pickles, from 0
    offset: int  # byte offset in the stream
    end: int = 0
    protocol: int | None = None
    complete: bool = False  # reached STOP with a well-formed stack
    error: str | None = None  # why the walk stopped before STOP
    limit_hit: bool = False  # stopped by one of our bounds, not by the data
    ambiguous: bool = False  # stopped because loaders would read the bytes differently (a FRAME straddle)
    ops: int = 0
    globals: dict[tuple[str, str], GlobalUse] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)  # globals we cannot name statically
    anomalies: list[str] = field(default_factory=list)  # calls on non-globals, BUILD on a global
    unresolved_calls: list[str] = field(default_factory=list)  # the anomalies that call an unresolved global
    persistent_ids: list[str] = field(default_factory=list)  # first few, summarised
    persistent_count: int = 0
    result_int: int | None = None  # the unpickled value when it is a plain int (torch magic)
    raw: bytes | None = None  # the pickle's bytes, when small enough to keep

    @property
    def pickle_like(self) -> bool:
        """True when this is worth reporting: complete, or a partial walk that did something."""
        return self.complete or self.limit_hit or bool(self.globals or self.unresolved or self.anomalies)

    @property
    def label(self) -> str:
        return self.location if self.index == 0 else f"{self.location} (pickle #{self.index + 1} at byte {self.offset})"


@dataclass
class Problem:
    """Something the scanner could not analyse, or a structure worth reporting."""

    LIMITS = "serialization.resource-limits"  # a work budget ran out: the numbers are in the message

    location: str
    rule: str  # e.g. "serialization.unanalysable"
    severity: str  # "error" | "warning" | "info"
    message: str


@dataclass
class KerasNode:
    """One serialized Keras object from a config: enough to judge it."""

    location: str
    class_name: str
    module: str | None
    name: str | None
    registered_name: str | None


@dataclass
class FileScan:
    path: str
    pickles: list[PickleInfo] = field(default_factory=list)
    archives: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    keras: list[KerasNode] = field(default_factory=list)
    keras_configs: list[str] = field(default_factory=list)  # where Keras configs were found
    kinds: set[str] = field(default_factory=set)  # "pickle", "torch-zip", "torch-legacy", ...
    decompressed: int = 0
    ops: int = 0  # opcodes walked in this file
    ops_exhausted: bool = False
    torchscript: list[str] = field(default_factory=list)  # locations of TorchScript archives ("file!" prefixes)
    torchscript_code: list[tuple[str, str]] = field(default_factory=list)  # (location, source) of code/*.py
    keras_flags: list[tuple[str, str]] = field(default_factory=list)  # (location, what) e.g. safe_mode off


# --------------------------------------------------------------------------- bounded reader


class _EOF(Exception):
    pass


class _Malformed(Exception):
    pass


class _Limit(Exception):
    pass


class _Straddle(_Limit):
    """An opcode crosses the end of a FRAME. Pickles never do that, and CPython's C unpickler
    reading from a file object (torch.load's zip path uses a BytesIO) then drops the rest of the
    frame and reads the opcode from the bytes after it, while pickletools, picklescan and this
    walker read straight on: the two see different programs in the same bytes."""


class _Reader:
    """Exact reads, line reads and skips over a stream, with a byte budget per pickle.

    `size` is the stream's length when known: a length prefix past the end is then plain EOF
    (not a pickle) rather than a budget overrun. `truncated` streams were cut by one of our
    bounds, so running out of bytes is a limit, not the end of the data."""

    def __init__(self, raw: IO[bytes], size: int | None, seekable: bool, truncated: bool = False) -> None:
        self._raw = raw
        self._size = size
        self._seekable = seekable
        self._truncated = truncated
        self._buf = b""
        self._i = 0
        self.pos = 0
        self.limit: int | None = None
        self.capture: bytearray | None = None
        self.capture_cap = 0
        self.frame_end: int | None = None  # end of the current FRAME, as _pickle.c buffers it

    def _eof(self) -> Exception:
        return _Limit("stream truncated by a size bound") if self._truncated else _EOF()

    def _raw_read(self, n: int) -> bytes:
        try:
            return self._raw.read(n)
        except (_Limit, _Malformed):
            raise
        except Exception:  # a corrupt compressed stream ends here for any loader too
            return b""

    def _fill(self, end: int) -> None:
        while end > len(self._buf):
            chunk = self._raw_read(max(CHUNK, end - len(self._buf)))
            if not chunk:
                raise self._eof()
            self._buf = self._buf[self._i:] + chunk
            end -= self._i
            self._i = 0

    def _captured(self, data: bytes) -> None:
        if self.capture is not None:
            if len(self.capture) + len(data) > self.capture_cap:
                self.capture = None
            else:
                self.capture += data

    def _check_limit(self) -> None:
        if self.limit is not None and self.pos > self.limit:
            raise _Limit("pickle larger than the byte bound")

    def _frame(self, n: int) -> None:
        fe = self.frame_end
        if fe is None:
            return
        if self.pos >= fe:
            self.frame_end = None
        elif self.pos + n > fe:
            raise _Straddle(f"an opcode crosses the end of a FRAME at byte {fe}; CPython's unpickler and linear "
                            "decoders (pickletools, picklescan) read different opcodes from there")

    def start_frame(self, n: int) -> None:
        fe = self.frame_end
        if fe is not None and self.pos < fe:
            if self.pos + n > fe:
                raise _Straddle(f"a FRAME inside a frame it does not fit in (byte {self.pos}); CPython's "
                                "unpickler and linear decoders read different opcodes from there")
            return  # _pickle.c keeps the outer frame's buffer; nothing changes
        if self._size is not None and self.pos + n > self._size:
            raise self._eof()  # _pickle.c fails reading the frame
        self.frame_end = self.pos + n

    def at_eof(self) -> bool:
        if self._i < len(self._buf):
            return False
        chunk = self._raw_read(CHUNK)
        self._buf, self._i = chunk, 0
        return not chunk

    def read(self, n: int) -> bytes:
        self._frame(n)
        self._fill(self._i + n)
        data = self._buf[self._i:self._i + n]
        self._i += n
        self.pos += n
        self._check_limit()
        self._captured(data)
        return data

    def skip(self, n: int) -> None:
        self._frame(n)
        avail = len(self._buf) - self._i
        if n <= avail:
            self._captured(self._buf[self._i:self._i + n])
            self._i += n
            self.pos += n
            self._check_limit()
            return
        if self._size is not None and self.pos + n > self._size:
            raise self._eof()
        self.capture = None  # a skipped payload cannot be replayed to a second opinion
        left = n - avail
        self.pos += avail
        self._buf, self._i = b"", 0
        if self._seekable and self._size is not None:
            if self.limit is not None and self.pos + left > self.limit:
                raise _Limit("pickle larger than the byte bound")
            self._raw.seek(left, io.SEEK_CUR)
            self.pos += left
            return
        while left:
            chunk = self._raw_read(min(left, 1 << 20))
            if not chunk:
                raise self._eof()
            left -= len(chunk)
            self.pos += len(chunk)
            self._check_limit()

    def readline(self) -> tuple[bytes, bool]:
        """A line without its newline, keeping at most KEEP_STR bytes; (line, was_cut)."""
        self._frame(0)
        line_start = self.pos
        kept = bytearray()
        total = 0
        while True:
            j = self._buf.find(b"\n", self._i)
            end = j + 1 if j >= 0 else len(self._buf)
            seg = self._buf[self._i:end]
            self._captured(seg)
            self.pos += len(seg)
            self._i = end
            total += len(seg)
            if len(kept) <= KEEP_STR:
                kept += seg[:KEEP_STR + 1 - len(kept)]
            self._check_limit()
            if j >= 0:
                if self.frame_end is not None and line_start < self.frame_end < self.pos:
                    raise _Straddle(f"a line crosses the end of a FRAME at byte {self.frame_end}; CPython's "
                                    "unpickler and linear decoders read different opcodes from there")
                length = total - 1  # without the newline
                if length > KEEP_STR:
                    return bytes(kept[:KEEP_STR]), True
                return bytes(kept[:length]), False
            chunk = self._raw_read(CHUNK)
            if not chunk:
                raise self._eof()
            self._buf, self._i = chunk, 0


# --------------------------------------------------------------------------- opcode walker


def _effective(module: str, name: str, proto: int) -> GlobalRef:
    """The global CPython imports: protocol 0-2 pickles get Python 2 names mapped (fix_imports)."""
    if proto < 3:
        if (module, name) in NAME_MAPPING:
            m, n = NAME_MAPPING[(module, name)]
            return GlobalRef(m, n, f"{module}.{name}")
        if module in IMPORT_MAPPING:
            return GlobalRef(IMPORT_MAPPING[module], name, f"{module}.{name}")
    return GlobalRef(module, name)


def _maybe_str(value: Any) -> bool:
    """Whether a STACK_GLOBAL operand could be a str at load time: strings, and anything computed
    (a global such as os.sep is a str; a call may return one). Containers, bytes and numbers are not."""
    if isinstance(value, (str, GlobalRef, Call, Persistent, Unresolved)):
        return True
    return isinstance(value, _Sym) and value not in (LIST, DICT, SET, BYTES, NUMBER)


def _text(data: bytes, encoding: str) -> str | _Sym:
    try:
        return data.decode(encoding, "surrogatepass" if encoding == "utf-8" else "strict")
    except UnicodeDecodeError:
        return UNKNOWN


class _Walk:
    """One pickle, from the reader's position to STOP (or to where a loader would fail)."""

    def __init__(self, reader: _Reader, info: PickleInfo, limits: Limits, ops_left: int,
                 checked_calls: CheckedCalls | None = None, persistent_ok: bool = False) -> None:
        self.checked_calls = checked_calls or {}
        self.persistent_ok = persistent_ok
        self.r = reader
        self.info = info
        self.limits = limits
        self.ops_left = ops_left
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.kept_text = 0
        self.op_offset = 0

    # stack helpers mirror _pickle.c: a mark is a fence, and popping through it is an underflow
    def _fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self._fence():
            raise _Malformed("unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= self._fence():
            raise _Malformed("unpickling stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _Malformed("could not find MARK")
        i = self.marks.pop()
        items = self.stack[i:]
        del self.stack[i:]
        return items

    def push_str(self, data: bytes, encoding: str) -> None:
        if self.kept_text + len(data) > self.limits.max_kept_text:
            self.stack.append(LONGSTR)
            return
        self.kept_text += len(data)
        self.stack.append(_text(data, encoding))

    def counted_string(self, n: int, encoding: str | None) -> None:
        if n > KEEP_STR:
            self.r.skip(n)
            self.stack.append(LONGSTR if encoding else BYTES)
            return
        data = self.r.read(n)
        if encoding is None:
            self.stack.append(BYTES)
        else:
            self.push_str(data, encoding)

    # recording
    def use(self, ref: Any, how: str, args: Any = None) -> None:
        if not isinstance(ref, GlobalRef):
            return
        g = self.info.globals.get((ref.module, ref.name))
        if g is None:
            g = self.info.globals[(ref.module, ref.name)] = GlobalUse(ref.module, ref.name, offset=self.op_offset, raw=ref.raw)
        g.uses.add(how)
        if args is not None:
            if len(g.call_args) < 4:
                g.call_args.append(_summary(args))
            check = self.checked_calls.get((ref.module, ref.name))
            if check is not None and not check(args) and len(g.bad_calls) < 8:
                g.bad_calls.append(f"{_summary(args)} (byte {self.op_offset})")

    def make_global(self, module: str, name: str) -> GlobalRef:
        ref = _effective(module, name, self.proto)
        self.use(ref, "ref")
        return ref

    def unresolved(self, reason: str) -> Unresolved:
        msg = f"{reason} at byte {self.op_offset}"
        if len(self.info.unresolved) < 32:
            self.info.unresolved.append(msg)
        return Unresolved(msg)

    def call(self, func: Any, kind: str, args: Any) -> None:
        if not isinstance(func, (GlobalRef, Unresolved, Call, Persistent)) and func is not UNKNOWN:
            raise _Malformed(f"{kind.upper()} on a value that is not callable")  # TypeError in CPython
        if isinstance(func, GlobalRef):
            self.use(func, kind, args)
        elif isinstance(func, Unresolved):
            message = f"{kind.upper()} at byte {self.op_offset} calls a global that cannot be resolved statically: {func.reason}"
            self.anomaly(message)
            if len(self.info.unresolved_calls) < 32:
                self.info.unresolved_calls.append(message)
        else:
            self.anomaly(f"{kind.upper()} at byte {self.op_offset} calls {_summary(func)}, which is not an imported global")
        self.stack.append(Call(func, kind))

    def anomaly(self, message: str) -> None:
        if len(self.info.anomalies) < 32:
            self.info.anomalies.append(message)

    def line_int(self, base: int) -> int:
        line, cut = self.r.readline()
        if cut:
            raise _Malformed("memo index line too long")
        try:  # _pickle.c parses the line as a C string: it ends at the first NUL
            return int(line.split(b"\0", 1)[0].decode("ascii"), base)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Malformed("bad memo index") from exc

    def line_value(self) -> None:
        """INT, LONG, FLOAT: the value never matters for safety, so any line is accepted."""
        line, cut = self.r.readline()
        if not line and not cut:
            raise _Malformed("empty numeric line")
        value: Any = NUMBER
        if not cut:
            text = line.decode("latin-1").strip().rstrip("L")
            try:
                value = int(text, 0) if text not in ("00", "01") else bool(int(text))
            except ValueError:
                try:
                    value = int(text, 10)
                except ValueError:
                    value = NUMBER
        self.stack.append(value)

    def run(self) -> None:
        r, info, st = self.r, self.info, self.stack
        ops = 0
        while True:
            self.op_offset = r.pos
            code = r.read(1)
            ops += 1
            info.ops = ops
            if ops > self.ops_left:
                raise _Limit(f"more than {self.ops_left} opcodes (the bound left for this stream)")
            c = code[0]
            # -- constants
            if c == 0x4E:  # N NONE
                st.append(None)
            elif c == 0x88:  # NEWTRUE
                st.append(True)
            elif c == 0x89:  # NEWFALSE
                st.append(False)
            elif c == 0x49 or c == 0x4C or c == 0x46:  # I INT, L LONG, F FLOAT
                self.line_value()
            elif c == 0x4A:  # J BININT
                st.append(struct.unpack("<i", r.read(4))[0])
            elif c == 0x4B:  # K BININT1
                st.append(r.read(1)[0])
            elif c == 0x4D:  # M BININT2
                st.append(struct.unpack("<H", r.read(2))[0])
            elif c == 0x8A:  # LONG1
                n = r.read(1)[0]
                st.append(int.from_bytes(r.read(n), "little", signed=True))
            elif c == 0x8B:  # LONG4
                n = struct.unpack("<i", r.read(4))[0]
                if n < 0:
                    raise _Malformed("LONG pickle has negative byte count")
                if n > 64:
                    r.skip(n)
                    st.append(NUMBER)
                else:
                    st.append(int.from_bytes(r.read(n), "little", signed=True))
            elif c == 0x47:  # G BINFLOAT
                r.read(8)
                st.append(NUMBER)
            # -- strings and bytes
            elif c == 0x53:  # S STRING: a quoted, escaped line
                line, cut = r.readline()
                if cut:
                    st.append(LONGSTR)
                else:
                    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
                        raise _Malformed("the STRING opcode argument must be quoted")
                    try:
                        raw = codecs.escape_decode(line[1:-1])[0]
                    except ValueError as exc:
                        raise _Malformed("bad STRING escape") from exc
                    self.push_str(raw, "latin-1")  # loaders decode with ASCII or latin-1
            elif c == 0x54:  # T BINSTRING (length read unsigned, as _pickle.c does)
                self.counted_string(struct.unpack("<I", r.read(4))[0], "latin-1")
            elif c == 0x55:  # U SHORT_BINSTRING
                self.counted_string(r.read(1)[0], "latin-1")
            elif c == 0x56:  # V UNICODE (raw-unicode-escape line)
                line, cut = r.readline()
                if cut:
                    st.append(LONGSTR)
                else:
                    try:
                        self.push_str(line.decode("raw-unicode-escape").encode("utf-8", "surrogatepass"), "utf-8")
                    except UnicodeDecodeError:
                        st.append(UNKNOWN)
            elif c == 0x58:  # X BINUNICODE
                self.counted_string(struct.unpack("<I", r.read(4))[0], "utf-8")
            elif c == 0x8C:  # SHORT_BINUNICODE
                self.counted_string(r.read(1)[0], "utf-8")
            elif c == 0x8D:  # BINUNICODE8
                self.counted_string(struct.unpack("<Q", r.read(8))[0], "utf-8")
            elif c == 0x42:  # B BINBYTES
                self.counted_string(struct.unpack("<I", r.read(4))[0], None)
            elif c == 0x43:  # C SHORT_BINBYTES
                self.counted_string(r.read(1)[0], None)
            elif c == 0x8E or c == 0x96:  # BINBYTES8, BYTEARRAY8
                self.counted_string(struct.unpack("<Q", r.read(8))[0], None)
            elif c == 0x97:  # NEXT_BUFFER: an out-of-band buffer the loader supplies
                st.append(UNKNOWN)
            elif c == 0x98:  # READONLY_BUFFER
                self.top()
            # -- containers (contents are not needed: nothing can take items back out)
            elif c == 0x5D:  # ] EMPTY_LIST
                st.append(LIST)
            elif c == 0x61:  # a APPEND
                self.pop()
                self.top()
            elif c == 0x65:  # e APPENDS
                self.pop_mark()
                self.top()
            elif c == 0x6C:  # l LIST
                self.pop_mark()
                st.append(LIST)
            elif c == 0x29:  # ) EMPTY_TUPLE
                st.append(Tup([]))
            elif c == 0x74:  # t TUPLE
                st.append(Tup(self.pop_mark()))
            elif c in (0x85, 0x86, 0x87):  # TUPLE1..3
                items = [self.pop() for _ in range(c - 0x84)]
                st.append(Tup(items[::-1]))
            elif c == 0x7D:  # } EMPTY_DICT
                st.append(DICT)
            elif c == 0x64:  # d DICT
                if len(self.pop_mark()) % 2:
                    raise _Malformed("odd number of items for DICT")
                st.append(DICT)
            elif c == 0x73:  # s SETITEM
                self.pop()
                self.pop()
                self.top()
            elif c == 0x75:  # u SETITEMS
                items = self.pop_mark()
                self.top()
                if len(items) % 2:
                    raise _Malformed("odd number of items for SETITEMS")
            elif c == 0x8F:  # EMPTY_SET
                st.append(SET)
            elif c == 0x90:  # ADDITEMS
                self.pop_mark()
                self.top()
            elif c == 0x91:  # FROZENSET
                self.pop_mark()
                st.append(SET)
            # -- stack and memo
            elif c == 0x30:  # 0 POP: pops a mark when the current segment is empty
                if self.marks and self.marks[-1] == len(st):
                    self.marks.pop()
                else:
                    self.pop()
            elif c == 0x32:  # 2 DUP
                st.append(self.top())
            elif c == 0x28:  # ( MARK
                self.marks.append(len(st))
            elif c == 0x31:  # 1 POP_MARK
                self.pop_mark()
            elif c in (0x67, 0x68, 0x6A):  # g GET, h BINGET, j LONG_BINGET
                idx = self.line_int(10) if c == 0x67 else (r.read(1)[0] if c == 0x68 else struct.unpack("<I", r.read(4))[0])
                if idx not in self.memo:
                    raise _Malformed(f"memo value not found at index {idx}")
                st.append(self.memo[idx])
            elif c in (0x70, 0x71, 0x72, 0x94):  # p PUT, q BINPUT, r LONG_BINPUT, MEMOIZE
                if c == 0x70:
                    idx = self.line_int(10)
                    if idx < 0:
                        raise _Malformed("negative PUT argument")
                elif c == 0x71:
                    idx = r.read(1)[0]
                elif c == 0x72:
                    idx = struct.unpack("<I", r.read(4))[0]
                else:
                    idx = len(self.memo)
                self.memo[idx] = self.top()
                if len(self.memo) > self.limits.max_memo:
                    raise _Limit(f"more than {self.limits.max_memo} memo entries")
            # -- globals and calls
            elif c == 0x63 or c == 0x69:  # c GLOBAL, i INST: "module\nname\n"
                mod_line, cut1 = r.readline()
                name_line, cut2 = r.readline()
                module = _text(mod_line, "utf-8")
                name = _text(name_line, "utf-8")
                if cut1 or cut2 or not isinstance(module, str) or not isinstance(name, str):
                    ref: Any = self.unresolved("GLOBAL/INST with an over-long or undecodable name")
                else:
                    ref = self.make_global(module, name)
                if c == 0x63:
                    st.append(ref)
                else:
                    self.call(ref, "inst", Tup(self.pop_mark()))
            elif c == 0x93:  # STACK_GLOBAL
                name_v = self.pop()
                mod_v = self.pop()
                if isinstance(mod_v, str) and isinstance(name_v, str):
                    st.append(self.make_global(mod_v, name_v))
                elif all(_maybe_str(v) for v in (mod_v, name_v)):
                    # a computed value might be a str at load time: we cannot name this import
                    st.append(self.unresolved(f"STACK_GLOBAL on computed operands {_summary(mod_v)}, {_summary(name_v)}"))
                else:
                    raise _Malformed("STACK_GLOBAL requires str")
            elif c in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4: copyreg's extension registry
                n = {0x82: 1, 0x83: 2, 0x84: 4}[c]
                code_v = int.from_bytes(r.read(n), "little", signed=(n == 4))
                if code_v <= 0:
                    raise _Malformed("EXT specifies code <= 0")
                st.append(self.unresolved(f"EXT{n} extension code {code_v}"))
            elif c == 0x52:  # R REDUCE
                args = self.pop()
                self.call(self.pop(), "reduce", args)
            elif c == 0x81:  # NEWOBJ
                args = self.pop()
                self.call(self.pop(), "newobj", args)
            elif c == 0x92:  # NEWOBJ_EX
                self.pop()
                args = self.pop()
                self.call(self.pop(), "newobj", args)
            elif c == 0x6F:  # o OBJ
                items = self.pop_mark()
                if not items:
                    raise _Malformed("unpickling stack underflow")
                self.call(items[0], "obj", Tup(items[1:]))
            elif c == 0x62:  # b BUILD: calls the target's __setstate__ or sets attributes
                self.pop()
                target = self.top()
                if isinstance(target, GlobalRef):
                    self.anomaly(f"BUILD at byte {self.op_offset} sets state on the imported object {target.dotted} itself")
                elif isinstance(target, Call):
                    self.use(target.func, "build")
            elif c == 0x50:  # P PERSID
                line, _ = r.readline()
                self.persistent(line.decode("latin-1"))
            elif c == 0x51:  # Q BINPERSID
                self.persistent(self.pop())
            # -- framing
            elif c == 0x80:  # PROTO
                v = r.read(1)[0]
                if v > HIGHEST_PROTOCOL:
                    raise _Malformed(f"unsupported pickle protocol: {v}")
                self.proto = v
                if info.protocol is None:
                    info.protocol = v
            elif c == 0x95:  # FRAME: read ahead; only matters when an opcode straddles its end
                r.start_frame(struct.unpack("<Q", r.read(8))[0])
            elif c == 0x2E:  # . STOP
                value = self.top()
                if r.frame_end is not None and r.pos < r.frame_end:
                    raise _Straddle(f"STOP before the end of its FRAME (byte {r.frame_end}): loaders disagree on "
                                    "where the next pickle starts")
                if isinstance(value, int) and not isinstance(value, bool):
                    info.result_int = value
                info.complete = True
                return
            else:
                raise _Malformed(f"invalid load key {code!r}")

    def persistent(self, pid: Any) -> None:
        if not self.persistent_ok:
            # pickle.load, numpy and joblib have no persistent_load: they stop here
            raise _Malformed("persistent id where the loader has no persistent_load")
        self.info.persistent_count += 1
        if len(self.info.persistent_ids) < 8:
            self.info.persistent_ids.append(_summary(pid))
        self.stack.append(Persistent(pid))


def walk_pickles(stream: IO[bytes], location: str = "", *, size: int | None = None, seekable: bool = False,
                 truncated: bool = False, start: int = 0, limits: Limits = DEFAULT_LIMITS,
                 checked_calls: CheckedCalls | None = None, persistent_ok: bool = False,
                 max_ops: int | None = None, stats: dict[str, int] | None = None) -> tuple[list[PickleInfo], list[Problem]]:
    """Walk the pickles concatenated in `stream` from `start` (legacy torch files hold five;
    some loaders read several). Returns the pickle-like ones and any bound that was hit.

    Persistent ids are honoured where torch.load honours them: `persistent_ok` streams (a torch
    zip's data.pkl, a legacy tar's "pickle" member) and the pickles after a legacy torch magic
    number. Elsewhere a loader has no persistent_load and stops at the first one."""
    reader = _Reader(stream, size, seekable, truncated)
    problems: list[Problem] = []
    out: list[PickleInfo] = []
    try:
        if start:
            reader.skip(start)
    except (_EOF, _Limit):
        return out, problems
    reader.pos = start
    ops_left = limits.max_ops if max_ops is None else max_ops
    for index in range(limits.max_pickles_per_stream + 1):
        try:
            if reader.at_eof():
                break
        except (_Limit, _Malformed):
            break
        if index == limits.max_pickles_per_stream:
            problems.append(Problem(location, Problem.LIMITS, "error",
                                    f"more than {limits.max_pickles_per_stream} concatenated pickles; the rest was not analysed"))
            break
        info = PickleInfo(location, index, reader.pos)
        reader.limit = reader.pos + limits.max_pickle_bytes
        reader.frame_end = None
        reader.capture, reader.capture_cap = bytearray(), limits.capture_bytes
        legacy = bool(out) and out[0].complete and out[0].result_int == TORCH_LEGACY_MAGIC
        walk = _Walk(reader, info, limits, ops_left, checked_calls, persistent_ok or legacy)
        _run(walk)
        info.end = reader.pos
        ops_left -= info.ops
        if stats is not None:
            stats["ops"] = stats.get("ops", 0) + info.ops  # broken walks count too
        if reader.capture is not None:
            info.raw = bytes(reader.capture)
        reader.capture = None
        # Each pickle is walked with an empty memo, as pickle.load, torch.load, numpy and joblib
        # read them. A pickle that reads memo entries it never wrote only makes sense to a loader
        # reusing one Unpickler across pickles (the memo survives load() calls): fail closed.
        if index and not info.complete and (info.error or "").startswith("memo value not found"):
            problems.append(Problem(info.label, "serialization.unanalysable", "error",
                                    "reads memo entries left by the pickle before it; not analysed"))
        if info.pickle_like:
            out.append(info)
        if not info.complete:
            break  # a loader stops at the first broken pickle: what follows is data, not code
    return out, problems


def _run(walk: _Walk) -> None:
    info = walk.info
    try:
        walk.run()
    except _EOF:
        info.error = f"data ends inside the pickle (byte {walk.op_offset})"
    except _Malformed as exc:
        info.error = f"{exc} (byte {walk.op_offset})"
    except _Limit as exc:
        info.error = f"{exc} (byte {walk.op_offset})"
        info.limit_hit = True
        info.ambiguous = isinstance(exc, _Straddle)


# --------------------------------------------------------------------------- content sniffing

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
SEVENZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
JOBLIB_ZF = b"ZF"


@dataclass
class _Blob:
    """Something whose bytes can be (re)opened from the start: a file, a member, a stream."""

    location: str
    name: str
    size: int | None
    opener: Callable[[ExitStack], IO[bytes]]
    seekable: bool = False
    data: bytes | None = None  # when held in memory
    truncated: bool = False  # data was cut at a bound
    top_path: Path | None = None

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        with ExitStack() as stack:
            yield self.opener(stack)

    def head(self, n: int = 4096) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with self.open() as f:
            out = b""
            while len(out) < n:
                try:
                    chunk = f.read(n - len(out))
                except (_Limit, _Malformed):
                    raise
                except Exception:
                    break
                if not chunk:
                    break
                out += chunk
            return out


class _Counted(io.RawIOBase):
    """Counts decompressed bytes against the per-file budget (decompression bombs stop here)."""

    def __init__(self, raw: IO[bytes], scanner: _Scanner) -> None:
        self._raw = raw
        self._scanner = scanner

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n is not None and n >= 0 else CHUNK)
        self._scanner.count(len(data))
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class _ZlibStream(io.RawIOBase):
    """A raw zlib stream (joblib's "zlib" compressor, and its old "ZF" format after the header)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._z = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = CHUNK if n is None or n < 0 else n
        while len(self._pending) < n and not self._z.eof:
            src = self._raw.read(CHUNK)
            if not src:
                break
            self._pending += self._z.decompress(src, max(n, CHUNK))
            while self._z.unconsumed_tail and len(self._pending) < n:
                self._pending += self._z.decompress(self._z.unconsumed_tail, max(n, CHUNK))
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def _open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A zip member as PyTorch's reader (miniz) sees it: no CRC check and no comparison of the
    local header's name with the directory's. Python's zipfile refuses such members, so a scanner
    using it would skip exactly the entries an attacker broke on purpose."""
    member: Any
    try:
        fp = zf.fp
        zef_file = zipfile._SharedFile(fp, info.header_offset, zf._fpclose, zf._lock,  # type: ignore[attr-defined]
                                       lambda: zf._writing)  # type: ignore[attr-defined]
    except AttributeError:  # another Python's internals: fall back to the strict reader
        member = zf.open(info)
    else:
        zf._fileRefCnt += 1  # type: ignore[attr-defined]
        try:
            header = zef_file.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile("bad local file header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            zef_file.read(name_len + extra_len)
            member = zipfile.ZipExtFile(zef_file, "r", info, None, True)  # type: ignore[arg-type]
        except BaseException:
            zef_file.close()
            raise
    if hasattr(member, "_expected_crc"):
        member._expected_crc = None  # a bad CRC stops zipfile at the last chunk, not torch
    return cast(IO[bytes], member)


def _zip_directory_shift(f: IO[bytes]) -> int:
    """How far the central directory sits from where the end record says. Python's zipfile
    trusts the position it finds (and shifts every member by the difference); PyTorch's miniz
    reads the directory at the recorded offset. Non-zero at the start of a zip means the two
    can list entirely different members."""
    try:
        endrec = zipfile._EndRecData(f)  # type: ignore[attr-defined]
    except (AttributeError, OSError, struct.error):
        return 0
    if not endrec:
        return 0
    shift = endrec[zipfile._ECD_LOCATION] - endrec[zipfile._ECD_SIZE] - endrec[zipfile._ECD_OFFSET]  # type: ignore[attr-defined]
    if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # type: ignore[attr-defined]
        shift -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]
    return int(shift)


def _in_memory(data: bytes) -> Callable[[ExitStack], IO[bytes]]:
    return lambda stack: io.BytesIO(data)


def _read_up_to(f: IO[bytes], n: int) -> bytes:
    """Up to n bytes: loops over short reads (raw and decompressing streams return them)."""
    out = bytearray()
    while len(out) < n:
        chunk = f.read(min(n - len(out), 1 << 20))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _looks_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


class _Scanner:
    def __init__(self, scan: FileScan, limits: Limits, checked_calls: CheckedCalls | None = None,
                 on_pickle: Callable[[PickleInfo], None] | None = None) -> None:
        self.scan = scan
        self.limits = limits
        self.checked_calls = checked_calls
        self.on_pickle = on_pickle
        self.deadline = time.monotonic() + limits.max_seconds

    def count(self, n: int) -> None:
        self.scan.decompressed += n
        if self.scan.decompressed > self.limits.max_archive_bytes:
            raise _Limit(f"more than {self.limits.max_archive_bytes} decompressed bytes")

    def problem(self, location: str, message: str, severity: str = "error", rule: str = "serialization.unanalysable") -> None:
        self.scan.problems.append(Problem(location, rule, severity, message))

    def limit(self, location: str, message: str) -> None:
        self.problem(location, message, "error", Problem.LIMITS)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Limit(f"analysis took over {self.limits.max_seconds:.0f} s (wall-time backstop)")

    # ---- one blob: every way a loader could read it, independently (polyglots included)
    def blob(self, blob: _Blob, depth: int) -> None:
        self.check_time()
        try:
            head = blob.head()
        except _Limit as exc:
            self.limit(blob.location, f"not analysed: {exc}")
            return
        if not head:
            return
        self.pickles_at(blob, 0)
        if head.startswith(NPY_MAGIC):
            self.npy(blob, head)
        containers: list[Callable[[_Blob, bytes, int], None]] = []
        if head.startswith(ZIP_MAGIC) or (blob.top_path is not None and zipfile.is_zipfile(blob.top_path)):
            containers.append(self.zip)  # an end-of-archive record is enough: zip polyglots too
        if head.startswith(SEVENZIP_MAGIC):
            containers.append(self.sevenzip)
        if is_tar(head):
            containers.append(self.tar)  # torch.load still reads tar-format checkpoints
        if head.startswith((GZIP_MAGIC, XZ_MAGIC, b"BZh", b"\x5d\x00\x00", JOBLIB_ZF, LZ4_MAGIC, ZSTD_MAGIC)) or _looks_zlib(head):
            containers.append(self.compressed)  # joblib.load (and pandas.read_pickle) decompress
        for container in containers:
            if depth >= self.limits.max_depth:
                self.limit(blob.location, f"archive or compressed stream nested deeper than {self.limits.max_depth} levels; not analysed")
                break
            try:
                container(blob, head, depth + 1)
            except _Limit as exc:
                self.limit(blob.location, f"not fully analysed: {exc}")
        if self.hdf5_candidate(blob, head):
            self.hdf5_json(blob)
        if blob.name.lower().endswith(".json"):
            self.json_file(blob)

    def pickles_at(self, blob: _Blob, start: int, note: str = "") -> list[PickleInfo]:
        location = blob.location + note
        ops_left = self.limits.max_file_ops - self.scan.ops
        if ops_left <= 0:
            if not self.scan.ops_exhausted:
                self.scan.ops_exhausted = True
                self.limit(location, f"more than {self.limits.max_file_ops} opcodes in this file; the rest was not analysed")
            return []
        # torch.load unpickles archive members named *.pkl (data.pkl, constants.pkl) and a legacy
        # tar's "pickle" member with a persistent_load; nothing unpickles a top-level file with one
        persistent_ok = blob.top_path is None and start == 0 and (
            blob.name.lower().endswith(".pkl") or blob.name.rsplit("/", 1)[-1] == "pickle")
        stats: dict[str, int] = {}
        try:
            with blob.open() as f:
                pickles, problems = walk_pickles(f, location, size=blob.size, seekable=blob.seekable,
                                                 truncated=blob.truncated, start=start, limits=self.limits,
                                                 checked_calls=self.checked_calls, persistent_ok=persistent_ok,
                                                 max_ops=min(self.limits.max_ops, ops_left), stats=stats)
        except _Limit as exc:  # the decompression budget ran out under the walker
            self.limit(location, f"not fully analysed: {exc}")
            return []
        except OSError as exc:
            self.problem(location, f"could not be read: {exc}", "warning")
            return []
        self.scan.ops += stats.get("ops", 0)
        for info in pickles:
            if self.on_pickle is not None:
                self.on_pickle(info)
            info.raw = None  # archives may hold many pickles: their bytes are not kept
        self.scan.pickles.extend(pickles)
        self.scan.problems.extend(problems)
        if pickles:
            if pickles[0].complete and pickles[0].result_int == TORCH_LEGACY_MAGIC and start == 0:
                self.scan.kinds.add("torch-legacy")
            else:
                self.scan.kinds.add("pickle")
        return pickles

    def npy(self, blob: _Blob, head: bytes) -> None:
        self.scan.kinds.add("npy")
        if len(head) < 10:
            return
        major = head[6]
        if major == 1:
            hlen, data_off = struct.unpack("<H", head[8:10])[0], 10
        elif major in (2, 3):
            if len(head) < 12:
                return
            hlen, data_off = struct.unpack("<I", head[8:12])[0], 12
        else:
            return  # numpy refuses other versions before reading further
        if hlen > self.limits.max_json_bytes:
            self.limit(blob.location, f".npy header of {hlen} bytes exceeds the bound; not analysed")
            return
        descr = None
        try:
            if hlen > 1 << 16:
                raise ValueError("header too large to parse; the payload is walked anyway")
            with blob.open() as f:
                _read_up_to(f, data_off)
                header = _read_up_to(f, hlen)
            meta = ast.literal_eval(header.decode("latin-1"))  # a literal, as numpy parses it
            descr = meta.get("descr") if isinstance(meta, dict) else None
        except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError, OSError):
            pass
        # numpy unpickles the payload of object arrays; walk it whatever the header says, so a
        # header numpy would read differently than we do cannot hide a pickle
        pickles = self.pickles_at(blob, data_off + hlen, " (after the .npy header)")
        if pickles and "O" not in str(descr):
            self.problem(blob.location, f".npy header says dtype {descr!r}, but its payload is a pickle", "info",
                         "serialization.npy-payload")

    # ---- archives
    def _seekable(self, blob: _Blob, stack: ExitStack) -> IO[bytes] | None:
        """A seekable view of the blob: the file itself, or its bytes in memory when small enough."""
        if blob.data is not None:
            return io.BytesIO(blob.data)
        if blob.seekable:
            return blob.opener(stack)
        if blob.size is not None and blob.size > self.limits.max_buffered_member:
            self.limit(blob.location, f"nested archive of {blob.size} bytes exceeds the "
                         f"{self.limits.max_buffered_member}-byte bound; not analysed")
            return None
        data = _read_up_to(blob.opener(stack), self.limits.max_buffered_member + 1)
        if len(data) > self.limits.max_buffered_member:
            self.limit(blob.location, f"nested archive exceeds the {self.limits.max_buffered_member}-byte bound; not analysed")
            return None
        return io.BytesIO(data)

    def zip(self, blob: _Blob, head: bytes, depth: int) -> None:
        allowed = self.limits.members_for(blob.size)
        declared = _zip_declared_entries(blob) if blob.top_path is not None else None
        if declared is not None and declared > allowed:  # judged from the end record: no listing at all
            self.limit(blob.location, f"{declared} archive members exceed the bound of {allowed} for "
                       f"{blob.size} bytes; not analysed")
            return
        with ExitStack() as stack:
            f = self._seekable(blob, stack)
            if f is None:
                return
            try:
                zf = stack.enter_context(zipfile.ZipFile(f))
                infos = zf.infolist()
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
                if head.startswith(ZIP_MAGIC):
                    self.problem(blob.location, "looks like a zip archive but cannot be opened", "warning")
                return
            if head.startswith(ZIP_MAGIC) and _zip_directory_shift(f):
                self.problem(blob.location, "the zip's central directory is not where its end record says: Python's "
                             "zipfile and PyTorch's reader would list different members")
            names = [i.filename for i in infos]
            kind = "zip"
            if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                kind = "torch-zip"
            elif names and all(n.endswith(".npy") for n in names):
                kind = "npz"
            elif "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
                kind = "keras"
            roots = {n.split("/", 1)[0] for n in names if n.endswith("/constants.pkl")}
            if any(f"{r}/code/" in n for r in roots for n in names[:10_000]) and len(infos) <= allowed:
                kind = "torchscript"
                self.scan.torchscript.append(f"{blob.location}!")
                self.torchscript_code(blob, zf, infos)
            self.scan.kinds.add(kind)
            self.scan.archives.append({"location": blob.location, "kind": kind, "members": len(infos)})
            if len(infos) > allowed:
                self.limit(blob.location, f"{len(infos)} archive members exceed the bound of {allowed} for "
                           f"{blob.size} bytes; not analysed")
                return
            # every entry, by its ZipInfo: duplicate names and odd names are all covered
            for info in infos:
                if info.is_dir():
                    continue
                loc = f"{blob.location}!{info.filename}"
                if info.flag_bits & 0x1:
                    self.problem(loc, "encrypted archive member cannot be analysed")
                    continue

                def opener(st: ExitStack, info: zipfile.ZipInfo = info) -> IO[bytes]:
                    return cast(IO[bytes], _Counted(st.enter_context(_open_member(zf, info)), self))

                try:
                    self.blob(_Blob(loc, info.filename, info.file_size, opener), depth)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                    self.problem(loc, f"archive member cannot be read: {exc}", "warning")

    def torchscript_code(self, blob: _Blob, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
        """The TorchScript source under code/ (torch.jit.load compiles it): kept for the code rules."""
        budget = self.limits.max_json_bytes
        for info in infos:
            if "/code/" not in info.filename or not info.filename.endswith(".py") or info.is_dir():
                continue
            loc = f"{blob.location}!{info.filename}"
            if info.file_size > budget:
                self.limit(loc, f"TorchScript code of {info.file_size} bytes exceeds the remaining bound of {budget}; not analysed")
                return
            try:
                with _open_member(zf, info) as m:
                    data = _read_up_to(cast(IO[bytes], _Counted(m, self)), info.file_size)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error) as exc:
                self.problem(loc, f"TorchScript code cannot be read: {exc}")
                continue
            budget -= len(data)
            self.scan.torchscript_code.append((loc, data.decode("utf-8", "replace")))

    def sevenzip(self, blob: _Blob, head: bytes, depth: int) -> None:
        try:
            import py7zr
            from py7zr.io import Py7zIO, WriterFactory
        except ImportError:
            self.problem(blob.location, "7z archive cannot be analysed: py7zr is not installed")
            return
        scanner = self
        cap = self.limits.max_buffered_member

        class Member(Py7zIO):
            """Keeps the first `cap` bytes of one member; scans it when py7zr finishes it."""

            def __init__(self, name: str) -> None:
                self.name = name
                self.buf = io.BytesIO()
                self.total = 0
                self.done = False

            def write(self, s: bytes | bytearray) -> int:
                scanner.count(len(s))
                room = cap - self.total
                if room > 0:
                    self.buf.write(bytes(s[:room]))
                self.total += len(s)
                return len(s)

            def read(self, size: int | None = None) -> bytes:
                return b""

            def seek(self, offset: int, whence: int = 0) -> int:
                return 0

            def flush(self) -> None:
                pass

            def size(self) -> int:
                return self.total

            def close(self) -> None:
                if self.done:
                    return
                self.done = True
                data = self.buf.getvalue()
                self.buf = io.BytesIO()
                loc = f"{blob.location}!{self.name}"
                scanner.blob(_Blob(loc, self.name, len(data), _in_memory(data), True, data,
                                   truncated=self.total > cap), depth)

        class Factory(WriterFactory):
            def __init__(self) -> None:
                self.products: list[Member] = []

            def create(self, filename: str) -> Py7zIO:
                m = Member(filename)
                self.products.append(m)
                return m

        with ExitStack() as stack:
            f = self._seekable(blob, stack)
            if f is None:
                return
            try:
                archive = stack.enter_context(py7zr.SevenZipFile(f, mode="r", max_extract_size=max(
                    1, self.limits.max_archive_bytes - self.scan.decompressed)))
            except py7zr.exceptions.PasswordRequired:
                self.problem(blob.location, "encrypted 7z archive cannot be analysed")
                return
            except Exception:  # noqa: BLE001 - not a readable 7z archive: nothing a loader could open
                self.problem(blob.location, "looks like a 7z archive but cannot be opened", "warning")
                return
            files = [i for i in archive.list() if not i.is_directory]
            self.scan.kinds.add("7z")
            self.scan.archives.append({"location": blob.location, "kind": "7z", "members": len(files)})
            if archive.needs_password():
                self.problem(blob.location, "encrypted 7z archive cannot be analysed")
                return
            if len(files) > self.limits.members_for(blob.size):
                self.limit(blob.location, f"{len(files)} archive members exceed the bound of "
                           f"{self.limits.members_for(blob.size)} for {blob.size} bytes; not analysed")
                return
            declared = sum(int(i.uncompressed or 0) for i in files)
            if self.scan.decompressed + declared > self.limits.max_archive_bytes:
                self.limit(blob.location, f"7z archive declares {declared} decompressed bytes, over the bound; not analysed")
                return
            factory = Factory()
            try:
                archive.extractall(factory=factory)  # into the Member writers above, never to disk
            except _Limit:
                raise
            except Exception as exc:  # noqa: BLE001 - corrupt member, bomb guard, unsupported codec
                if type(exc).__name__ == "DecompressionBombError":  # py7zr's own guard, at our budget
                    self.limit(blob.location, f"not fully analysed: more than {self.limits.max_archive_bytes} "
                                 "decompressed bytes")
                else:
                    self.problem(blob.location, f"7z archive could not be fully decompressed: {exc}", "warning")
            for member in factory.products:  # members py7zr did not close (errors) are scanned as far as read
                member.close()

    def tar(self, blob: _Blob, head: bytes, depth: int) -> None:
        cap = self.limits.max_buffered_member
        with blob.open() as f:
            try:
                tf = tarfile.open(fileobj=f, mode="r|")  # streaming: members in order, nothing on disk
            except (tarfile.TarError, OSError, EOFError):
                return
            names: list[str] = []
            entry = {"location": blob.location, "kind": "tar", "members": 0}
            self.scan.archives.append(entry)
            try:
                for count, member in enumerate(tf):
                    if count >= self.limits.members_for(blob.size):
                        self.limit(blob.location, f"more than {self.limits.members_for(blob.size)} tar members in "
                                   f"{blob.size} bytes; the rest were not analysed")
                        break
                    self.check_time()
                    entry["members"] = count + 1
                    names.append(member.name)
                    if not member.isfile():
                        continue
                    ef = tf.extractfile(member)
                    if ef is None:
                        continue
                    data = _read_up_to(ef, cap + 1)
                    self.count(len(data))
                    loc = f"{blob.location}!{member.name}"
                    self.blob(_Blob(loc, member.name, min(len(data), cap), _in_memory(data[:cap]), True,
                                    data[:cap], truncated=len(data) > cap), depth)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                self.problem(blob.location, f"tar archive could not be fully read: {exc}", "warning")
            self.scan.kinds.add("torch-tar" if {"sys_info", "pickle", "storages"} <= set(names) else "tar")
            entry["kind"] = "torch-tar" if {"sys_info", "pickle", "storages"} <= set(names) else "tar"

    def compressed(self, blob: _Blob, head: bytes, depth: int) -> None:
        """gzip, bz2, xz, lzma-alone, zlib, joblib "ZF", lz4, zstd: joblib.load decompresses the
        first six by magic number, pandas.read_pickle several by extension."""
        if head.startswith(LZ4_MAGIC):
            try:
                import lz4.frame as lz4frame  # type: ignore[import-not-found]
            except ImportError:
                self.problem(blob.location, "lz4-compressed stream (joblib can load it) cannot be analysed: lz4 is not installed")
                return
            wrap: Callable[[IO[bytes]], Any] = lambda f: lz4frame.LZ4FrameFile(f)  # noqa: E731
            kind = "lz4"
        elif head.startswith(ZSTD_MAGIC):
            try:
                from compression import zstd  # type: ignore[import-not-found]  # Python 3.14
            except ImportError:
                try:
                    from backports import zstd  # type: ignore[import-not-found,no-redef]
                except ImportError:
                    self.problem(blob.location, "zstd-compressed stream (pandas.read_pickle can load it) cannot be "
                                 "analysed: no zstd module is installed")
                    return
            wrap, kind = (lambda f: zstd.ZstdFile(f)), "zstd"
        elif head.startswith(GZIP_MAGIC):
            wrap, kind = (lambda f: gzip.GzipFile(fileobj=f)), "gzip"
        elif head.startswith(XZ_MAGIC):
            wrap, kind = (lambda f: lzma.LZMAFile(f, format=lzma.FORMAT_XZ)), "xz"
        elif head.startswith(b"BZh"):
            wrap, kind = (lambda f: bz2.BZ2File(f)), "bz2"
        elif head.startswith(b"\x5d\x00\x00"):
            wrap, kind = (lambda f: lzma.LZMAFile(f, format=lzma.FORMAT_ALONE)), "lzma"
        elif head.startswith(JOBLIB_ZF):
            skip = 21 + (head[21:22] == b" ")  # b"ZF" + hex length padded to 19 bytes (+ a space)

            def wrap(f: IO[bytes], skip: int = skip) -> Any:
                f.read(skip)
                return _ZlibStream(f)
            kind = "joblib-zfile"
        else:
            wrap, kind = _ZlibStream, "zlib"

        def opener(st: ExitStack) -> IO[bytes]:
            return cast(IO[bytes], _Counted(st.enter_context(wrap(blob.opener(st))), self))

        inner = _Blob(f"{blob.location}!<{kind}>", blob.name.rsplit(".", 1)[0] if kind != "zlib" else blob.name,
                      None, opener)
        try:
            first = inner.head(64)
        except _Limit:
            raise
        except Exception:  # noqa: BLE001 - not actually compressed data
            return
        if not first:
            return
        self.scan.kinds.add(kind)
        self.scan.archives.append({"location": blob.location, "kind": kind, "members": 1})
        self.blob(inner, depth)

    # ---- Keras configs
    def hdf5_candidate(self, blob: _Blob, head: bytes) -> bool:
        if blob.name.lower().endswith((".h5", ".hdf5")) or head.startswith(HDF5_MAGIC):
            return True
        if blob.top_path is None or blob.size is None:
            return False
        # the HDF5 superblock may also sit at 512, 1024, 2048, ... (after a user block)
        with blob.top_path.open("rb") as f:
            offset = 512
            while offset + 8 <= blob.size:
                f.seek(offset)
                if f.read(8) == HDF5_MAGIC:
                    return True
                offset *= 2
        return False

    def hdf5_json(self, blob: _Blob) -> None:
        """Keras stores `model_config` as one UTF-8 string attribute; HDF5 never filters (compresses)
        attributes, so the JSON sits verbatim in the file. We search the raw bytes for JSON
        objects instead of parsing HDF5 structures (h5py is not a dependency)."""
        if blob.data is None and blob.top_path is None:
            return  # archive members are not searched: Keras reads .keras configs from config.json
        self.scan.kinds.add("hdf5")
        for loc, obj in _embedded_json(blob, self.limits):
            self.keras_doc(loc, obj)
        if (blob.size or 0) > self.limits.max_raw_scan_bytes:
            self.problem(blob.location, f"only the first {self.limits.max_raw_scan_bytes} bytes were searched for an "
                         "embedded Keras config", "warning")

    def json_file(self, blob: _Blob) -> None:
        if blob.size is not None and blob.size > self.limits.max_json_bytes:
            return
        try:
            with blob.open() as f:
                raw = _read_up_to(f, self.limits.max_json_bytes + 1)
            if len(raw) > self.limits.max_json_bytes:
                return
            obj = json.loads(raw)
        except (ValueError, RecursionError, OSError):
            return  # not JSON: the format check's business
        self.keras_doc(blob.location, obj)

    def keras_doc(self, location: str, obj: Any) -> None:
        nodes = keras_nodes(obj, location, flags=self.scan.keras_flags)
        if nodes:
            self.scan.keras_configs.append(location)
            self.scan.keras.extend(nodes)


def keras_nodes(obj: Any, location: str, max_nodes: int = 5_000_000,
                flags: list[tuple[str, str]] | None = None) -> list[KerasNode]:
    """Every serialized Keras object ({"class_name": ..., "config": ...}) in a JSON document.
    `flags` collects settings that turn Keras' safe mode off (`"safe_mode": false`)."""
    out: list[KerasNode] = []
    todo = [obj]
    seen = 0
    while todo and seen < max_nodes:
        cur = todo.pop()
        seen += 1
        if isinstance(cur, dict):
            if flags is not None and cur.get("safe_mode") is False:
                flags.append((location, "sets safe_mode to false"))
            cls = cur.get("class_name")
            if isinstance(cls, str) and "config" in cur:
                cfg = cur.get("config")
                # a serialized function is {"class_name": "function", "config": "relu", ...}
                name = cfg.get("name") if isinstance(cfg, dict) else cfg if isinstance(cfg, str) else None
                module = cur.get("module")
                reg = cur.get("registered_name")
                out.append(KerasNode(location, cls, module if isinstance(module, str) else None,
                                     name if isinstance(name, str) else None, reg if isinstance(reg, str) else None))
            todo.extend(cur.values())
        elif isinstance(cur, list):
            todo.extend(cur)
    return out


_JSON_START = re.compile(rb"\{[ \t\r\n]*\"")
_JSON_TAIL = re.compile(rb"\{[ \t\r\n]*\Z")


def _embedded_json(blob: _Blob, limits: Limits) -> Iterator[tuple[str, Any]]:
    """JSON objects embedded in a binary file, found by raw search and parsed as json.loads
    would (any whitespace, key order or \\u escapes)."""
    decoder = json.JSONDecoder()
    size = blob.size if blob.size is not None else 0
    end_scan = min(size, limits.max_raw_scan_bytes)
    step = 8 << 20
    with blob.open() as f:

        def read_at(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        def parse_at(start: int) -> tuple[Any, int] | None:
            window = 1 << 12
            while True:
                data = read_at(start, window)
                text = data.decode("utf-8", "surrogateescape")
                try:
                    obj, used = decoder.raw_decode(text)
                    return obj, len(text[:used].encode("utf-8", "surrogateescape"))
                except json.JSONDecodeError as exc:
                    # out of text, not a syntax error: read more (up to the JSON bound)
                    starved = exc.msg.startswith("Unterminated string") or exc.pos >= len(text) - 8
                    if starved and len(data) == window and window < limits.max_json_bytes:
                        window *= 4
                        continue
                    return None
                except RecursionError:
                    return None

        pos = 0
        skip_until = 0
        while pos < end_scan:
            chunk = read_at(pos, step)
            if not chunk:
                break
            starts = [m.start() for m in _JSON_START.finditer(chunk)]
            tail = _JSON_TAIL.search(chunk)  # a "{" whose whitespace runs into the next chunk
            if tail is not None:
                starts.append(tail.start())
            for offset in starts:
                start = pos + offset
                if start < skip_until:
                    continue
                found = parse_at(start)
                if found is not None and isinstance(found[0], dict):
                    skip_until = start + found[1]
                    yield f"{blob.location} (JSON at byte {start})", found[0]
            pos += len(chunk)


def _zip_declared_entries(blob: _Blob) -> int | None:
    try:
        return zip_entry_count(blob.top_path, blob.size) if blob.top_path is not None and blob.size else None
    except (OSError, struct.error):
        return None


def scan_file(path: Path, display: str | None = None, limits: Limits = DEFAULT_LIMITS,
              checked_calls: CheckedCalls | None = None,
              on_pickle: Callable[[PickleInfo], None] | None = None) -> FileScan:
    """Everything pickle-, archive- and Keras-related in one model file, found by content.
    `on_pickle` sees each pickle while its bytes (`raw`, when small) are still available."""
    display = display or path.name
    scan = FileScan(display)
    size = path.stat().st_size
    blob = _Blob(display, path.name, size, lambda st: st.enter_context(open_regular(path)), True, top_path=path)
    scanner = _Scanner(scan, limits, checked_calls, on_pickle)
    try:
        scanner.blob(blob, 0)
    except _Limit as exc:
        scanner.problem(display, f"not fully analysed: {exc}")
    return scan


def pickle_format(path: Path) -> str | None:
    """Which pickle-era weights format a file is, by content: "torch-zip", "torch-legacy",
    "torch-tar", "pickle", or None. Cheap: reads headers and at most the first pickle."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4096)
        if head.startswith(ZIP_MAGIC) or zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as zf:
                    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist()):
                        return "torch-zip"
            except (zipfile.BadZipFile, OSError, ValueError):
                pass
            if head.startswith(ZIP_MAGIC):
                return None
        if is_tar(head):
            try:
                with tarfile.open(path, mode="r:") as tf:
                    if {"sys_info", "pickle", "storages"} <= set(tf.getnames()[:64]):
                        return "torch-tar"
            except (tarfile.TarError, OSError):
                pass
        limits = Limits(max_pickles_per_stream=1, max_ops=1_000_000)
        with path.open("rb") as f:
            pickles, _ = walk_pickles(f, path.name, size=size, seekable=True, limits=limits)
        if pickles and pickles[0].complete:
            return "torch-legacy" if pickles[0].result_int == TORCH_LEGACY_MAGIC else "pickle"
    except OSError:
        return None
    return None


def is_pickle_format_file(path: Path) -> bool:
    """True for pickle-era weights (a pickle, a torch zip/legacy/tar checkpoint), whatever the name.
    The format check uses it to warn about pickle weights shipped beside a safetensors copy."""
    return pickle_format(Path(path)) is not None
