"""What the renderers share: the endpoint as decided by app.deploy.plan_deployment, its
names, labels and annotations, the engine it starts and where its pods may run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..gallery.modelpack import ModelFile
from .detect import EMBEDDING, ModelInfo
from .engines import EngineLaunch, launch
from .fetch import CA_KEY, FetchSource
from .placement import GIB, PRODUCT_LABEL, VGPU_LABEL, Placement
from .routing import (
    COMPONENT,
    DIGEST_ANNOTATION,
    ENGINE_LABEL,
    INSTANCE,
    MANAGED_BY,
    MANAGER,
    MODEL_ANNOTATION,
    NAME_LABEL,
    PLACEMENT_ANNOTATION,
    PREVIOUS_ANNOTATION,
    REVISION_LABEL,
    ROUTING_ANNOTATION,
    STORE_ANNOTATION,
    TAG_ANNOTATION,
    RoutingName,
    object_name,
    short_digest,
)

K8sObject = dict[str, Any]  # one Kubernetes object, as emitted
ROLLOUTS = ("surge", "recreate")
AUTOSCALERS = ("keda", "hpa")
DEFAULT_PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"


@dataclass(frozen=True)
class GatewayRef:
    """The Gateway (Gateway API) an HTTPRoute attaches to."""

    namespace: str
    name: str


@dataclass
class Endpoint:
    """Everything the renderers need, already decided by app.deploy.plan_deployment."""

    routing: RoutingName
    engine: str
    image: str | None  # None: the engine's pinned default (engines.launch decides)
    fetch_image: str
    info: ModelInfo | None
    placement: Placement
    namespace: str | None = None
    model: str | None = None  # gallery model name
    store: str | None = None
    tag: str | None = None
    digest: str | None = None
    source: FetchSource | None = None
    files: list[ModelFile] = field(default_factory=list)
    registry_ca: str | None = None  # PEM, when the gallery has a CA
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    pull_secret: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    # A shared ReadWriteMany model volume filled once per revision (--storage-class; always for
    # the NIM from the gallery) instead of a fetch into every pod.
    storage_class: str | None = None
    volume_bytes: int | None = None  # its size: never smaller than the existing claim
    previous_digest: str | None = None  # the revision served before this one (rollback target)
    keep_digests: list[str] | None = None  # revisions the fill Job keeps; None: prune nothing
    rollout: str = "surge"
    autoscale: str | None = None  # keda | hpa, for autoscaled GPU engines
    prometheus_url: str = DEFAULT_PROMETHEUS
    network_policy: bool = False
    gateway_namespace: str | None = None  # the namespace the NetworkPolicy admits
    gateway: GatewayRef | None = None  # --gateway-api: an HTTPRoute attached to this Gateway
    extra_annotations: dict[str, str] = field(default_factory=dict)  # e.g. governance overrides

    @property
    def name(self) -> str:
        return object_name(self.routing)

    @property
    def ca_configmap(self) -> str:
        return object_name(self.routing, "-registry-ca")

    @property
    def shared_volume(self) -> bool:
        return (self.engine == "nim" and self.digest is not None) or self.storage_class is not None

    @property
    def autoscaled(self) -> bool:
        return self.min_replicas is not None or self.max_replicas is not None

    @property
    def most_replicas(self) -> int:
        return self.max_replicas or self.replicas or self.min_replicas or 1

    @property
    def fewest_replicas(self) -> int:
        return self.min_replicas or self.replicas or 1

    def selector(self) -> dict[str, str]:
        return {INSTANCE: self.name, MANAGED_BY: MANAGER}

    def labels(self, component: str = "inference-endpoint") -> dict[str, str]:
        labels = {NAME_LABEL: self.engine, INSTANCE: self.name, COMPONENT: component, MANAGED_BY: MANAGER,
                  ENGINE_LABEL: self.engine}
        if self.digest:
            labels[REVISION_LABEL] = short_digest(self.digest)
        return labels

    def annotations(self) -> dict[str, str]:
        out = {ROUTING_ANNOTATION: str(self.routing), PLACEMENT_ANNOTATION: self.placement.summary()}
        if self.digest:
            out[DIGEST_ANNOTATION] = self.digest
        if self.previous_digest and self.previous_digest != self.digest:
            out[PREVIOUS_ANNOTATION] = self.previous_digest
        if self.model:
            out[MODEL_ANNOTATION] = self.model
        if self.store:
            out[STORE_ANNOTATION] = self.store
        if self.tag:
            out[TAG_ANNOTATION] = self.tag
        out.update(self.extra_annotations)
        return out

    def pod_annotations(self) -> dict[str, str]:
        # No tag and no previous revision on pods: the same digest deployed under another tag
        # (or after another history) must not roll them.
        return {k: v for k, v in self.annotations().items() if k not in (TAG_ANNOTATION, PREVIOUS_ANNOTATION)}

    def metadata(self, name: str | None = None, component: str = "inference-endpoint") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name or self.name}
        if self.namespace:
            meta["namespace"] = self.namespace
        meta["labels"] = self.labels(component)
        meta["annotations"] = self.annotations()
        return meta


def quantity_gi(n_bytes: int, factor: float = 1.0, minimum: int = 1) -> str:
    return f"{max(minimum, math.ceil(n_bytes * factor / GIB))}Gi"


def engine_launch(ep: Endpoint, model_dir: str | None) -> EngineLaunch:
    """The engine serving the routing name from `model_dir`, as engines.launch starts it."""
    p, info = ep.placement, ep.info
    return launch(ep.engine, p.target, model_dir, served_name=str(ep.routing),
                  gguf_file=info.gguf_file if info else None,
                  embedding=info is not None and info.model_type == EMBEDDING,
                  gpus=p.tensor_parallel, pipeline=p.pipeline_parallel, image=ep.image,
                  max_model_len=p.max_model_len if ep.engine in ("vllm", "nim") else None)


def gpu_affinity(p: Placement) -> dict[str, Any] | None:
    """Nodes whose GPU Feature Discovery labels say they have the GPUs the placement sized for."""
    if p.target != "gpu":
        return None
    if p.products:
        expression = {"key": PRODUCT_LABEL, "operator": "In", "values": list(p.products)}
    elif p.vgpu:
        expression = {"key": VGPU_LABEL, "operator": "In", "values": ["true"]}
    else:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [expression]}]}}}


def ca_configmap(ep: Endpoint) -> K8sObject | None:
    if not ep.registry_ca:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ep.metadata(ep.ca_configmap, "registry-ca"),
            "data": {CA_KEY: ep.registry_ca}}
