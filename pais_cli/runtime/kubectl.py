"""kubectl as a subprocess: apply, delete, wait and get, with errors that say what to do.

pais talks to clusters only through the user's kubectl (their kubeconfig, context and auth
plugins), so it needs no Kubernetes client library and no credentials of its own. Which kubectl
is the caller's choice (the CLI takes it from $PAIS_KUBECTL): nothing here reads the environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Forbidden, KubectlError, MissingCRD, Unreachable

TIMEOUT = 120
CRD_HINT = "install the NVIDIA NIM Operator (its CRDs), or deploy with another --engine"
_UNREACHABLE = ("connection refused", "no such host", "unable to connect", "was refused",
                "no configuration has been provided", "dial tcp", "i/o timeout", "couldn't get current server")
# What kubectl says about a kind or resource type the API server does not serve (a CRD not installed).
_UNKNOWN_KIND = ("no matches for kind", "ensure crds are installed", "doesn't have a resource type")


def _error(stderr: str) -> KubectlError:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    lowered = stderr.lower()
    if any(s in lowered for s in _UNREACHABLE):
        return Unreachable(f"no cluster reachable: {text}", "check `kubectl config current-context` and that the API server is up")
    if "forbidden" in lowered:
        return Forbidden(f"the cluster refused: {text}", "ask for rights on the namespace, or pick another with --namespace")
    if any(s in lowered for s in _UNKNOWN_KIND):
        return MissingCRD(f"the cluster does not know a kind: {text}", CRD_HINT)
    return KubectlError(f"kubectl failed: {text}", "run again with --debug to see the full kubectl output")


@dataclass(frozen=True)
class Kubectl:
    """The user's kubectl: `executable` is a name looked up on PATH, or a path."""

    executable: str = "kubectl"

    def path(self) -> str:
        path = shutil.which(self.executable)
        if path is None:
            raise Unreachable("kubectl is not installed (not found on PATH)",
                               "install kubectl and point it at the cluster (KUBECONFIG), or drop --apply to print the manifests")
        return path

    def run(self, args: Sequence[str], stdin: str | None = None, timeout: float = TIMEOUT, ok_missing: bool = False) -> str:
        command = [self.path(), *args]
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl {args[0]} did not finish in {int(timeout)} s",
                               "check the cluster's health, or raise --timeout") from exc
        if done.returncode != 0:
            if ok_missing and ("NotFound" in done.stderr or "not found" in done.stderr):
                return ""
            raise _error(done.stderr)
        return done.stdout

    def apply(self, manifest_yaml: str, namespace: str | None = None, server_dry_run: bool = False) -> str:
        """`kubectl apply -f -`; with server_dry_run, the API server validates and admits the
        objects (schemas, immutable fields, quota, Pod Security admission) and stores nothing."""
        dry = ["--dry-run=server"] if server_dry_run else []
        return self.run(["apply", *dry, *_ns(namespace), "-f", "-"], stdin=manifest_yaml)

    def current_namespace(self) -> str:
        """The namespace kubectl uses when none is given: the context's, else `default`."""
        out = self.run(["config", "view", "--minify", "-o", "jsonpath={..namespace}"]).strip()
        return out or "default"

    def delete(self, kind_names: Sequence[str], namespace: str | None = None, selector: str | None = None) -> str:
        return self.run(["delete", "--ignore-not-found", *_ns(namespace), *kind_names, *(["-l", selector] if selector else [])])

    def wait(self, resource: str, condition: str, timeout_s: int, namespace: str | None = None) -> None:
        self.run(["wait", *_ns(namespace), f"--for={condition}", f"--timeout={timeout_s}s", resource], timeout=timeout_s + 30)

    def get_json(self, kinds: str, selector: str | None = None, namespace: str | None = None, all_namespaces: bool = False,
                 ok_missing: bool = False) -> dict[str, Any]:
        args = ["get", kinds, "-o", "json"]
        if selector:
            args += ["-l", selector]
        if all_namespaces:
            args.append("--all-namespaces")
        elif namespace:
            args += ["-n", namespace]
        out = self.run(args, ok_missing=ok_missing)
        if not out.strip():
            return {"items": []}
        try:
            doc = json.loads(out)
        except ValueError as exc:
            raise KubectlError("kubectl get printed something that is not JSON", "run the same kubectl command to see why") from exc
        return doc if isinstance(doc, dict) else {"items": []}


def _ns(namespace: str | None) -> list[str]:
    return ["-n", namespace] if namespace else []
