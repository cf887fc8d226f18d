"""Fixtures: real CNCF distribution registries on 127.0.0.1 (plain, TLS + basic auth, token
auth with a token service), tiny real model directories, and an isolated user environment."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pais_cli.cli.app import app
from tests.support.clamd import (  # noqa: F401 - session fixtures: clamd_normal, clamd_tiny, ...
    ClamdServer,
    clamd_blind_fixture,
    clamd_normal_fixture,
    clamd_tiny_fixture,
    clamd_tiny_unknown_fixture,
)
from tests.support.models import write_tiny_model
from tests.support.registry import RegistryServer, start_registry


def _registry(variant: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(variant, tmp_path_factory.mktemp(f"registry-{variant}"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _registry("plain", tmp_path_factory)


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _registry("tls_basic", tmp_path_factory)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _registry("token", tmp_path_factory)


@pytest.fixture(autouse=True)
def isolated_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clamd_normal: ClamdServer) -> Path:
    """Each test gets its own config file, default gallery, digest cache and Docker config, and
    a real clamd (with the tests' EICAR signatures) for the validation every push runs."""
    home = tmp_path / "user"
    monkeypatch.setenv("PAIS_CLAMD", clamd_normal.address)
    # The smoke test loads models with torch or llama.cpp: its own tests turn it on.
    monkeypatch.setenv("PAIS_SANDBOX", "none")
    monkeypatch.setenv("PAIS_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("PAIS_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("PAIS_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / "docker"))
    for var in ("PAIS_MODEL_STORE", "PAIS_REGISTRY_USERNAME", "PAIS_REGISTRY_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny-model")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"
_GROUPS = ("models", "gallery", "endpoints")


@functools.cache
def json_schema(name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _json_mode(args: tuple[str, ...]) -> bool:
    return any(a in ("-o", "--output") and args[i + 1:i + 2] == ("json",) for i, a in enumerate(args)) \
        or "--output=json" in args


def check_json_output(args: tuple[str, ...], run: Run) -> None:
    """Every JSON a test sees is held to its published schema (docs/schemas): results on stdout,
    errors on stderr, never the other way round."""
    if not _json_mode(args) or not args:
        return
    if run.exit_code == 0:
        name = f"{args[0]}-{args[1]}" if args[0] in _GROUPS and len(args) > 1 else args[0]
        if run.stdout.strip() and (SCHEMAS / f"{name}.schema.json").exists():
            json_schema(name).validate(json.loads(run.stdout))
        return
    last = run.stderr.strip().splitlines()[-1:] or [""]
    if last[0].startswith("{"):
        assert not run.stdout.strip().startswith("{"), "an error printed JSON on stdout"
        json_schema("error").validate(json.loads(last[0]))


def pais(*args: str) -> Run:
    """Run the CLI in-process, as a user would type it; JSON output is checked against its schema."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    run = Run(result.exit_code, result.stdout, result.stderr)
    check_json_output(args, run)
    return run


@pytest.fixture
def unique_model(request: pytest.FixtureRequest) -> str:
    """A model name no other test uses, so tests can share a session registry."""
    name = request.node.name.lower()
    return "test/" + "".join(c if c.isalnum() else "-" for c in name).strip("-")[:60].strip("-")


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed: run `make test` (scripts/install-test-deps.sh installs it)")
    return path


@pytest.fixture(params=["registry", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a real registry and on an on-disk gallery."""
    if request.param == "registry":
        server: RegistryServer = request.getfixturevalue("registry")
        return f"{server.host}/models"
    return str(tmp_path / "gallery")
