"""What is deployed: endpoints from a cluster (kubectl) and routing names from a gateway.

From a cluster: Deployments and NIMServices labelled `app.kubernetes.io/managed-by=pais`, read
from `kubectl get -o json`; the routing name, model and full digest come from annotations,
replicas and status from the objects' status. From a gateway: `GET {URL}/models` of an
OpenAI-compatible server (vLLM, Infinity, llama.cpp, NIM, or a gateway in front of them).
The kubectl and the gateway's API key are the caller's: nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from ..gallery.tls import trust_context
from .errors import GatewayError, MissingCRD
from .kubectl import Kubectl
from .routing import (
    DIGEST_ANNOTATION,
    ENGINE_LABEL,
    MANAGED_BY,
    MANAGER,
    MODEL_ANNOTATION,
    ROUTING_ANNOTATION,
    SOURCE_ANNOTATION,
    STORE_ANNOTATION,
    TAG_ANNOTATION,
)

SELECTOR = f"{MANAGED_BY}={MANAGER}"


@dataclass
class EndpointStatus:
    routing_name: str
    engine: str
    model: str | None
    digest: str | None
    ready: int
    desired: int
    status: str
    namespace: str | None
    kind: str  # Deployment | NIMService | Gateway
    name: str | None
    source: str = "cluster"  # cluster | gateway
    tag: str | None = None  # the tag the digest was resolved from at deploy time
    store: str | None = None
    tag_digest: str | None = None  # where that tag points now (None: not asked or not known)
    stale: bool | None = None  # the tag now points at another revision than the one served

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _deployment_status(obj: dict[str, Any]) -> tuple[int, int, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1) or 0)
    ready = int(status.get("readyReplicas", 0) or 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    progressing = conditions.get("Progressing", {})
    if progressing.get("status") == "False":
        state = "Failed"
    elif desired == 0:
        state = "ScaledDown"
    elif ready >= desired and int(status.get("updatedReplicas", 0) or 0) >= desired:
        state = "Ready"
    elif ready > 0:
        state = "Updating" if int(status.get("updatedReplicas", 0) or 0) < desired else "Degraded"
    else:
        state = "NotReady"
    return ready, desired, state


def _nimservice_status(obj: dict[str, Any]) -> tuple[int, int, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    scale = spec.get("scale") or {}
    if scale.get("enabled"):
        desired = int((scale.get("hpa") or {}).get("minReplicas", 1) or 1)
    else:
        desired = int(spec.get("replicas", 1) or 1)
    ready = int(status.get("availableReplicas", 0) or 0)
    return ready, desired, str(status.get("state") or "Pending")


def _row(obj: dict[str, Any], kind: str) -> EndpointStatus | None:
    meta = obj.get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    routing = annotations.get(ROUTING_ANNOTATION)
    if not routing:
        return None  # something else pais labelled (a fill Job's pod, a cache)
    ready, desired, state = _deployment_status(obj) if kind == "Deployment" else _nimservice_status(obj)
    engine = labels.get(ENGINE_LABEL) or ("nim" if kind == "NIMService" else "?")
    model = annotations.get(MODEL_ANNOTATION)
    if model is None and annotations.get(SOURCE_ANNOTATION, "gallery") != "gallery":
        model = annotations[SOURCE_ANNOTATION]  # an NGC model
    return EndpointStatus(routing, engine, model, annotations.get(DIGEST_ANNOTATION), ready, desired, state,
                          meta.get("namespace"), kind, meta.get("name"), tag=annotations.get(TAG_ANNOTATION),
                          store=annotations.get(STORE_ANNOTATION))


def from_cluster(namespace: str | None = None, all_namespaces: bool = False,
                 kubectl_executable: str = "kubectl") -> list[EndpointStatus]:
    """Endpoints pais deployed, read with the user's kubectl (a name on PATH or a path)."""
    kubectl = Kubectl(kubectl_executable)
    rows: list[EndpointStatus] = []
    deployments = kubectl.get_json("deployments", SELECTOR, namespace, all_namespaces)
    rows += [r for item in deployments.get("items") or [] if isinstance(item, dict) and (r := _row(item, "Deployment"))]
    try:
        services = kubectl.get_json("nimservices.apps.nvidia.com", SELECTOR, namespace, all_namespaces)
    except MissingCRD:
        services = {"items": []}  # no NIM Operator in this cluster: nothing of that kind to list
    rows += [r for item in services.get("items") or [] if isinstance(item, dict) and (r := _row(item, "NIMService"))]
    return sorted(rows, key=lambda r: (r.routing_name, r.namespace or ""))


def from_gateway(url: str, api_key: str | None = None, *, api_key_source: str | None = None, timeout: float = 10.0,
                 ca_file: str | None = None) -> list[EndpointStatus]:
    """The routing names an OpenAI-compatible server reports at GET {url}/models.

    api_key: sent as a bearer token; api_key_source: where the user sets it, for the hint."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    target = url.rstrip("/") + "/models"
    try:
        with httpx.Client(timeout=timeout, verify=trust_context(ca_file)) as client:
            response = client.get(target, headers=headers)
    except httpx.HTTPError as exc:
        raise GatewayError(f"cannot reach the gateway at {url}: {type(exc).__name__}",
                           "check the URL (it usually ends in /v1) and that the server is running") from exc
    if response.status_code in (401, 403):
        raise GatewayError(f"the gateway refused the request (HTTP {response.status_code})",
                           f"set {api_key_source} to an API key the gateway accepts" if api_key_source
                           else "give an API key the gateway accepts")
    if response.status_code != 200:
        raise GatewayError(f"GET {target} answered HTTP {response.status_code}",
                           "give the OpenAI base URL, e.g. http://gateway/v1 (pais appends /models)")
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        data = None
    if not isinstance(data, list):
        raise GatewayError(f"GET {target} did not answer an OpenAI model list", "is this an OpenAI-compatible endpoint?")
    rows = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            owner = item.get("owned_by")
            rows.append(EndpointStatus(item["id"], str(owner) if owner else "-", None, None, 0, 0, "Served", None,
                                       "Gateway", None, "gateway"))
    return sorted(rows, key=lambda r: r.routing_name)
