"""`endpoints deploy` against a cluster: preflight, server-side dry run, apply, swaps, governance.

No Kubernetes API server runs here. The cluster is a kubectl stand-in on PATH
(tests/support/fake_kubectl.py) that checks the arguments it is called with, enforces the API
server's update rules on apply (tests/support/k8s_updates.py) and answers `get` with objects
written from the Kubernetes API reference: ResourceQuota `status.hard`/`status.used`, LimitRange
`spec.limits`, Node `status.allocatable` with GPU Feature Discovery's labels, Namespace Pod
Security labels. The revisions are real, in a real registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pais
from tests.support.fake_kubectl import FakeCluster, gpu_node
from tests.support.k8s import load_all, validate_manifest
from tests.support.models import write_tiny_model
from tests.support.registry import RegistryServer

UNVALIDATED = "--no-require-validated"


@pytest.fixture
def store(registry: RegistryServer) -> str:
    return f"{registry.host}/models"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster(tmp_path / "cluster")
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


def push(directory: Path, model: str, store: str, tag: str, validate: bool = False) -> str:
    args = [] if validate else ["--skip-validation"]
    done = pais("models", "push", str(directory), "-m", model, "-s", store, "-t", tag, *args, "--force", "-o", "json")
    assert done.exit_code == 0, done.stderr
    return str(done.json()["digest"])  # type: ignore[index]


def quota(hard: dict[str, str], used: dict[str, str], name: str = "gpu-quota", namespace: str = "serving") -> dict[str, Any]:
    """A ResourceQuota as the API server returns it: spec.hard, and status.hard/used kept by the quota controller."""
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": namespace},
            "spec": {"hard": hard}, "status": {"hard": hard, "used": used}}


def limit_range(limits: list[dict[str, Any]], namespace: str = "serving") -> dict[str, Any]:
    """A LimitRange (core/v1): spec.limits items of type Container, Pod or PersistentVolumeClaim."""
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits", "namespace": namespace},
            "spec": {"limits": limits}}


def applied(cluster: FakeCluster) -> list[list[str]]:
    return [c for c in cluster.calls() if c[0] == "apply" and "--dry-run=server" not in c]


def stored(cluster: FakeCluster, kind: str) -> list[dict[str, Any]]:
    return [o for o in cluster.serving_objects() if o["kind"] == kind]


@pytest.fixture
def revisions(tmp_path: Path, store: str, unique_model: str) -> tuple[str, str]:
    first = push(write_tiny_model(tmp_path / "a", seed=1), unique_model, store, "v1")
    second = push(write_tiny_model(tmp_path / "b", seed=2), unique_model, store, "v2")
    return first, second


def test_over_quota_is_refused_before_anything_is_applied(revisions: tuple[str, str], store: str, unique_model: str,
                                                           cluster: FakeCluster) -> None:
    cluster.seed(quota({"requests.nvidia.com/gpu": "4", "requests.cpu": "64"}, {"requests.nvidia.com/gpu": "3", "requests.cpu": "8"}))
    base = ("--routingName", "acme/q", "-m", unique_model, "-s", store, "-t", "v1", "-n", "serving", UNVALIDATED)
    done = pais("endpoints", "deploy", *base, "--gpus", "2", "--apply")
    assert done.exit_code == 1
    assert "ResourceQuota gpu-quota in serving: requests.nvidia.com/gpu needs 2 more, 1 of 4 free (3 used)" in done.stderr
    assert "hint:" in done.stderr and applied(cluster) == [] and cluster.serving_objects() == []
    assert not any("--dry-run=server" in c for c in cluster.calls())  # refused before even the dry run
    fits = pais("endpoints", "deploy", *base, "--gpus", "1", "--apply")
    assert fits.exit_code == 0, fits.stderr
    assert [c for c in cluster.calls() if c[0] == "apply"][0][:2] == ["apply", "--dry-run=server"]


def test_limit_range_and_node_capacity_refusals_carry_the_numbers(revisions: tuple[str, str], store: str, unique_model: str,
                                                                   cluster: FakeCluster) -> None:
    base = ("--routingName", "acme/l", "-m", unique_model, "-s", store, "-t", "v1", "-n", "serving", UNVALIDATED, "--apply")
    h200 = pais("endpoints", "deploy", *base, "--gpu-model", "H200")
    assert h200.exit_code == 1 and "needs 1 node with 1 allocatable NVIDIA-H200 GPU; 0 found" in h200.stderr
    cluster.seed(limit_range([{"type": "Container", "max": {"nvidia.com/gpu": "1", "memory": "64Gi"}}]))
    limited = pais("endpoints", "deploy", *base, "--gpus", "2")
    assert limited.exit_code == 1
    assert "LimitRange limits in serving: Deployment acme-l container engine asks 2 nvidia.com/gpu, more than the Container maximum 1" in limited.stderr
    assert applied(cluster) == []


def test_eight_gpu_nodes_are_used_and_four_gpu_nodes_refused_for_eight(revisions: tuple[str, str], store: str,
                                                                        unique_model: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    small = FakeCluster(tmp_path / "four", nodes=[gpu_node("n1", gpus=4), gpu_node("n2", gpus=4)])
    for key, value in small.env().items():
        monkeypatch.setenv(key, value)
    base = ("--routingName", "acme/e", "-m", unique_model, "-s", store, "-t", "v1", UNVALIDATED, "--gpu-model", "H100", "--gpus", "8")
    refused = pais("endpoints", "deploy", *base, "--apply")
    assert refused.exit_code == 1 and "8 allocatable NVIDIA-H100-80GB-HBM3 GPUs; 0 found (largest: 4 on n1)" in refused.stderr
    big = FakeCluster(tmp_path / "eight")
    for key, value in big.env().items():
        monkeypatch.setenv(key, value)
    done = pais("endpoints", "deploy", *base, "--apply")
    assert done.exit_code == 0, done.stderr
    engine = stored(big, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert engine["args"][engine["args"].index("--tensor-parallel-size") + 1] == "8"


def test_surge_falls_back_to_recreate_when_the_quota_has_no_spare_gpu(revisions: tuple[str, str], store: str,
                                                                       unique_model: str, cluster: FakeCluster) -> None:
    base = ("--routingName", "acme/s", "-m", unique_model, "-s", store, "-n", "serving", UNVALIDATED, "--gpus", "1")
    assert pais("endpoints", "deploy", *base, "-t", "v1", "--apply").exit_code == 0
    cluster.seed(quota({"requests.nvidia.com/gpu": "1"}, {"requests.nvidia.com/gpu": "1"}))
    dry = pais("endpoints", "deploy", *base, "-t", "v2", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "rollout: recreate, because a surge pod does not fit the quota" in dry.stdout
    assert "recreate: the old pod stops before the new one starts" in dry.stdout
    insisted = pais("endpoints", "deploy", *base, "-t", "v2", "--rollout", "surge", "--apply")
    assert insisted.exit_code == 1 and "--rollout recreate" in insisted.stderr
    swapped = pais("endpoints", "deploy", *base, "-t", "v2", "--apply")
    assert swapped.exit_code == 0, swapped.stderr
    assert stored(cluster, "Deployment")[0]["spec"]["strategy"] == {"type": "Recreate"}


def test_dry_run_reads_the_cluster_when_it_can(revisions: tuple[str, str], store: str, unique_model: str,
                                               cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ("--routingName", "acme/d", "-m", unique_model, "-s", store, "-t", "v1", "-n", "serving", UNVALIDATED)
    monkeypatch.setenv("PAIS_FAKE_KUBECTL_FORBID", "nodes")
    dry = pais("endpoints", "deploy", *base, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "nodes not readable with these credentials" in dry.stdout
    assert "namespace serving enforces Pod Security restricted" in dry.stdout
    assert "per-pod fetch: each replica downloads" in dry.stdout and "surge: one new pod" in dry.stdout
    monkeypatch.setenv("PAIS_FAKE_KUBECTL_NO_CLUSTER", "1")
    offline = pais("endpoints", "deploy", *base, "--dry-run")
    assert offline.exit_code == 0 and "preflight skipped" in offline.stderr


def test_swap_and_rollback_through_apply_with_a_shared_volume(revisions: tuple[str, str], store: str, unique_model: str,
                                                               cluster: FakeCluster, tmp_path: Path) -> None:
    """v1 -> v2 -> v1 applied: every apply is admitted by the update rules, one fill Job per
    digest keeps the revision served before, the Deployment names its rollback target, and
    `endpoints list` says when the tag has moved on."""
    first, second = revisions
    base = ("--routingName", "acme/shared", "-m", unique_model, "-s", store, "-n", "serving", UNVALIDATED,
            "--storage-class", "vsan-file", "--replicas", "2")
    for ref, digest, previous in (("v1", first, None), ("v2", second, first), ("v1", first, second)):
        done = pais("endpoints", "deploy", *base, "-t", ref, "--apply", "-o", "json")
        assert done.exit_code == 0, done.stderr
        dep = stored(cluster, "Deployment")[0]
        assert dep["metadata"]["annotations"]["pais.dev/revision"] == digest
        assert dep["metadata"]["annotations"].get("pais.dev/previous-revision") == previous
        pod = dep["spec"]["template"]["spec"]
        assert "initContainers" not in pod and pod["volumes"][0]["persistentVolumeClaim"]["readOnly"] is True
        job = next(m for m in done.json()["manifests"] if m["kind"] == "Job")  # type: ignore[index]
        script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
        if previous:
            assert "pruning revision" in script and previous.replace(":", "-") in script
    jobs = stored(cluster, "Job")
    assert len({j["metadata"]["labels"]["pais.dev/revision"] for j in jobs}) == 2  # one per digest
    assert len(stored(cluster, "PersistentVolumeClaim")) == 1 and len(stored(cluster, "PodDisruptionBudget")) == 1
    rows = pais("endpoints", "list", "-n", "serving", "-o", "json").json()
    row = next(r for r in rows if r["routing_name"] == "acme/shared")  # type: ignore[union-attr]
    assert (row["digest"], row["tag"], row["stale"]) == (first, "v1", False)
    push(write_tiny_model(tmp_path / "c", seed=3), unique_model, store, "v1")  # the tag moves on
    rows = pais("endpoints", "list", "-n", "serving", "-o", "json").json()
    row = next(r for r in rows if r["routing_name"] == "acme/shared")  # type: ignore[union-attr]
    assert row["stale"] is True and row["tag_digest"] != first
    table = pais("endpoints", "list", "-n", "serving").stdout
    assert "STALE" in table.splitlines()[0] and "yes: now sha256:" in table


def test_apply_refuses_what_the_api_server_would_refuse(revisions: tuple[str, str], store: str, unique_model: str,
                                                        cluster: FakeCluster) -> None:
    """The stand-in enforces the update rules: a claim of another class is refused by pais
    before kubectl is asked; a claim shrunk by hand-written YAML would be refused by kubectl."""
    base = ("--routingName", "acme/c", "-m", unique_model, "-s", store, "-t", "v1", "-n", "serving", UNVALIDATED)
    assert pais("endpoints", "deploy", *base, "--storage-class", "vsan-file", "--volume-size", "50Gi", "--apply").exit_code == 0
    other = pais("endpoints", "deploy", *base, "--storage-class", "nfs", "--apply")
    assert other.exit_code == 1 and "storageClassName is immutable" in other.stderr and "--storage-class vsan-file" in other.stderr
    again = pais("endpoints", "deploy", *base, "--storage-class", "vsan-file", "--apply", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert stored(cluster, "PersistentVolumeClaim")[0]["spec"]["resources"]["requests"]["storage"] == "50Gi"  # never shrinks


def test_nim_volume_size_survives_through_the_manifests_dir(revisions: tuple[str, str], store: str, unique_model: str,
                                                            tmp_path: Path) -> None:
    """Without a cluster, the previous manifests say how big the claim is and what was served."""
    first, second = revisions
    out = tmp_path / "manifests"
    base = ("--routingName", "acme/nim", "-m", unique_model, "-s", store, UNVALIDATED, "--engine", "nim", "--manifests-dir", str(out))
    one = pais("endpoints", "deploy", *base, "-t", "v1", "--volume-size", "40Gi")
    assert one.exit_code == 0, one.stderr
    assert "the fill Job prunes no revision" in one.stderr
    two = pais("endpoints", "deploy", *base, "-t", "v2")
    assert two.exit_code == 0, two.stderr
    objects = load_all((out / "acme-nim.yaml").read_text())
    for obj in objects:
        validate_manifest(obj)
    pvc = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "40Gi"
    svc = next(o for o in objects if o["kind"] == "NIMService")
    assert svc["metadata"]["annotations"]["pais.dev/previous-revision"] == first
    script = next(o for o in objects if o["kind"] == "Job")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert first.replace(":", "-") in script and second.replace(":", "-") in script


def test_ngc_upgrade_moves_the_service_then_deletes_the_old_cache(cluster: FakeCluster) -> None:
    base = ("--routingName", "meta/llama-3.1-8b", "--nim-profile", "p1", "-n", "serving", "--apply")
    assert pais("endpoints", "deploy", *base, "--nim-model", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", "--wait").exit_code == 0
    old = [o["metadata"]["name"] for o in stored(cluster, "NIMCache")]
    printed = pais("endpoints", "deploy", "--routingName", "meta/llama-3.1-8b", "--nim-profile", "p1", "-n", "serving",
                   "--nim-model", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0", "--dry-run")
    assert "after the swap: kubectl delete --ignore-not-found -n serving nimcaches.apps.nvidia.com -l" in printed.stdout
    done = pais("endpoints", "deploy", *base, "--nim-model", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0", "--wait")
    assert done.exit_code == 0, done.stderr
    caches = [o["metadata"]["name"] for o in stored(cluster, "NIMCache")]
    assert len(caches) == 1 and caches != old and "1-4-0" in caches[0]
    assert stored(cluster, "NIMService")[0]["spec"]["storage"]["nimCache"]["name"] == caches[0]
    delete = next(c for c in cluster.calls() if c[0] == "delete")
    assert delete[-2:] == ["-l", f"app.kubernetes.io/instance=meta-llama-3-1-8b,app.kubernetes.io/component=model-cache,pais.dev/cache!={caches[0]}"]


def test_a_routing_name_moved_to_the_nim_deletes_the_deployment_first(revisions: tuple[str, str], store: str,
                                                                       unique_model: str, cluster: FakeCluster) -> None:
    base = ("--routingName", "acme/move", "-m", unique_model, "-s", store, "-t", "v1", "-n", "serving", UNVALIDATED, "--apply")
    assert pais("endpoints", "deploy", *base).exit_code == 0
    moved = pais("endpoints", "deploy", *base, "--engine", "nim")
    assert moved.exit_code == 0, moved.stderr
    assert "engine move: Deployment -> NIMService" in moved.stderr
    assert stored(cluster, "Deployment") == [] and stored(cluster, "Service") == [] and len(stored(cluster, "NIMService")) == 1


def test_governance_requires_validation_by_default(tmp_path: Path, store: str, unique_model: str) -> None:
    model = write_tiny_model(tmp_path / "m")
    push(model, unique_model, store, "raw")
    base = ("--routingName", "acme/gov", "-m", unique_model, "-s", store)
    refused = pais("endpoints", "deploy", *base, "-t", "raw")
    assert refused.exit_code == 1 and "is not validated: it has no validation report" in refused.stderr
    assert "pais models validate" in refused.stderr and "--no-require-validated" in refused.stderr
    allowed = pais("endpoints", "deploy", *base, "-t", "raw", UNVALIDATED, "--storage-class", "rwx", "--min-replicas", "1",
                   "--max-replicas", "2", "--network-policy", "--gateway-api", "gw/main")
    assert allowed.exit_code == 0, allowed.stderr
    objects = load_all(allowed.stdout)
    assert len(objects) >= 7
    for obj in objects:
        assert obj["metadata"]["annotations"]["pais.dev/validation"].startswith("not-required"), obj["kind"]
    validated = push(model, unique_model, store, "checked", validate=True)
    ok = pais("endpoints", "deploy", *base, "-t", "checked", "-o", "json")
    assert ok.exit_code == 0, ok.stderr
    plan = ok.json()
    assert plan["digest"] == validated and plan["validation"] == "validated"  # type: ignore[index]
    assert all("pais.dev/validation" not in m["metadata"]["annotations"] for m in plan["manifests"])  # type: ignore[index]


def test_a_production_gallery_cannot_be_deployed_from_unvalidated(tmp_path: Path, store: str, unique_model: str) -> None:
    init = pais("gallery", "init", "-s", store, "--name", "prod", "--production")
    assert init.exit_code == 0, init.stderr
    push(write_tiny_model(tmp_path / "m"), unique_model, store, "raw")
    refused = pais("endpoints", "deploy", "--routingName", "acme/p", "-m", unique_model, "-s", "prod", "-t", "raw", UNVALIDATED)
    assert refused.exit_code == 1 and "production gallery" in refused.stderr and "hint:" in refused.stderr


def test_json_of_a_plan_says_how_it_swaps(revisions: tuple[str, str], store: str, unique_model: str) -> None:
    done = pais("endpoints", "deploy", "--routingName", "acme/j", "-m", unique_model, "-s", store, "-t", "v1", UNVALIDATED,
                "--dry-run", "-o", "json")
    data = done.json()
    assert data["rollout"].startswith("surge") and data["storage"].startswith("per-pod fetch")  # type: ignore[index,union-attr]
    assert data["validation"].startswith("not required") and data["previous_digest"] is None  # type: ignore[index,union-attr]
    json.dumps(data)
