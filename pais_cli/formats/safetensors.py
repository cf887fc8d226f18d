"""safetensors headers: an 8-byte little-endian length, then a JSON header. Data never read."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

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
    size = path.stat().st_size
    with path.open("rb") as f:
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
        raise SafetensorsHeaderError(f"header is not JSON: {exc}") from None
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
