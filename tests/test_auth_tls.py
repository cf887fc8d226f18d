"""Credentials, TLS and both auth schemes against real registries: htpasswd basic auth over
self-signed TLS, and distribution's token auth backed by a real token service."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pais_cli.cli.settings import context
from pais_cli.gallery.auth import find_credentials
from pais_cli.gallery.stores.registry import RegistryClient, TransportOptions, is_loopback
from tests.conftest import pais
from tests.support.registry import RegistryServer


def docker_login(host: str, user: str, password: str) -> None:
    """What `docker login` leaves behind: an auths entry with base64 user:password."""
    path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}))


def test_tls_registry_needs_its_ca(tls_registry: RegistryServer, tiny_model: Path) -> None:
    store = f"{tls_registry.host}/models"
    result = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "v1")
    assert result.exit_code == 1
    assert "could not be verified" in result.stderr and "--ca-file" in result.stderr


def test_basic_auth_without_credentials_says_how_to_log_in(tls_registry: RegistryServer, tiny_model: Path) -> None:
    store = f"{tls_registry.host}/models"
    result = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "v1", "--ca-file", str(tls_registry.ca_file))
    assert result.exit_code == 1
    assert "docker login" in result.stderr and "PAIS_REGISTRY_USERNAME" in result.stderr


def test_basic_auth_from_docker_config(tls_registry: RegistryServer, tiny_model: Path, tmp_path: Path) -> None:
    docker_login(tls_registry.host, tls_registry.username or "", tls_registry.password or "")
    store = f"{tls_registry.host}/models"
    ca = str(tls_registry.ca_file)
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/basic", "-s", store, "-t", "v1", "--ca-file", ca, "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    pulled = pais("models", "pull", "-m", "acme/basic", "-s", store, "-t", "v1", "--ca-file", ca, "--dest", str(tmp_path / "o"), "-o", "json")
    assert pulled.exit_code == 0 and pulled.json()["digest"] == pushed.json()["digest"]
    assert (tmp_path / "o" / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()


def test_wrong_password_is_refused_and_never_printed(tls_registry: RegistryServer, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", "pais")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", "Wr0ng-Secret-Value")
    store = f"{tls_registry.host}/models"
    result = pais("models", "push", str(tiny_model), "-m", "acme/tiny", "-s", store, "-t", "v1",
                  "--ca-file", str(tls_registry.ca_file), "--debug")
    assert result.exit_code == 1
    assert "refused" in result.stderr
    assert "Wr0ng-Secret-Value" not in result.stderr + result.stdout
    assert base64.b64encode(b"pais:Wr0ng-Secret-Value").decode() not in result.stderr + result.stdout


def test_bearer_token_flow(token_registry: RegistryServer, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = f"{token_registry.host}/models"
    assert token_registry.token_service is not None
    anonymous = pais("models", "push", str(tiny_model), "-m", "acme/tok", "-s", store, "-t", "v1")
    assert anonymous.exit_code == 1 and "docker login" in anonymous.stderr
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", token_registry.username or "")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", token_registry.password or "")
    before = token_registry.token_service.token_requests
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/tok", "-s", store, "-t", "v1", "-o", "json")
    assert pushed.exit_code == 0, pushed.stderr
    # Two tokens for the whole push: pull,push for the repository, fetched by the quick preflight
    # and used by the transfer too, and delete for the preflight's cancelled upload session
    # (distribution asks DELETE for the delete scope). Not one per blob, nor per client.
    assert token_registry.token_service.token_requests - before == 2
    listed = pais("models", "list", "-s", store, "-o", "json")  # needs registry:catalog:*
    assert listed.exit_code == 0, listed.stderr
    assert any(r["model"] == "acme/tok" for r in listed.json())
    pulled = pais("models", "pull", "-m", "acme/tok", "-s", store, "-t", "v1", "--dest", str(tmp_path / "o"), "-o", "json")
    assert pulled.exit_code == 0 and pulled.json()["digest"] == pushed.json()["digest"]


def test_bearer_with_wrong_password(token_registry: RegistryServer, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_registry.token_service is not None
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", "pais")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", "not-the-password")
    before = token_registry.token_service.bad_credentials
    result = pais("models", "push", str(tiny_model), "-m", "acme/tok", "-s", f"{token_registry.host}/models", "-t", "v1")
    assert result.exit_code == 1 and "refused the credentials" in result.stderr
    assert token_registry.token_service.bad_credentials > before
    assert "not-the-password" not in result.stderr


def test_credential_helper_from_docker_config(token_registry: RegistryServer, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """credsStore: Docker runs docker-credential-<name> get, host on stdin, JSON on stdout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-pais-test"
    helper.write_text(
        "#!/bin/sh\nread host\n"
        f"[ \"$host\" = \"{token_registry.host}\" ] || exit 1\n"
        f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"{token_registry.username}\",\"Secret\":\"{token_registry.password}\"}}' \"$host\"\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    config = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"credsStore": "pais-test"}))
    creds = find_credentials(token_registry.host, context().credentials)
    assert creds is not None and creds.username == token_registry.username
    assert token_registry.password not in repr(creds)
    result = pais("models", "push", str(tiny_model), "-m", "acme/helper", "-s", f"{token_registry.host}/models", "-t", "v1")
    assert result.exit_code == 0, result.stderr


def test_environment_overrides_docker_config(monkeypatch: pytest.MonkeyPatch) -> None:
    docker_login("r.example.com", "from-docker", "x")
    assert find_credentials("r.example.com", context().credentials).username == "from-docker"  # type: ignore[union-attr]
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", "ci-bot")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", "y")
    assert find_credentials("r.example.com", context().credentials).username == "ci-bot"  # type: ignore[union-attr]


@pytest.mark.parametrize("host,loopback", [("127.0.0.1:5000", True), ("localhost", True), ("[::1]:5000", True),
                                           ("127.9.9.9", True), ("10.0.0.1:5000", False), ("harbor.example.com", False)])
def test_plain_http_only_for_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("server,scheme", [("registry", "http"), ("tls_registry", "https")])
def test_a_loopback_registry_is_asked_with_one_handshake(server: str, scheme: str, request: pytest.FixtureRequest) -> None:
    """Plain HTTP only where an unverified TLS handshake fails as plain HTTP does; the requests
    after it verify as always (test_tls_registry_needs_its_ca)."""
    registry: RegistryServer = request.getfixturevalue(server)
    client = RegistryClient(registry.host, TransportOptions())
    try:
        assert client.settle_scheme() == scheme and client.tls is (scheme == "https")
    finally:
        client.close()


def test_a_registry_elsewhere_is_https_without_asking() -> None:
    """No probe for a host that is not loopback: HTTPS is the only choice, so the first request
    finds out what fails (a round trip and a TLS handshake fewer per command). Nothing answers
    at this name, and nothing is asked of it."""
    client = RegistryClient("registry.invalid:5000", TransportOptions())
    assert client.settle_scheme() == "https"


def test_gallery_init_checks_a_registry(tls_registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", tls_registry.username or "")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", tls_registry.password or "")
    store = f"{tls_registry.host}/models"
    result = pais("gallery", "init", "-s", store, "--ca-file", str(tls_registry.ca_file), "--name", "dev", "-o", "json")
    assert result.exit_code == 0, result.stderr
    check = result.json()
    assert check["scheme"] == "https" and check["tls_verified"] is True
    assert check["auth"] == "basic" and check["push_allowed"] is True
    assert check["saved_as"] == "dev" and check["config_changed"] is True
    again = pais("gallery", "init", "-s", store, "--ca-file", str(tls_registry.ca_file), "--name", "dev", "-o", "json")
    assert again.json()["config_changed"] is False
    listed = pais("models", "list", "-s", "dev")  # the named gallery carries the CA file
    assert listed.exit_code == 0, listed.stderr


def test_gallery_init_reports_refused_push(token_registry: RegistryServer) -> None:
    result = pais("gallery", "init", "-s", f"{token_registry.host}/models", "-o", "json")
    assert result.exit_code == 1
    assert result.json()["push_allowed"] is False


def test_a_ca_in_the_system_trust_store_is_trusted_without_ca_file(tls_registry: RegistryServer, tiny_model: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a platform team adds its corporate CA: the system store, as OpenSSL reads it (here
    pointed at the registry's CA with SSL_CERT_FILE, OpenSSL's documented override). Manifests,
    blobs and the scheme probe all go through the one context built from it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    monkeypatch.setenv("PAIS_REGISTRY_USERNAME", tls_registry.username or "")
    monkeypatch.setenv("PAIS_REGISTRY_PASSWORD", tls_registry.password or "")
    store = f"{tls_registry.host}/models"
    pushed = pais("models", "push", str(tiny_model), "-m", "acme/system-ca", "-s", store, "-t", "v1")
    assert pushed.exit_code == 0, pushed.stderr
    pulled = pais("models", "pull", "-m", "acme/system-ca", "-s", store, "-t", "v1", "--dest", str(tiny_model.parent / "out"))
    assert pulled.exit_code == 0, pulled.stderr


def test_an_empty_system_trust_store_falls_back_to_certifi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slim container without ca-certificates still verifies public registries: certifi's
    bundle stands in when the system store holds no CA; a store that holds one is used alone."""
    import certifi

    from pais_cli.gallery.tls import trust_context

    (tmp_path / "empty.pem").write_text("")
    (tmp_path / "certs").mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "certs"))
    bundled = len([line for line in Path(certifi.where()).read_text().splitlines() if line == "-----BEGIN CERTIFICATE-----"])
    assert trust_context().cert_store_stats()["x509_ca"] == bundled > 50
    one = tmp_path / "one.pem"
    one.write_text(Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(one))
    assert trust_context().cert_store_stats()["x509_ca"] == 1
