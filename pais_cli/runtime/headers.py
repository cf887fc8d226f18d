"""Weight-file headers read from a byte stream (a registry blob or a local file).

Sizing an endpoint needs parameter counts and dtypes, which live in the first bytes of a
safetensors or GGUF file. formats/ reads headers from a path; here the bytes come from a
stream that is stopped as soon as the header is parsed, so sizing a 40 GB revision in a
registry moves kilobytes to a few megabytes (the header, plus the rest of one transfer chunk),
never the weights. Every length is bounded by the blob's declared size.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..formats import safetensors
from ..formats.gguf import GGML_TYPE_BYTES, MAX_DIMS, MAX_STRING

MAX_SAFETENSORS_HEADER = safetensors.MAX_HEADER_BYTES
MAX_GGUF_HEADER = 512 * 1024 * 1024  # a real GGUF header (vocabulary, merges) is a few MiB


class HeaderError(ValueError):
    pass


class StreamReader:
    """Exact reads from an iterator of chunks; counts what it consumed."""

    def __init__(self, chunks: Iterator[bytes], size: int, limit: int) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self.size = size  # the blob's declared size: nothing can be longer
        self.limit = limit
        self.consumed = 0

    def read(self, n: int) -> bytes:
        if n < 0 or self.consumed + n > self.size:
            raise HeaderError(f"needs {n} bytes at offset {self.consumed}; the file has {self.size - self.consumed} left")
        if self.consumed + n > self.limit:
            raise HeaderError(f"header larger than {self.limit} bytes")
        while len(self._buffer) < n:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                raise HeaderError(f"file ended at offset {self.consumed + len(self._buffer)}") from None
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        self.consumed += n
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]


@dataclass
class WeightSummary:
    """What sizing needs from one weight file."""

    format: str  # safetensors | gguf
    parameters: int
    weight_bytes: int
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> bytes
    metadata: dict[str, Any] = field(default_factory=dict)  # GGUF key/values (small ones)
    header_bytes: int = 0


def read_safetensors(reader: StreamReader) -> WeightSummary:
    (length,) = struct.unpack("<Q", reader.read(8))
    if length > MAX_SAFETENSORS_HEADER or 8 + length > reader.size:
        raise HeaderError(f"safetensors header length {length} exceeds the file or the 100 MB bound")
    try:
        header = json.loads(reader.read(length))
    except ValueError as exc:
        raise HeaderError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("safetensors header is not a JSON object")
    dtypes: dict[str, int] = {}
    params = 0
    for name, info in safetensors.tensors(header).items():
        shape, dtype = info.get("shape"), info.get("dtype")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or dtype not in safetensors.DTYPE_BYTES:
            raise HeaderError(f"tensor {name!r} has an invalid shape or dtype")
        count = 1
        for d in shape:
            count *= d
        params += count
        dtypes[dtype] = dtypes.get(dtype, 0) + count * safetensors.DTYPE_BYTES[dtype]
    return WeightSummary("safetensors", params, sum(dtypes.values()), dtypes, header_bytes=reader.consumed)


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAY = 16


def _gguf_string(r: StreamReader, wide: bool) -> str:
    n = r.unpack("<Q" if wide else "<I")
    if n > MAX_STRING:
        raise HeaderError(f"GGUF string of {n} bytes exceeds the 64 MiB bound")
    return r.read(n).decode("utf-8", errors="replace")


def _gguf_value(r: StreamReader, kind: int, wide: bool, depth: int = 0) -> Any:
    if kind in _SCALARS:
        return r.unpack(_SCALARS[kind])
    if kind == _STRING:
        return _gguf_string(r, wide)
    if kind == _ARRAY:
        if depth > 1:
            raise HeaderError("GGUF arrays nested deeper than 2")
        inner = r.unpack("<I")
        n = r.unpack("<Q" if wide else "<I")
        if inner in _SCALARS:
            item = struct.calcsize(_SCALARS[inner])
            if n * item > r.size - r.consumed:
                raise HeaderError(f"GGUF array of {n} items cannot fit in the file")
            if n > _KEEP_ARRAY:
                # Skipped in bounded steps: a vocabulary's scores are not worth keeping.
                left = n * item
                while left:
                    step = min(left, 1 << 20)
                    r.read(step)
                    left -= step
                return {"length": n}
            return [r.unpack(_SCALARS[inner]) for _ in range(n)]
        if inner not in (_STRING, _ARRAY):
            raise HeaderError(f"GGUF array of unknown type {inner}")
        if n * 4 > r.size - r.consumed:
            raise HeaderError(f"GGUF array of {n} items cannot fit in the file")
        items = [_gguf_value(r, inner, wide, depth + 1) for _ in range(n)]
        return items if n <= _KEEP_ARRAY else {"length": n}
    raise HeaderError(f"unknown GGUF value type {kind}")


def read_gguf(reader: StreamReader) -> WeightSummary:
    if reader.read(4) != b"GGUF":
        raise HeaderError("no GGUF magic")
    version = reader.unpack("<I")
    if version not in (1, 2, 3):
        raise HeaderError(f"unsupported GGUF version {version}")
    wide = version >= 2
    n_tensors = reader.unpack("<Q" if wide else "<I")
    n_kv = reader.unpack("<Q" if wide else "<I")
    if n_tensors * 24 > reader.size or n_kv * 9 > reader.size:
        raise HeaderError("GGUF counts cannot fit in the file")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = _gguf_string(reader, wide)
        metadata[key] = _gguf_value(reader, reader.unpack("<I"), wide)
    params = 0
    dtypes: dict[str, int] = {}
    for _ in range(n_tensors):
        _gguf_string(reader, wide)
        n_dims = reader.unpack("<I")
        if n_dims > MAX_DIMS:
            raise HeaderError(f"GGUF tensor with {n_dims} dimensions")
        count = 1
        for _ in range(n_dims):
            count *= reader.unpack("<Q" if wide else "<I")
        ggml_type = reader.unpack("<I")
        reader.unpack("<Q")  # offset
        params += count
        key = f"ggml-{ggml_type}"
        dtypes[key] = dtypes.get(key, 0) + int(count * GGML_TYPE_BYTES.get(ggml_type, 2))
    return WeightSummary("gguf", params, sum(dtypes.values()), dtypes, metadata, reader.consumed)
