"""A bounded reader of the protobuf wire format, for model files that are protobuf messages
(ONNX, TensorFlow SavedModel and GraphDef). Encoding per https://protobuf.dev/programming-guides/encoding/:
each field is a varint key (field number << 3 | wire type) followed by a varint (0), 8 bytes (1),
a varint length and that many bytes (2), or 4 bytes (5); groups (3, 4) are obsolete and refused.

No schema and no protobuf runtime: callers name the field numbers they need (taken from the
published .proto files) and descend only into those. Length-delimited values are memoryview
spans of the file read on demand, so skipping a 1 GB tensor costs nothing.
Every field read counts against a `Budget`, and nesting depth is bounded: a hostile file costs
at most the budget it was given, then fails with the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from .safeio import open_regular

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class ProtoLimit(Exception):
    """A budget ran out: the message was not read to the end."""


@dataclass
class Budget:
    """Work allowed for one file: fields decoded and message nesting depth. Scales with the file."""

    fields: int
    max_depth: int = 64
    used: int = 0

    @classmethod
    def for_size(cls, size: int, base: int = 1_000_000, per_byte: float = 0.25, max_depth: int = 64) -> Budget:
        # a field takes at least 2 bytes, so size/2 fields is the most any real message has;
        # a quarter per byte plus a base covers every export while bounding hostile inputs
        return cls(int(base + size * per_byte), max_depth)

    def spend(self) -> None:
        self.used += 1
        if self.used > self.fields:
            raise ProtoLimit(f"more than {self.fields} protobuf fields")


class Source:
    """The file's first `size` bytes (its size when the snapshot was taken), read on demand in
    blocks with pread: bytes appended later are never seen, a file that shrinks is an error (not
    a SIGBUS, as a memory map would give), and skipping a 1 GB tensor reads none of it."""

    BLOCK = 1 << 20

    def __init__(self, fd: int, size: int, data: bytes | None = None) -> None:
        self.fd = fd
        self.size = size
        self._data = data  # bytes already in memory (an archive member), else read from fd
        self._blocks: dict[int, bytes] = {}

    @classmethod
    def of_bytes(cls, data: bytes) -> Source:
        return cls(-1, len(data), data)

    def _block(self, index: int) -> bytes:
        if self._data is not None:
            return self._data[index * self.BLOCK:(index + 1) * self.BLOCK]
        block = self._blocks.get(index)
        if block is None:
            want = min(self.BLOCK, self.size - index * self.BLOCK)
            block = os.pread(self.fd, want, index * self.BLOCK)
            if len(block) != want:
                raise ProtoError("the file changed size while it was read")
            if len(self._blocks) >= 8:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[index] = block
        return block

    def read(self, pos: int, n: int) -> bytes:
        if pos < 0 or pos + n > self.size:
            raise ProtoError("read past the end of the file")
        out = b""
        while n > 0:
            index, offset = divmod(pos, self.BLOCK)
            chunk = self._block(index)[offset:offset + n]
            out += chunk
            pos += len(chunk)
            n -= len(chunk)
        return out


@dataclass(frozen=True)
class Span:
    """A length-delimited value: bytes [start, end) of the source."""

    src: Source
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def data(self, limit: int = 1 << 30) -> bytes:
        return self.src.read(self.start, min(len(self), limit))


Value = Union[int, Span]


def _varint(src: Source, pos: int, end: int) -> tuple[int, int]:
    window = src.read(pos, min(10, end - pos)) if pos < end else b""
    result = 0
    for i, b in enumerate(window):
        result |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return result, pos + i + 1
    raise ProtoError("truncated or over-long varint")


def fields(msg: Span, budget: Budget, depth: int = 0) -> Iterator[tuple[int, int, Value]]:
    """(field number, wire type, value) for each field of one message, in order."""
    if depth > budget.max_depth:
        raise ProtoLimit(f"messages nested deeper than {budget.max_depth} levels")
    src, pos, end = msg.src, msg.start, msg.end
    while pos < end:
        budget.spend()
        key, pos = _varint(src, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        value: Value
        if wire == VARINT:
            value, pos = _varint(src, pos, end)
        elif wire == LEN:
            n, pos = _varint(src, pos, end)
            if n > end - pos:
                raise ProtoError(f"field {number}: length {n} runs past the end of its message")
            value, pos = Span(src, pos, pos + n), pos + n
        elif wire == FIXED64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            pos += 8
            value = 0  # numbers in fixed encodings are never needed here
        elif wire == FIXED32:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            pos += 4
            value = 0
        else:
            raise ProtoError(f"field {number}: wire type {wire} (groups or invalid)")
        yield number, wire, value


def text(value: Value, limit: int = 4096) -> str:
    """A string field, cut at `limit` bytes (names and paths are short; the rest is noise)."""
    if not isinstance(value, Span):
        raise ProtoError("expected a length-delimited string")
    return value.data(limit).decode("utf-8", "replace")


def message(value: Value) -> Span:
    if not isinstance(value, Span):
        raise ProtoError("expected an embedded message")
    return value


@contextmanager
def opened(path: Path, size: int) -> Iterator[Span]:
    """The whole file as one message; special files are refused before they are opened."""
    with open_regular(path) as f:
        yield Span(Source(f.fileno(), size), 0, size)
