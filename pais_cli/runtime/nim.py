"""NVIDIA NIM Operator manifests (apps.nvidia.com/v1alpha1, operator v3.1), two sources.

A gallery revision: NIMCache cannot pull from an OCI registry, so pais emits a ReadWriteMany
PVC, a Job that fills it with the pinned revision (ORAS, by blob digest, skipping blobs already
there), and a NIMService running the multi-LLM NIM on that volume (`storage.pvc`, create:
false). The Job must finish before the NIMService starts: `--apply` applies the PVC and Job,
waits for the Job, then applies the NIMService.

An NGC model: a NIMCache (source ngc, one pinned profile, RWX PVC) first, then a NIMService
that references it (`storage.nimCache`); `--apply` waits for the cache to be Ready in between.

Both: `scale.enabled` with HPA min/max and never `replicas` beside it (a CEL rule of the CRD),
except multi-node, where the CRD forbids autoscaling and `replicas` is used; `expose.service`
on port 8000; `expose.router` (never the deprecated `expose.ingress`) when an ingress class or
host domain is given; the routing name as the served model name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .engines import EngineLaunch
from .errors import DeployRefused
from .fetch import fetch_script, fetch_volumes
from .kubernetes import Endpoint, K8sObject, ca_configmap, engine_launch, gpu_affinity, quantity_gi
from .placement import GIB
from .routing import SOURCE_ANNOTATION, object_name

API_VERSION = "apps.nvidia.com/v1alpha1"
MODEL_STORE = "/model-store"  # where the operator mounts the NIMService's storage
NIM_UID, NIM_GID = 1000, 2000  # the NIMService's default userID / groupID
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


def revision_dir(digest: str) -> str:
    return f"{MODEL_STORE}/revisions/{digest.replace(':', '-')}"


def pvc_size(files_bytes: int) -> str:
    # Room for the serving revision and the next one while a swap fills in, plus 10%.
    return f"{max(1, math.ceil(files_bytes * 2.2 / GIB))}Gi"


def _split_image(image: str) -> tuple[str, str]:
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
    spec["scale"] = {"enabled": True, "hpa": {"minReplicas": minimum, "maxReplicas": maximum}}


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


def _service_spec(ep: Endpoint, opts: NimOptions, start: EngineLaunch, storage: dict[str, Any]) -> dict[str, Any]:
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
        "storage": storage,
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


def fill_job_name(ep: Endpoint) -> str:
    assert ep.digest is not None
    # One Job per revision: a Job's pod template is immutable, and the name says which revision.
    return object_name(ep.routing, f"-fill-{ep.digest.split(':', 1)[1][:8]}")


def render_gallery(ep: Endpoint, opts: NimOptions) -> list[K8sObject]:
    """ConfigMap (CA), PVC, fill Job, NIMService: in the order they must exist."""
    assert ep.source is not None and ep.info is not None and ep.digest is not None
    pvc_name = object_name(ep.routing, "-model")
    pvc_spec: dict[str, Any] = {"accessModes": ["ReadWriteMany"],
                                "resources": {"requests": {"storage": pvc_size(ep.info.files_bytes)}}}
    if opts.storage_class:
        pvc_spec["storageClassName"] = opts.storage_class
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ep.metadata(pvc_name, "model-store"), "spec": pvc_spec}
    dest = revision_dir(ep.digest)
    fetch_vols, fetch_mounts = fetch_volumes(ep.source, ep.ca_configmap)
    job_name = fill_job_name(ep)
    job_pod: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsUser": NIM_UID, "runAsGroup": NIM_GID, "fsGroup": NIM_GID},
        "containers": [{
            "name": "fill",
            "image": ep.fetch_image,
            "command": ["/bin/sh", "-c"],
            "args": [fetch_script(ep.source, ep.files, dest, blobs=f"{MODEL_STORE}/blobs/sha256")],
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            "volumeMounts": [{"name": "model-store", "mountPath": MODEL_STORE}, *fetch_mounts],
        }],
        "volumes": [{"name": "model-store", "persistentVolumeClaim": {"claimName": pvc_name}}, *fetch_vols],
    }
    if ep.pull_secret:
        job_pod["imagePullSecrets"] = [{"name": ep.pull_secret}]
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": ep.metadata(job_name, "model-fill"),
        "spec": {"backoffLimit": 4, "ttlSecondsAfterFinished": 86400,
                 "template": {"metadata": {"labels": ep.labels("model-fill")}, "spec": job_pod}},
    }
    storage = {"pvc": {"create": False, "name": pvc_name}}
    meta = ep.metadata()
    meta["annotations"][SOURCE_ANNOTATION] = "gallery"
    service = {"apiVersion": API_VERSION, "kind": "NIMService", "metadata": meta,
               "spec": _service_spec(ep, opts, engine_launch(ep, dest), storage)}
    objects: list[K8sObject] = []
    if (cm := ca_configmap(ep)) is not None:
        objects.append(cm)
    return [*objects, pvc, job, service]


def render_ngc(ep: Endpoint, opts: NimOptions) -> list[K8sObject]:
    """NIMCache (pinned profile, RWX PVC), then the NIMService that serves from it."""
    assert opts.ngc_model and opts.ngc_profile and opts.weights_bytes
    cache_name = object_name(ep.routing, "-cache")
    ngc: dict[str, Any] = {"modelPuller": opts.ngc_model, "authSecret": opts.auth_secret,
                           "model": {"profiles": [opts.ngc_profile]}}
    if opts.image_pull_secret:
        ngc["pullSecret"] = opts.image_pull_secret
    pvc: dict[str, Any] = {"create": True, "size": quantity_gi(opts.weights_bytes, 1.5, minimum=5),
                           "volumeAccessMode": "ReadWriteMany"}
    if opts.storage_class:
        pvc["storageClass"] = opts.storage_class
    cache_meta = ep.metadata(cache_name, "model-cache")
    cache_meta["annotations"][SOURCE_ANNOTATION] = opts.ngc_model
    cache = {"apiVersion": API_VERSION, "kind": "NIMCache", "metadata": cache_meta,
             "spec": {"source": {"ngc": ngc}, "storage": {"pvc": pvc}}}
    storage = {"nimCache": {"name": cache_name, "profile": opts.ngc_profile}}
    meta = ep.metadata()
    meta["annotations"][SOURCE_ANNOTATION] = opts.ngc_model
    service = {"apiVersion": API_VERSION, "kind": "NIMService", "metadata": meta,
               "spec": _service_spec(ep, opts, engine_launch(ep, None), storage)}
    return [cache, service]
