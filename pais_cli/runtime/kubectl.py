"""kubectl as a subprocess: apply, delete, wait and get, with errors that say what to do.

pais talks to clusters only through the user's kubectl (their kubeconfig, context and auth
plugins), so it needs no Kubernetes client library and no credentials of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from .errors import KubectlError

TIMEOUT = 120


def kubectl_path() -> str:
    path = shutil.which(os.environ.get("PAIS_KUBECTL", "kubectl"))
    if path is None:
        raise KubectlError("kubectl is not installed (not found on PATH)",
                           "install kubectl and point it at the cluster (KUBECONFIG), or drop --apply to print the manifests")
    return path


def _why(stderr: str) -> tuple[str, str]:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    lowered = stderr.lower()
    if any(s in lowered for s in ("connection refused", "no such host", "unable to connect", "was refused",
                                  "no configuration has been provided", "dial tcp", "i/o timeout", "couldn't get current server")):
        return f"no cluster reachable: {text}", "check `kubectl config current-context` and that the API server is up"
    if "forbidden" in lowered:
        return f"the cluster refused: {text}", "ask for rights on the namespace, or pick another with --namespace"
    if "no matches for kind" in lowered or "ensure crds are installed" in lowered:
        return f"the cluster does not know a kind: {text}", "install the NVIDIA NIM Operator (its CRDs), or deploy with another --engine"
    return f"kubectl failed: {text}", "run again with --debug to see the full kubectl output"


def run(args: Sequence[str], stdin: str | None = None, timeout: float = TIMEOUT, ok_missing: bool = False) -> str:
    command = [kubectl_path(), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KubectlError(f"kubectl {args[0]} did not finish in {int(timeout)} s",
                           "check the cluster's health, or raise --timeout") from None
    if done.returncode != 0:
        if ok_missing and ("NotFound" in done.stderr or "not found" in done.stderr):
            return ""
        message, hint = _why(done.stderr)
        raise KubectlError(message, hint)
    return done.stdout


def apply(manifest_yaml: str, namespace: str | None = None) -> str:
    return run(["apply", *(["-n", namespace] if namespace else []), "-f", "-"], stdin=manifest_yaml)


def delete(kind_names: Sequence[str], namespace: str | None = None) -> str:
    return run(["delete", "--ignore-not-found", *(["-n", namespace] if namespace else []), *kind_names])


def wait(resource: str, condition: str, timeout_s: int, namespace: str | None = None) -> None:
    run(["wait", *(["-n", namespace] if namespace else []), f"--for={condition}", f"--timeout={timeout_s}s", resource],
        timeout=timeout_s + 30)


def get_json(kinds: str, selector: str | None = None, namespace: str | None = None, all_namespaces: bool = False,
             ok_missing: bool = False) -> dict[str, Any]:
    args = ["get", kinds, "-o", "json"]
    if selector:
        args += ["-l", selector]
    if all_namespaces:
        args.append("--all-namespaces")
    elif namespace:
        args += ["-n", namespace]
    out = run(args, ok_missing=ok_missing)
    if not out.strip():
        return {"items": []}
    try:
        doc = json.loads(out)
    except ValueError:
        raise KubectlError("kubectl get printed something that is not JSON", "run the same kubectl command to see why") from None
    return doc if isinstance(doc, dict) else {"items": []}
