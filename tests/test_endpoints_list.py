"""`pais endpoints list`: from an OpenAI-compatible gateway and from a cluster.

The gateway is REAL: llama.cpp's server (llama-cpp-python[server]) on 127.0.0.1, serving a tiny
random llama GGUF under a routing name. The cluster is not: no Kubernetes API server can run
here, so a kubectl stand-in (tests/support/fake_kubectl.py) answers `kubectl get -o json` with
the very objects `pais endpoints deploy --apply` gave it, plus the status fields the Deployment
controller and the NIM Operator would have written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pais
from tests.support.fake_kubectl import FakeCluster
from tests.support.gateway import OpenAIServer, start_llama_server
from tests.support.models import write_llama_gguf, write_tiny_model
from tests.support.registry import RegistryServer


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_llama_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def gateway(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIServer]:
    server = start_llama_server(tiny_gguf, "acme/tiny-gguf", tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster(tmp_path / "cluster")
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


def test_gateway_lists_the_routing_names_a_real_server_reports(gateway: OpenAIServer) -> None:
    rows = pais("endpoints", "list", "--gateway", gateway.url, "-o", "json").json()
    assert [(r["routing_name"], r["source"]) for r in rows] == [("acme/tiny-gguf", "gateway")]  # type: ignore[union-attr,index]
    table = pais("endpoints", "list", "--gateway", gateway.url)
    assert table.exit_code == 0 and "acme/tiny-gguf" in table.stdout.splitlines()[1]


def test_gateway_api_key_comes_from_the_environment(tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_llama_server(tiny_gguf, "acme/locked", tmp_path, api_key="sk-test-key")
    try:
        refused = pais("endpoints", "list", "--gateway", server.url)
        assert refused.exit_code == 1 and "PAIS_GATEWAY_API_KEY" in refused.stderr
        monkeypatch.setenv("PAIS_GATEWAY_API_KEY", "sk-test-key")
        rows = pais("endpoints", "list", "--gateway", server.url, "-o", "json").json()
        assert [r["routing_name"] for r in rows] == ["acme/locked"]  # type: ignore[union-attr,index]
        assert "sk-test-key" not in refused.stderr
    finally:
        server.stop()


def test_unreachable_gateway_fails_with_a_hint() -> None:
    done = pais("endpoints", "list", "--gateway", "http://127.0.0.1:9/v1")
    assert done.exit_code == 1 and "cannot reach the gateway" in done.stderr and "hint:" in done.stderr


def test_cluster_listing_reads_what_deploy_applied(registry: RegistryServer, unique_model: str, tmp_path: Path,
                                                    cluster: FakeCluster) -> None:
    store = f"{registry.host}/models"
    pushed = pais("models", "push", str(write_tiny_model(tmp_path / "m")), "-m", unique_model, "-s", store, "-t", "v1",
                  "--skip-validation", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    digest = pushed.json()["digest"]  # type: ignore[index]
    assert pais("endpoints", "deploy", "--no-require-validated", "--routingName", "acme/tiny-chat", "-m", unique_model, "-s", store, "-t", "v1",
                "--replicas", "2", "--apply").exit_code == 0
    assert pais("endpoints", "deploy", "--no-require-validated", "--routingName", "meta/llama-3.1-8b", "--nim-model",
                "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", "--nim-profile", "p1", "--apply").exit_code == 0
    cluster.set_status("Deployment", "acme-tiny-chat", {
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "False"}, {"type": "Progressing", "status": "True"}]})
    cluster.set_status("NIMService", "meta-llama-3-1-8b", {"availableReplicas": 1, "state": "Ready"})
    rows = {r["routing_name"]: r for r in pais("endpoints", "list", "-o", "json").json()}  # type: ignore[union-attr]
    assert set(rows) == {"acme/tiny-chat", "meta/llama-3.1-8b"}
    chat, nim = rows["acme/tiny-chat"], rows["meta/llama-3.1-8b"]
    assert (chat["engine"], chat["model"], chat["digest"]) == ("vllm", unique_model, digest)
    assert (chat["ready"], chat["desired"], chat["status"]) == (1, 2, "Degraded")
    assert (nim["engine"], nim["kind"], nim["ready"], nim["desired"], nim["status"]) == ("nim", "NIMService", 1, 1, "Ready")
    assert nim["model"] == "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3"
    cluster.set_status("Deployment", "acme-tiny-chat", {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2})
    table = pais("endpoints", "list")
    lines = table.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["ROUTING NAME", "ENGINE", "MODEL"]
    assert any(line.startswith("acme/tiny-chat\tvllm") and "\t2/2\tReady\t" in line for line in lines)


def test_cluster_and_gateway_together(gateway: OpenAIServer, cluster: FakeCluster) -> None:
    rows = pais("endpoints", "list", "--gateway", gateway.url, "--cluster", "-o", "json").json()
    assert [r["source"] for r in rows] == ["gateway"]  # type: ignore[union-attr,index]  (an empty cluster)
    assert any(c[0] == "get" for c in cluster.calls())


def test_listing_without_a_cluster_says_so(cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAIS_FAKE_KUBECTL_NO_CLUSTER", "1")
    down = pais("endpoints", "list")
    assert down.exit_code == 1 and "no cluster reachable" in down.stderr and "hint:" in down.stderr
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    missing = pais("endpoints", "list")
    assert missing.exit_code == 1 and "kubectl is not installed" in missing.stderr
