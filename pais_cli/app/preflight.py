"""Preflight against a live cluster: what kubectl answers, checked by runtime/preflight.py."""

from __future__ import annotations

from ..runtime.errors import Forbidden
from ..runtime.kubectl import Kubectl
from ..runtime.endpoint import K8sObject
from ..runtime.preflight import ClusterFacts


def gather(kubectl: Kubectl, namespace: str | None, current: list[K8sObject]) -> ClusterFacts:
    """Quotas, limit ranges, nodes and the namespace; what RBAC hides is left out (None)."""
    ns = namespace or kubectl.current_namespace()
    facts = ClusterFacts(ns, current=current)
    facts.quotas = kubectl.get_json("resourcequotas", namespace=ns).get("items") or []
    facts.limit_ranges = kubectl.get_json("limitranges", namespace=ns).get("items") or []
    try:
        facts.nodes = kubectl.get_json("nodes").get("items") or []
    except Forbidden:
        facts.nodes = None  # nodes are cluster-scoped: a namespace user often may not list them
    try:
        facts.namespace_object = kubectl.get_json(f"namespaces/{ns}", ok_missing=True)
    except Forbidden:
        facts.namespace_object = None
    return facts
