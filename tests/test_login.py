"""`pais login` / `pais logout`: checked against the registry, stored in Docker's config (or its
credential helper) and nowhere else, then used by push."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import pais
from tests.support.registry import RegistryServer


def _docker_config() -> Path:
    return Path(os.environ["DOCKER_CONFIG"]) / "config.json"


def _files_holding(root: Path, user: str, secret: str) -> list[Path]:
    """Files holding the secret as it is, or as Docker's config encodes it (base64 of user:secret)."""
    needles = (secret.encode(), base64.b64encode(f"{user}:{secret}".encode()))
    return [p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def _login(server: RegistryServer, password: str | None = None, *extra: str) -> object:
    from typer.testing import CliRunner

    from pais_cli.cli.app import app

    args = ["login", server.host, "-u", server.username or "", "--password-stdin", *extra]
    if server.ca_file:
        args += ["--ca-file", str(server.ca_file)]
    return CliRunner().invoke(app, args, input=(password or server.password or "") + "\n")


@pytest.mark.parametrize("variant", ["tls_registry", "token_registry"])
def test_login_then_push_with_the_secret_only_in_dockers_config(variant: str, request: pytest.FixtureRequest,
                                                                tiny_model: Path, isolated_user: Path,
                                                                unique_model: str) -> None:
    server: RegistryServer = request.getfixturevalue(variant)
    assert server.password
    result = _login(server)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    config = json.loads(_docker_config().read_text())
    assert server.host in config["auths"]
    assert stat.S_IMODE(_docker_config().stat().st_mode) == 0o600
    push = ["models", "push", str(tiny_model), "-m", f"{server.host}/models/{unique_model}:v1"]
    if server.ca_file:
        push += ["--ca-file", str(server.ca_file)]
    pushed = pais(*push)
    assert pushed.exit_code == 0, pushed.stderr
    assert server.password not in pushed.stdout + pushed.stderr
    # The user's whole pais world (config, data, cache) and Docker's directory: one file holds it.
    assert _files_holding(isolated_user, server.username or '', server.password) == [_docker_config()]
    out = pais("logout", server.host)
    assert out.exit_code == 0 and server.host not in json.loads(_docker_config().read_text()).get("auths", {})
    refused = pais(*push)
    assert refused.exit_code == 1 and f"pais login {server.host}" in refused.stderr


def test_wrong_password_is_refused_and_nothing_is_stored(tls_registry: RegistryServer) -> None:
    result = _login(tls_registry, "not-the-password")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "not-the-password" not in result.stderr  # type: ignore[attr-defined]
    assert not _docker_config().exists()


def test_a_configured_helper_that_is_missing_is_an_error_naming_it(tls_registry: RegistryServer) -> None:
    _docker_config().parent.mkdir(parents=True, exist_ok=True)
    _docker_config().write_text(json.dumps({"credsStore": "no-such-helper"}))
    result = _login(tls_registry)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "docker-credential-no-such-helper" in result.stderr  # type: ignore[attr-defined]
    pushed = pais("models", "list", "-s", f"{tls_registry.host}/models", "--ca-file", str(tls_registry.ca_file))
    assert pushed.exit_code == 1 and "docker-credential-no-such-helper" in pushed.stderr


def test_login_stores_through_the_configured_helper(tls_registry: RegistryServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "helper-store"
    helper = tmp_path / "bin" / "docker-credential-pais-file"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\ncase \"$1\" in store) cat > {store};; get) cat {store};; erase) rm -f {store};; esac\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    _docker_config().parent.mkdir(parents=True, exist_ok=True)
    _docker_config().write_text(json.dumps({"credsStore": "pais-file"}))
    result = _login(tls_registry)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert json.loads(store.read_text())["Username"] == tls_registry.username
    assert tls_registry.password not in _docker_config().read_text()
    assert pais("logout", tls_registry.host).exit_code == 0 and not store.exists()


def test_login_without_a_terminal_needs_password_stdin(tls_registry: RegistryServer) -> None:
    result = pais("login", tls_registry.host, "-u", "x")
    assert result.exit_code == 2 and "--password-stdin" in result.stderr
