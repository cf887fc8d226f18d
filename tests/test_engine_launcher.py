"""One engine launcher: the sandbox smoke test starts each engine exactly as `endpoints deploy`
would, on every engine and target it serves.

Both sides are the real code: the Deployment comes from runtime/kubernetes.py's renderer (the
manifest `endpoints deploy` prints), the container from the smoke test's own spec builder (what
it hands the Docker Engine API). No daemon is needed: nothing is started, the two plans are
compared. What legitimately differs is normalised: the model's path (the pod's volume
/models/model, the sandbox's /model) and the served name (the routing name, the smoke test's
alias).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pais_cli.runtime.detect import COMPLETION, EMBEDDING, ModelInfo
from pais_cli.runtime.engines import IMAGES, EngineLaunch, launch
from pais_cli.runtime.fetch import FETCH_IMAGE, FetchSource
from pais_cli.runtime.kubernetes import MODEL_DIR, Endpoint, render_plain
from pais_cli.runtime.placement import place
from pais_cli.runtime.routing import parse_routing_name
from pais_cli.smoke.container import ALIAS, SANDBOX_MODEL, container_spec, engine_launch
from pais_cli.smoke.contract import SmokeRequest
from tests.support.k8s import validate_manifest

ROUTING = "acme/launch-test"
DIGEST = "sha256:" + "ab" * 32

# (engine, target, model type, weight format): every engine and target the plain manifests serve.
CASES = [
    ("vllm", "gpu", COMPLETION, "safetensors"),
    ("infinity", "gpu", EMBEDDING, "safetensors"),
    ("infinity", "cpu", EMBEDDING, "safetensors"),
    ("llamacpp", "cpu", COMPLETION, "gguf"),
    ("llamacpp", "gpu", EMBEDDING, "gguf"),
]
LOADERS = {"gguf": "llamacpp", COMPLETION: "transformers", EMBEDDING: "sentence-transformers"}


def _info(model_type: str, weight_format: str) -> ModelInfo:
    weights = ["sub/model-q8.gguf"] if weight_format == "gguf" else ["model.safetensors"]
    return ModelInfo(model_type=model_type, type_reason="test", weight_format=weight_format, weight_files=weights,
                     weight_bytes=64 * 1024**2, size_reason="test", files_bytes=65 * 1024**2)


def _deployment_container(engine: str, target: str, info: ModelInfo) -> dict[str, Any]:
    """The engine container of the Deployment `endpoints deploy` emits (image left to the default)."""
    placement = place(info, gpus=1 if target == "gpu" else 0, engine=engine)
    assert placement.target == target
    ep = Endpoint(routing=parse_routing_name(ROUTING), engine=engine, image=None, fetch_image=FETCH_IMAGE, info=info,
                  placement=placement, digest=DIGEST, source=FetchSource("registry.example.com", "models/m", DIGEST))
    deployment = next(o for o in render_plain(ep) if o["kind"] == "Deployment")
    validate_manifest(deployment)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["engine"]
    return containers[0]


def _smoke_container(engine: str, target: str, info: ModelInfo,
                     model_dir: Path) -> tuple[dict[str, Any], dict[str, Any], EngineLaunch]:
    """The container the smoke test would create for the same model, engine and target."""
    request = SmokeRequest(model_dir=model_dir, kind=info.model_type, weight_format=info.weight_format,  # type: ignore[arg-type]
                           loader=LOADERS["gguf" if info.weight_format == "gguf" else info.model_type],  # type: ignore[arg-type]
                           serving_engine=engine, gguf_file=info.gguf_file, gpu=target == "gpu")
    start = engine_launch(request)
    spec, details = container_spec(request, start, model_dir, image_id=start.image)
    return spec, details, start


def _normalised(argv: list[str], model_dir: str, served_name: str) -> list[str]:
    out = []
    for arg in argv:
        if arg == model_dir or arg.startswith(model_dir + "/"):
            arg = "{MODEL}" + arg[len(model_dir):]
        elif arg == served_name:
            arg = "{NAME}"
        out.append(arg)
    return out


@pytest.mark.parametrize(("engine", "target", "model_type", "weight_format"), CASES,
                         ids=[f"{e}-{t}" for e, t, _, _ in CASES])
def test_smoke_container_runs_what_the_deployment_runs(engine: str, target: str, model_type: str, weight_format: str,
                                                       tmp_path: Path) -> None:
    info = _info(model_type, weight_format)
    pod = _deployment_container(engine, target, info)
    spec, details, start = _smoke_container(engine, target, info, tmp_path)

    assert details["image"] == spec["image"] == pod["image"]
    assert spec.get("entrypoint") == pod.get("command")
    pod_args = _normalised(pod["args"], MODEL_DIR, ROUTING)
    smoke_args = _normalised(spec["command"], SANDBOX_MODEL, ALIAS)
    assert smoke_args == pod_args
    assert "{MODEL}" in " ".join(pod_args) and "{NAME}" in pod_args  # the model and the name were both there
    assert pod["readinessProbe"]["httpGet"]["path"] == start.health_path  # the smoke test waits on the same probe
    # The GPU target asks for a GPU on both sides, the CPU target on neither.
    assert ("nvidia.com/gpu" in pod["resources"]["limits"]) == (target == "gpu")
    assert ("device_requests" in spec) == (target == "gpu")
    assert spec["mounts"][0]["Target"] == SANDBOX_MODEL and spec["mounts"][0]["ReadOnly"] is True


def test_the_gpu_target_picks_the_gpu_images_and_arguments(tmp_path: Path) -> None:
    """The cases where the smoke test and deploy used to disagree."""
    gguf = _info(EMBEDDING, "gguf")
    spec, _, _ = _smoke_container("llamacpp", "gpu", gguf, tmp_path)
    assert spec["image"] == IMAGES["llamacpp-cuda"] and "--n-gpu-layers" in spec["command"]
    spec, _, _ = _smoke_container("llamacpp", "cpu", gguf, tmp_path)
    assert spec["image"] == IMAGES["llamacpp"] and "--n-gpu-layers" not in spec["command"]
    bert = _info(EMBEDDING, "safetensors")
    spec, _, _ = _smoke_container("infinity", "gpu", bert, tmp_path)
    assert spec["image"] == IMAGES["infinity"] and spec["command"][spec["command"].index("--device") + 1] == "cuda"


def test_an_image_override_and_its_start_profile_label() -> None:
    """--image / --engine-image replace the image only; an image's label may name its start profile."""
    start = launch("llamacpp", "cpu", "/model", served_name="a", gguf_file="m.gguf", image="mine:1")
    assert start.image == "mine:1" and start.profile == "llama-server"
    labelled = launch("llamacpp", "cpu", "/model", served_name="a", gguf_file="m.gguf", image="mine:1",
                      image_labels={"org.pais.engine": "llama-cpp-python"})
    assert labelled.profile == "llama-cpp-python" and labelled.health_path == "/v1/models"
    assert labelled.args[labelled.args.index("--model") + 1] == "/model/m.gguf"
    with pytest.raises(ValueError, match="GGUF"):
        launch("llamacpp", "cpu", "/model", served_name="a")
    with pytest.raises(ValueError, match="target"):
        launch("vllm", "tpu", "/model", served_name="a")


def test_nim_is_configured_through_its_environment() -> None:
    gallery = launch("nim", "gpu", "/model-store/revisions/x", served_name="acme/m", gpus=4, pipeline=2)
    assert gallery.image == IMAGES["nim"] and gallery.args == [] and gallery.health_path == "/v1/health/ready"
    assert gallery.env == {"NIM_MODEL_NAME": "/model-store/revisions/x", "NIM_SERVED_MODEL_NAME": "acme/m",
                           "NIM_TENSOR_PARALLEL_SIZE": "4", "NIM_PIPELINE_PARALLEL_SIZE": "2"}
    ngc = launch("nim", "gpu", None, served_name="acme/m", image="nvcr.io/nim/meta/x:1")
    assert ngc.image == "nvcr.io/nim/meta/x:1" and ngc.env == {"NIM_SERVED_MODEL_NAME": "acme/m"}


@pytest.mark.parametrize(("engine", "target", "model_type", "weight_format"), CASES,
                         ids=[f"{e}-{t}" for e, t, _, _ in CASES])
def test_the_sandbox_is_confined_as_the_pod_is(engine: str, target: str, model_type: str, weight_format: str,
                                               tmp_path: Path) -> None:
    """One hardening for both: non-root, no privilege escalation, every capability dropped, a
    read-only root filesystem with the engine's writable paths mounted, and the same environment
    (HOME and caches on /tmp, offline, no telemetry)."""
    info = _info(model_type, weight_format)
    pod = _deployment_container(engine, target, info)
    spec, _, start = _smoke_container(engine, target, info, tmp_path)
    sc = pod["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and spec["read_only"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and spec["cap_drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False and "no-new-privileges" in spec["security_opt"]
    assert sc["runAsNonRoot"] is True and spec["user"] not in ("root", "0", "0:0", "")
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and not any("unconfined" in o for o in spec["security_opt"])
    writable = {m["mountPath"] for m in pod["volumeMounts"]} - {"/models", "/dev/shm"}
    assert writable == set(start.writable) and set(start.writable) <= set(spec["tmpfs"])
    pod_env = {e["name"]: e["value"] for e in pod["env"]}
    for key in ("HOME", "HF_HUB_OFFLINE", "DO_NOT_TRACK", "VLLM_NO_USAGE_STATS", "HF_HUB_DISABLE_TELEMETRY"):
        assert pod_env[key] == spec["environment"][key]


def test_vllm_caps_the_context_when_asked() -> None:
    start = launch("vllm", "gpu", "/m", served_name="a", max_model_len=32768)
    assert start.args[-2:] == ["--max-model-len", "32768"]
    assert "--max-model-len" not in launch("vllm", "gpu", "/m", served_name="a").args
