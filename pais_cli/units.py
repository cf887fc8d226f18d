"""Sizes, parsed and printed by one rule, Kubernetes' own: `k`/`K`, `M`, `G`, `T`, `P` (with or
without a trailing `B`) are powers of 1000; `Ki`, `Mi`, `Gi`, `Ti`, `Pi` (with or without `B`)
powers of 1024. So `4G` is 4x10^9 bytes and `4Gi` or `4GiB` is 4x2^30, wherever a size is taken.
Sizes are printed in IEC units (KiB, MiB, GiB, TiB)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import UsageError

KIB, MIB, GIB, TIB = 2**10, 2**20, 2**30, 2**40
_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "p": 10**15, "pb": 10**15,
    "ki": KIB, "kib": KIB, "mi": MIB, "mib": MIB, "gi": GIB, "gib": GIB, "ti": TIB, "tib": TIB,
    "pi": 2**50, "pib": 2**50,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
EXAMPLES = "write a size such as 500MiB, 4GiB (powers of 1024), 4G (powers of 1000) or a number of bytes"


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from "4GiB", "4Gi", "4G", "4GB", "1.5TiB" or "1073741824"; UsageError otherwise."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise UsageError(f"cannot read {what} {text!r}", EXAMPLES)
    try:
        return int(Decimal(match.group(1)) * _UNITS[match.group(2).lower()])
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only plain decimals
        raise UsageError(f"cannot read {what} {text!r}", EXAMPLES) from exc


def format_size(n: int) -> str:
    """A human size in IEC units: '512 B', '1.5 GiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def format_exact(n: int) -> str:
    """The largest IEC unit that states `n` exactly ('500GiB', '1536B'), for settings echoed back."""
    for unit, factor in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}B"


# Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/):
# case-sensitive, `m` is milli and `M` mega, as the API server writes them back in status fields.
_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_QUANTITY_UNITS = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
    "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(KIB), "Mi": Decimal(MIB), "Gi": Decimal(GIB), "Ti": Decimal(TIB), "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


def parse_quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity ("500m", "16Gi", "2", "1e3") as a number; ValueError otherwise."""
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    suffix = match.group(2)
    if suffix and suffix[0] in "eE":
        return Decimal(match.group(1)) * (Decimal(10) ** int(suffix[1:]))
    return Decimal(match.group(1)) * _QUANTITY_UNITS[suffix]
