"""A `kubectl` stand-in for tests: no Kubernetes API server can run here.

It keeps a tiny "cluster" in a JSON file ($PAIS_FAKE_KUBECTL_STATE): `apply -f -` stores the
objects it is given (adding namespace and uid as the API server would) after checking each as
an update of the object it replaces with the API server's update rules (tests/support/
k8s_updates.py: immutable selectors, Job templates, claim classes, no shrinking claim), and
answers as kubectl does when one is broken; `apply --dry-run=server` checks the same and stores
nothing; `get KIND[/NAME] -o json [-l k=v,k!=v,...] [-n NS | --all-namespaces]` prints them back
as `kubectl get -o json` does (a List, or the object), cluster-scoped kinds (Node, Namespace)
without a namespace; `delete` removes them, `wait` succeeds, `config view --minify -o
jsonpath={..namespace}` prints the context's namespace (none). Tests seed what the API server
and the controllers would hold (ResourceQuota status, Node allocatable and GPU Feature Discovery
labels, Namespace Pod Security labels), written from the Kubernetes API reference.

It checks its arguments: an option pais has no business passing is refused with exit 2, so a
test notices a changed command line. Every call is logged to $PAIS_FAKE_KUBECTL_LOG. With
$PAIS_FAKE_KUBECTL_NO_CLUSTER set it fails like kubectl without a reachable API server; with
$PAIS_FAKE_KUBECTL_NO_CRDS set, like kubectl against a cluster without the NIM Operator's, KEDA's
and the Gateway API's CRDs (kubectl's own messages for an unknown kind or resource type); with
$PAIS_FAKE_KUBECTL_FORBID=nodes,... it answers `forbidden` for those resource types, as RBAC does.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

KINDS = {
    "deployments": "Deployment", "deployment": "Deployment", "services": "Service", "service": "Service",
    "nimservices.apps.nvidia.com": "NIMService", "nimservice.apps.nvidia.com": "NIMService",
    "nimcaches.apps.nvidia.com": "NIMCache", "nimcache.apps.nvidia.com": "NIMCache",
    "jobs": "Job", "job": "Job", "configmap": "ConfigMap", "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim", "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "poddisruptionbudget": "PodDisruptionBudget", "networkpolicy": "NetworkPolicy",
    "scaledobject.keda.sh": "ScaledObject", "scaledobjects.keda.sh": "ScaledObject",
    "httproute.gateway.networking.k8s.io": "HTTPRoute", "httproutes.gateway.networking.k8s.io": "HTTPRoute",
    "resourcequotas": "ResourceQuota", "limitranges": "LimitRange", "nodes": "Node", "namespaces": "Namespace",
}
CRD_KINDS = {"NIMService", "NIMCache", "ScaledObject", "HTTPRoute"}  # what the operators install
CLUSTER_SCOPED = {"Node", "Namespace"}
# The options pais may pass, per verb (value-taking ones map to True).
OPTIONS = {
    "apply": {"-f": True, "-n": True, "--dry-run=server": False},
    "get": {"-o": True, "-l": True, "-n": True, "--all-namespaces": False},
    "delete": {"--ignore-not-found": False, "-n": True, "-l": True},
    "wait": {"-n": True},
    "config": {"--minify": False, "-o": True},
}


def _no_resource_type(name: str) -> int:
    sys.stderr.write(f'error: the server doesn\'t have a resource type "{name.split(".")[0]}"\n')
    return 1


def _load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def _option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _matches(obj: dict[str, Any], selector: str | None, namespace: str | None) -> bool:
    meta = obj.get("metadata") or {}
    if namespace and obj.get("kind") not in CLUSTER_SCOPED and meta.get("namespace") != namespace:
        return False
    labels = meta.get("labels") or {}
    for term in (selector or "").split(","):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key) == value:
                return False
        elif term:
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
    return True


def _bad_arguments(argv: list[str]) -> str | None:
    """What kubectl would not be asked by pais: unknown verbs and options, missing values."""
    verb = argv[0] if argv else ""
    if verb not in OPTIONS:
        return f"unknown command {verb!r}"
    allowed = OPTIONS[verb]
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name = arg.split("=", 1)[0] if arg.startswith("--") and arg not in allowed else arg
            if verb == "wait" and (arg.startswith("--for=") or arg.startswith("--timeout=")):
                i += 1
                continue
            if name not in allowed:
                return f"unknown flag: {arg}"
            if allowed[name]:
                if i + 1 >= len(argv):
                    return f"flag needs an argument: {arg}"
                i += 1
        i += 1
    if verb == "get" and _option(argv, "-o") != "json":
        return "pais reads with -o json"
    if verb == "apply" and _option(argv, "-f") != "-":
        return "pais applies from stdin (-f -)"
    if verb == "config" and argv[1:2] != ["view"]:
        return "only `config view` is expected"
    return None


def _update_errors(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support.k8s_updates import check_update

    return check_update(old, new)


def main(argv: list[str]) -> int:
    state = Path(os.environ["PAIS_FAKE_KUBECTL_STATE"])
    with open(os.environ["PAIS_FAKE_KUBECTL_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    bad = _bad_arguments(argv)
    if bad is not None:
        sys.stderr.write(f"error: {bad} (fake kubectl: {argv})\n")
        return 2
    if os.environ.get("PAIS_FAKE_KUBECTL_NO_CLUSTER"):
        sys.stderr.write("The connection to the server localhost:8080 was refused - did you specify the right host or port?\n")
        return 1
    objects = _load(state)
    verb = argv[0] if argv else ""
    namespace = _option(argv, "-n", "--namespace")
    no_crds = bool(os.environ.get("PAIS_FAKE_KUBECTL_NO_CRDS"))
    forbidden = {k for k in os.environ.get("PAIS_FAKE_KUBECTL_FORBID", "").split(",") if k}
    if verb == "config":
        print("")  # the context names no namespace: kubectl uses "default"
        return 0
    if verb == "apply":
        docs = [doc for doc in yaml.safe_load_all(sys.stdin.read()) if doc]
        missing = next((d for d in docs if no_crds and d["kind"] in CRD_KINDS), None)
        if missing is not None:
            sys.stderr.write(f'error: resource mapping not found for name: "{missing["metadata"]["name"]}" namespace: "" '
                             f'from "STDIN": no matches for kind "{missing["kind"]}" in version "{missing["apiVersion"]}"\n'
                             "ensure CRDs are installed first\n")
            return 1
        for doc in docs:
            key = (doc["kind"], doc["metadata"].get("namespace") or namespace or "default", doc["metadata"]["name"])
            old = next((o for o in objects if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) == key), None)
            errors = _update_errors(old, doc) if old is not None else []
            if errors:
                sys.stderr.write(f'The {doc["kind"]} "{doc["metadata"]["name"]}" is invalid: {"; ".join(errors)}\n')
                return 1
        if "--dry-run=server" in argv:
            for doc in docs:
                print(f"{doc['kind'].lower()}/{doc['metadata']['name']} configured (server dry run)")
            return 0
        for doc in docs:
            doc["metadata"].setdefault("namespace", namespace or "default")
            doc["metadata"].setdefault("uid", str(uuid.uuid4()))
            key = (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"])
            old = next((o for o in objects if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) == key), None)
            if old is not None:
                objects.remove(old)
                doc["status"] = old.get("status", {})
            objects.append(doc)
            print(f"{doc['kind'].lower()}/{doc['metadata']['name']} configured")
        state.write_text(json.dumps(objects))
        return 0
    if verb == "wait":
        return 0
    if verb == "delete":
        names = [a for a in argv[1:] if "/" in a and not a.startswith("-")]
        bare = [a for a in argv[1:] if a in KINDS]
        unknown = next((n for n in names + bare if no_crds and KINDS.get(n.split("/")[0]) in CRD_KINDS), None)
        if unknown is not None:
            return _no_resource_type(unknown.split("/")[0])
        selector = _option(argv, "-l")
        keep = []
        for o in objects:
            ref = next((n for n in names if KINDS.get(n.split("/")[0]) == o["kind"] and n.split("/", 1)[1] == o["metadata"]["name"]), None)
            by_label = selector and any(KINDS.get(a) == o["kind"] for a in argv[1:]) and _matches(o, selector, namespace)
            if ref or by_label:
                print(f"{o['kind'].lower()}/{o['metadata']['name']} deleted")
            else:
                keep.append(o)
        state.write_text(json.dumps(keep))
        return 0
    if verb == "get":
        what = argv[1]
        kind_name, _, name = what.partition("/")
        kinds = {KINDS.get(k) for k in kind_name.split(",")}
        if None in kinds or (no_crds and kinds & CRD_KINDS):
            return _no_resource_type(kind_name)
        if set(kind_name.split(",")) & forbidden:
            sys.stderr.write(f'Error from server (Forbidden): {kind_name} is forbidden: User "dev" cannot list resource '
                             f'"{kind_name}" in API group "" at the cluster scope\n')
            return 1
        everywhere = "--all-namespaces" in argv or "-A" in argv
        found = [o for o in objects if o["kind"] in kinds
                 and _matches(o, _option(argv, "-l"), None if everywhere else (namespace or "default"))]
        if name:
            found = [o for o in found if o["metadata"]["name"] == name]
            if not found:
                sys.stderr.write(f'Error from server (NotFound): {kind_name} "{name}" not found\n')
                return 1
            print(json.dumps(found[0]))
            return 0
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": found, "metadata": {"resourceVersion": ""}}))
        return 0
    sys.stderr.write(f"fake kubectl: unsupported command {argv}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def gpu_node(name: str, product: str = "NVIDIA-H100-80GB-HBM3", gpus: int = 8, memory_mib: int = 81559,
             cpu: str = "128", memory: str = "2Ti") -> dict[str, Any]:
    """A Node as the API server returns it (core/v1 Node: metadata.labels, status.allocatable),
    with the labels GPU Feature Discovery puts on a GPU node (nvidia.com/gpu.product,
    nvidia.com/gpu.memory in MiB, nvidia.com/gpu.count) and the device plugin's allocatable
    nvidia.com/gpu."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    allocatable = {"cpu": cpu, "memory": memory, "ephemeral-storage": "1800Gi", "pods": "110"}
    if gpus:
        labels.update({"nvidia.com/gpu.product": product, "nvidia.com/gpu.memory": str(memory_mib),
                       "nvidia.com/gpu.count": str(gpus), "nvidia.com/gpu.present": "true"})
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {}, "status": {"allocatable": allocatable, "capacity": dict(allocatable)}}


def namespace(name: str, enforce: str | None = "restricted") -> dict[str, Any]:
    """A Namespace with the Pod Security admission labels (pod-security.kubernetes.io/enforce)
    and the name label the API server sets on every namespace."""
    labels = {"kubernetes.io/metadata.name": name}
    if enforce:
        labels.update({"pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/enforce-version": "latest"})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}, "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}}


class FakeCluster:
    """Test-side handle: puts the stand-in first on PATH and reads or edits its state. A new
    cluster has one 8 x H100 node and one CPU node, and restricted `default` and `serving`
    namespaces; `seed` adds what a test needs (quotas, limit ranges, other nodes)."""

    def __init__(self, directory: Path, nodes: list[dict[str, Any]] | None = None) -> None:
        self.directory = directory
        self.state = directory / "cluster.json"
        self.log = directory / "kubectl.log"
        bin_dir = directory / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        script = bin_dir / "kubectl"
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} \"$@\"\n")
        script.chmod(0o755)
        self.bin_dir = bin_dir
        self.log.write_text("")
        if nodes is None:
            nodes = [gpu_node("gpu-node-1"), gpu_node("cpu-node-1", gpus=0, cpu="32", memory="128Gi")]
        self.state.write_text(json.dumps([*nodes, namespace("default"), namespace("serving")]))

    def seed(self, *objects: dict[str, Any]) -> None:
        """Objects as the API server holds them (status included), e.g. a ResourceQuota."""
        self.state.write_text(json.dumps(self.objects() + [json.loads(json.dumps(o)) for o in objects]))

    def serving_objects(self) -> list[dict[str, Any]]:
        """What pais applied (not the nodes, namespaces and quotas the test seeded)."""
        return [o for o in self.objects() if o["kind"] not in ("Node", "Namespace", "ResourceQuota", "LimitRange")]

    def env(self) -> dict[str, str]:
        return {"PAIS_FAKE_KUBECTL_STATE": str(self.state), "PAIS_FAKE_KUBECTL_LOG": str(self.log),
                "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def objects(self) -> list[dict[str, Any]]:
        return _load(self.state)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def set_status(self, kind: str, name: str, status: dict[str, Any]) -> None:
        """What the Deployment controller or the NIM Operator would write."""
        objects = self.objects()
        for o in objects:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                o["status"] = status
        self.state.write_text(json.dumps(objects))
