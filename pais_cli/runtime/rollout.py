"""How a Deployment swaps revisions on GPUs: strategy, deadlines, probes, disruption budget.

- `surge` (the default where capacity allows): RollingUpdate maxSurge 1, maxUnavailable 0. No
  request is dropped, but the swap needs one spare pod's worth of GPUs.
- `recreate`: no spare GPU needed. One replica: strategy Recreate (the old pod goes before the
  new one starts: a gap while the model loads). More: RollingUpdate maxSurge 0, maxUnavailable
  1, one replica at a time.
- Loading takes as long as the model is big: the startup probe and `progressDeadlineSeconds`
  are sized from the revision at assumed floor rates (fetch 100 MiB/s per pod, load 200 MiB/s
  from disk to GPU, plus 5 minutes of engine start), twice over for the deadline, so a 140 GB
  model is not reported failed after the default 600 s.
- More than one replica: a PodDisruptionBudget (maxUnavailable 1), so a node drain never takes
  the whole endpoint down at once.
"""

from __future__ import annotations

import math
from typing import Any

from .endpoint import Endpoint, K8sObject

MIB = 1024**2
FETCH_RATE = 100 * MIB  # bytes/s one pod pulls from the registry
LOAD_RATE = 200 * MIB  # bytes/s an engine loads from its volume onto the GPU
ENGINE_START_S = 300
PROBE_PERIOD_S = 10


def load_seconds(ep: Endpoint) -> int:
    assert ep.info is not None
    return ENGINE_START_S + math.ceil(ep.info.files_bytes / LOAD_RATE)


def fetch_seconds(ep: Endpoint) -> int:
    assert ep.info is not None
    return 0 if ep.shared_volume else math.ceil(ep.info.files_bytes / FETCH_RATE)


def progress_deadline(ep: Endpoint) -> int:
    return max(600, 2 * (fetch_seconds(ep) + load_seconds(ep)))


def probe(path: str, *, startup_s: int | None = None, liveness: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"httpGet": {"path": path, "port": "http"}, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": 5}
    if startup_s is not None:
        out["failureThreshold"] = max(60, math.ceil(2 * startup_s / PROBE_PERIOD_S))  # twice the estimate
    elif liveness:
        out.update({"periodSeconds": 30, "failureThreshold": 3})
    else:
        out["failureThreshold"] = 3
    return out


def strategy(ep: Endpoint) -> dict[str, Any]:
    if ep.rollout == "surge":
        return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    if not ep.autoscaled and (ep.replicas or 1) == 1:
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def describe(ep: Endpoint) -> str:
    """One line for the dry-run."""
    gpus = ep.placement.gpus if ep.placement.target == "gpu" else 0
    if ep.rollout == "surge":
        extra = f"{gpus} spare GPU{'s' if gpus != 1 else ''}" if gpus else "one spare pod's CPU and memory"
        return f"surge: one new pod at a time beside the old ones (needs {extra} during the swap)"
    if strategy(ep)["type"] == "Recreate":
        return "recreate: the old pod stops before the new one starts (no spare GPU; a gap while the model loads)"
    return "recreate: one replica at a time is replaced in place (no spare GPU; one replica less during the swap)"


def disruption_budget(ep: Endpoint) -> K8sObject | None:
    if ep.most_replicas <= 1:
        return None
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": ep.metadata(),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": ep.selector()}}}
