"""The Pod Security Standards' `restricted` profile, encoded from its published rules
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, "Restricted" and the
"Baseline" rules it includes), to check every pod template pais emits. Independent of pais'
own hardening code: it reads the pod spec only.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
                         "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """[] when the pod spec meets `restricted` (latest); otherwise one line per broken rule."""
    out: list[str] = []
    psc = pod.get("securityContext") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or []), *(pod.get("ephemeralContainers") or [])]
    # Baseline: host namespaces, host ports, privileged, hostPath, AppArmor, SELinux, /proc mount, sysctls.
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            out.append(f"baseline: spec.{key} must be unset or false")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"baseline: sysctl {sysctl.get('name')} is not in the safe set")
    if (psc.get("seLinuxOptions") or {}).get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"):
        out.append("baseline: seLinuxOptions.type not allowed")
    # Restricted: volume types.
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            out.append(f"restricted: volume {volume.get('name')} of type {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    pod_non_root = psc.get("runAsNonRoot")
    if psc.get("runAsUser") == 0:
        out.append("restricted: spec.securityContext.runAsUser must not be 0")
    for c in containers:
        name = c.get("name")
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"baseline: container {name} is privileged")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"baseline: container {name} uses hostPort")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"baseline: container {name} procMount")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            out.append(f"restricted: container {name} adds capabilities {sorted(added - {'NET_BIND_SERVICE'})}")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"restricted: container {name} must drop ALL capabilities")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"restricted: container {name} must set allowPrivilegeEscalation: false")
        non_root = sc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            out.append(f"restricted: container {name} must run as non-root (runAsNonRoot: true)")
        if sc.get("runAsUser") == 0:
            out.append(f"restricted: container {name} runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"restricted: container {name} needs seccompProfile RuntimeDefault or Localhost")
    return out
