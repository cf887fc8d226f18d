"""GGUF headers (llama.cpp's format), parsed as data with every count and length bounded by the
file, so a hostile header cannot make us allocate or loop beyond what the file could hold."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .safeio import open_regular

MAGIC = b"GGUF"
MAX_STRING = 64 * 1024 * 1024  # a chat template is KBs; a 64 MiB string is an attack
MAX_DIMS = 4  # GGML_MAX_DIMS
KEEP_ARRAY = 64  # arrays longer than this are summarised, not kept

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# Bytes per element for the ggml types a weight estimate needs (block types averaged).
GGML_TYPE_BYTES: dict[int, float] = {
    0: 4, 1: 2, 2: 18 / 32, 3: 20 / 32, 6: 22 / 32, 7: 24 / 32, 8: 34 / 32, 9: 36 / 32, 10: 84 / 256, 11: 110 / 256,
    12: 144 / 256, 13: 176 / 256, 14: 210 / 256, 15: 292 / 256, 16: 66 / 256, 17: 74 / 256, 18: 98 / 256, 19: 50 / 256,
    20: 36 / 32, 21: 110 / 256, 22: 82 / 256, 23: 136 / 256, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8, 29: 56 / 256, 30: 2,
}


class GGUFError(ValueError):
    pass


@dataclass
class GGUFTensor:
    name: str
    shape: list[int]
    ggml_type: int
    offset: int

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class GGUFInfo:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[GGUFTensor] = field(default_factory=list)
    header_bytes: int = 0  # where the tensor infos end

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else None

    @property
    def parameter_count(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def weight_bytes(self) -> int:
        return int(sum(t.elements * GGML_TYPE_BYTES.get(t.ggml_type, 2) for t in self.tensors))

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


class ExactReader(Protocol):
    """Bytes in order from a file or a stream; `left` bounds every length we accept."""

    def read(self, n: int) -> bytes: ...

    @property
    def left(self) -> int: ...

    @property
    def position(self) -> int: ...


class FileReader:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.size = f, size

    @property
    def position(self) -> int:
        return self.f.tell()

    @property
    def left(self) -> int:
        return self.size - self.f.tell()

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise GGUFError(f"needs {n} bytes at offset {self.f.tell()}, the file has {self.left} left")
        return self.f.read(n)


class _Parser:
    def __init__(self, reader: ExactReader) -> None:
        self.r = reader

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.r.read(struct.calcsize(fmt)))[0]

    def count(self, wide: bool, min_item: int, what: str) -> int:
        n = self.unpack("<Q" if wide else "<I")
        if n * min_item > self.r.left:
            raise GGUFError(f"{what} count {n} cannot fit in the {self.r.left} bytes left")
        return n

    def string(self, wide: bool) -> str:
        n = self.unpack("<Q" if wide else "<I")
        if n > MAX_STRING or n > self.r.left:
            raise GGUFError(f"string of {n} bytes at offset {self.r.position} exceeds the file or the 64 MiB bound")
        try:
            return self.r.read(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFError(f"string at offset {self.r.position - n} is not UTF-8") from exc

    def skip(self, n: int) -> None:
        while n:  # bounded steps: a vocabulary's scores are not worth keeping
            step = min(n, 1 << 20)
            self.r.read(step)
            n -= step

    def value(self, kind: int, wide: bool, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == STRING:
            return self.string(wide)
        if kind == ARRAY:
            if depth > 2:
                raise GGUFError("arrays nested deeper than 2")
            inner = self.unpack("<I")
            if inner not in _SCALARS and inner not in (STRING, ARRAY):
                raise GGUFError(f"array of unknown type {inner}")
            min_item = struct.calcsize(_SCALARS[inner]) if inner in _SCALARS else (8 if wide else 4)
            n = self.count(wide, min_item, "array")
            if inner in _SCALARS and n > KEEP_ARRAY:
                self.skip(n * min_item)  # bounded by count(): the bytes exist
                return {"array": inner, "length": n}
            items = [self.value(inner, wide, depth + 1) for _ in range(n)]
            return items if n <= KEEP_ARRAY else {"array": inner, "length": n}
        raise GGUFError(f"unknown metadata value type {kind}")


def parse(reader: ExactReader) -> GGUFInfo:
    """Header, metadata and tensor infos; stops where the tensor data begins."""
    p = _Parser(reader)
    if reader.read(4) != MAGIC:
        raise GGUFError("no GGUF magic")
    version = p.unpack("<I")
    if version not in (1, 2, 3):
        raise GGUFError(f"unsupported GGUF version {version}")
    wide = version >= 2  # v1 used 32-bit counts and lengths
    n_tensors = p.count(wide, 4 + 4 + 4 + 8, "tensor")
    n_kv = p.count(wide, 4 + 4 + 1, "metadata")
    info = GGUFInfo(version)
    for _ in range(n_kv):
        key = p.string(wide)
        info.metadata[key] = p.value(p.unpack("<I"), wide)
    for _ in range(n_tensors):
        name = p.string(wide)
        n_dims = p.unpack("<I")
        if n_dims > MAX_DIMS:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        shape = [p.unpack("<Q" if wide else "<I") for _ in range(n_dims)]
        info.tensors.append(GGUFTensor(name, shape, p.unpack("<I"), p.unpack("<Q")))
    info.header_bytes = reader.position
    return info


def read_info(path: Path) -> GGUFInfo:
    with open_regular(path) as f:
        size = path.stat().st_size
        info = parse(FileReader(f, size))
    alignment = info.metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment {alignment!r} is not a power of two")
    data_start = -(-info.header_bytes // alignment) * alignment
    for t in info.tensors:
        nbytes = int(t.elements * GGML_TYPE_BYTES.get(t.ggml_type, 0))
        if data_start + t.offset + nbytes > size:
            raise GGUFError(f"tensor {t.name!r} data ends past the end of the file")
    return info
