"""A `kubectl` stand-in for tests: no Kubernetes API server can run here.

It keeps a tiny "cluster" in a JSON file ($PAIS_FAKE_KUBECTL_STATE): `apply -f -` stores the
objects it is given (adding namespace and uid as the API server would), `get KIND[/NAME] -o
json [-l k=v,...] [-n NS | --all-namespaces]` prints them back as `kubectl get -o json` does
(a List, or the object), `delete` removes them, `wait` succeeds. Tests add `status` fields to
the stored objects the way the controllers would. Every call is logged to
$PAIS_FAKE_KUBECTL_LOG. With $PAIS_FAKE_KUBECTL_NO_CLUSTER set it fails like kubectl without
a reachable API server; with $PAIS_FAKE_KUBECTL_NO_CRDS set, like kubectl against a cluster
without the NIM Operator's CRDs (kubectl's own messages for an unknown kind or resource type).
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
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
}
CRD_KINDS = {"NIMService", "NIMCache"}  # what the NIM Operator installs


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
    if namespace and meta.get("namespace") != namespace:
        return False
    labels = meta.get("labels") or {}
    for term in (selector or "").split(","):
        if term:
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
    return True


def main(argv: list[str]) -> int:
    state = Path(os.environ["PAIS_FAKE_KUBECTL_STATE"])
    with open(os.environ["PAIS_FAKE_KUBECTL_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    if os.environ.get("PAIS_FAKE_KUBECTL_NO_CLUSTER"):
        sys.stderr.write("The connection to the server localhost:8080 was refused - did you specify the right host or port?\n")
        return 1
    objects = _load(state)
    verb = argv[0] if argv else ""
    namespace = _option(argv, "-n", "--namespace")
    no_crds = bool(os.environ.get("PAIS_FAKE_KUBECTL_NO_CRDS"))
    if verb == "apply":
        docs = [doc for doc in yaml.safe_load_all(sys.stdin.read()) if doc]
        missing = next((d for d in docs if no_crds and d["kind"] in CRD_KINDS), None)
        if missing is not None:
            sys.stderr.write(f'error: resource mapping not found for name: "{missing["metadata"]["name"]}" namespace: "" '
                             f'from "STDIN": no matches for kind "{missing["kind"]}" in version "{missing["apiVersion"]}"\n'
                             "ensure CRDs are installed first\n")
            return 1
        for doc in docs:
            doc["metadata"].setdefault("namespace", namespace or "default")
            doc["metadata"].setdefault("uid", str(uuid.uuid4()))
            key = (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"])
            old = next((o for o in objects if (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) == key), None)
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
        unknown = next((n for n in names if no_crds and KINDS.get(n.split("/")[0]) in CRD_KINDS), None)
        if unknown is not None:
            return _no_resource_type(unknown.split("/")[0])
        selector = _option(argv, "-l")
        keep = []
        for o in objects:
            ref = next((n for n in names if KINDS.get(n.split("/")[0]) == o["kind"] and n.split("/", 1)[1] == o["metadata"]["name"]), None)
            by_label = selector and "job" in argv and o["kind"] == "Job" and _matches(o, selector, namespace)
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


class FakeCluster:
    """Test-side handle: puts the stand-in first on PATH and reads or edits its state."""

    def __init__(self, directory: Path) -> None:
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
