"""The hardened container every engine runs in, in a pod and in the smoke test's sandbox alike.

Pod Security `restricted` (https://kubernetes.io/docs/concepts/security/pod-security-standards/):
non-root (runAsNonRoot, a non-zero UID), allowPrivilegeEscalation false, every capability
dropped, seccomp RuntimeDefault; beyond the profile, a read-only root filesystem with only the
paths the engine writes (its launcher's `writable` list: /tmp, where HOME and the caches point)
mounted as emptyDir volumes. The smoke test translates the same settings for the Docker Engine
API (`docker_confinement`): user, read_only, a tmpfs per writable path, cap_drop ALL,
no-new-privileges, and Docker's default seccomp profile (the runtime default: pais never asks
for `seccomp=unconfined`).
"""

from __future__ import annotations

from typing import Any

from .engines import EngineLaunch

RUN_AS_USER, RUN_AS_GROUP = 1000, 2000  # the NIM's own defaults, so a shared model volume reads alike
WRITABLE_SIZE = "4Gi"  # each writable emptyDir: caches and compiled kernels, never the model


def pod_security_context() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "runAsGroup": RUN_AS_GROUP, "fsGroup": RUN_AS_GROUP,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def _volume_name(path: str) -> str:
    return "writable" + path.replace("/", "-").replace(".", "-").rstrip("-")


def writable_volumes(paths: tuple[str, ...] | list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts): one emptyDir per path the container writes."""
    volumes = [{"name": _volume_name(p), "emptyDir": {"sizeLimit": WRITABLE_SIZE}} for p in paths]
    mounts = [{"name": _volume_name(p), "mountPath": p} for p in paths]
    return volumes, mounts


def docker_confinement(start: EngineLaunch, user: str, tmp_bytes: int) -> dict[str, Any]:
    """The same confinement as Docker Engine API `containers.create` arguments."""
    return {
        "user": user, "read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
        "tmpfs": {p: f"rw,nosuid,nodev,size={tmp_bytes},mode=1777" for p in start.writable},
    }
