"""Will the endpoint fit the namespace and the nodes? Decided before anything is applied.

Pure: the caller (app/preflight.py) reads the cluster with kubectl and passes what it read, as
the Kubernetes API returns it:
- ResourceQuota `status.hard` / `status.used` (requests.nvidia.com/gpu, requests|limits.cpu and
  .memory, requests.ephemeral-storage, requests.storage, pods, persistentvolumeclaims);
- LimitRange `spec.limits` (type Container, Pod and PersistentVolumeClaim: max and min);
- Node `status.allocatable` and GPU Feature Discovery labels (`nvidia.com/gpu.product`,
  `nvidia.com/gpu.memory`), `spec.unschedulable`;
- the Namespace's Pod Security labels (`pod-security.kubernetes.io/enforce`).
The endpoint's own objects now in the cluster are subtracted from what is used, so an update is
charged only for what it adds. A surge rollout is charged one more new pod while it swaps; when
that does not fit, the caller falls back to a rollout that needs no spare capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..units import parse_quantity
from .endpoint import K8sObject
from .errors import DeployRefused
from .placement import MEMORY_LABEL, MIB, PRODUCT_LABEL, VGPU_LABEL, Placement

GPU = "nvidia.com/gpu"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
Resources = dict[str, Decimal]


@dataclass
class ClusterFacts:
    """What kubectl answered; None where the caller may not read it (RBAC)."""

    namespace: str
    quotas: list[dict[str, Any]] = field(default_factory=list)
    limit_ranges: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] | None = None
    namespace_object: dict[str, Any] | None = None
    current: list[K8sObject] = field(default_factory=list)  # this endpoint's objects as the cluster has them


@dataclass
class PreflightReport:
    notes: list[str] = field(default_factory=list)
    surge_fits: bool = True  # False: one more pod during a swap would exceed a quota


def _q(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(0)


def _container_resources(container: dict[str, Any]) -> tuple[Resources, Resources]:
    res = container.get("resources") or {}
    limits = {k: _q(v) for k, v in (res.get("limits") or {}).items()}
    requests = {k: _q(v) for k, v in (res.get("requests") or {}).items()}
    for key, value in limits.items():
        requests.setdefault(key, value)  # the API server defaults a missing request to the limit
    return requests, limits


def _add(into: Resources, more: Resources, times: int = 1) -> None:
    for key, value in more.items():
        into[key] = into.get(key, Decimal(0)) + value * times


def pod_resources(pod: dict[str, Any]) -> tuple[Resources, Resources]:
    """A pod's effective requests and limits: the larger of its biggest init container and the
    sum of its containers, per resource (what the scheduler and quota count)."""
    requests: Resources = {}
    limits: Resources = {}
    for c in pod.get("containers") or []:
        r, lim = _container_resources(c)
        _add(requests, r)
        _add(limits, lim)
    for c in pod.get("initContainers") or []:
        r, lim = _container_resources(c)
        for key, value in r.items():
            requests[key] = max(requests.get(key, Decimal(0)), value)
        for key, value in lim.items():
            limits[key] = max(limits.get(key, Decimal(0)), value)
    return requests, limits


@dataclass
class Usage:
    """What a set of objects takes from a namespace's quota."""

    requests: Resources = field(default_factory=dict)
    limits: Resources = field(default_factory=dict)
    pods: int = 0
    claims: int = 0
    storage: Decimal = Decimal(0)
    surge_pod: tuple[Resources, Resources] | None = None  # one serving pod, for the swap

    def quota_value(self, key: str) -> Decimal:
        if key == "pods":
            return Decimal(self.pods)
        if key == "persistentvolumeclaims":
            return Decimal(self.claims)
        if key == "requests.storage":
            return self.storage
        kind, _, resource = key.partition(".")
        if kind == "limits":
            return self.limits.get(resource, Decimal(0))
        if kind == "requests":
            return self.requests.get(resource, Decimal(0))
        return self.requests.get(key, Decimal(0))  # bare cpu / memory / ephemeral-storage are requests


def _replicas(objects: list[K8sObject], deployment: K8sObject) -> int:
    spec = deployment.get("spec") or {}
    if "replicas" in spec:
        return int(spec["replicas"])
    for o in objects:  # an autoscaler starts it at its minimum
        if o["kind"] == "HorizontalPodAutoscaler":
            return int(o["spec"].get("minReplicas", 1))
        if o["kind"] == "ScaledObject":
            return int(o["spec"].get("minReplicaCount", 1) or 1)
    return 1


def usage(objects: list[K8sObject]) -> Usage:
    """What the objects' pods and claims take, in steady state (fill Jobs run one pod each)."""
    out = Usage()
    for o in objects:
        kind, spec = o.get("kind"), o.get("spec") or {}
        if kind == "Deployment":
            requests, limits = pod_resources(spec["template"]["spec"])
            count = _replicas(objects, o)
            _add(out.requests, requests, count)
            _add(out.limits, limits, count)
            out.pods += count
            out.surge_pod = (requests, limits)
        elif kind == "Job":
            requests, limits = pod_resources(spec["template"]["spec"])
            _add(out.requests, requests)
            _add(out.limits, limits)
            out.pods += 1
        elif kind == "NIMService":
            container = {"resources": spec.get("resources") or {}}
            requests, limits = _container_resources(container)
            hpa = (spec.get("scale") or {}).get("hpa") or {}
            nodes = int(((spec.get("multiNode") or {}).get("parallelism") or {}).get("pipeline", 1) or 1)
            count = (int(hpa.get("minReplicas", 1)) if (spec.get("scale") or {}).get("enabled") else int(spec.get("replicas", 1))) * nodes
            _add(out.requests, requests, count)
            _add(out.limits, limits, count)
            out.pods += count
            out.surge_pod = (requests, limits)
        elif kind == "PersistentVolumeClaim":
            out.claims += 1
            out.storage += _q(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
    return out


def _fmt(key: str, value: Decimal) -> str:
    if "memory" in key or "storage" in key:
        return f"{value / (1024**3):.1f}Gi"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def check_quotas(new: list[K8sObject], facts: ClusterFacts, surge: bool, report: PreflightReport) -> None:
    want, have = usage(new), usage(facts.current)
    for quota in facts.quotas:
        name = (quota.get("metadata") or {}).get("name", "?")
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        for key, limit in hard.items():
            need = want.quota_value(key) - have.quota_value(key)
            free = _q(limit) - _q(used.get(key, "0"))
            if need > 0 and need > free:
                raise DeployRefused(
                    f"ResourceQuota {name} in {facts.namespace}: {key} needs {_fmt(key, need)} more, "
                    f"{_fmt(key, max(free, Decimal(0)))} of {_fmt(key, _q(limit))} free ({_fmt(key, _q(used.get(key, '0')))} used)",
                    "lower --replicas/--min-replicas or --gpus, free capacity in the namespace, or ask for a larger quota",
                )
            extra = Decimal(0)
            if surge and facts.current and want.surge_pod is not None:
                extra = _pod_quota_value(want.surge_pod, key)
            if extra > 0 and max(need, Decimal(0)) + extra > free:
                report.surge_fits = False
                report.notes.append(f"ResourceQuota {name}: {key} has {_fmt(key, free)} free, a surge pod needs "
                                    f"{_fmt(key, extra)} more during the swap")
        if hard:
            report.notes.append(f"ResourceQuota {name}: fits ({', '.join(f'{k} {used.get(k, 0)}/{v}' for k, v in sorted(hard.items()))})")


def _pod_quota_value(pod: tuple[Resources, Resources], key: str) -> Decimal:
    requests, limits = pod
    if key == "pods":
        return Decimal(1)
    kind, _, resource = key.partition(".")
    if kind == "limits":
        return limits.get(resource, Decimal(0))
    if kind == "requests":
        return requests.get(resource, Decimal(0))
    return requests.get(key, Decimal(0)) if key in ("cpu", "memory", "ephemeral-storage") else Decimal(0)


def _pods(objects: list[K8sObject]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for o in objects:
        if o["kind"] in ("Deployment", "Job"):
            out.append((f"{o['kind']} {o['metadata']['name']}", o["spec"]["template"]["spec"]))
    return out


def check_limit_ranges(new: list[K8sObject], facts: ClusterFacts) -> None:
    for lr in facts.limit_ranges:
        name = (lr.get("metadata") or {}).get("name", "?")
        for item in (lr.get("spec") or {}).get("limits") or []:
            kind = item.get("type")
            maxima = {k: _q(v) for k, v in (item.get("max") or {}).items()}
            minima = {k: _q(v) for k, v in (item.get("min") or {}).items()}
            checks: list[tuple[str, Resources, Resources]] = []
            if kind == "Container":
                for owner, pod in _pods(new):
                    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
                        requests, limits = _container_resources(c)
                        checks.append((f"{owner} container {c['name']}", requests, limits))
            elif kind == "Pod":
                for owner, pod in _pods(new):
                    requests, limits = pod_resources(pod)
                    checks.append((owner, requests, limits))
            elif kind == "PersistentVolumeClaim":
                for o in new:
                    if o["kind"] == "PersistentVolumeClaim":
                        storage = {"storage": _q(o["spec"]["resources"]["requests"]["storage"])}
                        checks.append((f"PersistentVolumeClaim {o['metadata']['name']}", storage, storage))
            for owner, requests, limits in checks:
                for key, most in maxima.items():
                    value = max(limits.get(key, Decimal(0)), requests.get(key, Decimal(0)))
                    if value > most:
                        raise DeployRefused(f"LimitRange {name} in {facts.namespace}: {owner} asks {_fmt(key, value)} {key}, "
                                            f"more than the {kind} maximum {_fmt(key, most)}",
                                            "lower --gpus or the model's size (a quantized revision), or ask for a wider LimitRange")
                for key, least in minima.items():
                    if key in requests and requests[key] < least:
                        raise DeployRefused(f"LimitRange {name} in {facts.namespace}: {owner} asks {_fmt(key, requests[key])} {key}, "
                                            f"less than the {kind} minimum {_fmt(key, least)}", "ask for a LimitRange that admits it")


def check_nodes(placement: Placement, new: list[K8sObject], facts: ClusterFacts, report: PreflightReport) -> None:
    if facts.nodes is None:
        report.notes.append("nodes not readable with these credentials: GPU capacity not checked")
        return
    pods = _pods(new)
    serving = next((pod for owner, pod in pods if owner.startswith("Deployment")), None)
    need_cpu = need_mem = Decimal(0)
    if serving is not None:
        requests, _ = pod_resources(serving)
        need_cpu, need_mem = requests.get("cpu", Decimal(0)), requests.get("memory", Decimal(0))
    candidates: list[tuple[str, int, str]] = []
    for node in facts.nodes:
        meta, status = node.get("metadata") or {}, node.get("status") or {}
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        labels, alloc = meta.get("labels") or {}, status.get("allocatable") or {}
        if placement.target == "gpu":
            product = labels.get(PRODUCT_LABEL, "")
            if placement.products and product not in placement.products:
                continue
            if not placement.products and placement.vgpu and labels.get(VGPU_LABEL) != "true":
                continue
            reported = labels.get(MEMORY_LABEL)
            if reported and reported.isdigit() and placement.gpu_bytes and int(reported) * MIB * 0.9 < placement.gpu_bytes * 0.99:
                report.notes.append(f"node {meta.get('name')}: {product} reports {reported} MiB, less than sized for")
                continue
        if _q(alloc.get("cpu", "0")) < need_cpu or _q(alloc.get("memory", "0")) < need_mem:
            continue
        candidates.append((meta.get("name", "?"), int(_q(alloc.get(GPU, "0"))), labels.get(PRODUCT_LABEL, "-")))
    if placement.target != "gpu":
        if not candidates:
            raise DeployRefused(f"no node has {need_cpu} CPU and {_fmt('memory', need_mem)} allocatable for one pod",
                                "add nodes, or lower the model's size")
        return
    per_node = placement.gpus_per_node
    fit = [c for c in candidates if c[1] >= per_node]
    kinds = f"{' or '.join(placement.products)} " if placement.products else ("vGPU " if placement.vgpu else "")
    if len(fit) < placement.nodes:
        largest = max(candidates, key=lambda c: c[1], default=None)
        seen = f"largest: {largest[1]} on {largest[0]}" if largest else "no schedulable node with that GPU"
        raise DeployRefused(
            f"needs {placement.nodes} node{'s' if placement.nodes > 1 else ''} with {per_node} allocatable {kinds}"
            f"GPU{'s' if per_node > 1 else ''}; {len(fit)} found ({seen})",
            "choose --gpu-model/--vgpu-profile the nodes have (kubectl get nodes -L nvidia.com/gpu.product), fewer GPUs, or add nodes",
        )
    total = sum(c[1] for c in fit)
    report.notes.append(f"nodes: {len(fit)} with >= {per_node} allocatable {kinds}GPU(s), {total} GPUs in all")


def check_pod_security(engine: str, facts: ClusterFacts, report: PreflightReport) -> None:
    if facts.namespace_object is None:
        return
    labels = (facts.namespace_object.get("metadata") or {}).get("labels") or {}
    level = labels.get(ENFORCE_LABEL, "privileged")
    report.notes.append(f"namespace {facts.namespace} enforces Pod Security {level}: pais' pod templates meet restricted")
    if level == "restricted" and engine == "nim":
        report.notes.append("warning: the NIM Operator builds the NIMService's pods and their securityContext; "
                            "check that its version meets restricted in this namespace")


def preflight(placement: Placement, engine: str, new: list[K8sObject], facts: ClusterFacts, surge: bool) -> PreflightReport:
    """Refuses (DeployRefused, with the numbers) what cannot fit; the report says what was checked."""
    report = PreflightReport()
    check_limit_ranges(new, facts)
    check_quotas(new, facts, surge, report)
    check_nodes(placement, new, facts, report)
    check_pod_security(engine, facts, report)
    return report
