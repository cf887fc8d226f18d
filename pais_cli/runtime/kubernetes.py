"""Plain Kubernetes manifests for an endpoint: Deployment (+ HPA), Service, registry CA.

The pod fetches the pinned revision into an emptyDir with an init container (the ORAS CLI
image), then the engine serves it under the routing name. Names come from the routing name
only, so a redeploy with another revision is an in-place `kubectl apply`: the Deployment's
selector never changes, its pod template does (new digest), and Kubernetes rolls the pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..gallery.modelpack import ModelFile
from .detect import EMBEDDING, ModelInfo
from .engines import EngineLaunch, launch
from .fetch import CA_KEY, FetchSource, fetch_script, fetch_volumes
from .placement import GIB, GPU_PRODUCTS, Placement
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
    REVISION_LABEL,
    ROUTING_ANNOTATION,
    STORE_ANNOTATION,
    TAG_ANNOTATION,
    RoutingName,
    object_name,
    short_digest,
)

K8sObject = dict[str, Any]  # one Kubernetes object, as emitted
MODEL_MOUNT = "/models"
MODEL_DIR = f"{MODEL_MOUNT}/model"


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

    @property
    def name(self) -> str:
        return object_name(self.routing)

    @property
    def ca_configmap(self) -> str:
        return object_name(self.routing, "-registry-ca")

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
        if self.model:
            out[MODEL_ANNOTATION] = self.model
        if self.store:
            out[STORE_ANNOTATION] = self.store
        if self.tag:
            out[TAG_ANNOTATION] = self.tag
        return out

    def pod_annotations(self) -> dict[str, str]:
        # No tag on pods: the same digest deployed under another tag must not roll them.
        return {k: v for k, v in self.annotations().items() if k != TAG_ANNOTATION}

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
                  gpus=p.tensor_parallel, pipeline=p.pipeline_parallel, image=ep.image)


def gpu_affinity(p: Placement) -> dict[str, Any] | None:
    if p.target != "gpu" or not p.gpu_model:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": GPU_PRODUCTS[p.gpu_model]}]}]}}}


def resources(p: Placement) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": p.cpu, "memory": p.memory}
    limits: dict[str, Any] = {"memory": p.memory}
    if p.target == "gpu":
        requests["nvidia.com/gpu"] = p.tensor_parallel
        limits["nvidia.com/gpu"] = p.tensor_parallel
    return {"requests": requests, "limits": limits}


def probe(path: str, startup: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    # Loading weights takes minutes: the startup probe allows 30 of them before liveness rules.
    out["failureThreshold"] = 180 if startup else 3
    return out


def ca_configmap(ep: Endpoint) -> K8sObject | None:
    if not ep.registry_ca:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": ep.metadata(ep.ca_configmap, "registry-ca"),
            "data": {CA_KEY: ep.registry_ca}}


def render_plain(ep: Endpoint) -> list[K8sObject]:
    """ConfigMap (registry CA, when there is one), Deployment, Service, and an HPA when asked."""
    assert ep.source is not None and ep.info is not None and ep.digest is not None
    p = ep.placement
    fetch_vols, fetch_mounts = fetch_volumes(ep.source, ep.ca_configmap)
    model_volume = {"name": "model", "emptyDir": {"sizeLimit": quantity_gi(ep.info.files_bytes, 1.1)}}
    volumes: list[dict[str, Any]] = [model_volume, *fetch_vols]
    engine_mounts: list[dict[str, Any]] = [{"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True}]
    if p.target == "gpu":
        # Tensor parallel workers share tensors through /dev/shm; the default 64 MiB is too small.
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}})
        engine_mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    start = engine_launch(ep, MODEL_DIR)
    engine: dict[str, Any] = {"name": "engine", "image": start.image}
    if start.command:
        engine["command"] = start.command
    engine["args"] = start.args
    if start.env:
        engine["env"] = [{"name": k, "value": v} for k, v in start.env.items()]
    engine.update({
        "ports": [{"name": "http", "containerPort": start.port, "protocol": "TCP"}],
        "readinessProbe": probe(start.health_path),
        "startupProbe": probe(start.health_path, startup=True),
        "resources": resources(p),
        "volumeMounts": engine_mounts,
    })
    fetch = {
        "name": "fetch-model",
        "image": ep.fetch_image,
        "command": ["/bin/sh", "-c"],
        "args": [fetch_script(ep.source, ep.files, MODEL_DIR)],
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "model", "mountPath": MODEL_MOUNT}, *fetch_mounts],
    }
    pod_spec: dict[str, Any] = {"initContainers": [fetch], "containers": [engine], "volumes": volumes}
    if ep.pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": ep.pull_secret}]
    if (affinity := gpu_affinity(p)) is not None:
        pod_spec["affinity"] = affinity
    if ep.node_selector:
        pod_spec["nodeSelector"] = dict(ep.node_selector)
    if p.target == "gpu":
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    template_meta = {"labels": ep.labels(), "annotations": ep.pod_annotations()}
    deployment_spec: dict[str, Any] = {}
    autoscaled = ep.min_replicas is not None or ep.max_replicas is not None
    if not autoscaled:
        deployment_spec["replicas"] = ep.replicas or 1  # with an HPA, replicas is left to it
    deployment_spec.update({
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": ep.selector()},
        "template": {"metadata": template_meta, "spec": pod_spec},
    })
    objects: list[K8sObject] = []
    if (cm := ca_configmap(ep)) is not None:
        objects.append(cm)
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": ep.metadata(), "spec": deployment_spec})
    objects.append({
        "apiVersion": "v1", "kind": "Service", "metadata": ep.metadata(),
        "spec": {"type": "ClusterIP", "selector": ep.selector(),
                 "ports": [{"name": "http", "port": start.port, "targetPort": "http", "protocol": "TCP"}]},
    })
    if autoscaled:
        objects.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": ep.metadata(),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ep.name},
                "minReplicas": ep.min_replicas or 1,
                "maxReplicas": ep.max_replicas or max(ep.min_replicas or 1, 1),
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
            },
        })
    return objects


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:  # scripts and PEM stay readable as literal blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[K8sObject]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True)
