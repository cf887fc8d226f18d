"""Who may reach an endpoint, and by which name.

`--gateway-api NAMESPACE/NAME`: an HTTPRoute (gateway.networking.k8s.io/v1, standard channel)
attached to that Gateway, so the routing name is the contract in the cluster too. Two rules to
the endpoint's Service on port 8000: requests whose `X-Gateway-Model-Name` header (the header
the Gateway API Inference Extension's body-based router sets from the OpenAI request's `model`)
is the routing name, and requests under the path prefix `/<routing name>` (rewritten to `/`),
for clients that cannot set a header. The Gateway's listener must admit routes from the
endpoint's namespace (`allowedRoutes`).

`--network-policy`: a NetworkPolicy that admits ingress to the pods on port 8000 only from the
gateway's namespace (and, when the endpoint autoscales on Prometheus metrics, from Prometheus'
namespace, so it can scrape them). Kubelet probes are not subject to it.
"""

from __future__ import annotations

from typing import Any

from .endpoint import Endpoint, K8sObject
from .engines import PORT
from .errors import DeployRefused
from .scaling import prometheus_namespace, scrape_annotations

MODEL_HEADER = "X-Gateway-Model-Name"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


def http_route(ep: Endpoint) -> K8sObject | None:
    if ep.gateway is None:
        return None
    backend = [{"name": ep.name, "port": PORT}]
    prefix = f"/{ep.routing}"
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": ep.metadata(), "spec": {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": ep.gateway.namespace,
                        "name": ep.gateway.name}],
        "rules": [
            {"matches": [{"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": str(ep.routing)}]}], "backendRefs": backend},
            {"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
             "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
             "backendRefs": backend},
        ],
    }}


def network_policy(ep: Endpoint, pod_labels: dict[str, str]) -> K8sObject | None:
    if not ep.network_policy:
        return None
    gateway_ns = ep.gateway.namespace if ep.gateway else ep.gateway_namespace
    if not gateway_ns:
        raise DeployRefused("--network-policy admits only the gateway's namespace, and none is known",
                            "give --gateway-namespace NS (or --gateway-api NS/NAME)")
    namespaces = [gateway_ns]
    if scrape_annotations(ep) or ep.engine == "nim" and ep.autoscaled:
        scraper = prometheus_namespace(ep.prometheus_url)
        if scraper and scraper not in namespaces:
            namespaces.append(scraper)
    sources: list[dict[str, Any]] = [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: ns}}} for ns in namespaces]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": ep.metadata(), "spec": {
        "podSelector": {"matchLabels": pod_labels}, "policyTypes": ["Ingress"],
        "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": PORT}]}],
    }}
