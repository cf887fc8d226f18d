"""NVIDIA NIM Operator manifests (apps.nvidia.com/v1alpha1, operator v3.1), two sources.

A gallery revision: NIMCache cannot pull from an OCI registry, so pais emits a ReadWriteMany
PVC, a Job that fills it with the pinned revision (ORAS, by blob digest, skipping blobs already
there), and a NIMService running the multi-LLM NIM on that volume (`storage.pvc`, create:
false). The Job must finish before the NIMService starts: `--apply` applies the PVC and Job,
waits for the Job, then applies the NIMService.

The volume, the fill Job (one per revision, pruning what is no longer kept) and the never-
shrinking claim are runtime/storage.py's, shared with the plain engines' `--storage-class` path.

An NGC model: a NIMCache (source ngc, one pinned profile, RWX PVC) first, then a NIMService
that references it (`storage.nimCache`); `--apply` waits for the cache to be Ready in between.
A NIMCache's `modelPuller` is immutable (a CEL rule with oldSelf), so the cache is named after
what it holds (`<name>-cache-<version>-<6 hex of its spec>`): an upgrade creates a new cache,
moves the NIMService to it, and only then is the old one deleted (by label, `pais.dev/cache`
other than the new name).

Both: `scale.enabled` with HPA min/max and never `replicas` beside it (a CEL rule of the CRD),
except multi-node, where the CRD forbids autoscaling and `replicas` is used; `expose.service`
on port 8000; `expose.router` (never the deprecated `expose.ingress`) when an ingress class or
host domain is given; the routing name as the served model name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import storage
from .endpoint import Endpoint, K8sObject, ca_configmap, engine_launch, gpu_affinity, quantity_gi
from .engines import EngineLaunch
from .errors import DeployRefused
from .exposure import http_route, network_policy
from .hardening import RUN_AS_GROUP, RUN_AS_USER
from .routing import CACHE_LABEL, COMPONENT, INSTANCE, SOURCE_ANNOTATION, object_name
from .scaling import autoscaler, pods_metric

API_VERSION = "apps.nvidia.com/v1alpha1"
MODEL_STORE = storage.MODEL_STORE  # where the operator mounts the NIMService's storage
NIM_UID, NIM_GID = RUN_AS_USER, RUN_AS_GROUP  # the NIMService's default userID / groupID
CACHE_COMPONENT = "model-cache"
_PARAMS_IN_NAME = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])")


@dataclass
class NimOptions:
    auth_secret: str = "ngc-api-secret"  # generic secret with NGC_API_KEY (the CRD requires one)
    image_pull_secret: str | None = "ngc-secret"  # docker-registry secret for nvcr.io
    storage_class: str | None = None
    ingress_class: str | None = None
    host_domain: str | None = None
    ngc_model: str | None = None  # nvcr.io/nim/...:tag
    ngc_profile: str | None = None
    weights_bytes: int | None = None  # NGC path: size of the model, for the cache volume


revision_dir = storage.revision_dir


def _split_image(image: str) -> tuple[str, str]:
    """(repository, tag) for the NIMService's `image`. The operator starts `repository:tag`
    (NIMService.GetImage), so an image pinned by digest, `REPO[:TAG]@sha256:HEX`, is written as
    repository `REPO[:TAG]@sha256` and tag `HEX`, which it joins back into the same reference."""
    if "@" in image:
        reference, _, hex_part = image.rpartition(":")
        return reference, hex_part
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        return image, "latest"
    return repository, tag


def _scale_and_replicas(ep: Endpoint, spec: dict[str, Any]) -> None:
    if ep.placement.multi_node:
        # The CRD: "autoscaling must be nil or disabled when multiNode is set".
        spec["replicas"] = ep.replicas or ep.min_replicas or 1
        return
    minimum = ep.min_replicas or ep.replicas or 1
    maximum = ep.max_replicas or max(minimum, ep.replicas or 1)
    hpa: dict[str, Any] = {"minReplicas": minimum, "maxReplicas": maximum}
    if maximum > minimum and autoscaler(ep) == "hpa":
        # The NIM's own queue, never the HPA's default CPU target.
        hpa["metrics"] = [pods_metric("nim")]
        hpa["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 600}}
    spec["scale"] = {"enabled": True, "hpa": hpa}


def ngc_weights(ngc_model: str, given: int | None) -> tuple[int, str]:
    """Weight bytes of an NGC model, and where the number came from: --weights-size, else the
    parameter count in the model's name at 16 bits each."""
    if given:
        return given, "given with --weights-size"
    name = ngc_model.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    match = _PARAMS_IN_NAME.search(name)
    if not match:
        raise DeployRefused(f"cannot tell the size of {ngc_model} from its name",
                            "give --weights-size (e.g. 16GiB for an 8B model in 16-bit)")
    params = float(match.group(1)) * 1e9
    return int(params * 2), f"{match.group(1)}B parameters in the name, 16-bit weights assumed (--weights-size overrides)"


def _expose(start: EngineLaunch, opts: NimOptions) -> dict[str, Any]:
    expose: dict[str, Any] = {"service": {"type": "ClusterIP", "port": start.port}}
    router: dict[str, Any] = {}
    if opts.host_domain:
        router["hostDomainName"] = opts.host_domain
    if opts.ingress_class:
        router["ingress"] = {"ingressClass": opts.ingress_class}
    if router:
        expose["router"] = router
    return expose


def _service_spec(ep: Endpoint, opts: NimOptions, start: EngineLaunch, storage_spec: dict[str, Any]) -> dict[str, Any]:
    p = ep.placement
    repository, tag = _split_image(start.image)
    image_spec: dict[str, Any] = {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    pull_secrets = [s for s in (opts.image_pull_secret, ep.pull_secret) if s]
    if pull_secrets:
        image_spec["pullSecrets"] = list(dict.fromkeys(pull_secrets))
    spec: dict[str, Any] = {
        "image": image_spec,
        "authSecret": opts.auth_secret,
        "env": [{"name": k, "value": v} for k, v in start.env.items()],
        "storage": storage_spec,
        "labels": ep.labels(),
        "annotations": ep.pod_annotations(),
        "resources": {"limits": {"nvidia.com/gpu": p.gpus_per_node}, "requests": {"cpu": p.cpu, "memory": p.memory}},
        "expose": _expose(start, opts),
        "userID": NIM_UID,
        "groupID": NIM_GID,
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    if (affinity := gpu_affinity(p)) is not None:
        spec["affinity"] = affinity
    if ep.node_selector:
        spec["nodeSelector"] = dict(ep.node_selector)
    if p.multi_node:
        spec["multiNode"] = {"backendType": "lws", "parallelism": {"tensor": p.tensor_parallel, "pipeline": p.pipeline_parallel},
                             "mpi": {"mpiStartTimeout": 300}}
    _scale_and_replicas(ep, spec)
    return spec


def render_gallery(ep: Endpoint, opts: NimOptions) -> list[K8sObject]:
    """ConfigMap (CA), PVC, fill Job, NIMService (+ NetworkPolicy, HTTPRoute): in the order they must exist."""
    assert ep.source is not None and ep.info is not None and ep.digest is not None
    storage_spec = {"pvc": {"create": False, "name": storage.volume_name(ep)}}
    meta = ep.metadata()
    meta["annotations"][SOURCE_ANNOTATION] = "gallery"
    service = {"apiVersion": API_VERSION, "kind": "NIMService", "metadata": meta,
               "spec": _service_spec(ep, opts, engine_launch(ep, storage.revision_dir(ep.digest)), storage_spec)}
    objects: list[K8sObject] = []
    if (cm := ca_configmap(ep)) is not None:
        objects.append(cm)
    return [*objects, storage.model_volume(ep), storage.fill_job(ep), service, *_exposure(ep)]


def _exposure(ep: Endpoint) -> list[K8sObject]:
    out = [o for o in (network_policy(ep, {INSTANCE: ep.name}), http_route(ep)) if o is not None]
    return out


def _version_slug(image: str) -> str:
    tag = _split_image(image)[1]
    slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")[:12].strip("-")
    return slug or "latest"


def cache_selector(ep: Endpoint) -> str:
    """Every NIMCache of this endpoint (kubectl label selector)."""
    return f"{INSTANCE}={ep.name},{COMPONENT}={CACHE_COMPONENT}"


def render_ngc(ep: Endpoint, opts: NimOptions) -> list[K8sObject]:
    """NIMCache (pinned profile, RWX PVC), then the NIMService that serves from it."""
    assert opts.ngc_model and opts.ngc_profile and opts.weights_bytes
    ngc: dict[str, Any] = {"modelPuller": opts.ngc_model, "authSecret": opts.auth_secret,
                           "model": {"profiles": [opts.ngc_profile]}}
    if opts.image_pull_secret:
        ngc["pullSecret"] = opts.image_pull_secret
    pvc: dict[str, Any] = {"create": True, "size": quantity_gi(opts.weights_bytes, 1.5, minimum=5),
                           "volumeAccessMode": "ReadWriteMany"}
    if opts.storage_class:
        pvc["storageClass"] = opts.storage_class
    cache_spec = {"source": {"ngc": ngc}, "storage": {"pvc": pvc}}
    # Named after what it holds: a new version (an immutable modelPuller), profile or volume is a new cache.
    fingerprint = hashlib.sha256(json.dumps(cache_spec, sort_keys=True).encode()).hexdigest()[:6]
    cache_name = object_name(ep.routing, f"-cache-{_version_slug(opts.ngc_model)}-{fingerprint}")
    cache_meta = ep.metadata(cache_name, CACHE_COMPONENT)
    cache_meta["labels"][CACHE_LABEL] = cache_name
    cache_meta["annotations"][SOURCE_ANNOTATION] = opts.ngc_model
    cache = {"apiVersion": API_VERSION, "kind": "NIMCache", "metadata": cache_meta, "spec": cache_spec}
    storage_spec = {"nimCache": {"name": cache_name, "profile": opts.ngc_profile}}
    meta = ep.metadata()
    meta["annotations"][SOURCE_ANNOTATION] = opts.ngc_model
    service = {"apiVersion": API_VERSION, "kind": "NIMService", "metadata": meta,
               "spec": _service_spec(ep, opts, engine_launch(ep, None), storage_spec)}
    return [cache, service, *_exposure(ep)]


def old_caches_selector(ep: Endpoint, current: str) -> str:
    """The NIMCaches of this endpoint other than `current`: what an upgrade leaves to delete."""
    return f"{cache_selector(ep)},{CACHE_LABEL}!={current}"
