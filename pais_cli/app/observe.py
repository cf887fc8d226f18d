"""What is deployed now under a routing name: read from the cluster, or from the manifests a
previous deploy wrote to --manifests-dir. A swap is planned against it: the claim never shrinks,
the revision served now is kept for rollback, an immutable field that would change is refused
before anything is applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..runtime.errors import DeployRefused, MissingCRD
from ..runtime.kubectl import Kubectl
from ..runtime.routing import DIGEST_ANNOTATION, INSTANCE, MANAGED_BY, MANAGER, PREVIOUS_ANNOTATION
from ..units import parse_quantity

K8sObject = dict[str, Any]
SERVING_KINDS = ("Deployment", "NIMService")


@dataclass
class Observed:
    """The endpoint's objects as they are now; `where` says where they were read."""

    where: str  # "cluster", "manifests-dir <path>" or "nothing"
    objects: list[K8sObject] = field(default_factory=list)

    def find(self, kind: str, name: str | None = None) -> K8sObject | None:
        return next((o for o in self.objects if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)), None)

    def serving(self) -> K8sObject | None:
        return next((o for o in self.objects if o.get("kind") in SERVING_KINDS), None)

    @property
    def served_digest(self) -> str | None:
        obj = self.serving()
        return ((obj or {}).get("metadata") or {}).get("annotations", {}).get(DIGEST_ANNOTATION) if obj else None

    @property
    def previous_digest(self) -> str | None:
        obj = self.serving()
        return ((obj or {}).get("metadata") or {}).get("annotations", {}).get(PREVIOUS_ANNOTATION) if obj else None

    def claim_bytes(self, name: str) -> int | None:
        pvc = self.find("PersistentVolumeClaim", name)
        if pvc is None:
            return None
        spec_size = parse_quantity(pvc["spec"]["resources"]["requests"]["storage"])
        # A claim the cluster already expanded reports its size in status.capacity.
        status_size = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
        return int(max(spec_size, parse_quantity(status_size) if status_size else spec_size))


def from_cluster(kubectl: Kubectl, name: str, namespace: str | None) -> Observed:
    selector = f"{INSTANCE}={name},{MANAGED_BY}={MANAGER}"
    items: list[K8sObject] = []
    for kinds in ("deployments,persistentvolumeclaims", "nimservices.apps.nvidia.com", "nimcaches.apps.nvidia.com"):
        try:
            items += kubectl.get_json(kinds, selector, namespace).get("items") or []
        except MissingCRD:
            continue  # no NIM Operator: nothing of that kind
    return Observed("cluster", [i for i in items if isinstance(i, dict)])


def from_manifests(directory: Path | None, name: str) -> Observed:
    if directory is None:
        return Observed("nothing")
    path = directory / f"{name}.yaml"
    if not path.is_file():
        return Observed("nothing")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        raise DeployRefused(f"cannot read the previous manifests {path}: {exc.__class__.__name__}",
                            "fix or remove the file (it is how pais knows what was deployed)") from exc
    return Observed(f"manifests-dir {path}", docs)
