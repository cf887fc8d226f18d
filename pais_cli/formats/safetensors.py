"""safetensors headers: an 8-byte little-endian length, then a JSON header. Data never read."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .safeio import open_regular

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own bound

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}


class SafetensorsHeaderError(ValueError):
    pass


def read_header(path: Path) -> dict[str, Any]:
    with open_regular(path) as f:
        size = path.stat().st_size
        prefix = f.read(8)
        if len(prefix) != 8:
            raise SafetensorsHeaderError("shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise SafetensorsHeaderError(f"header length {length} exceeds the file or the 100 MB bound")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise SafetensorsHeaderError(f"header is not JSON: {exc}") from exc
    except RecursionError as exc:  # json recurses per nesting level: a deep header is refused, not a crash
        raise SafetensorsHeaderError("header JSON nests deeper than the parser's bound") from exc
    if not isinstance(header, dict):
        raise SafetensorsHeaderError("header is not a JSON object")
    return header


def tensors(header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}


def parameter_count(header: dict[str, Any]) -> int:
    total = 0
    for info in tensors(header).values():
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def dominant_dtype(header: dict[str, Any]) -> str | None:
    weight: dict[str, int] = {}
    for info in tensors(header).values():
        offsets = info.get("data_offsets") or [0, 0]
        dtype = str(info.get("dtype", ""))
        weight[dtype] = weight.get(dtype, 0) + int(offsets[1]) - int(offsets[0])
    return max(weight, key=lambda d: weight[d]) if weight else None


def layout_problems(path: Path) -> list[str]:
    """Everything wrong with a safetensors file's layout; empty when it is sound.

    Sound means: known dtypes, integer shapes, each tensor's byte span equal to its shape times
    its dtype size, spans contiguous from 0 with no overlap or gap, covering the data exactly.
    """
    try:
        header = read_header(path)
    except SafetensorsHeaderError as exc:
        return [str(exc)]
    with open_regular(path) as f:
        (length,) = struct.unpack("<Q", f.read(8))
    data_size = path.stat().st_size - 8 - length
    problems: list[str] = []
    metadata = header.get("__metadata__")
    if metadata is not None and (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())):
        problems.append("__metadata__ must map strings to strings")
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            problems.append(f"tensor {name!r} is not an object")
            continue
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            problems.append(f"tensor {name!r} has unknown dtype {dtype!r}")
            continue
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            problems.append(f"tensor {name!r} has an invalid shape {shape!r}")
            continue
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets) or offsets[1] < offsets[0]):
            problems.append(f"tensor {name!r} has invalid data_offsets {offsets!r}")
            continue
        count = 1
        for d in shape:
            count *= d
        if offsets[1] - offsets[0] != count * DTYPE_BYTES[dtype]:
            problems.append(f"tensor {name!r}: shape {shape} of {dtype} needs {count * DTYPE_BYTES[dtype]} bytes, "
                            f"its offsets span {offsets[1] - offsets[0]}")
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin < position:
            problems.append(f"tensor {name!r} overlaps the previous tensor")
        elif begin > position:
            problems.append(f"gap of {begin - position} bytes before tensor {name!r}")
        position = max(position, end)
    if not problems and position != data_size:
        problems.append(f"tensors cover {position} bytes but the data section holds {data_size}")
    return problems
