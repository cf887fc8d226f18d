"""`gallery gc`: give back the space of what no revision of an on-disk gallery reaches."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..gallery.stores.base import GarbageReport
from .galleries import Gallery

DEFAULT_GRACE_S = 3600.0  # a push that is still running has written its blobs, not yet its manifest


def collect_garbage(gallery: Gallery, *, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S) -> GarbageReport:
    return gallery.store.collect_garbage(dry_run, grace_s)


def report_json(report: GarbageReport) -> dict[str, Any]:
    return asdict(report)
