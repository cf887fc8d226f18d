"""Swapping the revision behind a routing name, checked as the API server would check updates.

No API server runs here. Every swap case is rendered the way `endpoints deploy` plans it (the
app layer's swap_facts over what a previous deploy left, then the renderers), and each step's
objects are checked: against the schemas (kubernetes-validate strict; the NIM, KEDA and Gateway
API CRDs with their CEL rules, NIMCache's `oldSelf` rules evaluated with the real old object),
and against the update rules Kubernetes enforces in code (tests/support/k8s_updates.py: Deployment
and Job selectors and Job templates immutable, a claim's access modes and class immutable and its
size never shrinking, a Service's clusterIP). Cases: bigger -> smaller -> bigger revision (a
rollback to the previous digest), for every engine and both NIM paths; an NGC version upgrade;
a routing name moved between engines. Every emitted pod template passes the Pod Security
`restricted` profile (tests/support/pod_security.py encodes its rules).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pais_cli.app import observe
from pais_cli.app.deploy import render, swap_facts
from pais_cli.gallery.modelpack import ModelFile
from pais_cli.runtime import nim
from pais_cli.runtime.detect import COMPLETION, EMBEDDING, ModelInfo
from pais_cli.runtime.endpoint import Endpoint, GatewayRef
from pais_cli.runtime.fetch import FETCH_IMAGE, FetchSource
from pais_cli.runtime.placement import GIB, place
from pais_cli.runtime.routing import parse_routing_name
from pais_cli.units import parse_quantity
from tests.support.k8s import ManifestInvalid, crd, validate_manifest
from tests.support.k8s_updates import check_swap, check_update
from tests.support.pod_security import restricted_violations

ROUTING = parse_routing_name("acme/swap")
BIG = "sha256:" + "b1" * 32
SMALL = "sha256:" + "5a" * 32


def _info(model_type: str, fmt: str, size: int) -> ModelInfo:
    weights = ["m-q8.gguf"] if fmt == "gguf" else ["model.safetensors"]
    return ModelInfo(model_type=model_type, type_reason="test", weight_format=fmt, weight_files=weights,
                     weight_bytes=size, size_reason="test", files_bytes=size + 1024**2)


def _files(info: ModelInfo, digest: str) -> list[ModelFile]:
    return [ModelFile(info.weight_files[0], info.files_bytes, "sha256:" + digest[7:9] * 32, 0o644, "weight")]


# engine, model type, weight format, big bytes, small bytes, --gpus, storage class
ENGINES = {
    "vllm": ("vllm", COMPLETION, "safetensors", 70 * GIB, 8 * GIB, None, None),
    "vllm-shared": ("vllm", COMPLETION, "safetensors", 70 * GIB, 8 * GIB, None, "vsan-file"),
    "infinity-cpu": ("infinity", EMBEDDING, "safetensors", 1 * GIB, GIB // 2, 0, None),
    "infinity-gpu-shared": ("infinity", EMBEDDING, "safetensors", 14 * GIB, 3 * GIB, 1, "nfs-rwx"),
    "llamacpp-cpu": ("llamacpp", COMPLETION, "gguf", 9 * GIB, 2 * GIB, 0, "nfs-rwx"),
    "nim-gallery": ("nim", COMPLETION, "safetensors", 70 * GIB, 8 * GIB, None, None),
}


def _endpoint(case: str, digest: str, replicas: int = 2) -> Endpoint:
    engine, kind, fmt, big, small, gpus, storage_class = ENGINES[case]
    info = _info(kind, fmt, big if digest == BIG else small)
    placement = place(info, gpus=gpus, gpu_model="H100" if gpus != 0 else None, engine=engine)
    return Endpoint(routing=ROUTING, engine=engine, image=None, fetch_image=FETCH_IMAGE, info=info, placement=placement,
                    namespace="serving", model="acme/m", store="registry.example.com/models", tag="approved", digest=digest,
                    source=FetchSource("registry.example.com", "models/acme/m", digest), files=_files(info, digest),
                    replicas=replicas, storage_class=storage_class, network_policy=True,
                    gateway=GatewayRef("gateway-system", "inference"))


def _stored(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the API server keeps after an apply: the objects, a Service with its allocated clusterIP,
    a Job with the selector it defaults."""
    out = copy.deepcopy(objects)
    for o in out:
        if o["kind"] == "Service":
            o["spec"]["clusterIP"] = "10.96.12.34"
        if o["kind"] == "Job":
            o["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": "0f0e"}}
    return out


def _pod_templates(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]) for o in objects
            if o["kind"] in ("Deployment", "Job")]


def _step(case: str, digest: str, cluster: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One deploy of `digest` over what the cluster holds; returns the objects it emits."""
    ep = _endpoint(case, digest)
    notes: list[str] = []
    swap_facts(ep, observe.Observed("cluster" if cluster else "nothing", cluster), None, notes)
    objects = render(ep, nim.NimOptions())
    for o in objects:
        validate_manifest(o)
    for owner, pod in _pod_templates(objects):
        assert restricted_violations(pod) == [], owner
    assert check_swap(cluster, objects) == []
    return objects


def _claim_gi(objects: list[dict[str, Any]]) -> int | None:
    pvc = next((o for o in objects if o["kind"] == "PersistentVolumeClaim"), None)
    return int(parse_quantity(pvc["spec"]["resources"]["requests"]["storage"]) // GIB) if pvc else None


def _apply(cluster: list[dict[str, Any]], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {(o["kind"], o["metadata"]["name"]) for o in objects}
    return [o for o in cluster if (o["kind"], o["metadata"]["name"]) not in keys] + _stored(objects)


@pytest.mark.parametrize("case", sorted(ENGINES))
def test_bigger_to_smaller_and_rollback_are_valid_updates(case: str) -> None:
    """v1 (big) -> v2 (small) -> v1 again: each step is an update Kubernetes admits, the shared
    claim never shrinks, the fill Job keeps the revision served before (the rollback target)."""
    cluster: list[dict[str, Any]] = []
    sizes = []
    for step, digest in enumerate((BIG, SMALL, BIG)):
        objects = _step(case, digest, cluster)
        serving = next(o for o in objects if o["kind"] in ("Deployment", "NIMService"))
        assert serving["metadata"]["annotations"]["pais.dev/revision"] == digest
        previous = serving["metadata"]["annotations"].get("pais.dev/previous-revision")
        assert previous == (None, BIG, SMALL)[step]
        jobs = [o for o in objects if o["kind"] == "Job"]
        if jobs:
            script = jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"][0]
            if step:
                assert "pruning revision" in script and (previous or "").replace(":", "-") in script
        sizes.append(_claim_gi(objects))
        cluster = _apply(cluster, objects)
    if sizes[0] is not None:
        big, small = ENGINES[case][3], ENGINES[case][4]
        # 2.2 x the big revision, kept when the smaller one (which alone would need less) comes.
        assert sizes[0] == sizes[1] == sizes[2] == -(-(big + 1024**2) * 22 // (10 * GIB)) > -(-(small + 1024**2) * 22 // (10 * GIB))
    shared = ENGINES[case][6] is not None or ENGINES[case][0] == "nim"
    assert (sizes[0] is not None) == shared


def test_a_given_volume_size_and_a_claim_already_expanded_are_kept() -> None:
    ep = _endpoint("vllm-shared", SMALL)
    swap_facts(ep, observe.Observed("nothing"), 500 * GIB, [])
    assert ep.volume_bytes == 500 * GIB and ep.keep_digests is None  # nothing known: nothing pruned
    grown = {"kind": "PersistentVolumeClaim", "metadata": {"name": "acme-swap-model"},
             "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "vsan-file", "resources": {"requests": {"storage": "100Gi"}}},
             "status": {"phase": "Bound", "capacity": {"storage": "300Gi"}}}
    again = _endpoint("vllm-shared", SMALL)
    swap_facts(again, observe.Observed("cluster", [grown]), None, [])
    assert again.volume_bytes == 300 * GIB


def test_another_storage_class_for_an_existing_claim_is_refused() -> None:
    from pais_cli.runtime.errors import DeployRefused

    first = render(_endpoint("vllm-shared", BIG), nim.NimOptions())
    ep = _endpoint("vllm-shared", SMALL)
    ep.storage_class = "other-class"
    with pytest.raises(DeployRefused, match="storageClassName is immutable"):
        swap_facts(ep, observe.Observed("cluster", _stored(first)), None, [])


def _ngc(version: str) -> list[dict[str, Any]]:
    info = _info(COMPLETION, "nim", 16 * GIB)
    placement = place(info, gpu_model="A100", engine="nim", allow_multi_node=True)
    ep = Endpoint(routing=ROUTING, engine="nim", image=f"nvcr.io/nim/meta/llama-3.1-8b-instruct:{version}", fetch_image="",
                  info=info, placement=placement, namespace="serving", min_replicas=1, max_replicas=3)
    opts = nim.NimOptions(ngc_model=f"nvcr.io/nim/meta/llama-3.1-8b-instruct:{version}", ngc_profile="p1", weights_bytes=16 * GIB)
    objects = nim.render_ngc(ep, opts)
    for o in objects:
        validate_manifest(o)
    return objects


def test_an_ngc_upgrade_creates_a_new_cache_and_moves_the_service() -> None:
    """modelPuller is immutable (a CEL transition rule): the upgrade is a new NIMCache, the
    NIMService is a valid update pointing at it, and rolling back returns to the old name."""
    old, new, back = _ngc("1.3.3"), _ngc("1.4.0"), _ngc("1.3.3")
    old_cache, new_cache = old[0]["metadata"]["name"], new[0]["metadata"]["name"]
    assert old_cache != new_cache and "1-3-3" in old_cache and "1-4-0" in new_cache
    assert back[0]["metadata"]["name"] == old_cache
    assert check_swap(_stored(old), new) == [] and check_swap(_stored(new), back) == []
    assert new[1]["spec"]["storage"]["nimCache"]["name"] == new_cache
    # The same upgrade done in place would be refused by the CRD's own rule.
    in_place = copy.deepcopy(old[0])
    in_place["spec"]["source"]["ngc"]["modelPuller"] = "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.4.0"
    errors = check_update(old[0], in_place)
    assert errors and "modelPuller is an immutable field" in errors[0]
    ep = Endpoint(routing=ROUTING, engine="nim", image="x", fetch_image="", info=None, placement=place(
        _info(COMPLETION, "nim", 16 * GIB), engine="nim"))
    assert nim.old_caches_selector(ep, new_cache).endswith(f"pais.dev/cache!={new_cache}")


def test_a_routing_name_moved_between_plain_engines_is_an_in_place_update() -> None:
    """vLLM -> llama.cpp (GGUF, GPU) -> vLLM under one name: the Deployment's selector is the
    name's, never the engine's, so each step is a valid update of the same objects."""
    def deployment(engine: str, fmt: str, digest: str) -> list[dict[str, Any]]:
        info = _info(COMPLETION, fmt, 8 * GIB)
        ep = Endpoint(routing=ROUTING, engine=engine, image=None, fetch_image=FETCH_IMAGE, info=info,
                      placement=place(info, gpus=1, gpu_model="L40S", engine=engine), namespace="serving", digest=digest,
                      source=FetchSource("r.example.com", "m/x", digest), files=_files(info, digest), replicas=1)
        return render(ep, nim.NimOptions())

    steps = [deployment("vllm", "safetensors", BIG), deployment("llamacpp", "gguf", SMALL), deployment("vllm", "safetensors", BIG)]
    for before, after in zip(steps, steps[1:]):
        assert check_swap(_stored(before), after) == []
        assert {(o["kind"], o["metadata"]["name"]) for o in before} == {(o["kind"], o["metadata"]["name"]) for o in after}


def test_a_routing_name_moved_to_the_nim_replaces_the_serving_objects() -> None:
    from pais_cli.app.deploy import DeployPlan, _engine_move  # noqa: PLC2701 - the planning step under test

    plain = render(_endpoint("vllm-shared", BIG), nim.NimOptions())
    ep = _endpoint("nim-gallery", SMALL)
    swap_facts(ep, observe.Observed("cluster", _stored(plain)), None, [])
    to_nim = render(ep, nim.NimOptions())
    # The shared claim (kept at its size and class) and the fill Jobs carry over; the serving kind changes.
    assert check_swap(_stored(plain), to_nim) == [] and _claim_gi(to_nim) == _claim_gi(plain)
    plan = DeployPlan("acme/swap", ep.name, "nim", "", "", None, SMALL, None, ep.placement, ep.info, to_nim, "serving")
    _engine_move(plan, observe.Observed("cluster", _stored(plain)))
    assert plan.replaces[:2] == ["deployment/acme-swap", "service/acme-swap"] and "engine move" in plan.notes[0]


def test_the_update_rules_have_teeth() -> None:
    """Each encoded rule refuses what the API server refuses."""
    objects = _stored(render(_endpoint("vllm-shared", BIG), nim.NimOptions()))
    by_kind = {o["kind"]: o for o in objects}
    dep = copy.deepcopy(by_kind["Deployment"])
    dep["spec"]["selector"]["matchLabels"]["pais.dev/revision"] = "sha256-x"
    assert "spec.selector" in check_update(by_kind["Deployment"], dep)[0]
    job = copy.deepcopy(by_kind["Job"])
    job["spec"]["template"]["spec"]["containers"][0]["image"] = "other/oras:1"
    assert "spec.template" in check_update(by_kind["Job"], job)[0]
    pvc = copy.deepcopy(by_kind["PersistentVolumeClaim"])
    pvc["spec"]["resources"]["requests"]["storage"] = "10Gi"
    assert "can not be less" in check_update(by_kind["PersistentVolumeClaim"], pvc)[0]
    pvc = copy.deepcopy(by_kind["PersistentVolumeClaim"])
    pvc["spec"]["storageClassName"] = "other"
    assert "immutable" in check_update(by_kind["PersistentVolumeClaim"], pvc)[0]
    pvc["spec"]["storageClassName"] = "vsan-file"
    pvc["spec"]["accessModes"] = ["ReadWriteOnce"]
    assert "immutable" in check_update(by_kind["PersistentVolumeClaim"], pvc)[0]
    svc = copy.deepcopy(by_kind["Service"])
    svc["spec"]["clusterIP"] = "10.96.0.99"
    assert "clusterIP" in check_update(by_kind["Service"], svc)[0]


def test_the_restricted_checker_has_teeth() -> None:
    pod = _pod_templates(render(_endpoint("vllm", BIG), nim.NimOptions()))[0][1]
    assert restricted_violations(pod) == []
    for change, words in (
        (lambda p: p["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda p: p["containers"][0]["securityContext"].update(capabilities={"drop": []}), "drop ALL"),
        (lambda p: (p["securityContext"].pop("runAsNonRoot"), p["containers"][0]["securityContext"].pop("runAsNonRoot")), "non-root"),
        (lambda p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}), "hostPath"),
        (lambda p: p["initContainers"][0]["securityContext"].pop("seccompProfile") and p["securityContext"].pop("seccompProfile"), "seccomp"),
    ):
        broken = copy.deepcopy(pod)
        change(broken)
        assert any(words in v for v in restricted_violations(broken)), words


def test_httproute_and_networkpolicy_pass_their_schemas() -> None:
    objects = render(_endpoint("vllm", BIG), nim.NimOptions())
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    stored = crd("HTTPRoute").validate(route)
    rules = stored["spec"]["rules"]
    assert rules[0]["matches"][0]["headers"][0] == {"type": "Exact", "name": "X-Gateway-Model-Name", "value": "acme/swap"}
    assert rules[1]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/acme/swap"}
    assert rules[0]["backendRefs"][0]["name"] == "acme-swap" and rules[0]["backendRefs"][0]["port"] == 8000
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}}]
    assert policy["spec"]["podSelector"]["matchLabels"] == next(o for o in objects if o["kind"] == "Deployment")["spec"]["selector"]["matchLabels"]
    # The HTTPRoute CRD's CEL rules bite: a prefix rewrite needs a PathPrefix match.
    bad = copy.deepcopy(route)
    bad["spec"]["rules"][1]["matches"][0]["path"]["type"] = "Exact"
    with pytest.raises(ManifestInvalid):
        crd("HTTPRoute").validate(bad)


def test_with_a_shared_volume_no_pod_fetches_and_one_job_per_digest() -> None:
    for case in ("vllm-shared", "infinity-gpu-shared", "llamacpp-cpu", "nim-gallery"):
        objects = render(_endpoint(case, BIG), nim.NimOptions())
        jobs = [o for o in objects if o["kind"] == "Job"]
        assert len(jobs) == 1 and jobs[0]["metadata"]["name"].startswith(f"acme-swap-fill-{BIG[7:15]}-")
        for owner, pod in _pod_templates(objects):
            if owner.startswith("Deployment"):
                assert "initContainers" not in pod
                mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "model-store")
                assert mount["readOnly"] is True
                claim = next(v for v in pod["volumes"] if v["name"] == "model-store")["persistentVolumeClaim"]
                assert claim == {"claimName": "acme-swap-model", "readOnly": True}
    per_pod = render(_endpoint("vllm", BIG), nim.NimOptions())
    engine = next(o for o in per_pod if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert engine["resources"]["requests"]["ephemeral-storage"] == "82Gi"  # 70 GiB x 1.1 + 4 GiB of writable /tmp
