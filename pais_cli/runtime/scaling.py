"""Autoscaling on what load means for the engine, never CPU for a GPU engine.

GPU engines scale on their request queue, read from their Prometheus metrics:
vLLM `vllm:num_requests_waiting` (labelled with the served model name), llama.cpp
`llamacpp:requests_deferred` (its server started with --metrics), the NIM `num_requests_waiting`.
`--autoscale keda` (the default for plain GPU engines): a KEDA ScaledObject (keda.sh/v1alpha1)
with a Prometheus trigger, average waiting requests per replica; KEDA owns the HPA it creates.
`--autoscale hpa`: an autoscaling/v2 HPA on the same metric as a Pods custom metric, which a
Prometheus Adapter rule must expose under the same name. The NIM: the NIMService's own
`scale.hpa` with that Pods metric (the operator owns the HPA; KEDA is not offered there).
Infinity publishes no queue metric, so Infinity on a GPU is not autoscaled (refused with the way
out). CPU engines scale on CPU utilization, which is their load.
Scale-down waits 10 minutes: a replica costs minutes of model loading to bring back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from .endpoint import Endpoint, K8sObject
from .errors import DeployRefused

QUEUE_METRIC = {"vllm": "vllm:num_requests_waiting", "llamacpp": "llamacpp:requests_deferred", "nim": "num_requests_waiting"}
WAITING_PER_REPLICA = "5"  # average queued requests per replica before another is added
SCALE_DOWN_WINDOW_S = 600


def autoscaler(ep: Endpoint) -> str:
    """keda | hpa | cpu: what scales this endpoint (it is autoscaled)."""
    if ep.placement.target == "cpu":
        return "cpu"
    if ep.engine not in QUEUE_METRIC:
        raise DeployRefused(
            f"{ep.engine} on a GPU publishes no request-queue metric to autoscale on, and CPU says nothing "
            "about a GPU engine's load",
            "give a fixed --replicas N, or serve the embedding model on CPU (--gpus 0), where CPU is its load",
        )
    if ep.engine == "nim":
        if ep.autoscale == "keda":
            raise DeployRefused("--autoscale keda: the NIM Operator owns the HPA of a NIMService (spec.scale.hpa)",
                                "use --autoscale hpa (or leave it out) with --engine nim")
        return "hpa"
    return ep.autoscale or "keda"


def _query(ep: Endpoint) -> str:
    metric = QUEUE_METRIC[ep.engine]
    where = [f'namespace="{ep.namespace}"'] if ep.namespace else []
    # vLLM labels its metrics with the served name; llama.cpp's carry none, so its pods are matched by name.
    where.append(f'model_name="{ep.routing}"' if ep.engine == "vllm" else f'pod=~"{ep.name}-[a-z0-9]+-[a-z0-9]+"')
    return f"sum({metric}{{{', '.join(where)}}})"


def pods_metric(engine: str) -> dict[str, Any]:
    return {"type": "Pods", "pods": {"metric": {"name": QUEUE_METRIC[engine]},
                                     "target": {"type": "AverageValue", "averageValue": WAITING_PER_REPLICA}}}


def _behavior() -> dict[str, Any]:
    return {"scaleDown": {"stabilizationWindowSeconds": SCALE_DOWN_WINDOW_S}}


def scaling_objects(ep: Endpoint) -> list[K8sObject]:
    """The autoscaler of a plain Deployment (nothing when the replica count is fixed)."""
    if not ep.autoscaled:
        return []
    minimum, maximum = ep.min_replicas or 1, ep.max_replicas or max(ep.min_replicas or 1, 1)
    kind = autoscaler(ep)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": ep.name}
    if kind == "keda":
        return [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": ep.metadata(), "spec": {
            "scaleTargetRef": target, "minReplicaCount": minimum, "maxReplicaCount": maximum,
            "cooldownPeriod": SCALE_DOWN_WINDOW_S,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior()}},
            "triggers": [{"type": "prometheus", "metricType": "AverageValue", "metadata": {
                "serverAddress": ep.prometheus_url, "query": _query(ep), "threshold": WAITING_PER_REPLICA}}],
        }}]
    metrics = ([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
               if kind == "cpu" else [pods_metric(ep.engine)])
    spec: dict[str, Any] = {"scaleTargetRef": target, "minReplicas": minimum, "maxReplicas": maximum, "metrics": metrics}
    if kind != "cpu":
        spec["behavior"] = _behavior()
    return [{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": ep.metadata(), "spec": spec}]


def scrape_annotations(ep: Endpoint) -> dict[str, str]:
    """Pod annotations Prometheus' common scrape configs follow, for the queue metric."""
    if not ep.autoscaled or ep.placement.target == "cpu":
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": "8000", "prometheus.io/path": "/metrics"}


def prometheus_namespace(url: str) -> str | None:
    """`http://NAME.NAMESPACE.svc[...]:PORT` -> NAMESPACE (for the NetworkPolicy); None otherwise."""
    parts = (urlparse(url).hostname or "").split(".")
    return parts[1] if len(parts) >= 3 and parts[2] == "svc" else None
