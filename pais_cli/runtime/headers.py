"""Weight-file headers read from a byte stream (a registry blob or a local file).

Sizing an endpoint needs parameter counts and dtypes, which live in the first bytes of a
safetensors or GGUF file. formats/ reads headers from a path; here the bytes come from a
stream that is stopped as soon as the header is parsed (the GGUF parser is formats/gguf.py's own), so sizing a 40 GB revision in a
registry moves kilobytes to a few megabytes (the header, plus the rest of one transfer chunk),
never the weights. Every length is bounded by the blob's declared size.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..formats import gguf, safetensors

MAX_SAFETENSORS_HEADER = safetensors.MAX_HEADER_BYTES


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
            except StopIteration as exc:
                raise HeaderError(f"file ended at offset {self.consumed + len(self._buffer)}") from exc
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        self.consumed += n
        return out

    @property
    def left(self) -> int:
        return self.size - self.consumed

    @property
    def position(self) -> int:
        return self.consumed


@dataclass
class WeightSummary:
    """What sizing needs from one weight file."""

    format: str  # safetensors | gguf
    parameters: int
    weight_bytes: int
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> bytes
    metadata: dict[str, Any] = field(default_factory=dict)  # GGUF key/values (small ones)


def read_safetensors(reader: StreamReader) -> WeightSummary:
    (length,) = struct.unpack("<Q", reader.read(8))
    if length > MAX_SAFETENSORS_HEADER or 8 + length > reader.size:
        raise HeaderError(f"safetensors header length {length} exceeds the file or the 100 MB bound")
    try:
        header = json.loads(reader.read(length))
    except ValueError as exc:
        raise HeaderError(f"safetensors header is not JSON: {exc}") from exc
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
    return WeightSummary("safetensors", params, sum(dtypes.values()), dtypes)


def read_gguf(reader: StreamReader) -> WeightSummary:
    try:
        info = gguf.parse(reader)
    except gguf.GGUFError as exc:
        raise HeaderError(f"GGUF: {exc}") from exc
    dtypes: dict[str, int] = {}
    for t in info.tensors:
        key = f"ggml-{t.ggml_type}"
        dtypes[key] = dtypes.get(key, 0) + int(t.elements * gguf.GGML_TYPE_BYTES.get(t.ggml_type, 2))
    return WeightSummary("gguf", info.parameter_count, sum(dtypes.values()), dtypes, info.metadata)
