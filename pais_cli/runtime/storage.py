"""The shared model volume: one ReadWriteMany claim per routing name, filled once per revision.

A Job per revision (`<name>-fill-<8 hex of the digest>-<6 hex of its pod template>`) runs the
fetch script (runtime/fetch.py) into `/model-store/revisions/sha256-<hex>/`, blobs kept once
under `/model-store/blobs/sha256/` and hard-linked, so the next revision moves only the files
that changed. Every replica of every engine mounts the volume read-only. The name carries a hash
of the pod template because a Job's `spec.template` is immutable: any change (another fetch
image, another revision to keep) is a new Job, never a rejected update of the old one.

Pruning is the fill Job's own last step, so it works when pais only writes manifests: every
revision directory but this one and the kept ones (the revision served before, for rollback)
is removed, then the blobs no revision links any more.

The claim never shrinks (Kubernetes refuses a smaller storage request): its size is decided by
the caller (app/deploy.py) as the largest of the existing claim, this revision's need and
`--volume-size`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from .fetch import fetch_script, fetch_volumes
from .hardening import container_security_context, pod_security_context, writable_volumes
from .endpoint import Endpoint, K8sObject
from .placement import GIB
from .routing import object_name

MODEL_STORE = "/model-store"
BLOBS = f"{MODEL_STORE}/blobs/sha256"
FILL_COMPONENT = "model-fill"
FILL_RESOURCES = {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def revision_name(digest: str) -> str:
    return digest.replace(":", "-")


def revision_dir(digest: str) -> str:
    return f"{MODEL_STORE}/revisions/{revision_name(digest)}"


def volume_name(ep: Endpoint) -> str:
    return object_name(ep.routing, "-model")


def volume_need(files_bytes: int) -> int:
    """Room for the serving revision and the next one while a swap fills in, plus 10%, in whole GiB."""
    return max(1, math.ceil(files_bytes * 2.2 / GIB)) * GIB


def model_volume(ep: Endpoint) -> K8sObject:
    assert ep.info is not None
    size = ep.volume_bytes or volume_need(ep.info.files_bytes)
    spec: dict[str, Any] = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": f"{math.ceil(size / GIB)}Gi"}}}
    if ep.storage_class:
        spec["storageClassName"] = ep.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ep.metadata(volume_name(ep), "model-store"), "spec": spec}


def fill_job(ep: Endpoint) -> K8sObject:
    """The Job that puts the pinned revision on the shared volume (and prunes what is not kept)."""
    assert ep.source is not None and ep.digest is not None
    fetch_vols, fetch_mounts = fetch_volumes(ep.source, ep.ca_configmap)
    tmp_vols, tmp_mounts = writable_volumes(("/tmp",))
    keep = [revision_name(d) for d in ep.keep_digests] if ep.keep_digests is not None else None
    pod: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "securityContext": pod_security_context(),
        "containers": [{
            "name": "fill",
            "image": ep.fetch_image,
            "command": ["/bin/sh", "-c"],
            "args": [fetch_script(ep.source, ep.files, revision_dir(ep.digest), blobs=BLOBS, keep=keep)],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "resources": FILL_RESOURCES,
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "model-store", "mountPath": MODEL_STORE}, *fetch_mounts, *tmp_mounts],
        }],
        "volumes": [{"name": "model-store", "persistentVolumeClaim": {"claimName": volume_name(ep)}}, *fetch_vols, *tmp_vols],
    }
    if ep.pull_secret:
        pod["imagePullSecrets"] = [{"name": ep.pull_secret}]
    template = {"metadata": {"labels": ep.labels(FILL_COMPONENT)}, "spec": pod}
    fingerprint = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:6]
    name = object_name(ep.routing, f"-fill-{ep.digest.split(':', 1)[1][:8]}-{fingerprint}")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": ep.metadata(name, FILL_COMPONENT),
            "spec": {"backoffLimit": 4, "ttlSecondsAfterFinished": 86400, "template": template}}


def shared_volume_mount(ep: Endpoint) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(volume, volumeMount, model directory) for a pod that serves from the shared volume, read-only."""
    assert ep.digest is not None
    volume = {"name": "model-store", "persistentVolumeClaim": {"claimName": volume_name(ep), "readOnly": True}}
    mount = {"name": "model-store", "mountPath": MODEL_STORE, "readOnly": True}
    return volume, mount, revision_dir(ep.digest)
