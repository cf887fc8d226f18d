"""Plain Kubernetes manifests for an endpoint: Deployment, Service and what goes with them.

The pod gets the pinned revision one of two ways: from a shared ReadWriteMany volume filled
once per revision by a Job (runtime/storage.py; `--storage-class`), mounted read-only with no
init container; or, without one, fetched into an emptyDir by an init container (the ORAS CLI
image), with an `ephemeral-storage` request sized from the revision so the scheduler places it
on a node with the disk. Names come from the routing name only, so a redeploy with another
revision is an in-place `kubectl apply`: the Deployment's selector never changes, its pod
template does (new digest), and Kubernetes rolls the pods as runtime/rollout.py says.
Every container runs hardened (runtime/hardening.py).
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from . import rollout, scaling, storage
from .endpoint import Endpoint, K8sObject, ca_configmap, engine_launch, gpu_affinity, quantity_gi
from .exposure import http_route, network_policy
from .fetch import fetch_script, fetch_volumes
from .hardening import WRITABLE_SIZE, container_security_context, pod_security_context, writable_volumes
from .placement import GIB, Placement

__all__ = ["MODEL_DIR", "MODEL_MOUNT", "Endpoint", "K8sObject", "render_plain", "to_yaml"]

MODEL_MOUNT = "/models"
MODEL_DIR = f"{MODEL_MOUNT}/model"
SHM_SIZE = "8Gi"


def resources(p: Placement, ephemeral: str | None = None) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": p.cpu, "memory": p.memory}
    limits: dict[str, Any] = {"memory": p.memory}
    if ephemeral:
        requests["ephemeral-storage"] = ephemeral
    if p.target == "gpu":
        requests["nvidia.com/gpu"] = p.tensor_parallel
        limits["nvidia.com/gpu"] = p.tensor_parallel
    return {"requests": requests, "limits": limits}


def per_pod_disk(ep: Endpoint) -> str:
    """What one pod writes to its node's disk: the revision (+10%) and its writable paths."""
    assert ep.info is not None
    writable = int(WRITABLE_SIZE.removesuffix("Gi")) * GIB
    return f"{max(1, math.ceil((ep.info.files_bytes * 1.1 + writable) / GIB))}Gi"


def storage_note(ep: Endpoint) -> str:
    """One line for the dry-run: where each replica's model comes from."""
    assert ep.info is not None
    if ep.shared_volume:
        return (f"shared volume {storage.volume_name(ep)} ({ep.storage_class or 'default StorageClass'}, ReadWriteMany): "
                f"filled once per revision by a Job, mounted read-only by every replica")
    total = ep.info.files_bytes * ep.most_replicas
    return (f"per-pod fetch: each replica downloads {ep.info.files_bytes / GIB:.1f} GiB to its node's disk "
            f"(ephemeral-storage request {per_pod_disk(ep)}; {total / GIB:.1f} GiB for {ep.most_replicas}); "
            "--storage-class NAME (a ReadWriteMany class) fills one shared copy instead")


def render_plain(ep: Endpoint) -> list[K8sObject]:
    """ConfigMap (registry CA), the shared model volume and its fill Job (with --storage-class),
    Deployment, Service, PodDisruptionBudget, autoscaler, NetworkPolicy, HTTPRoute: in the order
    they must exist."""
    assert ep.source is not None and ep.info is not None and ep.digest is not None
    p = ep.placement
    tmp_vols, tmp_mounts = writable_volumes(("/tmp",))
    objects: list[K8sObject] = []
    if (cm := ca_configmap(ep)) is not None:
        objects.append(cm)
    init: list[dict[str, Any]] = []
    if ep.shared_volume:
        volume, mount, model_dir = storage.shared_volume_mount(ep)
        volumes: list[dict[str, Any]] = [volume]
        engine_mounts: list[dict[str, Any]] = [mount]
        objects += [storage.model_volume(ep), storage.fill_job(ep)]
        ephemeral = None
    else:
        model_dir = MODEL_DIR
        fetch_vols, fetch_mounts = fetch_volumes(ep.source, ep.ca_configmap)
        volumes = [{"name": "model", "emptyDir": {"sizeLimit": quantity_gi(ep.info.files_bytes, 1.1)}}, *fetch_vols]
        engine_mounts = [{"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True}]
        ephemeral = per_pod_disk(ep)
        init.append({
            "name": "fetch-model",
            "image": ep.fetch_image,
            "command": ["/bin/sh", "-c"],
            "args": [fetch_script(ep.source, ep.files, MODEL_DIR)],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "resources": storage.FILL_RESOURCES,
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "model", "mountPath": MODEL_MOUNT}, *fetch_mounts, *tmp_mounts],
        })
    start = engine_launch(ep, model_dir)
    start_vols, start_mounts = writable_volumes(start.writable)
    volumes += [v for v in start_vols if v not in tmp_vols] + tmp_vols
    engine_mounts += start_mounts
    if p.target == "gpu":
        # Tensor parallel workers share tensors through /dev/shm; the default 64 MiB is too small.
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}})
        engine_mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    engine: dict[str, Any] = {"name": "engine", "image": start.image}
    if start.command:
        engine["command"] = start.command
    engine["args"] = start.args
    if start.env:
        engine["env"] = [{"name": k, "value": v} for k, v in start.env.items()]
    engine.update({
        "ports": [{"name": "http", "containerPort": start.port, "protocol": "TCP"}],
        "startupProbe": rollout.probe(start.health_path, startup_s=rollout.load_seconds(ep)),
        "readinessProbe": rollout.probe(start.health_path),
        "livenessProbe": rollout.probe(start.health_path, liveness=True),
        "resources": resources(p, ephemeral),
        "securityContext": container_security_context(),
        "volumeMounts": engine_mounts,
    })
    pod_spec: dict[str, Any] = {"securityContext": pod_security_context()}
    if init:
        pod_spec["initContainers"] = init
    pod_spec.update({"containers": [engine], "volumes": volumes})
    if ep.pull_secret:
        pod_spec["imagePullSecrets"] = [{"name": ep.pull_secret}]
    if (affinity := gpu_affinity(p)) is not None:
        pod_spec["affinity"] = affinity
    if ep.node_selector:
        pod_spec["nodeSelector"] = dict(ep.node_selector)
    if p.target == "gpu":
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    template_meta = {"labels": ep.labels(), "annotations": {**ep.pod_annotations(), **scaling.scrape_annotations(ep)}}
    deployment_spec: dict[str, Any] = {}
    if not ep.autoscaled:
        deployment_spec["replicas"] = ep.replicas or 1  # with an autoscaler, replicas is left to it
    deployment_spec.update({
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": rollout.progress_deadline(ep),
        "strategy": rollout.strategy(ep),
        "selector": {"matchLabels": ep.selector()},
        "template": {"metadata": template_meta, "spec": pod_spec},
    })
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": ep.metadata(), "spec": deployment_spec})
    objects.append({
        "apiVersion": "v1", "kind": "Service", "metadata": ep.metadata(),
        "spec": {"type": "ClusterIP", "selector": ep.selector(),
                 "ports": [{"name": "http", "port": start.port, "targetPort": "http", "protocol": "TCP"}]},
    })
    if (pdb := rollout.disruption_budget(ep)) is not None:
        objects.append(pdb)
    objects += scaling.scaling_objects(ep)
    if (policy := network_policy(ep, ep.selector())) is not None:
        objects.append(policy)
    if (route := http_route(ep)) is not None:
        objects.append(route)
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
