"""Push fails fast: what can be told without reading the model (the registry is down, its TLS
certificate is not trusted, the credentials are refused, a tag names a revision with other files)
is reported before any hashing or scanning. The model here is 2 GiB, sparse (hashing it alone
takes seconds, ClamAV minutes), so an error within the bound proves nothing was read first.
The bound is the issue's 2 s with a margin for a loaded 2-core CI machine; the figure is printed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.conftest import Run, pais
from tests.support.models import write_tiny_model
from tests.support.registry import RegistryServer

BOUND_S = 4.0  # the issue asks for under 2 s; the margin absorbs a loaded CI machine


@pytest.fixture
def big_model(tmp_path: Path) -> Path:
    model = write_tiny_model(tmp_path / "big")
    with (model / "shard.bin").open("wb") as f:
        f.truncate(2 * 1024**3)  # sparse: costs no disk, but hashing reads 2 GiB of zeros
    return model


def timed_push(*args: str) -> tuple[Run, float]:
    start = time.monotonic()
    result = pais("models", "push", *args)
    elapsed = time.monotonic() - start
    print(f"{elapsed:.2f} s: {result.stderr.strip().splitlines()[-2] if result.stderr.strip() else ''}")
    return result, elapsed


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_registry_down(big_model: Path) -> None:
    result, elapsed = timed_push(str(big_model), "-m", "acme/big", "-s", f"127.0.0.1:{closed_port()}/models", "-t", "v1")
    assert result.exit_code == 1 and "cannot reach" in result.stderr
    assert elapsed < BOUND_S


def test_tls_not_trusted(big_model: Path, tls_registry: RegistryServer) -> None:
    result, elapsed = timed_push(str(big_model), "-m", "acme/big", "-s", f"{tls_registry.host}/models", "-t", "v1")
    assert result.exit_code == 1 and "certificate" in result.stderr
    assert elapsed < BOUND_S


def test_wrong_credentials(big_model: Path, tls_registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", tls_registry.username or "")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", "not-the-password")
    result, elapsed = timed_push(str(big_model), "-m", "acme/big", "-s", f"{tls_registry.host}/models", "-t", "v1",
                                 "--ca-file", str(tls_registry.ca_file))
    assert result.exit_code == 1 and "refused" in result.stderr and "not-the-password" not in result.stderr
    assert elapsed < BOUND_S


@pytest.mark.parametrize("where", ["registry", "disk"])
def test_a_tag_naming_other_files(big_model: Path, tmp_path: Path, registry: RegistryServer, unique_model: str, where: str) -> None:
    store = f"{registry.host}/models" if where == "registry" else str(tmp_path / "gallery")
    small = write_tiny_model(tmp_path / "small")
    assert pais("models", "push", str(small), "-m", unique_model, "-s", store, "-t", "v1").exit_code == 0
    result, elapsed = timed_push(str(big_model), "-m", unique_model, "-s", store, "-t", "v1")
    assert result.exit_code == 1 and "v1" in result.stderr and "--force" in result.stderr
    assert elapsed < BOUND_S
