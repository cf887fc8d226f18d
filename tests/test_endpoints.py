"""`pais endpoints deploy` and `delete` from revisions pushed to a real registry.

Golden-free: the emitted YAML is parsed and validated as an API server would (no
kube-apiserver runs here): built-in kinds with kubernetes-validate in strict mode, NIMService
and NIMCache against the NIM Operator v3.1.2 CRDs in tests/specs, structural schema and CEL
rules (tests/support/k8s.py). `--apply` runs against a kubectl stand-in
(tests/support/fake_kubectl.py) that records what it is asked to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pais_cli.app.galleries import open_gallery
from pais_cli.cli.settings import context
from pais_cli.gallery.reference import RevisionRef
from pais_cli.runtime.detect import RevisionSource, detect
from tests.conftest import pais
from tests.support.fake_kubectl import FakeCluster
from tests.support.k8s import ManifestInvalid, crd, load_all, validate_manifest
from tests.support.models import write_embedding_model, write_llama_gguf, write_sized_safetensors, write_tiny_model
from tests.support.registry import RegistryServer


@pytest.fixture
def store(registry: RegistryServer) -> str:
    return f"{registry.host}/models"


def push(directory: Path, model: str, store: str, tag: str) -> str:
    """A real revision in the real registry; validation is another issue's business here."""
    done = pais("models", "push", str(directory), "-m", model, "-s", store, "-t", tag, "--skip-validation", "--force", "-o", "json")
    assert done.exit_code == 0, done.stderr
    return str(done.json()["digest"])  # type: ignore[index]


def deploy(*args: str) -> tuple[list[dict[str, Any]], str]:
    done = pais("endpoints", "deploy", "--no-require-validated", *args)
    assert done.exit_code == 0, done.stderr
    objects = load_all(done.stdout)
    for obj in objects:
        validate_manifest(obj)
    return objects, done.stderr


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]


def fetch_script(pod_spec: dict[str, Any]) -> str:
    init = pod_spec["initContainers"]
    assert [c["name"] for c in init] == ["fetch-model"]
    return str(init[0]["args"][0])


def check_pinned(obj: dict[str, Any], digest: str) -> None:
    assert obj["metadata"]["annotations"]["pais.dev/revision"] == digest
    assert obj["metadata"]["labels"]["pais.dev/revision"] == "sha256-" + digest[7:19]


@pytest.fixture
def tiny_llama(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny-llama")


def layer_digests(store: str, model: str, digest: str) -> list[str]:
    manifest = open_gallery(context(), store).store.repository(model).fetch_manifest(digest)
    return [layer.digest for layer in manifest.layers]


def test_vllm_deploy_pins_the_digest_and_validates(tiny_llama: Path, store: str, unique_model: str) -> None:
    digest = push(tiny_llama, unique_model, store, "v1")
    objects, notes = deploy("--routingName", "acme/tiny-chat", "--modelName", unique_model, "--modelStore", store, "--tag", "v1")
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    dep, svc = by_kind(objects, "Deployment"), by_kind(objects, "Service")
    check_pinned(dep, digest)
    pod = dep["spec"]["template"]["spec"]
    script = fetch_script(pod)
    assert f"@{digest}" in script and ":v1" not in script  # pulled by digest, never by the tag
    for layer in layer_digests(store, unique_model, digest):
        assert layer.split(":")[1] in script
    engine = pod["containers"][0]
    assert engine["image"].startswith("vllm/vllm-openai:v") and engine["command"] == ["vllm", "serve"]
    args = engine["args"]
    assert args[0] == "/models/model" and args[args.index("--served-model-name") + 1] == "acme/tiny-chat"
    assert args[args.index("--tensor-parallel-size") + 1] == "1"
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert engine["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in engine["volumeMounts"]
    # The Service and the Deployment find the pods by labels the pods carry.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items() and svc["spec"]["ports"][0]["port"] == 8000
    assert dep["metadata"]["annotations"]["pais.dev/routing-name"] == "acme/tiny-chat"
    assert "engine: vllm" in notes and "loopback" in notes


def test_redeploy_swaps_the_revision_under_the_same_names(tmp_path: Path, store: str, unique_model: str) -> None:
    first = push(write_tiny_model(tmp_path / "a", seed=1), unique_model, store, "v1")
    second = push(write_tiny_model(tmp_path / "b", seed=2), unique_model, store, "v2")
    assert first != second
    base = ("--routingName", "acme/swap", "--modelName", unique_model, "--modelStore", store, "--gpus", "1")
    one, _ = deploy(*base, "--tag", "v1")
    two, _ = deploy(*base, "--tag", "v2")
    by_digest, _ = deploy(*base, "--digest", second)
    assert [(o["kind"], o["metadata"]["name"]) for o in one] == [(o["kind"], o["metadata"]["name"]) for o in two]
    d1, d2 = by_kind(one, "Deployment"), by_kind(two, "Deployment")
    assert d1["spec"]["selector"] == d2["spec"]["selector"]  # immutable field: must not change
    assert d1["metadata"]["annotations"]["pais.dev/revision"] == first
    assert d2["metadata"]["annotations"]["pais.dev/revision"] == second
    assert by_kind(by_digest, "Deployment")["spec"] == d2["spec"]


def test_tensor_parallel_gets_its_gpus_and_shared_memory(tiny_llama: Path, store: str, unique_model: str) -> None:
    push(tiny_llama, unique_model, store, "v1")
    objects, notes = deploy("--routingName", "acme/tp", "-m", unique_model, "-s", store, "-t", "v1", "--gpus", "2", "--gpu-model", "H200")
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    engine = pod["containers"][0]
    assert engine["args"][engine["args"].index("--tensor-parallel-size") + 1] == "2"
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert {"name": "dshm", "mountPath": "/dev/shm"} in engine["volumeMounts"]
    assert "2 x H200 GPU: tensor parallel 2" in notes


def test_infinity_serves_an_embedding_model_on_cpu(tmp_path: Path, store: str, unique_model: str) -> None:
    digest = push(write_embedding_model(tmp_path / "bge"), unique_model, store, "v1")
    objects, notes = deploy("--routingName", "baai/bge-small-en-v1.5", "--modelName", unique_model, "--modelStore", store,
                            "--tag", "v1", "-n", "search")
    dep = by_kind(objects, "Deployment")
    assert dep["metadata"]["name"] == "baai-bge-small-en-v1-5" and dep["metadata"]["namespace"] == "search"
    check_pinned(dep, digest)
    pod = dep["spec"]["template"]["spec"]
    engine = pod["containers"][0]
    assert engine["image"].startswith("michaelf34/infinity:") and engine["image"].endswith("-cpu")
    args = engine["args"]
    assert args[0] == "v2" and args[args.index("--served-model-name") + 1] == "baai/bge-small-en-v1.5"
    assert args[args.index("--device") + 1] == "cpu" and args[args.index("--model-id") + 1] == "/models/model"
    assert "nvidia.com/gpu" not in engine["resources"]["limits"] and "tolerations" not in pod
    assert "1_Pooling/config.json" in fetch_script(pod)
    assert "embedding (sentence-transformers files" in notes


def test_small_embedding_model_on_a_gpu_is_warned_about(tmp_path: Path, store: str, unique_model: str) -> None:
    push(write_embedding_model(tmp_path / "bge"), unique_model, store, "v1")
    objects, notes = deploy("--routingName", "baai/bge", "--modelName", unique_model, "--modelStore", store, "--tag", "v1",
                            "--gpus", "1")
    engine = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert engine["args"][engine["args"].index("--device") + 1] == "cuda" and not engine["image"].endswith("-cpu")
    assert "small embedding model" in notes


def test_llamacpp_serves_a_gguf_on_cpu(tmp_path: Path, store: str, unique_model: str) -> None:
    model = tmp_path / "gguf"
    model.mkdir()
    write_llama_gguf(model / "tiny-q8.gguf")
    digest = push(model, unique_model, store, "q8")
    objects, _ = deploy("--routingName", "acme/tiny-gguf", "--modelName", unique_model, "--modelStore", store, "--tag", "q8",
                        "--replicas", "2")
    dep = by_kind(objects, "Deployment")
    check_pinned(dep, digest)
    assert dep["spec"]["replicas"] == 2
    engine = dep["spec"]["template"]["spec"]["containers"][0]
    assert engine["image"].startswith("ghcr.io/ggml-org/llama.cpp:server-b")
    args = engine["args"]
    assert args[args.index("--model") + 1] == "/models/model/tiny-q8.gguf" and args[args.index("--alias") + 1] == "acme/tiny-gguf"
    assert "nvidia.com/gpu" not in engine["resources"]["limits"]


def test_autoscaled_deployment_leaves_replicas_to_the_autoscaler(tiny_llama: Path, store: str, unique_model: str) -> None:
    """A GPU engine scales on its request queue (KEDA by default, an HPA on the custom metric with
    --autoscale hpa), never on CPU; the ScaledObject passes KEDA's CRD with its CEL rules."""
    push(tiny_llama, unique_model, store, "v1")
    base = ("--routing-name", "acme/tiny-chat", "--model-name", unique_model, "--model-store", store, "-t", "v1",
            "--min-replicas", "1", "--max-replicas", "3", "--gpu-model", "H100", "--pull-secret", "harbor-pull", "-n", "serving")
    objects, _ = deploy(*base)
    dep, scaled = by_kind(objects, "Deployment"), by_kind(objects, "ScaledObject")
    assert "replicas" not in dep["spec"] and (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 3)
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["query"] == (
        'sum(vllm:num_requests_waiting{namespace="serving", model_name="acme/tiny-chat"})')
    assert by_kind(objects, "PodDisruptionBudget")["spec"] == {"maxUnavailable": 1, "selector": dep["spec"]["selector"]}
    hpa_objects, _ = deploy(*base, "--autoscale", "hpa")
    hpa = by_kind(hpa_objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vllm:num_requests_waiting"
    assert all(m["type"] != "Resource" for m in hpa["spec"]["metrics"])  # never CPU for a GPU engine
    pod = dep["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "harbor-pull"}]
    assert "--registry-config /etc/pais/registry-auth/config.json" in fetch_script(pod)
    affinity = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert "NVIDIA-H100-80GB-HBM3" in affinity["matchExpressions"][0]["values"]


def test_registry_ca_travels_as_a_configmap(tiny_llama: Path, tls_registry: RegistryServer, unique_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", tls_registry.username or "")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", tls_registry.password or "")
    tls_store = f"{tls_registry.host}/models"
    done = pais("models", "push", str(tiny_llama), "-m", unique_model, "-s", tls_store, "-t", "v1", "--skip-validation",
                "--ca-file", str(tls_registry.ca_file))
    assert done.exit_code == 0, done.stderr
    objects, _ = deploy("--routingName", "acme/tls", "--modelName", unique_model, "--modelStore", tls_store, "--tag", "v1",
                        "--ca-file", str(tls_registry.ca_file), "--pull-secret", "harbor-pull")
    assert [o["kind"] for o in objects] == ["ConfigMap", "Deployment", "Service"]
    cm = by_kind(objects, "ConfigMap")
    assert cm["data"]["ca.crt"] == Path(str(tls_registry.ca_file)).read_text()
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    script = fetch_script(pod)
    assert "--ca-file /etc/pais/registry-ca/ca.crt" in script and "--plain-http" not in script
    assert {"name": "registry-ca", "configMap": {"name": cm["metadata"]["name"]}} in pod["volumes"]


def test_nim_from_the_gallery_fills_an_rwx_volume_first(tiny_llama: Path, store: str, unique_model: str) -> None:
    digest = push(tiny_llama, unique_model, store, "v1")
    objects, _ = deploy("--routingName", "acme/tiny-nim", "--modelName", unique_model, "--modelStore", store, "--tag", "v1",
                        "--engine", "nim", "--min-replicas", "1", "--max-replicas", "4", "--ingress-class", "nginx",
                        "--storage-class", "vsan-file")
    assert [o["kind"] for o in objects] == ["PersistentVolumeClaim", "Job", "NIMService"]  # the order they must exist in
    pvc, job, svc = objects
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == "vsan-file"
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f"@{digest}" in script and "/model-store/blobs/sha256" in script
    spec = crd("NIMService").validate(svc)["spec"]
    assert spec["storage"]["pvc"] == {"create": False, "name": pvc["metadata"]["name"]}
    hpa = spec["scale"]["hpa"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4) and "replicas" not in svc["spec"]
    # Scaled on the NIM's request queue, never on the HPA's default CPU target.
    assert hpa["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": "num_requests_waiting"},
                                                        "target": {"type": "AverageValue", "averageValue": "5"}}}]
    assert spec["expose"]["service"]["port"] == 8000 and spec["expose"]["router"] == {"ingress": {"ingressClass": "nginx"}}
    assert "ingress" not in spec["expose"]
    env = {e["name"]: e["value"] for e in spec["env"]}
    assert env["NIM_SERVED_MODEL_NAME"] == "acme/tiny-nim" and env["NIM_MODEL_NAME"].endswith(digest.replace(":", "-"))
    assert svc["metadata"]["annotations"]["pais.dev/revision"] == digest
    assert svc["spec"]["image"]["repository"] == "nvcr.io/nim/nvidia/llm-nim"


def test_nim_from_ngc_caches_first_with_a_pinned_profile() -> None:
    objects, notes = deploy("--routingName", "meta/llama-3.1-8b-instruct", "--nim-model", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                            "--nim-profile", "193649a2eb95e821309d6023a2cabb31489d3b690a9973c7ab5d1ff58b0aa7eb",
                            "--gpu-model", "A100", "--replicas", "2")
    cache, svc = objects
    assert (cache["kind"], svc["kind"]) == ("NIMCache", "NIMService")
    ngc = cache["spec"]["source"]["ngc"]
    assert ngc["model"]["profiles"] == ["193649a2eb95e821309d6023a2cabb31489d3b690a9973c7ab5d1ff58b0aa7eb"]
    assert cache["spec"]["storage"]["pvc"]["volumeAccessMode"] == "ReadWriteMany"
    assert svc["spec"]["storage"]["nimCache"]["name"] == cache["metadata"]["name"]
    assert svc["spec"]["scale"]["hpa"] == {"minReplicas": 2, "maxReplicas": 2} and "replicas" not in svc["spec"]
    assert "8B parameters in the name" in notes or "weights" in notes


def test_nim_multi_node_uses_replicas_not_autoscaling() -> None:
    objects, _ = deploy("--routingName", "meta/llama-405b", "--nim-model", "nvcr.io/nim/meta/llama-3.1-405b-instruct:1.3.3",
                        "--nim-profile", "p1", "--gpu-model", "H100")
    svc = by_kind(objects, "NIMService")
    # 8 GPUs per node (HGX H100), tensor parallel 8 across each node's NVSwitch.
    assert svc["spec"]["multiNode"]["parallelism"]["tensor"] == 8 and svc["spec"]["multiNode"]["parallelism"]["pipeline"] > 1
    assert "scale" not in svc["spec"] and svc["spec"]["replicas"] == 1  # the CRD forbids autoscaling with multiNode


def test_the_validators_have_teeth() -> None:
    """The same checks refuse what an API server would refuse."""
    objects, _ = deploy("--routingName", "meta/llama-3.1-8b", "--nim-model", "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3",
                        "--nim-profile", "p1")
    svc = by_kind(objects, "NIMService")
    with pytest.raises(ManifestInvalid, match="replicas cannot be set"):
        validate_manifest({**svc, "spec": {**svc["spec"], "replicas": 2}})
    with pytest.raises(ManifestInvalid):
        validate_manifest({**svc, "spec": {**svc["spec"], "surprise": True}})
    cache = by_kind(objects, "NIMCache")
    with pytest.raises(ManifestInvalid, match="Exactly one of ngc"):
        validate_manifest({**cache, "spec": {**cache["spec"], "source": {}}})
    with pytest.raises(ManifestInvalid):
        validate_manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}})


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--engine", "llamacpp"), 1, "GGUF files only"),
        (("--engine", "infinity"), 1, "embedding models"),
        (("--gpus", "0"), 1, "GGUF only"),
        (("--gpus", "2", "--gpu-model", "L40S", "--vgpu"), 1, "NVLink"),
        (("--gpus", "3"), 1, "1, 2, 4 or 8"),
    ],
)
def test_refusals_say_what_would_work(tiny_llama: Path, store: str, unique_model: str, args: tuple[str, ...], code: int, words: str) -> None:
    push(tiny_llama, unique_model, store, "v1")
    done = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/x", "-m", unique_model, "-s", store, "-t", "v1", *args)
    assert done.exit_code == code, done.stderr
    assert words in done.stderr and "hint:" in done.stderr and not done.stdout.strip()


def test_usage_refusals_exit_2(tiny_llama: Path, store: str, unique_model: str) -> None:
    push(tiny_llama, unique_model, store, "v1")
    no_tag = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/x", "-m", unique_model, "-s", store)
    assert no_tag.exit_code == 2 and "no implicit 'latest'" in no_tag.stderr and "--tag" in no_tag.stderr
    bad = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "Acme/X Y", "-m", unique_model, "-s", store, "-t", "v1")
    assert bad.exit_code == 2 and "provider/model_id" in bad.stderr
    missing = pais("endpoints", "deploy", "--no-require-validated", "-m", unique_model, "-s", store, "-t", "v1")
    assert missing.exit_code == 2


def test_on_disk_gallery_is_refused_with_the_way_out(tiny_llama: Path, tmp_path: Path) -> None:
    disk = str(tmp_path / "gallery")
    assert pais("models", "push", str(tiny_llama), "-m", "acme/tiny", "-s", disk, "-t", "v1", "--skip-validation").exit_code == 0
    done = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/tiny", "-m", "acme/tiny", "-s", disk, "-t", "v1")
    assert done.exit_code == 1 and "on disk" in done.stderr and "registry" in done.stderr and "promote" in done.stderr


def test_dry_run_prints_the_reasoning_and_manifests_dir_writes_files(tiny_llama: Path, store: str, unique_model: str, tmp_path: Path) -> None:
    digest = push(tiny_llama, unique_model, store, "v1")
    base = ("--routingName", "acme/tiny-chat", "-m", unique_model, "-s", store, "-t", "v1")
    dry = pais("endpoints", "deploy", "--no-require-validated", *base, "--dry-run")
    assert dry.exit_code == 0 and "placement reasoning:" in dry.stdout and "headroom" in dry.stdout and "apiVersion" not in dry.stdout
    as_json = pais("endpoints", "deploy", "--no-require-validated", *base, "--dry-run", "-o", "json").json()
    assert as_json["digest"] == digest and as_json["engine"] == "vllm" and as_json["placement"]["gpus"] == 1  # type: ignore[index]
    out = tmp_path / "manifests"
    written = pais("endpoints", "deploy", "--no-require-validated", *base, "--manifests-dir", str(out))
    assert written.exit_code == 0 and not written.stdout.strip()
    objects = load_all((out / "acme-tiny-chat.yaml").read_text())
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]


def test_sizing_reads_only_header_bytes_from_the_registry(tmp_path: Path, store: str, unique_model: str) -> None:
    model = write_tiny_model(tmp_path / "big")
    (model / "model.safetensors").unlink()
    write_sized_safetensors(model / "model.safetensors", {"lm_head.weight": [4096, 2048]})  # 16 MiB of BF16
    push(model, unique_model, store, "v1")
    gallery = open_gallery(context(), store)
    repo = gallery.store.repository(unique_model)
    source = RevisionSource(repo, repo.fetch_manifest(RevisionRef(tag="v1").reference))
    info = detect(source)
    assert info.weight_bytes == 4096 * 2048 * 2 and info.parameters == 4096 * 2048
    weights = next(f for f in source.files() if f.path == "model.safetensors")
    assert info.header_bytes_read < 1024
    assert source.bytes_fetched < weights.size // 4  # at most a transfer chunk past the header


def test_apply_runs_kubectl_and_refuses_without_it(tiny_llama: Path, store: str, unique_model: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    push(tiny_llama, unique_model, store, "v1")
    base = ("--routingName", "acme/tiny-chat", "-m", unique_model, "-s", store, "-t", "v1")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    missing = pais("endpoints", "deploy", "--no-require-validated", *base, "--apply")
    assert missing.exit_code == 1 and "kubectl is not installed" in missing.stderr and "drop --apply" in missing.stderr
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    applied = pais("endpoints", "deploy", "--no-require-validated", *base, "--apply", "--wait", "-n", "serving")
    assert applied.exit_code == 0, applied.stderr
    calls = cluster.calls()
    assert calls[-2][:4] == ["apply", "-n", "serving", "-f"] and calls[-1][:3] == ["wait", "-n", "serving"]
    assert {(o["kind"], o["metadata"]["namespace"]) for o in cluster.serving_objects()} == {("Deployment", "serving"), ("Service", "serving")}
    monkeypatch.setenv("PAIS_FAKE_KUBECTL_NO_CLUSTER", "1")
    down = pais("endpoints", "deploy", "--no-require-validated", *base, "--apply")
    assert down.exit_code == 1 and "no cluster reachable" in down.stderr


def test_apply_nim_waits_for_the_fill_before_the_service(tiny_llama: Path, store: str, unique_model: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    push(tiny_llama, unique_model, store, "v1")
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    done = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/tiny-nim", "-m", unique_model, "-s", store, "-t", "v1", "--engine", "nim", "--apply")
    assert done.exit_code == 0, done.stderr
    calls = [c for c in cluster.calls() if c[0] not in ("get", "config")]
    # Everything through the server-side dry run first, then the volume and its fill, then the service.
    assert [c[0] for c in calls] == ["apply", "apply", "wait", "apply"] and "--dry-run=server" in calls[0]
    wait_call = next(c for c in cluster.calls() if c[0] == "wait")
    assert "--for=condition=complete" in wait_call and any(a.startswith("job/") for a in wait_call)


def test_apply_refuses_to_take_over_another_routing_names_objects(tiny_llama: Path, store: str, unique_model: str,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    push(tiny_llama, unique_model, store, "v1")
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    first = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/a.b", "-m", unique_model, "-s", store, "-t", "v1", "--apply")
    assert first.exit_code == 0, first.stderr
    clash = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/a-b", "-m", unique_model, "-s", store, "-t", "v1", "--apply")
    assert clash.exit_code == 1 and "already serves acme/a.b" in clash.stderr


def test_delete_prints_the_command_or_runs_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = pais("endpoints", "delete", "--routingName", "baai/bge-small-en-v1.5", "-n", "search")
    assert printed.exit_code == 0
    assert "kubectl delete --ignore-not-found -n search" in printed.stdout and "deployment/baai-bge-small-en-v1-5" in printed.stdout
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    cluster.seed({"kind": "Deployment", "metadata": {"name": "baai-bge-small-en-v1-5", "namespace": "search"}})
    deleted = pais("endpoints", "delete", "--routing-name", "baai/bge-small-en-v1.5", "-n", "search", "--apply", "-o", "json")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.json()["applied"] is True and cluster.serving_objects() == []  # type: ignore[index]
    assert pais("endpoints", "delete", "--routingName", "bad").exit_code == 2


def test_a_cluster_without_the_nim_operator(tiny_llama: Path, store: str, unique_model: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl's "unknown kind / resource type" is its own error: listing and deleting skip the NIM
    kinds, a NIM deploy is refused with the way out."""
    push(tiny_llama, unique_model, store, "v1")
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PAIS_FAKE_KUBECTL_NO_CRDS", "1")
    base = ("-m", unique_model, "-s", store, "-t", "v1", "--apply")
    assert pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/plain", *base).exit_code == 0
    rows = pais("endpoints", "list", "-o", "json").json()
    assert [r["routing_name"] for r in rows] == ["acme/plain"]  # type: ignore[union-attr,index]
    refused = pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/nim", *base, "--engine", "nim")
    assert refused.exit_code == 1 and "does not know a kind" in refused.stderr and "NIM Operator" in refused.stderr
    deleted = pais("endpoints", "delete", "--routingName", "acme/plain", "--apply")
    assert deleted.exit_code == 0, deleted.stderr
    assert cluster.serving_objects() == []


def test_kubectl_named_by_pais_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = FakeCluster(tmp_path / "cluster")
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    (cluster.bin_dir / "kubectl").rename(tmp_path / "my-kubectl")
    monkeypatch.setenv("PATH", str(cluster.bin_dir))  # no kubectl on PATH at all
    assert "kubectl is not installed" in pais("endpoints", "list").stderr
    monkeypatch.setenv("PAIS_KUBECTL", str(tmp_path / "my-kubectl"))
    listed = pais("endpoints", "list", "-o", "json")
    assert listed.exit_code == 0 and listed.json() == [], listed.stderr


def test_weights_size_follows_the_kubernetes_unit_rule() -> None:
    """G is 10^9 bytes and Gi/GiB 2^30, as everywhere pais takes a size; the NIMCache holds 1.5x."""
    base = ("--routingName", "meta/m", "--nim-model", "nvcr.io/nim/meta/m:1", "--nim-profile", "p1")

    def cache_size(size: str) -> str:
        objects, _ = deploy(*base, "--weights-size", size)
        return str(by_kind(objects, "NIMCache")["spec"]["storage"]["pvc"]["size"])

    assert cache_size("16G") == "23Gi"  # 16x10^9 x 1.5 = 22.4 GiB
    assert cache_size("16GiB") == "24Gi" and cache_size("16Gi") == "24Gi"
    bad = pais("endpoints", "deploy", "--no-require-validated", *base, "--weights-size", "16 bananas")
    assert bad.exit_code == 2 and "--weights-size" in bad.stderr and "hint:" in bad.stderr


def test_help_lists_the_commands() -> None:
    done = pais("endpoints", "--help")
    assert done.exit_code == 0 and all(c in done.stdout for c in ("deploy", "list", "delete"))


FAKE_ORAS = """#!/bin/sh
# Stand-in for `oras blob fetch [options] --output OUT REGISTRY/REPO@DIGEST` (the ORAS CLI image is
# not available here): the same blob GET from the same real registry, with curl.
set -eu
out=""; ref=""
while [ $# -gt 0 ]; do
  case "$1" in
    blob|fetch|--plain-http) ;;
    --output) out="$2"; shift ;;
    --ca-file|--registry-config) shift ;;
    *) ref="$1" ;;
  esac
  shift
done
echo "$ref" >> "$ORAS_LOG"
host="${ref%%/*}"; rest="${ref#*/}"; repo="${rest%@*}"; digest="${rest#*@}"
curl -sSf -o "$out" "http://$host/v2/$repo/blobs/$digest"
"""


def test_the_fetch_script_leaves_exactly_the_revision_and_resumes(tmp_path: Path, store: str, unique_model: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated script run by a real sh against the real registry; only `oras` is stood in for."""
    import shutil
    import subprocess

    from pais_cli.gallery.modelpack import model_files
    from pais_cli.gallery.reference import parse_registry
    from pais_cli.runtime.fetch import FetchSource, fetch_script

    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: run `make test` (scripts/install-test-deps.sh installs it)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "oras").write_text(FAKE_ORAS)
    (bin_dir / "oras").chmod(0o755)
    log = tmp_path / "oras.log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ORAS_LOG": str(log)}
    model = write_embedding_model(tmp_path / "bge")  # has a nested file: 1_Pooling/config.json
    first = push(model, unique_model, store, "v1")
    (model / "README.md").write_text("# changed\n")
    second = push(model, unique_model, store, "v2")
    location = parse_registry(store)
    repo = open_gallery(context(), store).store.repository(unique_model)

    def run(digest: str, dest: Path, blobs: Path | None) -> list[str]:
        files = model_files(repo.fetch_manifest(digest))
        source = FetchSource(location.host, location.repository(unique_model), digest, plain_http=True)
        before = len(log.read_text().splitlines())
        done = subprocess.run(["sh", "-c", fetch_script(source, files, str(dest), str(blobs) if blobs else None)],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        for f in files:
            assert (dest / f.path).read_bytes() == (model / f.path).read_bytes() or f.path == "README.md"
        return log.read_text().splitlines()[before:]

    plain = tmp_path / "pod" / "model"
    fetched = run(first, plain, None)
    assert len(fetched) == 5 and all("@sha256:" in line for line in fetched)
    assert sorted(p.relative_to(plain).as_posix() for p in plain.rglob("*") if p.is_file()) == sorted(
        [f.path for f in model_files(repo.fetch_manifest(first))] + [".pais-complete"])
    assert run(first, plain, None) == []  # complete: nothing fetched again
    (plain / ".pais-complete").unlink()
    (plain / "config.json").unlink()
    assert len(run(first, plain, None)) == 1  # resumes: only the missing file
    store_dir = tmp_path / "pvc"
    assert len(run(first, store_dir / "revisions" / "a", store_dir / "blobs")) == 5
    assert len(run(second, store_dir / "revisions" / "b", store_dir / "blobs")) == 1  # only the changed README
    assert (store_dir / "revisions" / "b" / "README.md").read_text() == "# changed\n"


def test_the_fill_job_prunes_all_but_the_kept_revisions(tmp_path: Path, store: str, unique_model: str) -> None:
    """The fill script with pruning, run by a real sh against the real registry: after v3 is
    filled with v2 kept (the one serving, the rollback target), v1's directory and the blobs only
    it linked are gone; a rollback fill of a revision already there fetches nothing and prunes."""
    import subprocess

    from pais_cli.gallery.modelpack import model_files
    from pais_cli.gallery.reference import parse_registry
    from pais_cli.runtime.fetch import FetchSource, fetch_script

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "oras").write_text(FAKE_ORAS)
    (bin_dir / "oras").chmod(0o755)
    log = tmp_path / "oras.log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ORAS_LOG": str(log)}
    model = write_embedding_model(tmp_path / "bge")
    digests = []
    for i in range(3):
        (model / "README.md").write_text(f"# revision {i}\n")
        digests.append(push(model, unique_model, store, f"v{i}"))
    location = parse_registry(store)
    repo = open_gallery(context(), store).store.repository(unique_model)
    volume = tmp_path / "pvc"

    def fill(digest: str, keep: list[str]) -> None:
        source = FetchSource(location.host, location.repository(unique_model), digest, plain_http=True)
        script = fetch_script(source, model_files(repo.fetch_manifest(digest)), str(volume / "revisions" / digest.replace(":", "-")),
                              str(volume / "blobs"), keep=[k.replace(":", "-") for k in keep])
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    fill(digests[0], [])
    fill(digests[1], [digests[0]])
    assert sorted(p.name for p in (volume / "revisions").iterdir()) == sorted(d.replace(":", "-") for d in digests[:2])
    fill(digests[2], [digests[1]])
    assert sorted(p.name for p in (volume / "revisions").iterdir()) == sorted(d.replace(":", "-") for d in digests[1:])
    readme_v0 = next(f.digest for f in model_files(repo.fetch_manifest(digests[0])) if f.path == "README.md")
    assert not (volume / "blobs" / readme_v0.split(":")[1]).exists()  # only v1 linked it
    before = len(log.read_text().splitlines())
    fill(digests[1], [digests[2]])  # rollback: already there
    assert len(log.read_text().splitlines()) == before
    assert sorted(p.name for p in (volume / "revisions").iterdir()) == sorted(d.replace(":", "-") for d in digests[1:])
