"""The `container` sandbox backend against a real dockerd and a real engine image.

The engine image is llama.cpp behind llama-cpp-python's OpenAI server, built offline by
scripts/build-engine-image.sh (cached) and `docker load`ed into a dockerd the tests start. The
model is a tiny random llama GGUF that llama.cpp really loads. Nothing is mocked: each test runs
(or fails to run) a real container, and every one of them must be gone afterwards.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pais_cli.runtime.engines import IMAGES, PROFILES, start_profile
from pais_cli.smoke.container import ALIAS, ContainerSandbox, engine_launch, image_for
from pais_cli.smoke.contract import BackendUnavailable, SmokeLimits, SmokeRequest
from tests.conftest import pais
from tests.support.dockerd import (  # noqa: F401 - session fixtures: dockerd, engine_image
    DockerDaemon,
    dockerd_fixture,
    engine_image_fixture,
)
from tests.support.models import write_llama_gguf

# One TCP connect per target ("host:port"), printed as JSON; the same script runs inside the
# sandbox (through exec) and on this machine (the positive control).
NET_PROBE = r"""
import json, socket, sys
results = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        results[target] = "connected"
    except OSError as e:
        results[target] = type(e).__name__ + ": " + str(e.strerror or e)
    finally:
        s.close()
print(json.dumps(results))
"""


def host_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (SIOCGIFADDR on each interface)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
            except OSError:
                continue
            found.append(socket.inet_ntoa(raw[20:24]))
    return found


def listener(address: str) -> socket.socket:
    s = socket.socket()
    s.bind((address, 0))
    s.listen(8)
    return s


def gguf_request(directory: Path, **changes: Any) -> SmokeRequest:
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "model.gguf").exists():
        write_llama_gguf(directory / "model.gguf")
    request = SmokeRequest(model_dir=directory, kind="completion", weight_format="gguf", loader="llamacpp",
                           serving_engine="llamacpp", gguf_file="model.gguf",
                           limits=SmokeLimits(memory_bytes=1024**3, cpus=1.0, timeout_s=60.0, pids=128))
    return replace(request, **changes)


def exec_in(container: Any, *cmd: str) -> tuple[int, str]:
    code, out = container.exec_run(list(cmd))
    return code, out.decode("utf-8", "replace")


@pytest.fixture
def docker_client(dockerd: DockerDaemon) -> Iterator[Any]:
    """The tests' own client; after each test, no container may be left behind (`all=True`)."""
    client = dockerd.client()
    assert client.containers.list(all=True) == []
    yield client
    left = client.containers.list(all=True)
    client.close()
    assert left == [], f"containers left behind: {[c.name for c in left]}"


@pytest.fixture
def sandbox(dockerd: DockerDaemon) -> ContainerSandbox:
    return ContainerSandbox(dockerd.host)


# -- the real smoke test -------------------------------------------------------------------------

def test_tiny_gguf_passes_in_the_engine_container_confined(tmp_path: Path, dockerd: DockerDaemon, engine_image: str,
                                                           docker_client: Any) -> None:
    request = gguf_request(tmp_path / "tiny", image=engine_image)
    loop = listener("127.0.0.1")
    others = [listener(address) for address in host_addresses()]
    targets = [f"127.0.0.1:{loop.getsockname()[1]}"] + [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in others]
    seen: dict[str, Any] = {}

    def look_inside(container: Any) -> None:
        container.reload()
        seen["host_config"] = container.attrs["HostConfig"]
        seen["net"] = exec_in(container, "python3", "-c", NET_PROBE, *targets)
        seen["interfaces"] = exec_in(container, "cat", "/proc/net/dev")
        seen["routes"] = exec_in(container, "cat", "/proc/net/route")
        seen["write_model"] = exec_in(container, "python3", "-c", "open('/model/pais-write-test', 'w')")
        seen["write_root"] = exec_in(container, "python3", "-c", "open('/etc/pais-write-test', 'w')")
        seen["write_tmp"] = exec_in(container, "python3", "-c", "open('/tmp/pais-write-test', 'w').write('ok')")
        seen["identity"] = exec_in(container, "python3", "-c", "import os; print(os.getuid(), os.getgid())")
        seen["status"] = exec_in(container, "cat", "/proc/self/status")

    try:
        outcome = ContainerSandbox(dockerd.host, on_answered=look_inside).run(request)
        # Positive control: the same probe, outside the sandbox, reaches the loopback listener.
        control = subprocess.run([sys.executable, "-c", NET_PROBE, targets[0]], capture_output=True, text=True,
                                 timeout=30, check=False)
    finally:
        for s in [loop, *others]:
            s.close()

    assert outcome.passed, outcome.to_json()
    assert outcome.backend == "container" and outcome.failure is None
    assert outcome.engine_exercised is True
    image_id = docker_client.images.get(engine_image).id
    assert engine_image in outcome.loaded_by and image_id in outcome.loaded_by
    assert outcome.details["image_id"] == image_id and outcome.details["flavour"] == "llama-cpp-python"
    assert outcome.output_shape is not None and outcome.output_shape[0] >= 1
    assert outcome.load_seconds is not None and 0 < outcome.load_seconds < 60
    assert outcome.inference_seconds is not None and outcome.inference_seconds > 0
    assert outcome.peak_memory_bytes is not None and 10 * 1024**2 < outcome.peak_memory_bytes <= 1024**3
    assert "--model" in outcome.details["command"] and "/model/model.gguf" in outcome.details["command"]

    # No network: the probe from inside reaches neither this machine's loopback nor its other
    # addresses, the namespace has only its own loopback and no route at all.
    assert json.loads(control.stdout) == {targets[0]: "connected"}
    code, out = seen["net"]
    assert code == 0, out
    results = json.loads(out)
    assert set(results) == set(targets)
    assert all(result != "connected" for result in results.values()), results
    interfaces = [line.split(":")[0].strip() for line in seen["interfaces"][1].splitlines()[2:]]
    assert interfaces == ["lo"]
    assert seen["routes"][1].splitlines()[1:] == []
    assert seen["host_config"]["NetworkMode"] == "none"

    # Read-only model and root filesystem; /tmp is the one writable place.
    code, out = seen["write_model"]
    assert code != 0 and "Read-only file system" in out
    assert not (request.model_dir / "pais-write-test").exists()
    code, out = seen["write_root"]
    assert code != 0 and "Read-only file system" in out
    assert seen["write_tmp"][0] == 0

    # Confinement: non-root, no capabilities, no new privileges, the limits asked for.
    assert seen["identity"][1].split() == ["65534", "65534"]
    status = dict(line.split(":", 1) for line in seen["status"][1].splitlines() if ":" in line)
    assert status["CapEff"].strip() == "0" * 16 and status["CapBnd"].strip() == "0" * 16
    assert status["NoNewPrivs"].strip() == "1"
    hc = seen["host_config"]
    assert hc["ReadonlyRootfs"] is True and hc["CapDrop"] == ["ALL"] and "no-new-privileges" in hc["SecurityOpt"]
    assert hc["Memory"] == 1024**3 and hc["NanoCpus"] == 10**9 and hc["PidsLimit"] == 128
    assert any(m["Target"] == "/model" and m["ReadOnly"] for m in hc["Mounts"])
    assert "/tmp" in hc["Tmpfs"]


def test_embedding_through_the_engine_and_its_dimension(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                                        docker_client: Any) -> None:
    request = gguf_request(tmp_path / "tiny", image=engine_image, kind="embedding", expected_dim=32)
    outcome = sandbox.run(request)
    assert outcome.passed, outcome.to_json()
    assert outcome.output_shape is not None and outcome.output_shape[-1] == 32
    assert "--embedding" in outcome.details["command"]

    wrong = sandbox.run(replace(request, expected_dim=48))
    assert not wrong.passed and wrong.failure == "bad-output"
    assert "dimension 32" in wrong.message and "48" in wrong.message


def test_docker_host_comes_from_the_environment(tmp_path: Path, dockerd: DockerDaemon, engine_image: str,
                                                docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """$DOCKER_HOST reaches the sandbox through the CLI's settings (the library reads no environment)."""
    model = gguf_request(tmp_path / "tiny").model_dir
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    result = pais("models", "validate", str(model), "--sandbox", "container", "--engine-image", engine_image,
                  "--target", "cpu", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    smoke = next(c for c in result.json()["checks"] if c["name"] == "smoke")  # type: ignore[index]
    assert smoke["status"] == "pass" and smoke["details"]["backend"] == "container", smoke


# -- failures, each explained --------------------------------------------------------------------

def test_has_image_asks_the_engine_and_never_pulls(sandbox: ContainerSandbox, engine_image: str,
                                                  docker_client: Any) -> None:
    assert sandbox.has_image(engine_image) is True
    assert sandbox.has_image(IMAGES["llamacpp"]) is False
    assert sandbox.has_image("") is False
    with pytest.raises(BackendUnavailable):
        ContainerSandbox("unix:///nonexistent/docker.sock").has_image(engine_image)


def test_missing_image_names_the_pull_command(tmp_path: Path, sandbox: ContainerSandbox, dockerd: DockerDaemon,
                                              docker_client: Any) -> None:
    outcome = sandbox.run(gguf_request(tmp_path / "tiny", image="registry.invalid/none/engine:1.0"))
    assert not outcome.passed and outcome.failure == "image-missing"
    assert outcome.hint is not None
    assert f"docker --host {dockerd.host} pull registry.invalid/none/engine:1.0" in outcome.hint
    assert outcome.engine_exercised is False

    # Without --image, the engine's default (the image endpoints deploy runs) is the one asked for.
    default = sandbox.run(gguf_request(tmp_path / "tiny"))
    assert default.failure == "image-missing"
    assert default.details["pull_command"] == f"docker --host {dockerd.host} pull {IMAGES['llamacpp']}"


def test_memory_limit_too_small_is_oom(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                       docker_client: Any) -> None:
    limits = SmokeLimits(memory_bytes=32 * 1024**2, cpus=1.0, timeout_s=60.0, pids=128)
    outcome = sandbox.run(gguf_request(tmp_path / "tiny", image=engine_image, limits=limits))
    assert not outcome.passed and outcome.failure == "oom", outcome.to_json()
    assert "32 MiB" in outcome.message
    assert outcome.details["exit_code"] == 137
    assert outcome.hint and "memory" in outcome.hint


def test_engine_refuses_a_corrupt_gguf(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                       docker_client: Any) -> None:
    model = tmp_path / "corrupt"
    model.mkdir()
    (model / "model.gguf").write_bytes(b"NOT A GGUF FILE" + bytes(range(256)) * 16)
    outcome = sandbox.run(gguf_request(model, image=engine_image))
    assert not outcome.passed and outcome.failure == "refused", outcome.to_json()
    assert "invalid magic" in outcome.message
    assert outcome.engine_exercised is True  # the real engine ran, and refused
    assert "gguf" in outcome.details["log_tail"].lower()


def test_engine_refuses_a_truncated_gguf(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                         docker_client: Any) -> None:
    model = tmp_path / "truncated"
    model.mkdir()
    whole = write_llama_gguf(model / "model.gguf").read_bytes()
    (model / "model.gguf").write_bytes(whole[: len(whole) // 2])
    outcome = sandbox.run(gguf_request(model, image=engine_image))
    assert not outcome.passed and outcome.failure in ("refused", "crashed"), outcome.to_json()
    assert outcome.details["exit_code"] not in (0, 137)
    assert outcome.message and "(exit" in outcome.message


def test_engine_not_ready_in_time_is_timeout(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                             docker_client: Any) -> None:
    limits = SmokeLimits(memory_bytes=1024**3, cpus=1.0, timeout_s=0.3, pids=128)
    outcome = sandbox.run(gguf_request(tmp_path / "tiny", image=engine_image, limits=limits))
    assert not outcome.passed and outcome.failure == "timeout", outcome.to_json()
    assert "0.3 s" in outcome.message


def test_gpu_request_without_a_gpu_runtime_is_explained(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                                        docker_client: Any) -> None:
    outcome = sandbox.run(gguf_request(tmp_path / "tiny", image=engine_image, gpu=True))
    assert not outcome.passed and outcome.failure == "sandbox", outcome.to_json()
    assert "gpu" in outcome.message.lower()
    assert outcome.engine_exercised is False  # it never started


def test_model_unreadable_to_the_sandbox_user(tmp_path: Path, sandbox: ContainerSandbox, engine_image: str,
                                              docker_client: Any) -> None:
    request = gguf_request(tmp_path / "private", image=engine_image)
    (request.model_dir / "model.gguf").chmod(0o600)
    outcome = sandbox.run(request)
    assert outcome.failure == "sandbox" and "cannot read" in outcome.message
    assert outcome.hint and "chmod" in outcome.hint


def test_no_engine_socket_is_backend_unavailable(tmp_path: Path) -> None:
    request = gguf_request(tmp_path / "tiny")
    with pytest.raises(BackendUnavailable) as missing:
        ContainerSandbox(f"unix://{tmp_path}/no-such.sock").run(request)
    assert "no-such.sock" in missing.value.reason and "DOCKER_HOST" in missing.value.remedy

    stale = tmp_path / "stale.sock"  # a socket file with no engine behind it
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    with pytest.raises(BackendUnavailable) as refused:
        ContainerSandbox(f"unix://{stale}").run(request)
    assert "--docker-host" in refused.value.remedy


# -- per-engine command lines (no daemon needed) -------------------------------------------------

def _request(**changes: Any) -> SmokeRequest:
    base = SmokeRequest(model_dir=Path("/m"), kind="completion", weight_format="gguf", loader="llamacpp",
                        serving_engine="llamacpp", gguf_file="sub/m.gguf")
    return replace(base, **changes)


def test_default_images_and_command_lines_per_engine() -> None:
    llama = _request(kind="embedding")
    assert image_for(llama) == IMAGES["llamacpp"]
    assert image_for(replace(llama, gpu=True)) == IMAGES["llamacpp-cuda"]
    assert image_for(replace(llama, image="mine:1")) == "mine:1"
    start = engine_launch(llama)
    assert start.profile == "llama-server" and start.health_path == "/health" and start.command is None
    assert start.args[:2] == ["--model", "/model/sub/m.gguf"]
    assert " ".join(start.args).find("--host 0.0.0.0 --port 8000") >= 0 and "--embeddings" in start.args
    assert start.args[start.args.index("--alias") + 1] == ALIAS and "--n-gpu-layers" not in start.args
    assert "--n-gpu-layers" in engine_launch(replace(llama, gpu=True)).args

    vllm = _request(serving_engine="vllm", weight_format="safetensors", loader="transformers", gguf_file=None, gpu=True)
    assert image_for(vllm) == IMAGES["vllm"]
    start = engine_launch(vllm)
    assert start.command == ["vllm", "serve"] and start.args[0] == "/model" and start.health_path == "/health"
    assert start.args[start.args.index("--served-model-name") + 1] == ALIAS and start.args[start.args.index("--port") + 1] == "8000"
    assert start.shm_bytes == 1024**3

    infinity = _request(serving_engine="infinity", kind="embedding", weight_format="safetensors",
                        loader="sentence-transformers", gguf_file=None)
    assert image_for(infinity) == IMAGES["infinity-cpu"] and image_for(replace(infinity, gpu=True)) == IMAGES["infinity"]
    start = engine_launch(infinity)
    assert start.args[:3] == ["v2", "--model-id", "/model"] and "--port" in start.args and "/v1" in start.args
    assert start.args[start.args.index("--device") + 1] == "cpu"
    on_gpu = engine_launch(replace(infinity, gpu=True)).args
    assert on_gpu[on_gpu.index("--device") + 1] == "cuda"
    with pytest.raises(ValueError):
        image_for(_request(serving_engine="none"))


def test_image_label_selects_the_llama_cpp_python_profile() -> None:
    labels = {"org.pais.engine": "llama-cpp-python"}
    assert start_profile("llamacpp", labels) is PROFILES["llama-cpp-python"]
    start = engine_launch(_request(kind="embedding"), labels)
    assert start.profile == "llama-cpp-python" and start.health_path == "/v1/models" and start.command is None
    assert start.args[start.args.index("--model_alias") + 1] == ALIAS and start.args[start.args.index("--embedding") + 1] == "true"
    assert start_profile("vllm", {"org.pais.engine": "llama.cpp"}) is PROFILES["llama-server"]
    with pytest.raises(ValueError):
        start_profile("none", {})


# -- the in-container HTTP client, both variants -------------------------------------------------

class LocalExec:
    """Stands in for a container's exec: runs the argv on this machine, as exec would inside."""

    def exec_run(self, cmd: list[str], user: str = "", demux: bool = False) -> tuple[int, tuple[bytes, bytes]]:
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        return done.returncode, (done.stdout, done.stderr)


@pytest.mark.parametrize("client", ["python3", "curl"])
def test_probe_client_speaks_http_with_python_or_curl(client: str) -> None:
    """llama.cpp's own image has curl and no Python; the others have Python."""
    import http.server
    import threading

    from pais_cli.smoke import container as module

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200 if self.path == "/health" else 404, b'{"status": "ok"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self._answer(200, json.dumps({"echo": json.loads(body)}).encode())

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    if shutil.which(client) is None:
        pytest.fail(f"{client} is not installed: run `make test`")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        prober = module._Prober(LocalExec(), "", server.server_address[1])
        prober.client = client
        health = prober.request("GET", "/health", None, 5)
        assert health.status == 200 and health.json() == {"status": "ok"}
        assert prober.request("GET", "/nowhere", None, 5).status == 404
        answer = prober.request("POST", "/v1/completions", {"prompt": "héllo", "n": 1}, 5)
        assert answer.status == 200 and answer.json() == {"echo": {"prompt": "héllo", "n": 1}}
        assert answer.seconds > 0
    finally:
        server.shutdown()
        server.server_close()
    assert prober.request("GET", "/health", None, 2).status == 0  # nothing listens any more
