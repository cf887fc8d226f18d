"""The API server's update rules a revision swap can hit, which no OpenAPI schema states.

Kubernetes enforces these in its own validation code (ValidateXUpdate), not in the published
schemas that kubernetes-validate checks, so they are encoded here, each with the API reference
that states it. `check_update(old, new)` returns the errors the API server would answer to an
apply that turns `old` into `new` (an empty list: the update is admitted). CRD transition rules
(`oldSelf`) are evaluated by tests/support/k8s.py (`validate_update`).
"""

from __future__ import annotations

from typing import Any

from tests.support.k8s import validate_update

Obj = dict[str, Any]


def _get(obj: Obj, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)  # type: ignore[assignment]
    return obj


def _quantity(value: Any) -> float:
    from pais_cli.units import parse_quantity

    return float(parse_quantity(value))


def _deployment(old: Obj, new: Obj) -> list[str]:
    # Deployment v1 apps, DeploymentSpec.selector: "Label selector for pods. ... It must match the
    # pod template's labels." and apps/v1 makes it immutable: "field is immutable"
    # (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/#DeploymentSpec,
    # https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#label-selector-updates:
    # "In API version apps/v1, a Deployment's label selector is immutable after it gets created.")
    if _get(old, "spec", "selector") != _get(new, "spec", "selector"):
        return ["Deployment.apps: spec.selector: Invalid value: field is immutable"]
    return []


def _job(old: Obj, new: Obj) -> list[str]:
    errors = []
    # Job v1 batch, JobSpec.template: "Describes the pod that will be created when executing a job."
    # The Job's pod template is immutable once created, except for scheduling directives of a
    # suspended Job (https://kubernetes.io/docs/concepts/workloads/controllers/job/#mutable-scheduling-directives,
    # https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/#JobSpec).
    if _get(old, "spec", "template") != _get(new, "spec", "template"):
        errors.append("Job.batch: spec.template: Invalid value: field is immutable")
    # JobSpec.selector is defaulted by the API server and immutable ("field is immutable").
    if _get(new, "spec", "selector") is not None and _get(old, "spec", "selector") != _get(new, "spec", "selector"):
        errors.append("Job.batch: spec.selector: Invalid value: field is immutable")
    return errors


def _pvc(old: Obj, new: Obj) -> list[str]:
    errors = []
    # PersistentVolumeClaim v1: after creation only spec.resources.requests (storage may grow, if
    # the class allows expansion, never shrink), volumeAttributesClassName and a few others may
    # change: "spec is immutable after creation except resources.requests and
    # volumeAttributesClassName for bound claims"
    # (https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/persistent-volume-claim-v1/#PersistentVolumeClaimSpec,
    # https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims:
    # "You can only resize volumes containing a file system ... shrinking is not supported").
    for key in ("accessModes", "storageClassName", "volumeMode", "volumeName"):
        old_value, new_value = _get(old, "spec", key), _get(new, "spec", key)
        if new_value is not None and old_value is not None and old_value != new_value:
            errors.append(f"PersistentVolumeClaim: spec.{key}: Forbidden: spec is immutable after creation "
                          "except resources.requests and volumeAttributesClassName for bound claims")
        if key == "storageClassName" and old_value is None and new_value is not None and _get(old, "status", "phase") == "Bound":
            errors.append("PersistentVolumeClaim: spec.storageClassName: Forbidden: spec is immutable after creation")
    old_size = _get(old, "spec", "resources", "requests", "storage")
    new_size = _get(new, "spec", "resources", "requests", "storage")
    if old_size and new_size and _quantity(new_size) < _quantity(old_size):
        errors.append(f"PersistentVolumeClaim: spec.resources.requests.storage: Forbidden: field can not be less than "
                      f"status.capacity ({old_size} -> {new_size})")
    return errors


def _service(old: Obj, new: Obj) -> list[str]:
    # Service v1, ServiceSpec.clusterIP: "This field may not be changed through updates unless the
    # type field is also being changed to ExternalName ... or was previously ExternalName"
    # (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/#ServiceSpec).
    old_ip, new_ip = _get(old, "spec", "clusterIP"), _get(new, "spec", "clusterIP")
    if new_ip is not None and old_ip is not None and old_ip != new_ip:
        return ["Service: spec.clusterIP: Invalid value: field is immutable"]
    return []


RULES = {"Deployment": _deployment, "Job": _job, "PersistentVolumeClaim": _pvc, "Service": _service}


def check_update(old: Obj, new: Obj) -> list[str]:
    """What the API server would refuse in an update of `old` (as stored) to `new` (as applied)."""
    assert old["kind"] == new["kind"] and old["metadata"]["name"] == new["metadata"]["name"]
    rule = RULES.get(new["kind"])
    errors = rule(old, new) if rule else []
    return errors + validate_update(old, new)


def check_swap(before: list[Obj], after: list[Obj]) -> list[str]:
    """Every object of `after` that exists in `before` (same kind and name) must be a valid update."""
    index = {(o["kind"], o["metadata"]["name"]): o for o in before}
    errors = []
    for new in after:
        old = index.get((new["kind"], new["metadata"]["name"]))
        if old is not None:
            errors += [f"{new['kind']}/{new['metadata']['name']}: {e}" for e in check_update(old, new)]
    return errors
